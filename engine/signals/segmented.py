"""The signal library over a whole panel at once: many symbols' bars laid end to end.

A panel of N symbols is held as one flat array per field (``x``) and the segment bounds
``starts`` (``N + 1`` ascending offsets: symbol ``i``'s bars are ``x[starts[i]:starts[i + 1]]``).
Every function here runs the very kernel of ``engine.signals.indicators`` on each segment, inside
one compiled loop: the values are bit for bit those of the per-symbol call (a segment is exactly
the symbol's own bars), with no Python work per symbol and no per-symbol copies. That is what lets
a scan of thousands of symbols take seconds (issue 18): the per-symbol path spent most of its time
in the Python between kernel calls.

Inputs are float64 (the per-symbol kernels' type: the cards' numbers must not change); outputs are
new flat arrays of the input's length. No argument checking beyond ``_check``: the callers are the
templates, whose windows are fixed.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from engine.signals.indicators import (
    _COLLAPSE,
    Array,
    _bollinger,
    _donchian,
    _exact_moments,
    _gains_losses,
    _kernel,
    _roc,
    _rolling_min_skipna,
    _rolling_moments,
    _rolling_volatility,
    _rsi,
    _smooth,
    _true_range,
    _zscore,
)

Starts = NDArray[np.int64]


@_kernel
def _seg_sma(x: Array, starts: Starts, n: int) -> Array:
    out = np.empty(x.shape[0])
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        out[a:b] = _rolling_moments(x[a:b], n)[0]
    return out


@_kernel
def _seg_smooth(x: Array, starts: Starts, n: int, alpha: float) -> Array:
    out = np.empty(x.shape[0])
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        out[a:b] = _smooth(x[a:b], n, alpha)
    return out


@_kernel
def _seg_roc(x: Array, starts: Starts, n: int) -> Array:
    out = np.empty(x.shape[0])
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        out[a:b] = _roc(x[a:b], n)
    return out


@_kernel
def _seg_volatility(x: Array, starts: Starts, n: int, ppy: float) -> Array:
    out = np.empty(x.shape[0])
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        out[a:b] = _rolling_volatility(x[a:b], n, ppy)
    return out


@_kernel
def _seg_atr(high: Array, low: Array, close: Array, starts: Starts, n: int) -> Array:
    out = np.empty(close.shape[0])
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        out[a:b] = _smooth(_true_range(high[a:b], low[a:b], close[a:b]), n, 1.0 / n)
    return out


@_kernel
def _seg_rsi(close: Array, starts: Starts, n: int) -> Array:
    out = np.empty(close.shape[0])
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        gain, loss = _gains_losses(close[a:b])
        out[a:b] = _rsi(_smooth(gain, n, 1.0 / n), _smooth(loss, n, 1.0 / n))
    return out


@_kernel
def _seg_bollinger(close: Array, starts: Starts, n: int, k: float) -> tuple[Array, Array, Array, Array]:
    size = close.shape[0]
    mid, upper, lower, pct_b = np.empty(size), np.empty(size), np.empty(size), np.empty(size)
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        m, u, lo, p = _bollinger(close[a:b], n, k)
        mid[a:b], upper[a:b], lower[a:b], pct_b[a:b] = m, u, lo, p
    return mid, upper, lower, pct_b


@_kernel
def _seg_zscore(x: Array, starts: Starts, n: int) -> Array:
    out = np.empty(x.shape[0])
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        out[a:b] = _zscore(x[a:b], n)
    return out


@_kernel
def _seg_rolling_min(x: Array, starts: Starts, n: int) -> Array:
    out = np.empty(x.shape[0])
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        out[a:b] = _rolling_min_skipna(x[a:b], n)
    return out


@_kernel
def _seg_donchian(high: Array, low: Array, starts: Starts, n: int) -> tuple[Array, Array]:
    upper, lower = np.empty(high.shape[0]), np.empty(high.shape[0])
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        u, lo = _donchian(high[a:b], low[a:b], n)
        upper[a:b], lower[a:b] = u, lo
    return upper, lower


@_kernel
def _blend_row(x: Array, w: float, n: int, clip: float, out: Array) -> None:
    """``out += w * clip(_zscore(x, n))``, fused: ``_rolling_moments`` and ``_zscore`` step for
    step (the same operations in the same order, so the same bits), with the window's state in
    registers instead of three temporary arrays written and read back per component."""
    run = 0  # consecutive finite values ending at t
    same = 0  # consecutive values equal to x[t] ending at t
    mean = 0.0
    m2 = 0.0
    peak = 0.0
    since = 0
    for t in range(x.shape[0]):
        v = x[t]
        z = np.nan
        if not np.isfinite(v):
            run = 0
            same = 0
        else:
            same = same + 1 if run > 0 and v == x[t - 1] else 1
            run += 1
            if run >= n:
                if run == n or since >= n:
                    mean, m2 = _exact_moments(x, t - n + 1, n)
                    since, peak = 0, m2
                else:
                    old = x[t - n]
                    new_mean = mean + (v - old) / n
                    m2 += (v - old) * (v - new_mean + old - mean)
                    mean = new_mean
                    since += 1
                    if m2 < peak * _COLLAPSE:
                        mean, m2 = _exact_moments(x, t - n + 1, n)
                        since = 0
                    peak = max(peak, m2)
                if same >= n:
                    mean, m2, peak = v, 0.0, 0.0
                m2_t = max(m2, 0.0)
                if m2_t > 0.0:
                    z = (v - mean) / math.sqrt(m2_t / (n - 1))
        out[t] += w * min(max(z, -clip), clip)


@_kernel
def _seg_blend(rows: tuple[Array, ...], weights: Array, starts: Starts, n: int, clip: float) -> Array:
    """``_blend`` on every segment, reading the components in place (no ``[k, T]`` stack): each
    output adds row 0's term, then row 1's, ..., as ``_blend`` does (``_blend_row``)."""
    out = np.zeros(rows[0].shape[0])
    for i in range(starts.shape[0] - 1):
        a, b = starts[i], starts[i + 1]
        for r in range(len(rows)):
            _blend_row(rows[r][a:b], weights[r], n, clip, out[a:b])
    return out


def _f64(x: Array) -> Array:
    out: Array = np.ascontiguousarray(x, dtype=np.float64)
    return out


def _check(x: Array, starts: Starts) -> Starts:
    if starts.ndim != 1 or len(starts) < 1 or starts[0] != 0 or starts[-1] != len(x):
        raise ValueError(f"segment starts must run from 0 to the data's length {len(x)}")
    out: Starts = np.ascontiguousarray(starts, dtype=np.int64)
    return out


def sma(x: Array, starts: Starts, n: int) -> Array:
    """``indicators.sma`` on every segment."""
    return _seg_sma(_f64(x), _check(x, starts), n)


def ema(x: Array, starts: Starts, n: int) -> Array:
    """``indicators.ema`` on every segment."""
    return _seg_smooth(_f64(x), _check(x, starts), n, 2.0 / (n + 1.0))


def roc(x: Array, starts: Starts, n: int) -> Array:
    """``indicators.roc`` on every segment."""
    return _seg_roc(_f64(x), _check(x, starts), n)


def rolling_volatility(x: Array, starts: Starts, n: int = 20, periods_per_year: float = 252.0) -> Array:
    """``indicators.rolling_volatility`` on every segment."""
    return _seg_volatility(_f64(x), _check(x, starts), n, float(periods_per_year))


def atr(high: Array, low: Array, close: Array, starts: Starts, n: int = 14) -> Array:
    """``indicators.atr`` on every segment."""
    return _seg_atr(_f64(high), _f64(low), _f64(close), _check(close, starts), n)


def rsi(close: Array, starts: Starts, n: int = 14) -> Array:
    """``indicators.rsi`` on every segment."""
    return _seg_rsi(_f64(close), _check(close, starts), n)


def bollinger(close: Array, starts: Starts, n: int = 20, k: float = 2.0) -> tuple[Array, Array, Array, Array]:
    """``indicators.bollinger`` on every segment: ``(mid, upper, lower, pct_b)``."""
    return _seg_bollinger(_f64(close), _check(close, starts), n, float(k))


def zscore(x: Array, starts: Starts, n: int) -> Array:
    """``indicators.zscore`` on every segment."""
    return _seg_zscore(_f64(x), _check(x, starts), n)


def rolling_min(x: Array, starts: Starts, n: int) -> Array:
    """``indicators.rolling_min`` on every segment."""
    return _seg_rolling_min(_f64(x), _check(x, starts), n)


def donchian(high: Array, low: Array, starts: Starts, n: int = 20) -> tuple[Array, Array]:
    """``indicators.donchian`` on every segment: ``(upper, lower)``."""
    return _seg_donchian(_f64(high), _f64(low), _check(high, starts), n)


def volume_momentum(volume: Array, starts: Starts, fast: int = 20, slow: int = 60) -> Array:
    """``indicators.volume_momentum`` on every segment."""
    v, s = _f64(volume), _check(volume, starts)
    num, den = _seg_sma(v, s, fast), _seg_sma(v, s, slow)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: Array = num / den
    return out


def zscore_blend(components: list[Array], weights: list[float], starts: Starts, n: int, clip: float) -> Array:
    """``indicators.zscore_blend`` on every segment (how templates combine signals into a score)."""
    rows = tuple(_f64(c) for c in components)
    if not rows or len(rows) != len(weights) or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError(
            f"zscore_blend needs equal-length components, one weight each: {len(weights)} weights"
        )
    return _seg_blend(rows, np.asarray(weights, dtype=np.float64), _check(rows[0], starts), n, float(clip))
