"""Wilson intervals, differences in fraction solved, Holm's adjustment and the count tests against
independent references."""

import itertools
import math

import numpy as np
import pytest

from scipy import stats

from ltd_bench.stats import (
    boschloo,
    holm,
    mh_solved_difference,
    quartiles,
    solved_difference,
    stratified_solved,
    wilson_interval,
)


@pytest.mark.parametrize(
    "k,n,lo,hi",
    [  # Newcombe (1998), Stat. Med. 17:857, Table I, method 3
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_table_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got[0] == pytest.approx(lo, abs=1e-4) and got[1] == pytest.approx(hi, abs=1e-4)


def score_bound(k, n, z, upper):
    """Independent check: the Wilson bounds are where the score statistic |k - n p| / sqrt(n p (1-p)) = z."""
    a, b = (k / n, 1.0) if upper else (0.0, k / n)
    inside = lambda p: abs(k - n * p) <= z * math.sqrt(n * p * (1 - p))
    for _ in range(200):  # bisection between a point inside and one outside the interval
        m = (a + b) / 2
        if inside(m) == upper:
            a = m
        else:
            b = m
    return (a + b) / 2


def test_wilson_is_score_test_inversion():
    z = 1.959963984540054  # the two-sided 95% normal quantile, as scipy uses it
    for n in (1, 2, 3, 5, 10, 37):
        for k in range(1, n):
            lo, hi = wilson_interval(k, n)
            assert lo == pytest.approx(score_bound(k, n, z, False), abs=1e-9)
            assert hi == pytest.approx(score_bound(k, n, z, True), abs=1e-9)
            assert (lo, hi) == pytest.approx(tuple(1 - x for x in reversed(wilson_interval(n - k, n))))
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0


def closed_testing(p):
    """Holm by its definition (Holm 1979): H_i is rejected at level a iff every intersection of hypotheses
    containing it is rejected by Bonferroni, so its adjusted p is the max over those subsets S of
    min(1, |S| min_{j in S} p_j). Enumerates every subset: no sorting, no step-down formula."""
    m, out = len(p), []
    for i in range(m):
        worst = 0.0
        for size in range(1, m + 1):
            for s in itertools.combinations(range(m), size):
                if i in s:
                    worst = max(worst, min(1.0, size * min(p[j] for j in s)))
        out.append(worst)
    return out


def test_holm_is_closed_bonferroni_testing():
    rng = np.random.default_rng(0)
    for m in (1, 2, 3, 5, 7):
        for _ in range(20):
            p = rng.choice([rng.uniform(0, 0.1), rng.uniform(0, 1)], size=m)
            p[rng.random(m) < 0.2] = p[0]  # ties
            assert holm(p) == pytest.approx(closed_testing(list(p)), abs=1e-12)
    # textbook example: 0.01, 0.04, 0.03, 0.005 -> 0.03, 0.06, 0.06, 0.02
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_ignores_nan_entries():
    got = holm([0.01, np.nan, 0.02])
    assert got[0] == pytest.approx(0.02) and np.isnan(got[1]) and got[2] == pytest.approx(0.02)
    assert np.isnan(holm([np.nan])).all() and len(holm([])) == 0


def test_quartiles():
    assert quartiles([4, 1, 3, 2, float("nan"), None]) == pytest.approx(
        (2.5, 1.75, 3.25)
    )  # numpy's linear rule
    assert all(math.isnan(v) for v in quartiles([]))


# ------------------------------------------------------------------------------------- Boschloo's test
def brute_boschloo(k_a, n_a, k_b, n_b, grid=4001):
    """Boschloo's two-sided p from its definition: twice the smaller one-sided p, each the largest over
    the common success probability π of P(Fisher's one-sided p <= the observed one) under two binomials."""
    from scipy.stats import binom, hypergeom

    def one_sided(stat):  # stat(x_a, x_b): Fisher's one-sided p of a table
        obs = stat(k_a, k_b)
        tables = [(x, y) for x in range(n_a + 1) for y in range(n_b + 1) if stat(x, y) <= obs * (1 + 1e-13)]
        pis = np.linspace(0, 1, grid)
        return float(max(sum(binom.pmf(x, n_a, pis) * binom.pmf(y, n_b, pis) for x, y in tables)))

    n = n_a + n_b
    less = one_sided(lambda x, y: hypergeom.cdf(x, n, x + y, n_a))
    greater = one_sided(lambda x, y: hypergeom.cdf(y, n, x + y, n_b))
    return min(1.0, 2 * min(less, greater))


@pytest.mark.parametrize("k_a,n_a,k_b,n_b", [(3, 3, 0, 3), (4, 4, 1, 3), (2, 4, 0, 3)])
def test_boschloo_matches_its_definition_by_brute_force(k_a, n_a, k_b, n_b):
    assert boschloo(k_a, n_a, k_b, n_b).p == pytest.approx(brute_boschloo(k_a, n_a, k_b, n_b), rel=2e-3)


def test_boschloo_is_scipys_and_its_floor_the_most_extreme_split():
    ref = stats.boschloo_exact([[10, 5], [0, 5]], alternative="two-sided").pvalue
    res = boschloo(10, 10, 5, 10)
    assert res.p == pytest.approx(ref) and res.p == pytest.approx(0.0128, abs=1e-4)  # 10/10 vs 5/10
    assert res.p_min == pytest.approx(res.p)  # 15 solves: all 10 on one side is the most extreme split
    mid = boschloo(2, 5, 3, 5)
    assert mid.p_min == pytest.approx(boschloo(5, 5, 0, 5).p) and mid.p > mid.p_min
    assert boschloo(0, 5, 0, 5).p == 1.0 and boschloo(5, 5, 5, 5).p == 1.0  # nothing to tell apart


def test_stratified_solved_counts_is_fisher_in_one_cell_and_exact_over_several():
    # one cell: the permutation test on |O − E| of solved counts is the two-sided Fisher test here
    test, u = stratified_solved([([1] * 5, [1, 1, 0, 0, 0])])
    assert test.p == pytest.approx(stats.fisher_exact([[5, 2], [0, 3]]).pvalue) and u > 0
    # two cells by brute force over every split within each cell
    cells = [([1, 1, 0], [0, 0, 1]), ([1, 0], [0, 0, 1])]
    dist, obs = [], 0.0
    for a, b in cells:
        s = np.r_[a, b]
        obs += sum(a) - len(a) * s.mean()
        dist.append(
            [s[list(idx)].sum() - len(a) * s.mean() for idx in itertools.combinations(range(len(s)), len(a))]
        )
    total = [x + y for x in dist[0] for y in dist[1]]
    brute = np.mean(np.abs(total) >= abs(obs) - 1e-9)
    test, _ = stratified_solved(cells)
    assert test.p == pytest.approx(brute) and "all splits" in test.name


@pytest.mark.parametrize(
    "k_a, n_a, k_b, n_b, lo, hi",
    [  # Newcombe (1998), Statistics in Medicine 17:873, Table II, method 10 (hybrid score)
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
        (10, 10, 0, 10, 0.6075, 1.0000),
    ],
)
def test_solved_difference_is_newcombes_hybrid_score_interval(k_a, n_a, k_b, n_b, lo, hi):
    d, low, high = solved_difference(k_a, n_a, k_b, n_b)
    assert d == pytest.approx(k_a / n_a - k_b / n_b)
    assert (round(low, 4), round(high, 4)) == (lo, hi)
    flipped = solved_difference(k_b, n_b, k_a, n_a)  # swapping the sides mirrors the interval
    assert flipped == pytest.approx((-d, -high, -low))


def test_mh_solved_difference_weights_cells_by_their_sizes():
    # weights n_a n_b / (n_a + n_b): 16/8 = 2 and 50/15 = 10/3; differences 3/4 - 1/4 and 2/10 - 5/5
    assert mh_solved_difference([(3, 4, 1, 4), (2, 10, 5, 5)]) == pytest.approx(-5 / 16)
    equal = [(9, 10, 2, 10), (4, 10, 4, 10), (10, 10, 1, 10)]
    assert mh_solved_difference(equal) == pytest.approx((0.7 + 0 + 0.9) / 3)  # equal sizes: the mean
    assert math.isnan(mh_solved_difference([(0, 0, 1, 2)]))
