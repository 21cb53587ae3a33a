"""Wilson interval and Fisher's exact test against independent references."""

import itertools
import math
from fractions import Fraction

import pytest

from ltd_bench.stats import fisher_exact, median_or_nan, wilson_interval


def brute_fisher(k1, n1, k2, n2):
    """Two-sided Fisher by enumerating every way to pick group 1 out of the pooled runs (no formula)."""
    pooled = [1] * (k1 + k2) + [0] * (n1 + n2 - k1 - k2)
    counts: dict[int, int] = {}
    for group1 in itertools.combinations(range(len(pooled)), n1):
        x = sum(pooled[i] for i in group1)
        counts[x] = counts.get(x, 0) + 1
    total = sum(counts.values())
    obs = Fraction(counts[k1], total)
    return float(sum(Fraction(c, total) for c in counts.values() if Fraction(c, total) <= obs))


@pytest.mark.parametrize(
    "k1,n1,k2,n2,p",
    [
        (3, 4, 1, 4, 0.4857),  # Fisher's lady tasting tea: 3 of 4 right, two-sided 34/70
        (1, 10, 11, 14, 0.002759),  # Wikipedia's worked example [[1, 9], [11, 3]]
        (6, 8, 1, 5, 0.1026),  # scipy docs example [[6, 2], [1, 4]]
        (5, 5, 0, 5, 0.007937),  # 2 / C(10, 5)
        (2, 2, 2, 2, 1.0),
    ],
)
def test_fisher_textbook(k1, n1, k2, n2, p):
    assert fisher_exact(k1, n1, k2, n2) == pytest.approx(p, abs=5e-5)


def test_fisher_matches_brute_force_enumeration():
    for n1, n2 in itertools.product(range(1, 6), repeat=2):
        for k1, k2 in itertools.product(range(n1 + 1), range(n2 + 1)):
            assert fisher_exact(k1, n1, k2, n2) == pytest.approx(brute_fisher(k1, n1, k2, n2), rel=1e-12)


def test_fisher_one_sided_and_symmetry():
    assert fisher_exact(3, 4, 1, 4, "greater") == pytest.approx(17 / 70)  # P(X >= 3) = (16 + 1) / 70
    assert fisher_exact(3, 4, 1, 4, "less") == pytest.approx(1 - 1 / 70)
    assert fisher_exact(4, 7, 1, 6) == pytest.approx(fisher_exact(1, 6, 4, 7))
    with pytest.raises(ValueError):
        fisher_exact(3, 2, 0, 1)
    with pytest.raises(ValueError):
        fisher_exact(1, 2, 0, 1, alternative="bigger")


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
    for n in (1, 2, 3, 5, 10, 37):
        for k in range(1, n):
            lo, hi = wilson_interval(k, n)
            assert lo == pytest.approx(score_bound(k, n, 1.96, False), abs=1e-9)
            assert hi == pytest.approx(score_bound(k, n, 1.96, True), abs=1e-9)
            assert (lo, hi) == pytest.approx(tuple(1 - x for x in reversed(wilson_interval(n - k, n))))
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0


def test_median_or_nan():
    assert median_or_nan([3, float("nan"), 1, 2]) == 2
    assert math.isnan(median_or_nan([]))
