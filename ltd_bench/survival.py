"""Time to solve as censored time-to-event data: Kaplan–Meier, restricted mean time, log-rank tests.

A run is (time, solved): solved at `time` updates, or censored at `time` (its step budget, or the step it
diverged at). Counting only the solved runs, or taking the median of their times, ignores the runs still
unsolved when the budget ran out; survival analysis uses both. numpy and scipy only.

- Kaplan–Meier estimate of the fraction solved by t (scipy.stats.ecdf on CensoredData); its median is
  the first time the estimate reaches 1/2, "not reached" when it never does.
- RMST, the restricted mean time to solve up to a budget τ (Royston & Parmar 2013): the area under the
  Kaplan–Meier "still unsolved" curve from 0 to τ. A run that never solves adds τ; lower is better.
  Percentile bootstrap intervals resample runs with a fixed seed (same folder, same interval).
- Log-rank test (Mantel 1966; Peto & Peto 1972) of "both methods have the same time-to-solve curve",
  two-sided. U = observed − expected solves in the first group, the sum of each run's log-rank score.
  With fewer than SMALL_N runs on either side its p-value is exact: the share of all ways to split the
  pooled runs into groups of the same sizes whose |U| is at least the observed one (a permutation test
  conditional on the data, by enumerating all of them up to MAX_ENUM ways; Monte Carlo over MC_DRAWS
  random splits with a fixed seed above that, labelled so). Larger samples use scipy.stats.logrank's
  normal approximation. The stratified version adds U over strata (cells) and permutes within each: its
  exact distribution is the convolution of the strata's, computed over their distinct values while that
  stays under MAX_SUPPORT pairs.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as _st

SMALL_N = 15  # fewer runs than this on either side: exact permutation p-value (the normal one is poor)
MAX_ENUM = 200_000  # enumerate all splits up to this many (10 vs 10 runs: 184,756, well under a second)
MAX_SUPPORT = 4_000_000  # distinct-value pairs one convolution step may form (~0.5 s, ~100 MB), else MC
MC_DRAWS = 20_000  # Monte Carlo standard error sqrt(p(1-p)/20000): 0.0015 at p = 0.05, at most 0.0035
BOOT = 2_000  # bootstrap replicates for RMST intervals (2.5% tails rest on ~50 replicates each)
SEED = 2013  # fixed: the same results folder always gives the same intervals and p-values


def censor_at(time, solved, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Censor every run at τ: a solve after τ counts as unsolved at τ (compares like with like)."""
    time, solved = np.asarray(time, dtype=float), np.asarray(solved, dtype=bool)
    late = time > tau
    return np.where(late, float(tau), time), solved & ~late


def kaplan_meier(time, solved):
    """scipy.stats.ecdf's Kaplan–Meier result: .cdf is the fraction solved, .sf the fraction still unsolved."""
    time, solved = np.asarray(time, dtype=float), np.asarray(solved, dtype=bool)
    return _st.ecdf(_st.CensoredData(uncensored=time[solved], right=time[~solved]))


def km_median(time, solved) -> float:
    """The first time the Kaplan–Meier fraction solved reaches 1/2; NaN ("not reached") if it never does."""
    if len(time) == 0:
        return math.nan
    sf = kaplan_meier(time, solved).sf
    hit = np.flatnonzero(sf.probabilities <= 0.5 + 1e-9)  # exactly 1/2 counts (e.g. 2 of 4 solved)
    return float(sf.quantiles[hit[0]]) if len(hit) else math.nan


def _rmst_weighted(time: np.ndarray, solved: np.ndarray, tau: float, weights: np.ndarray) -> np.ndarray:
    """RMST for each row of `weights` (copies of each run: 1s for the data, multinomial for a bootstrap).

    Kaplan–Meier with weights, all replicates at once: at each distinct solve time t_j <= τ the number
    still unsolved (time >= t_j, the censored-at-t_j included, as scipy counts them) and solved there.
    """
    ev = np.unique(time[solved & (time <= tau)])
    if len(ev) == 0:
        return np.full(len(weights), float(tau))
    # sums of whole counts, exact in any order: over the runs sorted by time, the weight of each block
    # from one t_j to the next, summed from the last block back (n per replicate, not n × distinct times
    # as a product with the indicator matrices takes). Each t_j is some run's time: the blocks are not empty.
    weights, order = np.asarray(weights), np.argsort(time, kind="stable")
    cuts = np.searchsorted(time[order], ev, side="left")  # where the runs with time >= t_j begin
    blocks = np.add.reduceat(weights[:, order[cuts[0] :]], cuts - cuts[0], axis=1, dtype=float)
    at_risk = np.cumsum(blocks[:, ::-1], axis=1)[:, ::-1]
    hit = order[(solved & (time <= tau))[order]]  # solved runs by time: each lands on one t_j, in order
    starts = np.flatnonzero(np.diff(time[hit], prepend=-np.inf))
    events = np.add.reduceat(weights[:, hit], starts, axis=1, dtype=float)
    factor = 1.0 - np.divide(events, at_risk, out=np.zeros_like(events), where=at_risk > 0)
    surv = np.cumprod(factor, axis=1)  # still unsolved just after each t_j
    widths = np.diff(np.append(ev, tau))
    return ev[0] + surv @ widths


def rmst(time, solved, tau: float) -> float:
    time, solved = censor_at(time, solved, tau)
    return float(_rmst_weighted(time, solved, tau, np.ones((1, len(time))))[0])


def _draw(n: int, reps: int, seed) -> np.ndarray:
    """`reps` rows of multinomial(n, 1/n) counts: how often each of n runs is drawn in each replicate."""
    return np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=reps)


# a report's cells and strata share few (n, seed) pairs; at most 32 draws of 2M (one-byte) counts each
@lru_cache(maxsize=32)
def _cached_draw(n: int, reps: int, seed: int | tuple) -> np.ndarray:
    w = _draw(n, reps, list(seed) if isinstance(seed, tuple) else seed)
    w = w.astype(np.min_scalar_type(w.max(initial=0)))  # counts rarely exceed 255: one byte each
    w.flags.writeable = False
    return w


def _boot_weights(n: int, reps: int, seed) -> np.ndarray:
    """_draw's counts, drawn once per (n, reps, seed) and reused: cells with as many runs share one
    seed, and the draw, not the arithmetic, is most of a bootstrap's time. The same numbers either way;
    a seed that is not an int or list of ints (None, a Generator) is never cached."""
    key = seed if isinstance(seed, int) else None
    if isinstance(seed, (list, tuple)) and all(isinstance(s, int) for s in seed):
        key = tuple(seed)
    if key is None or n * reps > 2_000_000:
        return _draw(n, reps, seed)
    return _cached_draw(n, reps, key)


def rmst_boot(time, solved, tau: float, reps: int = BOOT, seed=SEED) -> np.ndarray:
    """`reps` bootstrap RMSTs (runs resampled with replacement; seeded)."""
    time, solved = censor_at(time, solved, tau)
    return _rmst_weighted(time, solved, tau, _boot_weights(len(time), reps, seed))


def rmst_ci(time, solved, tau: float, level: float = 0.95, seed=SEED) -> tuple[float, float, float]:
    """(RMST, low, high): point estimate and percentile bootstrap interval."""
    lo, hi = np.percentile(rmst_boot(time, solved, tau, seed=seed), [50 * (1 - level), 50 * (1 + level)])
    return rmst(time, solved, tau), float(lo), float(hi)


def rmst_ratio(arms, level: float = 0.95, seed=SEED) -> tuple[float, float, float]:
    """Geometric mean over strata of RMST(A)/RMST(B), with a percentile bootstrap interval.

    arms: [(time_a, solved_a, time_b, solved_b, tau), ...], one per stratum (a single cell: the plain
    ratio). Below 1: A solves sooner. Each side of each stratum is resampled independently.
    """
    floor = 1.0  # a solve at the step-0 evaluation would give RMST 0 and an infinite ratio
    logs, boots = [], []
    for i, (ta, sa, tb, sb, tau) in enumerate(arms):
        logs.append(math.log(max(rmst(ta, sa, tau), floor) / max(rmst(tb, sb, tau), floor)))
        ra = np.maximum(rmst_boot(ta, sa, tau, seed=[seed, i, 0]), floor)
        rb = np.maximum(rmst_boot(tb, sb, tau, seed=[seed, i, 1]), floor)
        boots.append(np.log(ra / rb))
    lo, hi = np.percentile(np.mean(boots, axis=0), [50 * (1 - level), 50 * (1 + level)])
    return math.exp(float(np.mean(logs))), math.exp(lo), math.exp(hi)


# ------------------------------------------------------------------------------------------ log-rank
@dataclass(frozen=True)
class LogRank:
    p: float  # two-sided p-value
    u: float  # observed − expected solves in the first group: > 0 means it solves more or sooner
    method: str  # "exact", "Monte Carlo" or "asymptotic"
    splits: int = 0  # splits of the pooled runs the permutation p-value was computed from
    p_min: float = 0.0  # the smallest p-value any split of these runs can give

    @property
    def se(self) -> float:
        """Monte Carlo standard error of p (0 when exact or asymptotic)."""
        return math.sqrt(self.p * (1 - self.p) / self.splits) if self.method == "Monte Carlo" else 0.0

    def describe(self) -> str:
        if self.method == "exact":
            return f"exact, all {self.splits:,} splits"
        if self.method == "Monte Carlo":
            return f"Monte Carlo permutation, {self.splits:,} random splits, ±{self.se:.1g}"
        return "normal approximation"


def scores(time, solved) -> np.ndarray:
    """Log-rank score of each run: solved (0/1) minus the Nelson–Aalen hazard summed up to its time.

    Summed over a group it is the group's observed − expected solves; over all runs it is 0.
    """
    time, solved = np.asarray(time, dtype=float), np.asarray(solved, dtype=bool)
    ev = np.unique(time[solved])
    if len(ev) == 0:
        return np.zeros(len(time))
    reached = time[:, None] >= ev[None, :]  # run i was still unsolved at (or censored at) t_j
    hazard = ((time[:, None] == ev[None, :]) & solved[:, None]).sum(0) / reached.sum(0)
    return solved.astype(float) - reached @ hazard


def _variance(time, solved, in_a) -> float:
    """Hypergeometric variance of U (the denominator of the usual log-rank chi-square)."""
    ev = np.unique(time[solved])
    reached = time[:, None] >= ev[None, :]
    n = reached.sum(0)
    na = reached[in_a].sum(0)
    d = ((time[:, None] == ev[None, :]) & solved[:, None]).sum(0)
    return float(np.sum(d * (na / n) * (1 - na / n) * (n - d) / np.maximum(n - 1, 1)))


@lru_cache(maxsize=16)
def _splits(n: int, k: int) -> tuple[np.ndarray, bool]:
    """Rows of k indices: which of n pooled runs go to the first group. All C(n, k) when at most
    MAX_ENUM (exact), else MC_DRAWS uniform random ones (seeded by n, k: reproducible)."""
    if math.comb(n, k) <= MAX_ENUM:
        flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n), k)), np.int16)
        idx, exact = flat.reshape(-1, k), True
    else:
        rng = np.random.default_rng([SEED, n, k])
        idx, exact = np.argsort(rng.random((MC_DRAWS, n)), axis=1)[:, :k].astype(np.int16), False
    idx.flags.writeable = False
    return idx, exact


def _merge(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equal values (to 1e-9, sums in different orders differ in the last bits) merged, counts added."""
    key, inv = np.unique(np.round(values, 9), return_inverse=True)
    return key, np.bincount(inv.ravel(), weights=counts.ravel(), minlength=len(key))


def _exact_dist(w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """U's permutation distribution over all C(n, k) splits, as (distinct values, number of splits)."""
    idx, _ = _splits(len(w), k)
    return _merge(w[idx].sum(axis=1), np.ones(len(idx)))


def _permutation_p(values, counts, u: float, exact: bool) -> tuple[float, float]:
    """(p, smallest attainable p) of |U| >= |u| under the permutation distribution (values, counts)."""
    a = np.abs(values)
    tol = 1e-9 * (1.0 + a.max(initial=0.0))  # equal statistics computed in a different order count as ties
    ge, top = counts[a >= abs(u) - tol].sum(), counts[a >= a.max(initial=0.0) - tol].sum()
    total = counts.sum()
    if exact:
        return float(ge / total), float(top / total)
    return float((1 + ge) / (total + 1)), float((1 + top) / (total + 1))  # the observed split: one draw


def logrank(time_a, solved_a, time_b, solved_b) -> LogRank:
    """Two-sided two-sample log-rank test; exact (permutation) when either side has < SMALL_N runs."""
    ta, sa = np.asarray(time_a, dtype=float), np.asarray(solved_a, dtype=bool)
    tb, sb = np.asarray(time_b, dtype=float), np.asarray(solved_b, dtype=bool)
    time, solved = np.concatenate([ta, tb]), np.concatenate([sa, sb])
    w = scores(time, solved)
    u = float(w[: len(ta)].sum())
    if not solved.any():  # nothing to compare: U is 0 under every split
        return LogRank(1.0, 0.0, "exact", 1, 1.0)
    if min(len(ta), len(tb)) >= SMALL_N:
        res = _st.logrank(_st.CensoredData(ta[sa], right=ta[~sa]), _st.CensoredData(tb[sb], right=tb[~sb]))
        return LogRank(float(res.pvalue), u, "asymptotic")
    if math.comb(len(time), len(ta)) <= MAX_ENUM:
        p, p_min = _permutation_p(*_exact_dist(w, len(ta)), u, True)
        return LogRank(p, u, "exact", math.comb(len(time), len(ta)), p_min)
    idx, _ = _splits(len(time), len(ta))
    p, p_min = _permutation_p(w[idx].sum(axis=1), np.ones(len(idx)), u, False)
    return LogRank(p, u, "Monte Carlo", len(idx), p_min)


def stratified_logrank(strata) -> LogRank:
    """Log-rank test stratified by cell: U summed over strata, each split only within its stratum.

    strata: [(time_a, solved_a, time_b, solved_b), ...]. Exact (the strata's distributions convolved)
    when every stratum can be enumerated and no convolution step exceeds MAX_SUPPORT value pairs, Monte
    Carlo otherwise; the normal approximation (summed hypergeometric variances) when every stratum has
    >= SMALL_N runs a side.
    """
    pieces = []  # (scores, n_a) of strata with a solve: the others add 0 under every split
    u = var = 0.0
    large = True
    for ta, sa, tb, sb in strata:
        time = np.concatenate([np.asarray(ta, dtype=float), np.asarray(tb, dtype=float)])
        solved = np.concatenate([np.asarray(sa, dtype=bool), np.asarray(sb, dtype=bool)])
        large &= min(len(ta), len(tb)) >= SMALL_N
        if solved.any():
            w = scores(time, solved)
            pieces.append((w, len(ta)))
            u += float(w[: len(ta)].sum())
            var += _variance(time, solved, np.arange(len(time)) < len(ta))
    if not pieces:
        return LogRank(1.0, 0.0, "exact", 1, 1.0)
    if large:
        return LogRank(float(2 * _st.norm.sf(abs(u) / math.sqrt(var))), u, "asymptotic")
    return permutation_test(pieces, u)


def permutation_test(pieces, u: float) -> LogRank:
    """Two-sided permutation test of U = the first group's summed scores, each stratum's runs split
    only within it: pieces [(scores, n_first), ...]. Exact when _convolved can compute the distribution,
    Monte Carlo (MC_DRAWS seeded draws, each stratum split independently) otherwise."""
    dist = _convolved(pieces)
    if dist is not None:
        p, p_min = _permutation_p(*dist, u, True)
        return LogRank(p, u, "exact", math.prod(math.comb(len(w), k) for w, k in pieces), p_min)
    rng = np.random.default_rng([SEED, len(pieces)])
    dist = np.zeros(MC_DRAWS)
    for w, k in pieces:  # an independent uniform random split of every stratum per draw
        idx = np.argsort(rng.random((MC_DRAWS, len(w))), axis=1)[:, :k]
        dist += w[idx].sum(axis=1)
    p, p_min = _permutation_p(dist, np.ones(MC_DRAWS), u, False)
    return LogRank(p, u, "Monte Carlo", MC_DRAWS, p_min)


def _convolved(pieces) -> tuple[np.ndarray, np.ndarray] | None:
    """The exact distribution of U summed over strata, or None when it is too large to compute quickly."""
    if any(math.comb(len(w), k) > MAX_ENUM for w, k in pieces):
        return None
    values, counts = np.zeros(1), np.ones(1)
    for w, k in pieces:
        v, c = _exact_dist(w, k)
        if len(values) * len(v) > MAX_SUPPORT:
            return None
        values, counts = _merge(values[:, None] + v[None, :], counts[:, None] * c[None, :])
    return values, counts
