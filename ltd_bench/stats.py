"""Small, dependency-free statistics for success counts: Wilson intervals and Fisher's exact test.

Both work on k successes out of n runs (seeds). They are exact / closed-form, so no scipy is needed.
"""

from __future__ import annotations

import math
import statistics


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n (Wilson 1927; Newcombe 1998, method 3).

    z=1.96 is the two-sided 95% normal quantile. Unlike the Wald interval it stays inside [0, 1] and is
    not degenerate at k=0 or k=n, which matters with the 3-5 seeds per setting typical here.
    n=0 gives the uninformative (0, 1).
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p, z2 = k / n, z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact ends at the boundaries (no -1e-17)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def fisher_exact(k1: int, n1: int, k2: int, n2: int, alternative: str = "two-sided") -> float:
    """Fisher's exact test p-value for the 2x2 table [[k1, n1-k1], [k2, n2-k2]] (successes / failures).

    Conditioning on both margins, the count in the top-left cell is hypergeometric:
    P(x) = C(n1, x) C(n2, K-x) / C(n1+n2, K), K = k1 + k2.
    two-sided: sum of P(x) over every table no more probable than the observed one (the usual
    definition, as in R and scipy). The terms are compared as exact integers (same denominator), which
    does exactly what scipy's 1+1e-7 relative tolerance approximates: equally probable tables count.
    greater: P(X >= k1) (group 1 has the higher success rate); less: P(X <= k1).
    """
    for k, n in ((k1, n1), (k2, n2)):
        if n < 0 or not 0 <= k <= n:
            raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    K, N = k1 + k2, n1 + n2
    lo, hi = max(0, K - n2), min(n1, K)
    weight = {x: math.comb(n1, x) * math.comb(n2, K - x) for x in range(lo, hi + 1)}
    total = math.comb(N, K)  # == sum(weight.values()) (Vandermonde)
    if alternative == "two-sided":
        obs = weight[k1]
        num = sum(w for w in weight.values() if w <= obs)
    elif alternative == "greater":
        num = sum(w for x, w in weight.items() if x >= k1)
    elif alternative == "less":
        num = sum(w for x, w in weight.items() if x <= k1)
    else:
        raise ValueError(f"alternative must be two-sided, greater or less, got {alternative!r}")
    return min(1.0, num / total)


def median_or_nan(values) -> float:
    """Median of the finite values, NaN when there are none (e.g. steps-to-solve of 0 solved runs)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return statistics.median(vals) if vals else math.nan
