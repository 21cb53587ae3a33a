"""Kaplan–Meier, RMST and log-rank tests against scipy, closed forms and brute-force enumeration."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from ltd_bench import survival
from ltd_bench.survival import (
    kaplan_meier,
    km_median,
    logrank,
    rmst,
    rmst_boot,
    rmst_ci,
    rmst_ratio,
    stratified_logrank,
)


def random_runs(rng, n, budget=15000, grid=250):
    """Solve times on an evaluation grid (ties), some runs censored at the budget or earlier (diverged)."""
    t = np.ceil(rng.uniform(0, 1.3 * budget, n) / grid) * grid
    solved = (t <= budget) & (rng.random(n) < 0.7)
    diverged = ~solved & (rng.random(n) < 0.2)
    stop = np.where(diverged, np.ceil(rng.uniform(0, budget, n) / grid) * grid, budget)
    return np.where(solved, t, stop), solved


def o_minus_e(time, solved, in_a):
    """Log-rank U straight from its definition: sum over solve times of d_A - d n_A / n (no scores)."""
    u = 0.0
    for t in np.unique(time[solved]):
        risk = time >= t
        d = np.sum(solved & (time == t))
        u += np.sum(solved & (time == t) & in_a) - d * np.sum(risk & in_a) / np.sum(risk)
    return u


def brute_p(ta, sa, tb, sb):
    """Two-sided exact permutation p by enumerating every split of the pooled runs."""
    time, solved = np.concatenate([ta, tb]), np.concatenate([sa, sb]).astype(bool)
    n, k = len(time), len(ta)
    obs = abs(o_minus_e(time, solved, np.arange(n) < k))
    us = []
    for idx in itertools.combinations(range(n), k):
        in_a = np.zeros(n, bool)
        in_a[list(idx)] = True
        us.append(abs(o_minus_e(time, solved, in_a)))
    return np.mean(np.array(us) >= obs - 1e-9)


def test_km_median_is_first_time_half_solved():
    # 2 of 3 solved (10,750 and 13,500): the fraction solved reaches 2/3 at 13,500; the median of the
    # solved runs alone (12,125) ignores the run still unsolved at the budget
    assert km_median([10750, 13500, 15000], [1, 1, 0]) == 13500
    assert math.isnan(km_median([1250, 15000, 15000], [1, 0, 0]))  # 1 of 3: never reaches 1/2
    assert km_median([1000, 2000, 15000, 15000], [1, 1, 0, 0]) == 2000  # exactly 1/2 counts
    # a run censored early (diverged at 500) leaves the risk set: 2 of the 3 others solve
    assert km_median([500, 1000, 3000, 15000], [0, 1, 1, 0]) == 3000
    assert math.isnan(km_median([], []))


def test_rmst_against_scipy_km_integral_and_closed_form():
    rng = np.random.default_rng(0)
    for _ in range(50):
        t, s = random_runs(rng, int(rng.integers(1, 12)))
        tau = float(rng.choice([15000, 8000]))
        sf = kaplan_meier(np.minimum(t, tau), s & (t <= tau)).sf
        grid = np.linspace(0, tau, 60001)  # Riemann sum of scipy's curve (step function, left values)
        area = np.sum(sf.evaluate(grid[:-1])) * (grid[1] - grid[0])
        assert rmst(t, s, tau) == pytest.approx(area, rel=2e-4, abs=1)
    # no censoring and τ beyond every time: the plain mean
    assert rmst([100, 200, 600], [1, 1, 1], 1000) == pytest.approx(300)
    assert rmst([100, 2000], [1, 1], 1000) == pytest.approx((100 + 1000) / 2)  # min(T, τ)
    assert rmst([15000, 15000], [0, 0], 15000) == 15000  # nothing solved: the whole budget


def test_bootstrap_weights_equal_duplicated_runs():
    """The weighted KM used by the bootstrap is the KM of the data with each run copied weight times."""
    rng = np.random.default_rng(1)
    for _ in range(30):
        t, s = random_runs(rng, 6)
        w = rng.integers(0, 4, size=6)
        w[0] = max(w[0], 1)
        got = survival._rmst_weighted(t, s, 15000.0, w[None, :].astype(float))[0]
        assert got == pytest.approx(rmst(np.repeat(t, w), np.repeat(s, w), 15000.0))
    a = rmst_boot([1000, 2000, 15000], [1, 1, 0], 15000)
    assert np.array_equal(a, rmst_boot([1000, 2000, 15000], [1, 1, 0], 15000))  # seeded
    est, lo, hi = rmst_ci([1000, 2000, 15000], [1, 1, 0], 15000)
    assert lo <= est <= hi and lo >= 1000 and hi <= 15000


def test_exact_permutation_matches_brute_force_and_scipy():
    rng = np.random.default_rng(2)
    for na, nb in [(3, 3), (2, 5), (4, 4), (5, 3), (1, 4)]:
        for _ in range(6):
            ta, sa = random_runs(rng, na)
            tb, sb = random_runs(rng, nb)
            res = logrank(ta, sa, tb, sb)
            assert res.method == "exact" and res.splits == math.comb(na + nb, na)
            assert res.u == pytest.approx(o_minus_e(np.r_[ta, tb], np.r_[sa, sb], np.arange(na + nb) < na))
            assert res.p == pytest.approx(brute_p(ta, sa, tb, sb), abs=1e-12)
    # scipy's permutation test (exact: n_resamples above the number of splits) with |O - E| as statistic
    ta, sa, tb, sb = [500, 750, 1000, 15000], [1, 1, 1, 0], [1000, 2500, 15000, 15000, 15000], [1, 1, 0, 0, 0]
    time, solved = np.r_[ta, tb], np.r_[sa, sb].astype(bool)
    stat = lambda a, b: abs(o_minus_e(time, solved, np.isin(np.arange(len(time)), a)))
    ref = stats.permutation_test(
        (np.arange(4), np.arange(4, 9)), stat, permutation_type="independent", alternative="greater"
    )
    assert logrank(ta, sa, tb, sb).p == pytest.approx(ref.pvalue, abs=1e-12)


def test_small_samples_have_a_floor_and_all_vs_none_is_significant():
    res = logrank([1000] * 3, [1] * 3, [15000] * 3, [0] * 3)
    assert res.p == pytest.approx(0.1) and res.p_min == pytest.approx(0.1)  # 2 of C(6, 3) = 20 splits
    res = logrank([1000] * 8, [1] * 8, [15000] * 8, [0] * 8)
    assert res.p == pytest.approx(2 / math.comb(16, 8)) and res.u > 0
    same = logrank([1000, 2000, 15000], [1, 1, 0], [1000, 2000, 15000], [1, 1, 0])
    assert same.p == 1.0 and same.u == pytest.approx(0)
    assert logrank([15000] * 3, [0] * 3, [15000] * 3, [0] * 3).p == 1.0


def test_monte_carlo_agrees_with_exact(monkeypatch):
    rng = np.random.default_rng(3)
    ta, sa = random_runs(rng, 6)
    tb, sb = random_runs(rng, 7)
    sa[:2] = True
    exact = logrank(ta, sa, tb, sb)
    monkeypatch.setattr(survival, "MAX_ENUM", 100)
    survival._splits.cache_clear()
    try:
        mc = logrank(ta, sa, tb, sb)
    finally:
        survival._splits.cache_clear()
    assert exact.method == "exact" and mc.method == "Monte Carlo" and mc.splits == survival.MC_DRAWS
    assert abs(mc.p - exact.p) < 4 * math.sqrt(exact.p * (1 - exact.p) / mc.splits) + 1 / mc.splits
    assert mc.describe().startswith("Monte Carlo") and "random splits" in mc.describe() and mc.se > 0


def test_large_samples_use_scipy_logrank():
    rng = np.random.default_rng(4)
    ta, sa = random_runs(rng, 20)
    tb, sb = random_runs(rng, 16)
    res = logrank(ta, sa, tb, sb)
    ref = stats.logrank(stats.CensoredData(ta[sa], right=ta[~sa]), stats.CensoredData(tb[sb], right=tb[~sb]))
    assert res.method == "asymptotic" and res.p == pytest.approx(ref.pvalue)
    # the hypergeometric variance: U / sqrt(V) is scipy's statistic, and the stratified test of one
    # stratum with >= SMALL_N runs a side is the same test
    one = stratified_logrank([(ta, sa, tb, sb)])
    assert one.method == "asymptotic" and one.p == pytest.approx(ref.pvalue, rel=1e-9)


def test_stratified_exact_matches_brute_force():
    rng = np.random.default_rng(5)
    strata = [(*random_runs(rng, 3), *random_runs(rng, 2)), (*random_runs(rng, 2), *random_runs(rng, 3))]
    for s in strata:
        s[1][0] = True  # at least one solve per stratum
    obs, dist = 0.0, np.zeros(1)
    for ta, sa, tb, sb in strata:
        time, solved = np.r_[ta, tb], np.r_[sa, sb]
        n, k = len(time), len(ta)
        obs += o_minus_e(time, solved, np.arange(n) < k)
        us = [
            o_minus_e(time, solved, np.isin(np.arange(n), idx)) for idx in itertools.combinations(range(n), k)
        ]
        dist = (dist[:, None] + np.array(us)).ravel()
    res = stratified_logrank(strata)
    assert res.method == "exact" and res.splits == 100
    assert res.p == pytest.approx(np.mean(np.abs(dist) >= abs(obs) - 1e-9))
    single = stratified_logrank(strata[:1])
    assert single.p == pytest.approx(logrank(*strata[0]).p)


def test_stratified_exact_over_many_small_cells(monkeypatch):
    """Eight 3-vs-3 cells, one method solving everything: far below 0.05 pooled (each cell alone: 0.1).
    20^8 splits, exact over the distinct values: only the two all-extreme ones reach |U|; Monte Carlo
    (floor 1/20,001) only when the convolution may not be formed."""
    cells = [([1000] * 3, [1] * 3, [15000] * 3, [0] * 3)] * 8
    res = stratified_logrank(cells)
    assert res.method == "exact" and res.splits == 20**8 and res.u > 0
    assert res.p == pytest.approx(2 / 20**8, rel=1e-9)
    monkeypatch.setattr(survival, "MAX_SUPPORT", 10)
    mc = stratified_logrank(cells)
    assert mc.method == "Monte Carlo" and mc.p == pytest.approx(1 / (survival.MC_DRAWS + 1))
    assert stratified_logrank([([15000] * 3, [0] * 3, [15000] * 3, [0] * 3)] * 4).p == 1.0


def test_rmst_ratio():
    ratio, lo, hi = rmst_ratio([([1000] * 4, [1] * 4, [2000] * 4, [1] * 4, 15000)])
    assert (ratio, lo, hi) == pytest.approx((0.5, 0.5, 0.5))  # no spread: every replicate is the same
    ratio, lo, hi = rmst_ratio([([1000, 3000], [1, 1], [2000, 2000], [1, 1], 15000)] * 2)
    assert ratio == pytest.approx(1.0) and lo < 1 < hi


def test_ten_against_ten_is_exact_over_all_184756_splits():
    """Enumerated, not sampled: every split's U summed directly (no merging of equal values)."""
    rng = np.random.default_rng(11)
    ta, sa = random_runs(rng, 10)
    tb, sb = random_runs(rng, 10)
    sa[:3] = True
    res = logrank(ta, sa, tb, sb)
    assert res.method == "exact" and res.splits == 184_756 == math.comb(20, 10)
    w = survival.scores(np.r_[ta, tb], np.r_[sa, sb])
    idx = np.array(list(itertools.combinations(range(20), 10)))
    dist = np.abs(w[idx].sum(axis=1))
    assert res.p == pytest.approx(np.mean(dist >= abs(res.u) - 1e-9), abs=1e-12)
    assert "all 184,756 splits" in res.describe()


def test_equal_statistics_merge_without_changing_p():
    """Ties (many runs unsolved at the budget) collapse the distribution; p is the same as splitwise."""
    ta, sa = [1000, 2000, 3000, 9000, 9000, 9000], [1, 1, 1, 0, 0, 0]
    tb, sb = [2000, 9000, 9000, 9000, 9000, 9000], [1, 0, 0, 0, 0, 0]
    values, counts = survival._exact_dist(survival.scores(np.r_[ta, tb], np.r_[sa, sb]), 6)
    assert counts.sum() == math.comb(12, 6) and len(values) < math.comb(12, 6)
    assert logrank(ta, sa, tb, sb).p == pytest.approx(brute_p(ta, sa, tb, sb), abs=1e-12)
