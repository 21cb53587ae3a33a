"""Wilson intervals and Holm's adjustment against independent references."""

import itertools
import math

import numpy as np
import pytest

from ltd_bench.stats import holm, quartiles, wilson_interval


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
