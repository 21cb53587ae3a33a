"""Statistics for counts and for many tests at once: Wilson intervals, Holm's adjustment, quartiles, and
the solved-by-the-budget endpoint (differences in fraction solved, Boschloo's test, its stratified form).

numpy and scipy only. The time-to-solve statistics (Kaplan–Meier, RMST, log-rank) are in survival.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

CONFIDENCE = 0.95


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (scipy's binomtest(...).proportion_ci).

    Unlike the Wald interval it stays inside [0, 1] and is not degenerate at k = 0 or k = n, which matters
    with the 3-10 seeds per setting typical here. n = 0 gives the uninformative (0, 1).
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    ci = _st.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    # exact ends at the boundaries (no 1e-17 above 0 or below 1 from rounding)
    return (0.0 if k == 0 else float(ci.low)), (1.0 if k == n else float(ci.high))


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): reject H_i at level α iff adjusted p_i < α, which
    keeps the chance of any false rejection among all m tests at most α, whatever their dependence.

    p_(i) sorted ascending -> max over j <= i of min(1, (m - j + 1) p_(j)). NaN entries (not tests) stay NaN
    and do not count in m.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok) == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def quartiles(values) -> tuple[float, float, float]:
    """(median, 25th, 75th percentile) of the finite values; NaNs when there are none."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(float(x))], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return float(med), float(q1), float(q3)


# ------------------------------------------------------------------------------------ solved by the budget
def solved_difference(k_a: int, n_a: int, k_b: int, n_b: int) -> tuple[float, float, float]:
    """(k_a/n_a − k_b/n_b, 95% interval): Newcombe's hybrid score interval (Newcombe 1998, Statistics in
    Medicine 17:873, method 10), built from the two sides' Wilson intervals. Unlike the Wald interval it
    stays inside [−1, 1] and is not degenerate at 10 of 10 against 0 of 10, the counts this tool sees."""
    if not (n_a and n_b):
        return math.nan, math.nan, math.nan
    pa, pb = k_a / n_a, k_b / n_b
    (la, ua), (lb, ub) = wilson_interval(k_a, n_a), wilson_interval(k_b, n_b)
    d = pa - pb
    return d, d - math.hypot(pa - la, ub - pb), d + math.hypot(ua - pa, pb - lb)


def mh_solved_difference(strata) -> float:
    """The Mantel–Haenszel difference in fraction solved over cells [(k_a, n_a, k_b, n_b), ...]: each
    cell's difference weighted by n_a n_b / (n_a + n_b), so cells of equal sizes count equally."""
    w = [(na * nb / (na + nb), ka / na - kb / nb) for ka, na, kb, nb in strata if na and nb]
    total = sum(x for x, _ in w)
    return sum(x * d for x, d in w) / total if total else math.nan


@dataclass(frozen=True)
class CountTest:
    p: float  # two-sided
    p_min: float  # the smallest p any split of the same solved total between the two sides can give
    name: str  # what was computed, for the reason text


def boschloo(k_a: int, n_a: int, k_b: int, n_b: int) -> CountTest:
    """Boschloo's exact unconditional test of "both sides solve with the same probability", two-sided
    (scipy.stats.boschloo_exact: twice the smaller one-sided p, at most 1). Uniformly more powerful than
    Fisher's test, which it uses as its statistic. Nothing or everything solved on both sides: p = 1."""

    def p_of(ka: int) -> float:
        kb = k - ka
        if k in (0, n_a + n_b):
            return 1.0
        p = _st.boschloo_exact([[ka, kb], [n_a - ka, n_b - kb]], alternative="two-sided").pvalue
        return 1.0 if not math.isfinite(p) else float(p)

    k = k_a + k_b
    extremes = {min(k, n_a), max(0, k - n_b)}  # all solves on one side, or as few there as possible
    return CountTest(p_of(k_a), min(p_of(x) for x in extremes), "Boschloo's exact test")


def stratified_solved(strata) -> tuple[CountTest, float]:
    """Solved counts pooled over cells [(solved_a, solved_b), ...] (0/1 per run): the exact conditional
    permutation test of the first side's total solves, runs split only within their cell (the exact
    Cochran–Mantel–Haenszel test; one cell: Fisher's exact test with |observed − expected| as its
    statistic). Returns (test, observed − expected solves of the first side)."""
    from .survival import permutation_test  # survival imports nothing from here

    pieces, u = [], 0.0
    for sa, sb in strata:
        s = np.concatenate([np.asarray(sa, dtype=float), np.asarray(sb, dtype=float)])
        if 0 < s.sum() < len(s):  # a cell where every run or none solved adds nothing under any split
            w = s - s.mean()
            pieces.append((w, len(sa)))
            u += float(w[: len(sa)].sum())
    if not pieces:
        return CountTest(1.0, 1.0, "exact stratified test of solved counts"), 0.0
    res = permutation_test(pieces, u)
    how = "all splits" if res.method == "exact" else f"{res.splits:,} random splits, Monte Carlo"
    return CountTest(res.p, res.p_min, f"exact test of solved counts stratified by cell ({how})"), u
