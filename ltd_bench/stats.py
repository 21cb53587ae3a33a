"""Statistics for counts and for many tests at once: Wilson intervals, Holm's adjustment, quartiles.

numpy and scipy only. The time-to-solve statistics (Kaplan–Meier, RMST, log-rank) are in survival.py.
"""

from __future__ import annotations

import math

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
