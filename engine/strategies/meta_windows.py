"""The windowed meta-label features of many signals in one compiled pass (``meta_features``).

A signal's ``vol_regime``, ``trend_regime`` and ``cost`` read the basket's daily returns over the
``LONG_VOL`` days up to it, at the signal's own weights. Materialising those windows (``[m, 250]``
per one-stock block, ``[m, 250, k]`` for a basket of ``k`` columns) cost most of a meta-labelled
scan, and for a rotation over 5,000 symbols gigabytes. Here each signal's window is walked once,
in a small buffer, over only the columns it holds (a zero weight adds nothing), with the
"a missing return in any column makes the day missing" rule read from a per-day mask computed
once over the panel.

The statistics are numpy's ``nansum`` / two-pass ``nanstd`` on each window (mean of the finite
values, then the sum of squared deviations from it), summed in index order: the same numbers up
to the last bits of summation order, and row for row the same whichever block a signal is
computed in (which keeps the panel path's rows equal to the per-setup path's).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Ints = NDArray[np.int64]

STATS = 4
"""Columns of ``window_stats``: short sd, long sd, trend-window sum, trend-window sd."""


@numba.njit(cache=True, nogil=True)
def _sd(n: int, squares: float, min_n: int) -> float:
    """``meta_features._nanstd`` from a window's count of finite values and its sum of squared
    deviations from their mean: ddof 1, NaN under ``min_n`` finite values."""
    if n < min_n or n < 2:  # (one value: numpy's 0 / 0, NaN too)
        return math.nan
    return math.sqrt(squares / (n - 1))


@numba.njit(cache=True, nogil=True)
def _fill(
    buf: Array, rets: Array, day_bad: NDArray[np.bool_], w: Array, cols: Ints, held: int, bar: int, first: int
) -> None:
    """The basket's returns at weights ``w`` (columns ``cols[:held]``) over the days up to ``bar``."""
    length = len(buf)
    big = np.finfo(np.float64).max
    for i in range(length):
        t = bar - length + 1 + i
        if t < first or t < 0 or day_bad[t]:
            buf[i] = math.nan
            continue
        v = 0.0
        for h in range(held):
            r = rets[t, cols[h]]
            if math.isinf(r):  # what ``nan_to_num`` makes of it
                r = big if r > 0 else -big
            v += r * w[cols[h]]
        buf[i] = v


@numba.njit(cache=True, nogil=True)
def _moments(buf: Array, lows: Ints, sums: Array, counts: Ints, squares: Array) -> None:
    """numpy's nansum and two-pass nanstd terms of the windows ``buf[lows[w]:]``: each window's
    sum, count of finite values and squared deviations from its mean, each summed in index order
    over that window alone (a pass per window: no per-value test of which windows hold it)."""
    for w in range(len(lows)):
        s = 0.0
        c = 0
        for i in range(lows[w], len(buf)):
            v = buf[i]
            if not math.isnan(v):
                s += v
                c += 1 if math.isfinite(v) else 0
        mean = s / c if c else math.nan  # (a window with no finite value gives NaN anyway)
        q = 0.0
        for i in range(lows[w], len(buf)):
            d = buf[i] - mean  # NaN for a missing day; inf - inf (an overflowed day): nansum skips it
            if not math.isnan(d):
                q += d * d
        sums[w], counts[w], squares[w] = s, c, q


@numba.njit(cache=True, nogil=True)
def _window_stats(
    rets: Array,
    day_bad: NDArray[np.bool_],
    weights: Array,
    bars: Ints,
    first: Ints,
    length: int,
    lows: Ints,
    min_short: int,
    min_long: int,
) -> Array:
    """Windows ``lows``: ``[0, length - trend, length - short]`` of each signal's ``length`` days."""
    m, k = weights.shape
    out = np.full((m, STATS), np.nan)
    buf = np.empty(length)
    cols = np.empty(k, dtype=np.int64)
    sums, counts, squares = np.empty(3), np.empty(3, dtype=np.int64), np.empty(3)
    for j in range(m):
        held = 0
        for c in range(k):
            if weights[j, c] != 0.0:
                cols[held] = c
                held += 1
        _fill(buf, rets, day_bad, weights[j], cols, held, bars[j], first[j])
        _moments(buf, lows, sums, counts, squares)
        out[j, 0] = _sd(counts[2], squares[2], min_short)
        out[j, 1] = _sd(counts[0], squares[0], min_long)
        out[j, 2] = sums[1]
        out[j, 3] = _sd(counts[1], squares[1], min_long)
    return out


def window_stats(
    rets: Array,
    weights: Array,
    bars: Ints,
    first: Ints,
    *,
    length: int,
    short: int,
    trend: int,
    min_short: int,
    min_long: int,
) -> Array:
    """``[m, STATS]``: over each signal's window of ``length`` basket returns up to ``bars[j]``
    (``rets`` ``[T, k]`` at the signal's ``weights[j]``; a day before ``first[j]`` or with a NaN
    return in any column is missing), the sd of the last ``short`` (NaN under ``min_short``
    values), the sd of all of them and the sum and sd of the last ``trend`` (NaN under
    ``min_long`` values)."""
    r = np.ascontiguousarray(rets, dtype=np.float64)
    w = np.ascontiguousarray(weights, dtype=np.float64)
    if r.ndim != 2 or w.ndim != 2 or w.shape[1] != r.shape[1] or not len(w) == len(bars) == len(first):
        raise ValueError(
            f"window_stats: rets {r.shape}, weights {w.shape}, {len(bars)} bars, {len(first)} firsts"
        )
    day_bad = np.asarray(np.isnan(r).any(axis=1), dtype=np.bool_)  # a day missing in any column
    return _window_stats(
        r,
        day_bad,
        w,
        np.ascontiguousarray(bars, dtype=np.int64),
        np.ascontiguousarray(first, dtype=np.int64),
        length,
        np.array([0, length - trend, length - short], dtype=np.int64),
        min_short,
        min_long,
    )


@numba.njit(cache=True, nogil=True)
def _breadth_sums(
    close: Array, day: Ints, starts: Ints, n_days: int, sma_days: int
) -> tuple[Array, Array, Array, Array]:
    above = np.zeros(n_days)
    counted = np.zeros(n_days)
    ret_sum = np.zeros(n_days)
    ret_n = np.zeros(n_days)
    for s in range(len(starts) - 1):
        a, b = starts[s], starts[s + 1]
        csum = np.empty(b - a + 1)  # numpy's cumsum of [0, x...]: sequential, so the same bits
        csum[0] = 0.0
        for i in range(a, b):
            csum[i - a + 1] = csum[i - a] + close[i]
        for i in range(a + sma_days - 1, b):
            j = i - a + 1
            sma = (csum[j] - csum[j - sma_days]) / sma_days
            if math.isfinite(sma):
                if close[i] > sma:
                    above[day[i]] += 1.0
                counted[day[i]] += 1.0
        for i in range(a + 1, b):
            r = close[i] / close[i - 1] - 1.0
            if math.isfinite(r):
                ret_sum[day[i]] += r
                ret_n[day[i]] += 1.0
    return above, counted, ret_sum, ret_n


def breadth_sums(
    closes: list[Array], dates: list[NDArray[np.datetime64]], days: NDArray[np.datetime64], sma_days: int
) -> tuple[Array, Array, Array, Array]:
    """Per day of ``days``, over the series given (each one's closes and dates, in order): how
    many closed above their ``sma_days`` mean (cumulative-sum mean, as ``meta_features._sma``),
    how many had one, and the sum and count of close-to-close returns. One compiled pass over
    the universe, adding symbol by symbol as a loop over the series would."""
    lengths = np.array([len(c) for c in closes], dtype=np.int64)
    starts = np.zeros(len(closes) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    close = np.concatenate(closes).astype(np.float64) if closes else np.empty(0)
    day = np.searchsorted(days, np.concatenate(dates)).astype(np.int64) if closes else np.empty(0, np.int64)
    return _breadth_sums(close, day, starts, len(days), sma_days)


def day_order(days: NDArray[np.datetime64]) -> Ints:
    """``np.argsort(days, kind="stable")``, the same permutation, in linear time where it can be:
    days spanning under 65,536 (179 years) are sorted as 16-bit offsets, which numpy's stable sort
    does by radix (a 5,000-symbol universe has millions of trades on a few thousand days)."""
    d = np.asarray(days).astype("datetime64[D]").view(np.int64)
    if len(d) == 0:
        return np.empty(0, dtype=np.int64)
    lo, hi = int(d.min()), int(d.max())
    if d.min() == np.iinfo(np.int64).min or hi - lo >= 1 << 16:  # NaT, or too wide a span
        return np.argsort(days, kind="stable").astype(np.int64)
    return np.argsort((d - lo).astype(np.uint16), kind="stable").astype(np.int64)
