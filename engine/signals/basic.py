"""The indicators the first two templates need, vectorised over numpy arrays.

Conventions: inputs are float64 arrays of equal length, oldest first; outputs have the
same length, with NaN during the warm-up where the indicator is undefined. Value at
index t uses data up to and including t only (no look-ahead).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def sma(x: Array, n: int) -> Array:
    """Simple moving average over the last ``n`` values."""
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        c = np.cumsum(np.insert(x, 0, 0.0))
        out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def rolling_std(x: Array, n: int) -> Array:
    """Population standard deviation over the last ``n`` values (Bollinger's convention)."""
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        windows = np.lib.stride_tricks.sliding_window_view(x, n)
        out[n - 1 :] = windows.std(axis=1)
    return out


def wilder(x: Array, n: int, first: int = 0) -> Array:
    """Wilder's smoothing: seed with the mean of the first ``n`` values from ``first``, then
    ``s_t = s_{t-1} + (x_t - s_{t-1}) / n``."""
    out = np.full(len(x), np.nan)
    start = first + n - 1
    if len(x) > start:
        s = float(np.mean(x[first : first + n]))
        out[start] = s
        for t in range(start + 1, len(x)):
            s += (x[t] - s) / n
            out[t] = s
    return out


def rsi(close: Array, n: int = 14) -> Array:
    """Wilder's RSI: 100 - 100 / (1 + avg_gain / avg_loss), first value at index n."""
    diff = np.diff(close, prepend=np.nan)
    gain = np.where(diff > 0, diff, 0.0)
    loss = np.where(diff < 0, -diff, 0.0)
    ag = wilder(gain, n, first=1)
    al = wilder(loss, n, first=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rs = ag / al
        out = 100.0 - 100.0 / (1.0 + rs)
    out[(al == 0) & ~np.isnan(al)] = 100.0
    return out


def atr(high: Array, low: Array, close: Array, n: int = 14) -> Array:
    """Wilder's average true range; the first true range (no previous close) is high - low."""
    prev = np.roll(close, 1)
    tr = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
    tr[0] = high[0] - low[0]
    return wilder(tr, n)


def roc(close: Array, n: int) -> Array:
    """Rate of change over ``n`` bars: close_t / close_{t-n} - 1."""
    out = np.full(len(close), np.nan)
    if len(close) > n:
        out[n:] = close[n:] / close[:-n] - 1.0
    return out


def bollinger_pct_b(close: Array, n: int = 20, k: float = 2.0) -> Array:
    """%b: where the close sits in the band (0 = lower band, 1 = upper band)."""
    mid = sma(close, n)
    sd = rolling_std(close, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (close - (mid - k * sd)) / (2.0 * k * sd)


def daily_returns(close: Array) -> Array:
    out = np.full(len(close), np.nan)
    out[1:] = close[1:] / close[:-1] - 1.0
    return out
