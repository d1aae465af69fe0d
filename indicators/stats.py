"""Estimates with 95% intervals, significance tests and false-discovery control.

Every reported figure is a :class:`Figure`: the estimate, the number of observations behind it,
its interval and whether ``n`` reaches the configured minimum. Percentages are on 0..100.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from scipy import stats as _st

Z95 = 1.959963984540054
_Z2 = Z95 * Z95


class Figure(NamedTuple):
    # a NamedTuple (immutable like the frozen dataclass it was, 5x cheaper to create): one request builds thousands
    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    insufficient_data: bool

    def to_dict(self) -> dict:
        value, n, lo, hi, insufficient = self
        return {
            "value": None if value is None else round(float(value), 2),
            "n": n,
            "ci_low": None if lo is None else round(float(lo), 2),
            "ci_high": None if hi is None else round(float(hi), 2),
            "insufficient_data": insufficient,
        }

    @classmethod
    def empty(cls, n: int = 0) -> Figure:
        return cls(None, n, None, None, True)


@lru_cache(maxsize=4096)
def _t975(df: int) -> float:
    """Student t 97.5% quantile (cached: scipy's ppf costs ~0.5 ms a call, and n repeats)."""
    return float(_st.t.ppf(0.975, df)) if df < 100_000 else Z95


def _fig(value: float | None, n: int, lo: float | None, hi: float | None, min_n: int) -> Figure:
    if n <= 0 or value is None:
        return Figure.empty(max(n, 0))
    return Figure(value, n, lo, hi, n < min_n)


def wilson(successes: float, n: int, min_n: int = 30) -> Figure:
    """Share of successes in percent with the Wilson score 95% interval (good for small n and p near 0/1)."""
    if n <= 0:
        return Figure.empty()
    # clamp: counts read by separate queries while records arrive can disagree by a few (p slightly > 1)
    # (conditionals rather than min/max: the same values, and thousands of calls per request)
    p = successes / n
    p = p if p > 0.0 else 0.0
    p = p if p < 1.0 else 1.0
    z2 = _Z2
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # the interval always holds the estimate (rounding at p = 0 or 1 could put it outside)
    v = 100 * p
    lo, hi = center - half, center + half
    lo = 100 * (lo if lo > 0.0 else 0.0)
    hi = 100 * (hi if hi < 1.0 else 1.0)
    return Figure(v, n, lo if lo < v else v, hi if hi > v else v, n < min_n)


def net_score(plus: float, minus: float, n: int, min_n: int = 30) -> Figure:
    """100 (plus - minus) / n with a normal 95% interval for a difference of multinomial shares.

    Used for NPS (promoters - detractors) and net sentiment (pos - neg):
    Var(p - d) = (p + d - (p - d)^2) / n.
    """
    if n <= 0:
        return Figure.empty()
    p, d = plus / n, minus / n
    diff = p - d
    var = p + d - diff * diff
    se = math.sqrt((0.0 if 0.0 > var else var) / n)
    lo, hi = 100 * (diff - Z95 * se), 100 * (diff + Z95 * se)
    return Figure(100 * diff, n, lo if lo > -100.0 else -100.0, hi if hi < 100.0 else 100.0, n < min_n)


def mean(total: float, sq_total: float, n: int, min_n: int = 30) -> Figure:
    """Mean with a Student-t 95% interval, from the sum and the sum of squares."""
    if n <= 0:
        return Figure.empty()
    m = total / n
    if n == 1:
        return _fig(m, n, None, None, min_n)
    var = max((sq_total - n * m * m) / (n - 1), 0.0)
    half = _t975(n - 1) * math.sqrt(var / n)
    return _fig(m, n, m - half, m + half, min_n)


def satisfaction_from_net(net: Figure) -> Figure:
    """Topic satisfaction 0..100 = (net sentiment + 100) / 2 = 100 (pos + neu/2) / n."""
    if net.value is None:
        return net
    t = lambda v: None if v is None else (v + 100) / 2  # noqa: E731
    return Figure(t(net.value), net.n, t(net.ci_low), t(net.ci_high), net.insufficient_data)


def weighted_mean(figures: Sequence[Figure], weights: Sequence[float], min_n: int = 30) -> Figure:
    """Weighted mean of figures; the interval treats them as independent (Var = sum w_i^2 se_i^2).

    Figures without a value or with insufficient data are left out and the weights renormalized.
    """
    pairs = [(f, w) for f, w in zip(figures, weights, strict=True) if f.value is not None and not f.insufficient_data and w > 0]
    if not pairs:
        return Figure.empty(sum(f.n for f in figures))
    wsum = sum(w for _, w in pairs)
    value = sum(f.value * w for f, w in pairs) / wsum  # type: ignore[operator]
    var = 0.0
    for f, w in pairs:
        se = ((f.ci_high or f.value) - (f.ci_low or f.value)) / (2 * Z95)  # type: ignore[operator]
        var += (w / wsum) ** 2 * se * se
    n = max(f.n for f, _ in pairs)
    half = Z95 * math.sqrt(var)
    return _fig(value, n, value - half, value + half, min_n)


def two_proportion_z(x1: float, n1: int, x0: float, n0: int) -> tuple[float, float]:
    """One-sided test that the current share x1/n1 is *higher* than the baseline share x0/n0.

    Pooled two-proportion z statistic; returns (z, p-value). With no data, (0, 1).
    """
    if n1 <= 0 or n0 <= 0:
        return 0.0, 1.0
    p = (x1 + x0) / (n1 + n0)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n0))
    if se == 0:
        return 0.0, 1.0
    z = (x1 / n1 - x0 / n0) / se
    return z, float(_st.norm.sf(z))


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """BH-adjusted p-values (q-values): reject where q <= alpha to control the false discovery rate."""
    m = len(pvalues)
    if m == 0:
        return []
    order = sorted(range(m), key=lambda i: pvalues[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, pvalues[i] * m / rank)
        q[i] = running
    return q
