"""Indicators over every column of a ``[T, N]`` matrix in one compiled call.

``engine.signals.indicators`` takes one series per call; a universe (one column per symbol) or
a parameter sweep (one series, many windows) would pay a call, its checks and its allocations
per column. Here one call fills a ``[T, K]`` matrix, computes each distinct (column, window)
pair once and copies it to the columns that repeat it (a grid of 174 window pairs over one
series needs 25 moving averages, not 348).

The conventions are ``engine.signals.indicators``' (oldest first, no look-ahead, a window that
holds a missing value gives NaN and the warm-up restarts after it, ``n`` identical values give
exactly that value). The mean is a running window sum, resynchronised with an exact sum of the
window every ``n`` updates, so its error stays within a few ``n * eps * max|x|`` of the exact
window mean (``indicators.sma`` updates a mean and a variance together, which is why it costs
about three times as much per value): on prices the two agree to ~1e-14 relative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
from numpy.typing import ArrayLike

from engine.signals.indicators import Array, _kernel, _window


@numba.njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _window_sum(x: Array, col: int, stop: int, n: int) -> float:
    """``x[stop - n + 1 .. stop, col]`` summed afresh (four accumulators: no one long chain)."""
    a0 = a1 = a2 = a3 = 0.0
    i = stop - n + 1
    while i + 3 <= stop:
        a0 += x[i, col]
        a1 += x[i + 1, col]
        a2 += x[i + 2, col]
        a3 += x[i + 3, col]
        i += 4
    while i <= stop:
        a0 += x[i, col]
        i += 1
    return (a0 + a1) + (a2 + a3)


@numba.njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _sma_step(
    x: Array, col: int, t: int, n: int, run: int, same: int, total: float, since: int
) -> tuple[int, int, float, int, float]:
    """One bar of the ``n``-bar mean of ``x[:, col]``: (run, same, total, since, the mean at
    ``t``), from those at ``t - 1``: finite values in a row, equal values in a row, the window's
    running sum, updates since its last exact sum."""
    v = x[t, col]
    if not np.isfinite(v):
        return 0, 0, total, since, np.nan
    same = same + 1 if run > 0 and v == x[t - 1, col] else 1
    run += 1
    if run < n:
        return run, same, total, since, np.nan
    if run == n or since >= n:
        total = _window_sum(x, col, t, n)
        since = 0
    else:
        total += v - x[t - n, col]
        since += 1
    return run, same, total, since, (v if same >= n else total / n)


@_kernel
def _sma_one(x: Array, col: int, n: int, out: Array, k: int) -> None:
    """``out[:, k]``: the ``n``-bar mean of ``x[:, col]``, its state in registers."""
    run, same, total, since = 0, 0, 0.0, 0
    for t in range(x.shape[0]):
        run, same, total, since, out[t, k] = _sma_step(x, col, t, n, run, same, total, since)


@_kernel
def _sma_rows(x: Array, windows: Array, out: Array) -> None:
    """Column ``k`` of ``out`` is the ``windows[k]``-bar mean of column ``k`` of ``x``, row by
    row, every column's state in arrays: a ``[T, N]`` panel read and written in its memory
    order (a column at a time would stride through it, a cache miss a value)."""
    n_out = out.shape[1]
    run = np.zeros(n_out, dtype=np.int64)
    same = np.zeros(n_out, dtype=np.int64)
    total = np.zeros(n_out)
    since = np.zeros(n_out, dtype=np.int64)
    for t in range(out.shape[0]):
        for k in range(n_out):
            r, s, tot, sn, mean = _sma_step(x, k, t, windows[k], run[k], same[k], total[k], since[k])
            run[k] = r
            same[k] = s
            total[k] = tot
            since[k] = sn
            out[t, k] = mean


@_kernel
def _sma_windows(x: Array, distinct: Array, index: Array, out: Array) -> None:
    """Column ``k`` of ``out`` is the ``distinct[index[k]]``-bar mean of the one column of ``x``:
    each distinct window computed once, in registers down the series, into a ``[T, D]`` scratch
    that stays in cache, then spread over ``out`` in one pass in its memory order."""
    n_bars, n_out = out.shape
    if len(distinct) == n_out:  # every window once, in order: straight into ``out``
        for k in range(n_out):
            _sma_one(x, 0, distinct[k], out, k)
        return
    scratch = np.empty((n_bars, len(distinct)))
    for d in range(len(distinct)):
        _sma_one(x, 0, distinct[d], scratch, d)
    for t in range(n_bars):
        for k in range(n_out):
            out[t, k] = scratch[t, index[k]]


def sma_columns(x: ArrayLike, n: int | Sequence[int] | ArrayLike) -> Array:
    """Simple moving averages of the columns of ``x`` (``[T, N]``, or ``[T]`` as one column).

    ``n`` is one window (every column's mean over it: ``[T, N]``) or ``K`` windows, paired with
    the columns as numpy broadcasts them: one column and ``K`` windows gives that series' ``K``
    means (``[T, K]``: a sweep; a window named twice is computed once), ``N`` columns and ``N``
    windows one each.
    """
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2:
        raise ValueError(f"sma_columns: x must be [T] or [T, N], got shape {a.shape}")
    if isinstance(n, int):  # one window (the common call: no array round trip)
        windows = [_window(n)]
    else:
        given = np.asarray(n)
        if given.ndim > 1 or given.size == 0:
            raise ValueError(f"sma_columns: n must be a window or a 1-D sequence of windows, got {n!r}")
        windows = [_window(w) for w in given.reshape(-1).tolist()]
    n_cols, n_win = a.shape[1], len(windows)
    if n_cols != n_win and 1 not in (n_cols, n_win):
        raise ValueError(f"sma_columns: {n_cols} columns and {n_win} windows do not broadcast")
    width = max(n_cols, n_win)
    out = np.empty((a.shape[0], width))
    if n_cols > 1:
        _sma_rows(a, np.array(windows * (width // n_win), dtype=np.int64), out)
    elif width == 1:
        _sma_one(a, 0, windows[0], out, 0)
    else:
        slot: dict[int, int] = {}
        index = [slot.setdefault(w, len(slot)) for w in windows]
        _sma_windows(a, np.array(list(slot), dtype=np.int64), np.array(index, dtype=np.int64), out)
    return out
