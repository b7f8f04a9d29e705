"""Engle-Granger cointegration of two log-price series, for the pairs template.

A pair trade bets that the spread ``y - intercept - hedge_ratio * x`` returns to its mean. That
bet only has an edge when the spread is stationary (the two series are cointegrated), and it only
pays within the holding horizon when the spread reverts fast enough. So the test reports both:
the Engle-Granger statistic with its MacKinnon p-value, and the spread's half-life.

The p-value comes from ``statsmodels.tsa.stattools.coint``: MacKinnon's response-surface
p-values are a maintained reference implementation, where hand-copied critical-value tables
would be easy to get subtly wrong. statsmodels is imported inside ``engle_granger`` only,
because it takes about a second to import and the console's first frame must not wait for a
library that only the pairs research path needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

MIN_POINTS = 60
"""Fewer observations than this give an ADF regression with too few degrees of freedom for the
asymptotic MacKinnon p-values to mean much (roughly a quarter of daily bars)."""


@dataclass(frozen=True, slots=True)
class Cointegration:
    """Engle-Granger result for ``y`` on ``x`` (log prices, oldest first).

    ``hedge_ratio`` and ``intercept`` are the OLS fit ``y = intercept + hedge_ratio * x + spread``;
    ``t_stat`` is the ADF statistic of that spread and ``p_value`` its MacKinnon p-value
    (small: reject "no cointegration"). ``phi`` is the AR(1) coefficient of the spread and
    ``half_life`` the number of bars for a deviation to halve, ``-ln 2 / ln(phi)``; it is ``inf``
    when ``phi >= 1`` (no reversion). A negative ``phi`` (a spread that flips sign bar to bar)
    uses ``|phi|``, the decay of the swing's size. ``n`` is the number of observations.
    """

    hedge_ratio: float
    intercept: float
    t_stat: float
    p_value: float
    half_life: float
    phi: float
    n: int


def _check_series(y: ArrayLike, x: ArrayLike) -> tuple[Array, Array]:
    ya = np.asarray(y, dtype=np.float64)
    xa = np.asarray(x, dtype=np.float64)
    for name, a in (("y", ya), ("x", xa)):
        if a.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array of log prices, got shape {a.shape}")
    if len(ya) != len(xa):
        raise ValueError(f"y and x differ in length: {len(ya)} vs {len(xa)} (align them on common dates)")
    if len(ya) < MIN_POINTS:
        raise ValueError(f"need at least {MIN_POINTS} points for a cointegration test, got {len(ya)}")
    for name, a in (("y", ya), ("x", xa)):
        nan = np.isnan(a)
        if nan.any():
            first = int(np.argmax(nan))
            raise ValueError(f"{name} contains NaN ({int(nan.sum())} of {len(a)}, first at index {first})")
        inf = ~np.isfinite(a)
        if inf.any():
            raise ValueError(f"{name} contains infinite values (first at index {int(np.argmax(inf))})")
    if np.ptp(xa) == 0.0:
        raise ValueError("x is constant: no hedge ratio can be estimated")
    return ya, xa


def _ar1_phi(s: Array) -> float:
    """OLS slope of ``s[t]`` on ``s[t-1]`` with an intercept."""
    lag, cur = s[:-1], s[1:]
    design = np.column_stack([np.ones(len(lag)), lag])
    coef = np.linalg.lstsq(design, cur, rcond=None)[0]
    return float(coef[1])


def half_life(phi: float) -> float:
    """Bars for an AR(1) deviation to halve: ``-ln 2 / ln |phi|``; ``inf`` when ``|phi| >= 1``."""
    a = abs(phi)
    if a >= 1.0:
        return math.inf
    if a == 0.0:
        return 0.0
    return -math.log(2.0) / math.log(a)


def engle_granger(y: ArrayLike, x: ArrayLike) -> Cointegration:
    """Two-step Engle-Granger test of ``y`` on ``x`` (log prices, equal length, no NaN, >= 60 points).

    Step one is OLS of ``y`` on ``x`` with an intercept (the hedge ratio); step two an ADF test
    on the residual spread with lag length chosen by AIC, scored against MacKinnon's
    cointegration (not plain unit-root) distribution, which accounts for the hedge ratio having
    been estimated on the same data.
    """
    ya, xa = _check_series(y, x)
    from statsmodels.tsa.stattools import coint  # lazy: heavy import, see module docstring

    design = np.column_stack([np.ones(len(xa)), xa])
    intercept, beta = (float(v) for v in np.linalg.lstsq(design, ya, rcond=None)[0])
    t_stat, p_value, _crit = coint(ya, xa, trend="c", autolag="aic")
    phi = _ar1_phi(ya - intercept - beta * xa)
    return Cointegration(
        hedge_ratio=beta,
        intercept=intercept,
        t_stat=float(t_stat),
        p_value=float(p_value),
        half_life=half_life(phi),
        phi=phi,
        n=len(ya),
    )


def spread(y: ArrayLike, x: ArrayLike, c: Cointegration) -> Array:
    """The pair's spread ``y - intercept - hedge_ratio * x`` under a fitted relation.

    Unlike ``engle_granger`` this takes any length (a live window is often shorter than the
    fitting one) and lets NaN through, so a missing bar shows as a missing spread value.
    """
    ya = np.asarray(y, dtype=np.float64)
    xa = np.asarray(x, dtype=np.float64)
    if ya.shape != xa.shape:
        raise ValueError(f"y and x differ in shape: {ya.shape} vs {xa.shape}")
    out: Array = ya - c.intercept - c.hedge_ratio * xa
    return out
