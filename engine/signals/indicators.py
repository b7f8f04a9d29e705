"""The signal library: numba-compiled indicator kernels over float64 numpy arrays.

Conventions shared by every function here:

* Inputs are 1-D float64 arrays of equal length, oldest first (anything array-like is
  converted with ``np.ascontiguousarray(x, dtype=np.float64)``; inputs are never modified).
  Outputs are new arrays of the same length.
* The value at index ``t`` uses data up to and including ``t`` only (no look-ahead).
* Missing data: a non-finite value (NaN or +/-inf) counts as missing; for the functions that
  take several inputs (``high, low, close``; ``x, y``) a bar is missing when any of its inputs
  is. Wherever a rolling window or a recursion would need a missing bar the output is NaN, and
  every indicator behaves **as if the series restarted at the first bar after the gap**: its
  warm-up starts again there. For windowed indicators this is exactly "a window that contains
  a missing bar gives NaN"; for the recursive ones (EMA, Wilder, RSI, ATR, MACD) it means a
  fresh seed after a gap instead of a state carried over it. The exceptions are the pointwise
  ``returns`` and ``roc``, NaN exactly where one of their two closes is missing. Leading NaN
  (a symbol whose history starts later in an aligned panel) is the special case of a gap at
  the start: the warm-up starts at the first finite value.
* In the docstrings ``f`` is the index of the first non-missing bar (of the run the value
  belongs to; after a gap at ``g``, ``f = g + 1``), and "first value at ``f + k``" means
  that indices ``f .. f + k - 1`` are NaN and ``f + k`` has a value.
* Division by zero follows IEEE (inf or NaN) unless a docstring says otherwise.

Numerics: rolling means, variances and covariances are O(N) windowed Welford updates
(deviations from the running mean, never raw sums of squares), resynchronised by an exact
corrected two-pass recomputation of the window every ``n`` updates and whenever the window's
second moment falls below 1/64 of its peak since the last recomputation (so error left
behind by a large value that has since left the window cannot swamp a now-small variance).
Measured against exact (fsum) window variances on the shipped closes this is within ~1e-12
relative (pandas' rolling var: ~1e-10, raw running sums: ~1e-9), at O(1) per bar. A window
whose ``n`` values are all identical gets a variance of exactly 0 (and a mean equal to that
value), so the ratio indicators (%b, z-score, correlation, beta) are NaN there rather than
noise divided by noise.

Kernels are compiled lazily on first call and cached on disk (``numba.njit(cache=True)``),
with ``error_model="numpy"`` so that a float division by zero gives inf/NaN as numpy does
instead of raising ``ZeroDivisionError``. ``fastmath`` is deliberately off: it would let the
compiler assume no NaN, which the missing-data handling relies on.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pandas as pd

Array = NDArray[np.float64]

__all__ = [
    "Array",
    "atr",
    "bollinger",
    "donchian",
    "donchian_breakout",
    "ema",
    "macd",
    "returns",
    "roc",
    "rolling_beta",
    "rolling_correlation",
    "rolling_median",
    "rolling_min",
    "rolling_volatility",
    "rsi",
    "sma",
    "volume_momentum",
    "wilder",
    "zscore",
    "zscore_blend",
]

_F = TypeVar("_F", bound=Callable[..., Any])

_COLLAPSE = 1.0 / 64.0
"""Recompute a window exactly when its second moment falls below this fraction of its peak."""


def _kernel(fn: _F) -> _F:
    """``numba.njit(cache=True, nogil=True)``, keeping the function's type for mypy (numba is untyped).

    nogil: the engine scans on a worker thread; released, its event loop keeps serving quotes.
    """
    return cast(_F, numba.njit(cache=True, nogil=True, error_model="numpy")(fn))


# --------------------------------------------------------------------------------------------
# Kernels (private): no argument checking, float64 C-contiguous 1-D arrays only.
# --------------------------------------------------------------------------------------------


@_kernel
def _exact_moments(x: Array, start: int, n: int) -> tuple[float, float]:
    """Mean and sum of squared deviations of ``x[start:start + n]`` (corrected two-pass)."""
    total = 0.0
    for i in range(start, start + n):
        total += x[i]
    mean = total / n
    ss = 0.0
    comp = 0.0
    for i in range(start, start + n):
        d = x[i] - mean
        ss += d * d
        comp += d
    return mean, max(ss - comp * comp / n, 0.0)


@_kernel
def _rolling_moments(x: Array, n: int) -> tuple[Array, Array]:
    """Rolling mean and sum of squared deviations (M2) over the last ``n`` values incl. ``t``."""
    size = x.shape[0]
    mean_out = np.full(size, np.nan)
    m2_out = np.full(size, np.nan)
    run = 0  # consecutive finite values ending at t
    same = 0  # consecutive values equal to x[t] ending at t
    mean = 0.0
    m2 = 0.0
    peak = 0.0
    since = 0
    for t in range(size):
        v = x[t]
        if not np.isfinite(v):
            run = 0
            same = 0
            continue
        same = same + 1 if run > 0 and v == x[t - 1] else 1
        run += 1
        if run < n:
            continue
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
        mean_out[t] = mean
        m2_out[t] = max(m2, 0.0)
    return mean_out, m2_out


@_kernel
def _exact_comoments(x: Array, y: Array, start: int, n: int) -> tuple[float, float, float, float, float]:
    """Means, sums of squared deviations and the sum of cross deviations of a window of pairs."""
    sx = 0.0
    sy = 0.0
    for i in range(start, start + n):
        sx += x[i]
        sy += y[i]
    mx = sx / n
    my = sy / n
    cx = 0.0
    cy = 0.0
    sxx = 0.0
    syy = 0.0
    sxy = 0.0
    for i in range(start, start + n):
        dx = x[i] - mx
        dy = y[i] - my
        cx += dx
        cy += dy
        sxx += dx * dx
        syy += dy * dy
        sxy += dx * dy
    return mx, my, max(sxx - cx * cx / n, 0.0), max(syy - cy * cy / n, 0.0), sxy - cx * cy / n


@_kernel
def _rolling_comoments(x: Array, y: Array, n: int) -> tuple[Array, Array, Array]:
    """Rolling Sxx, Syy, Sxy (sums of (cross) deviations) over the last ``n`` pairs incl. ``t``."""
    size = x.shape[0]
    sxx_out = np.full(size, np.nan)
    syy_out = np.full(size, np.nan)
    sxy_out = np.full(size, np.nan)
    run = 0
    same_x = 0
    same_y = 0
    mx = my = sxx = syy = sxy = 0.0
    peak_x = peak_y = 0.0
    since = 0
    for t in range(size):
        u = x[t]
        v = y[t]
        if not (np.isfinite(u) and np.isfinite(v)):
            run = same_x = same_y = 0
            continue
        same_x = same_x + 1 if run > 0 and u == x[t - 1] else 1
        same_y = same_y + 1 if run > 0 and v == y[t - 1] else 1
        run += 1
        if run < n:
            continue
        if run == n or since >= n:
            mx, my, sxx, syy, sxy = _exact_comoments(x, y, t - n + 1, n)
            since, peak_x, peak_y = 0, sxx, syy
        else:
            uo = x[t - n]
            vo = y[t - n]
            mx_new = mx + (u - uo) / n
            my_new = my + (v - vo) / n
            sxx += (u - uo) * (u - mx_new + uo - mx)
            syy += (v - vo) * (v - my_new + vo - my)
            sxy += (u - uo) * (v - my_new) + (v - vo) * (uo - mx)
            mx, my = mx_new, my_new
            since += 1
            if sxx < peak_x * _COLLAPSE or syy < peak_y * _COLLAPSE:
                mx, my, sxx, syy, sxy = _exact_comoments(x, y, t - n + 1, n)
                since = 0
            peak_x, peak_y = max(peak_x, sxx), max(peak_y, syy)
        if same_x >= n:
            mx, sxx, sxy, peak_x = u, 0.0, 0.0, 0.0
        if same_y >= n:
            my, syy, sxy, peak_y = v, 0.0, 0.0, 0.0
        sxx_out[t] = max(sxx, 0.0)
        syy_out[t] = max(syy, 0.0)
        sxy_out[t] = sxy
    return sxx_out, syy_out, sxy_out


@_kernel
def _smooth(x: Array, n: int, alpha: float) -> Array:
    """Exponential smoothing seeded with the mean of the first ``n`` values of each finite run."""
    size = x.shape[0]
    out = np.full(size, np.nan)
    run = 0
    s = 0.0
    keep = 1.0 - alpha
    for t in range(size):
        v = x[t]
        if not np.isfinite(v):
            run = 0
            continue
        run += 1
        if run == 1:
            s = v
        elif run <= n:
            s += v
        else:
            s = alpha * v + keep * s  # = s + alpha * (v - s), with a shorter dependency chain
        if run == n:
            s /= n
        if run >= n:
            out[t] = s
    return out


@_kernel
def _returns(close: Array) -> Array:
    size = close.shape[0]
    out = np.full(size, np.nan)
    for t in range(1, size):
        if np.isfinite(close[t]) and np.isfinite(close[t - 1]):
            out[t] = close[t] / close[t - 1] - 1.0
    return out


@_kernel
def _roc(close: Array, n: int) -> Array:
    size = close.shape[0]
    out = np.full(size, np.nan)
    for t in range(n, size):
        if np.isfinite(close[t]) and np.isfinite(close[t - n]):
            out[t] = close[t] / close[t - n] - 1.0
    return out


@_kernel
def _gains_losses(close: Array) -> tuple[Array, Array]:
    size = close.shape[0]
    gain = np.full(size, np.nan)
    loss = np.full(size, np.nan)
    for t in range(1, size):
        if np.isfinite(close[t]) and np.isfinite(close[t - 1]):
            d = close[t] - close[t - 1]
            gain[t] = d if d > 0.0 else 0.0
            loss[t] = -d if d < 0.0 else 0.0
    return gain, loss


@_kernel
def _rsi(ag: Array, al: Array) -> Array:
    out = np.full(ag.shape[0], np.nan)
    for t in range(ag.shape[0]):
        g = ag[t]
        if np.isfinite(g):
            total = g + al[t]
            out[t] = 50.0 if total == 0.0 else 100.0 * (g / total)  # g / total <= 1 exactly
    return out


@_kernel
def _true_range(high: Array, low: Array, close: Array) -> Array:
    size = close.shape[0]
    out = np.full(size, np.nan)
    prev_ok = False
    for t in range(size):
        h = high[t]
        lo = low[t]
        ok = np.isfinite(h) and np.isfinite(lo) and np.isfinite(close[t])
        if ok:
            tr = h - lo
            if prev_ok:
                c = close[t - 1]
                tr = max(tr, abs(h - c), abs(lo - c))
            out[t] = tr
        prev_ok = ok
    return out


@_kernel
def _bollinger(close: Array, n: int, k: float) -> tuple[Array, Array, Array, Array]:
    mean, m2 = _rolling_moments(close, n)
    size = close.shape[0]
    upper = np.full(size, np.nan)
    lower = np.full(size, np.nan)
    pct_b = np.full(size, np.nan)
    for t in range(size):
        mid = mean[t]
        if np.isfinite(mid):
            sd = math.sqrt(m2[t] / n)
            upper[t] = mid + k * sd
            lower[t] = mid - k * sd
            if upper[t] > lower[t]:  # sd > 0 and not lost in the rounding of mid +/- k * sd
                pct_b[t] = (close[t] - lower[t]) / (upper[t] - lower[t])
    return mean, upper, lower, pct_b


@_kernel
def _zscore(x: Array, n: int) -> Array:
    mean, m2 = _rolling_moments(x, n)
    out = np.full(x.shape[0], np.nan)
    for t in range(x.shape[0]):
        if m2[t] > 0.0:
            out[t] = (x[t] - mean[t]) / math.sqrt(m2[t] / (n - 1))
    return out


@_kernel
def _rolling_volatility(close: Array, n: int, periods_per_year: float) -> Array:
    _, m2 = _rolling_moments(_returns(close), n)
    return np.sqrt(m2 / (n - 1) * periods_per_year)


@_kernel
def _window_max(x: Array, start: int, stop: int, n: int, sign: float, out: Array) -> None:
    """Van Herk/Gil-Werman running max of ``sign * x`` over ``x[start:stop]`` (all finite):
    ``out[j + 1] = sign * max(sign * x[j-n+1 .. j])`` for each window inside the segment.

    Block prefix and suffix maxima (blocks of ``n``) give every window as ``max(suffix[i],
    prefix[i + n - 1])``: three branch-free passes, so the cost does not depend on the data (a
    monotonic deque mispredicts on noisy prices; measured 3x slower on a server CPU).
    ``sign = -1`` gives the running min exactly (negation is exact).
    """
    m = stop - start
    pre = np.empty(m)
    suf = np.empty(m)
    for b in range(0, m, n):
        end = min(b + n, m)
        acc = sign * x[start + b]
        pre[b] = acc
        for i in range(b + 1, end):
            acc = max(acc, sign * x[start + i])
            pre[i] = acc
        acc = sign * x[start + end - 1]
        suf[end - 1] = acc
        for i in range(end - 2, b - 1, -1):
            acc = max(acc, sign * x[start + i])
            suf[i] = acc
    for j in range(n - 1, min(m, out.shape[0] - start - 1)):
        out[start + j + 1] = sign * max(suf[j - n + 1], pre[j])


@_kernel
def _donchian(high: Array, low: Array, n: int) -> tuple[Array, Array]:
    """Channel of the ``n`` bars before ``t``, per run of complete bars (``_window_max``)."""
    size = high.shape[0]
    upper = np.full(size, np.nan)
    lower = np.full(size, np.nan)
    t = 0
    while t < size:
        while t < size and not (np.isfinite(high[t]) and np.isfinite(low[t])):
            t += 1
        start = t
        while t < size and np.isfinite(high[t]) and np.isfinite(low[t]):
            t += 1
        if t - start >= n:
            _window_max(high, start, t, n, 1.0, upper)
            _window_max(low, start, t, n, -1.0, lower)
    return upper, lower


@_kernel
def _breakout(close: Array, upper: Array, lower: Array) -> Array:
    out = np.full(close.shape[0], np.nan)
    for t in range(close.shape[0]):
        c = close[t]
        if np.isfinite(c) and np.isfinite(upper[t]) and np.isfinite(lower[t]):
            out[t] = 1.0 if c > upper[t] else (-1.0 if c < lower[t] else 0.0)
    return out


@_kernel
def _correlation(x: Array, y: Array, n: int) -> Array:
    sxx, syy, sxy = _rolling_comoments(x, y, n)
    out = np.full(x.shape[0], np.nan)
    for t in range(x.shape[0]):
        if sxx[t] > 0.0 and syy[t] > 0.0:
            out[t] = min(1.0, max(-1.0, sxy[t] / (math.sqrt(sxx[t]) * math.sqrt(syy[t]))))
    return out


@_kernel
def _beta(y: Array, x: Array, n: int) -> Array:
    sxx, _, sxy = _rolling_comoments(x, y, n)
    out = np.full(x.shape[0], np.nan)
    for t in range(x.shape[0]):
        if sxx[t] > 0.0:
            out[t] = sxy[t] / sxx[t]
    return out


@_kernel
def _rolling_min_skipna(x: Array, n: int) -> Array:
    """Minimum of the finite values among the last ``n`` (NaN while none is finite)."""
    out = np.full(x.shape[0], np.nan)
    for t in range(x.shape[0]):
        best = np.inf
        for i in range(max(0, t - n + 1), t + 1):
            v = x[i]
            if np.isfinite(v) and v < best:
                best = v
        if best < np.inf:
            out[t] = best
    return out


@_kernel
def _rolling_median_skipna(x: Array, n: int) -> Array:
    """Median of the finite values among the last ``n`` bars: a sorted window kept by binary
    insertion and deletion, O(n) per bar instead of a sort."""
    out = np.full(x.shape[0], np.nan)
    window = np.empty(n)
    size = 0
    for t in range(x.shape[0]):
        if t >= n:  # the value leaving the window first, so the window never holds n + 1
            old = x[t - n]
            if np.isfinite(old):
                k = np.searchsorted(window[:size], old)
                window[k : size - 1] = window[k + 1 : size].copy()
                size -= 1
        v = x[t]
        if np.isfinite(v):
            k = np.searchsorted(window[:size], v)
            window[k + 1 : size + 1] = window[k:size].copy()
            window[k] = v
            size += 1
        if size > 0:
            mid = size // 2
            out[t] = window[mid] if size % 2 == 1 else 0.5 * (window[mid - 1] + window[mid])
    return out


@_kernel
def _blend(stack: Array, weights: Array, n: int, clip: float) -> Array:
    """Sum over rows of ``weights[i] * clip(zscore(stack[i], n))``; NaN where any row is NaN."""
    out = np.zeros(stack.shape[1])
    for i in range(stack.shape[0]):
        z = _zscore(np.ascontiguousarray(stack[i]), n)
        for t in range(stack.shape[1]):
            out[t] += weights[i] * min(max(z[t], -clip), clip)
    return out


# --------------------------------------------------------------------------------------------
# Argument checking.
# --------------------------------------------------------------------------------------------


def _frozen(a: Array) -> Array:
    """A read-only view. Kernels only read their inputs, and numba compiles (and caches) a
    separate specialisation for read-only arrays, which is what pandas hands out under
    copy-on-write: freezing every input keeps one specialisation per kernel, without a copy."""
    view = a.view()
    view.flags.writeable = False
    return view


def _series(x: Array, *others: Array) -> list[Array]:
    """The inputs as read-only C-contiguous float64 1-D arrays of one length (what kernels take).

    It runs on every indicator call (tens of thousands per scan of a big universe), so arrays
    that are already right pass through without a copy or a new view.
    """
    arrays = []
    for a in (x, *others):
        if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.flags.c_contiguous):
            a = np.ascontiguousarray(a, dtype=np.float64)
        if a.ndim != 1:
            raise ValueError(f"indicator inputs must be 1-D arrays, got shape {a.shape}")
        arrays.append(_frozen(a) if a.flags.writeable else a)
    if others and any(len(a) != len(arrays[0]) for a in arrays):
        raise ValueError(f"indicator inputs must have equal lengths, got {[len(a) for a in arrays]}")
    return arrays


def _window(n: int, name: str = "n", minimum: int = 1) -> int:
    if isinstance(n, bool):
        raise TypeError(f"{name} must be an integer, got {n!r}")
    value = operator.index(n)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


# --------------------------------------------------------------------------------------------
# Public indicators.
# --------------------------------------------------------------------------------------------


def sma(x: Array, n: int) -> Array:
    """Simple moving average: ``sma_t = (x_{t-n+1} + ... + x_t) / n``.

    Warm-up: first value at ``f + n - 1``. A window containing a missing value gives NaN.
    A window of ``n`` identical values gives exactly that value.
    """
    (a,) = _series(x)
    return _rolling_moments(a, _window(n))[0]


def ema(x: Array, n: int) -> Array:
    """Exponential moving average with ``alpha = 2 / (n + 1)``.

    Seeded with the simple mean of the first ``n`` values: ``ema_{f+n-1} = sma_{f+n-1}``, then
    ``ema_t = ema_{t-1} + alpha * (x_t - ema_{t-1})``. Warm-up: first value at ``f + n - 1``.
    A missing value gives NaN there and restarts the warm-up (a fresh SMA seed) after it.
    """
    (a,) = _series(x)
    w = _window(n)
    return _smooth(a, w, 2.0 / (w + 1.0))


def wilder(x: Array, n: int) -> Array:
    """Wilder's smoothing (an EMA with ``alpha = 1 / n``).

    Seeded with the simple mean of the first ``n`` values: ``s_{f+n-1} = sma_{f+n-1}``, then
    ``s_t = s_{t-1} + (x_t - s_{t-1}) / n``. Warm-up: first value at ``f + n - 1``. A missing
    value gives NaN there and restarts the warm-up (a fresh seed) after it.
    """
    (a,) = _series(x)
    w = _window(n)
    return _smooth(a, w, 1.0 / w)


def rsi(close: Array, n: int = 14) -> Array:
    """Wilder's relative strength index, in [0, 100].

    With ``d_t = close_t - close_{t-1}``, ``gain_t = max(d_t, 0)``, ``loss_t = max(-d_t, 0)``
    (defined from ``f + 1``), ``avg_gain = wilder(gain, n)`` and ``avg_loss = wilder(loss, n)``
    (each seeded with the mean of the first ``n`` gains/losses, ``f+1 .. f+n``):
    ``rsi_t = 100 - 100 / (1 + avg_gain_t / avg_loss_t)``, computed as
    ``100 * avg_gain / (avg_gain + avg_loss)``. A window with gains only (``avg_loss = 0``)
    gives 100, losses only 0, and a perfectly flat window (both 0) gives 50 (neutral).
    Warm-up: first value at ``f + n``; a missing close at ``g`` restarts it (next value at
    ``g + 1 + n``).
    """
    (a,) = _series(close)
    w = _window(n)
    gain, loss = _gains_losses(a)
    # Composed here rather than inside one kernel: with _smooth called from within a kernel,
    # the version loaded from numba's disk cache ran 2.5x slower than a fresh compile (measured).
    return _rsi(_smooth(gain, w, 1.0 / w), _smooth(loss, w, 1.0 / w))


def bollinger(close: Array, n: int = 20, k: float = 2.0) -> tuple[Array, Array, Array, Array]:
    """Bollinger bands: ``(mid, upper, lower, pct_b)``.

    ``mid = sma(close, n)``; ``sd`` is the population standard deviation (ddof=0, Bollinger's
    convention) of the same ``n`` closes; ``upper = mid + k * sd``, ``lower = mid - k * sd``;
    ``pct_b = (close - lower) / (upper - lower)`` (0 on the lower band, 1 on the upper; it is
    bounded by ``0.5 +/- sqrt(n - 1) / (2k)`` since the close is in its own window). ``pct_b``
    is NaN where the band has no width (``sd == 0``: ``n`` identical closes, the bands then
    equal ``mid`` exactly).
    Warm-up: first value at ``f + n - 1``; a window containing a missing close gives NaN.
    ``k`` must be a positive finite number.
    """
    (a,) = _series(close)
    kk = float(k)
    if not (math.isfinite(kk) and kk > 0.0):
        raise ValueError(f"k must be a positive finite number, got {k!r}")
    return _bollinger(a, _window(n), kk)


def atr(high: Array, low: Array, close: Array, n: int = 14) -> Array:
    """Wilder's average true range: ``atr = wilder(tr, n)``.

    ``tr_t = max(high_t - low_t, |high_t - close_{t-1}|, |low_t - close_{t-1}|)``, and the
    first true range of a run (no previous close) is ``high_f - low_f``. A bar is missing when
    any of ``high, low, close`` is. Warm-up: first value at ``f + n - 1``; a missing bar
    restarts the warm-up after it (the next true range is again ``high - low``).
    """
    h, lo, c = _series(high, low, close)
    w = _window(n)
    return _smooth(_true_range(h, lo, c), w, 1.0 / w)


def macd(close: Array, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[Array, Array, Array]:
    """Moving average convergence/divergence: ``(line, signal_line, histogram)``.

    ``line = ema(close, fast) - ema(close, slow)``; ``signal_line = ema(line, signal)``;
    ``histogram = line - signal_line``; every EMA is seeded with its SMA (see ``ema``).
    Warm-up: ``line`` from ``f + slow - 1``, ``signal_line`` and ``histogram`` from
    ``f + slow + signal - 2``. Requires ``fast < slow``. A missing close restarts all three.
    """
    (a,) = _series(close)
    f = _window(fast, "fast")
    s = _window(slow, "slow")
    g = _window(signal, "signal")
    if f >= s:
        raise ValueError(f"fast must be < slow, got fast={f}, slow={s}")
    line = _smooth(a, f, 2.0 / (f + 1.0)) - _smooth(a, s, 2.0 / (s + 1.0))
    signal_line = _smooth(_frozen(line), g, 2.0 / (g + 1.0))
    return line, signal_line, line - signal_line


def returns(close: Array) -> Array:
    """Simple returns: ``r_t = close_t / close_{t-1} - 1``.

    NaN at index 0, at ``f``, and wherever ``close_t`` or ``close_{t-1}`` is missing.
    """
    (a,) = _series(close)
    return _returns(a)


def rolling_volatility(close: Array, n: int = 20, periods_per_year: float = 252.0) -> Array:
    """Annualised volatility: sample standard deviation (ddof=1) of the last ``n`` simple returns
    (``returns(close)`` at ``t-n+1 .. t``) times ``sqrt(periods_per_year)``.

    Warm-up: first value at ``f + n`` (``n`` returns need ``n + 1`` closes). A window containing
    a missing return gives NaN. Requires ``n >= 2``.
    """
    (a,) = _series(close)
    ppy = float(periods_per_year)
    if not (math.isfinite(ppy) and ppy > 0.0):
        raise ValueError(f"periods_per_year must be a positive finite number, got {periods_per_year!r}")
    return _rolling_volatility(a, _window(n, minimum=2), ppy)


def zscore(x: Array, n: int) -> Array:
    """Rolling z-score: ``(x_t - mean) / std`` with the mean and the sample standard deviation
    (ddof=1) of the last ``n`` values including ``x_t``.

    NaN where ``std == 0`` (``n`` identical values). Warm-up: first value at ``f + n - 1``; a
    window containing a missing value gives NaN. Requires ``n >= 2``.
    """
    (a,) = _series(x)
    return _zscore(a, _window(n, minimum=2))


def donchian(high: Array, low: Array, n: int = 20) -> tuple[Array, Array]:
    """Donchian channel of the previous ``n`` bars: ``(upper, lower)``.

    ``upper_t = max(high_{t-n} .. high_{t-1})`` and ``lower_t = min(low_{t-n} .. low_{t-1})``:
    bar ``t`` itself is excluded, so ``close_t > upper_t`` is a breakout. A bar is missing when
    ``high`` or ``low`` is. Warm-up: first value at ``f + n``; NaN when any of the ``n``
    previous bars is missing (bar ``t`` itself may be missing).
    """
    h, lo = _series(high, low)
    return _donchian(h, lo, _window(n))


def donchian_breakout(high: Array, low: Array, close: Array, n: int = 20) -> Array:
    """Donchian breakout state as floats: ``+1.0`` where ``close_t > upper_t``, ``-1.0`` where
    ``close_t < lower_t``, ``0.0`` otherwise (``upper``/``lower`` from ``donchian(high, low, n)``).

    NaN where the channel is NaN (warm-up: first value at ``f + n``) or ``close_t`` is missing.
    """
    h, lo, c = _series(high, low, close)
    upper, lower = _donchian(h, lo, _window(n))
    return _breakout(c, upper, lower)


def roc(close: Array, n: int) -> Array:
    """Rate of change over ``n`` bars: ``roc_t = close_t / close_{t-n} - 1``.

    Pointwise: NaN exactly where ``close_t`` or ``close_{t-n}`` is missing (missing closes in
    between do not matter). Warm-up: first value at ``f + n``.
    """
    (a,) = _series(close)
    return _roc(a, _window(n))


def volume_momentum(volume: Array, fast: int = 20, slow: int = 60) -> Array:
    """Volume momentum: ``sma(volume, fast) / sma(volume, slow)`` (1 = average participation).

    Warm-up: first value at ``f + max(fast, slow) - 1``; a window containing a missing volume
    gives NaN. A zero slow average gives inf (or NaN when the fast one is zero too).
    """
    (a,) = _series(volume)
    num = _rolling_moments(a, _window(fast, "fast"))[0]
    den = _rolling_moments(a, _window(slow, "slow"))[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def rolling_correlation(x: Array, y: Array, n: int) -> Array:
    """Pearson correlation of the last ``n`` pairs ``(x_i, y_i)``, ``i = t-n+1 .. t``:
    ``Sxy / sqrt(Sxx * Syy)`` with ``S`` the sums of (cross) deviations from the window means,
    clipped to [-1, 1].

    NaN where either series is constant over the window. A pair is missing when ``x`` or ``y``
    is; ``f`` is the first complete pair; warm-up: first value at ``f + n - 1``; a window
    containing a missing pair gives NaN. Requires ``n >= 2``. Callers pass returns, not prices.
    """
    a, b = _series(x, y)
    return _correlation(a, b, _window(n, minimum=2))


def rolling_beta(y: Array, x: Array, n: int) -> Array:
    """Beta of ``y`` on ``x`` over the last ``n`` pairs: ``cov(y, x) / var(x)`` (= ``Sxy / Sxx``,
    the least-squares slope of ``y`` on ``x``; ddof cancels).

    NaN where ``x`` is constant over the window. A pair is missing when ``x`` or ``y`` is;
    warm-up: first value at ``f + n - 1``; a window containing a missing pair gives NaN.
    Requires ``n >= 2``. Callers pass returns (e.g. a stock's and the benchmark's), not prices.
    """
    b, a = _series(y, x)
    return _beta(b, a, _window(n, minimum=2))


def rolling_min(x: Array, n: int) -> Array:
    """Minimum of the finite values among the last ``n`` (``x_{t-n+1} .. x_t``); missing values
    are skipped, and the result is NaN only while the window holds none."""
    (a,) = _series(x)
    return _rolling_min_skipna(a, _window(n))


def rolling_median(x: Array, n: int) -> Array:
    """Median of the finite values among the last ``n`` (``x_{t-n+1} .. x_t``), the mean of the
    two middle ones for an even count; missing values are skipped, NaN while the window holds none.

    This is numpy's ``nanmedian`` over each trailing window, computed by keeping the window sorted.
    """
    (a,) = _series(x)
    return _rolling_median_skipna(a, _window(n))


def zscore_blend(components: list[Array], weights: list[float], n: int, clip: float) -> Array:
    """``sum_i weights[i] * clip(zscore(components[i], n), -clip, clip)`` in one pass: how
    templates combine signals into one score. NaN wherever a component's z-score is NaN."""
    arrays = _series(*components)
    if len(arrays) != len(weights):
        raise ValueError(f"{len(arrays)} components but {len(weights)} weights")
    stack = np.vstack(arrays)
    return _blend(stack, np.asarray(weights, dtype=np.float64), _window(n, minimum=2), float(clip))


def atr_at(bars: pd.DataFrame, n: int = 14) -> float:
    """The ATR(n) at the last bar of ``bars`` (a frame with high/low/close columns, oldest first).

    The value the exit rules measure in (``ExitPolicy`` ATR and trailing-ATR stops): the card
    generator reads it at the signal bar (``Setup.atr``, the same ``atr`` over the same daily
    bars), and the live engine at the fill reads it over the daily bars before the fill's session
    (``MarketView.history(symbol)``), so both see the ATR of the last complete session. NaN when
    the history is shorter than the warm-up (``n`` bars) or the last bar is missing.
    """
    missing = [c for c in ("high", "low", "close") if c not in bars.columns]
    if missing:
        raise ValueError(f"atr_at needs high, low and close columns; missing {', '.join(missing)}")
    if len(bars) == 0:
        return math.nan
    # the whole history, as the generator's setups read it: Wilder smoothing keeps its seed
    values = atr(bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy(), n)
    return float(values[-1])
