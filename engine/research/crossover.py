"""Moving-average crossover targets: the signal a research sweep backtests, in one compiled pass.

``target[t + 1, k] = 1.0`` where the fast mean of column ``k``'s prices is above its slow mean at
the close of bar t (long while fast > slow, flat otherwise, acted on the bar after the signal),
``0.0`` elsewhere (the first bar, a mean still warming up or a missing price): the weights
``engine.research.backtest.simulate``/``simulate_columns`` trade.

It is ``sma_columns(x, fast) > sma_columns(x, slow)`` lagged one bar and cast to weights, bit for
bit: the means are the same sums at the same bars (``engine.signals.columns._sma_step``: running
sums resynchronised with an exact window sum every ``n`` updates; for an all-finite series of one
column, ``_finite_step`` restates that step without the state a missing price needs, tested
equal). Fused, both means advance in one loop with their state in registers and only the
``[T, K]`` target is written: the unfused route builds two ``[T, K]`` float means, a bool matrix
and its lagged float copy (four passes over memory and five calls), which cost a one-symbol
backtest more than its account did.

Still, the pair of means costs about twice a plain running-sum loop (``tests/bench/backtest.py``'s
peer, which has no resync, no exact mean over a run of equal prices and no missing-price rule):
onetap's indicator conventions, kept here so that research and the cards see the same signal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
from numpy.typing import ArrayLike

from engine.research.account import Array
from engine.signals.columns import _sma_step, _window_sum
from engine.signals.indicators import _kernel, _window


@numba.njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _exact_sums(x: Array, col: int, n: int, steps: int) -> Array:
    """The exact window sums ``_sma_step`` makes over the first ``steps`` bars of an all-finite
    column: at bar ``n - 1`` and every ``n + 1`` bars after it (``n`` running updates between
    two), plus a 0 to pad: read ahead of its use by ``_finite_step``, never past the end."""
    m = (steps - n) // (n + 1) + 1 if steps >= n else 0
    out = np.empty(m + 1)
    for j in range(m):
        out[j] = _window_sum(x, col, n - 1 + j * (n + 1), n)
    out[m] = 0.0
    return out


@numba.njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _finite_step(
    x: Array, col: int, t: int, n: int, v: float, same: int, total: float, since: int, exact: Array, j: int
) -> tuple[float, int, int, float]:
    """``_sma_step`` at bar t when every price of the column is finite (its run is t + 1; its run
    of equal values, ``same``, is shared by every window): (total, since, the next of ``exact``,
    the mean). The same sums at the same bars, bit for bit, with the exact sum (resync) taken
    from ``_exact_sums`` by a select instead of a branch: the branch mispredicted every
    ``n + 1`` bars and cost a pair of means about as much as their arithmetic."""
    if t + 1 < n:
        return total, since, j, np.nan
    running = total + (v - x[max(t - n, 0), col])
    resync = t + 1 == n or since >= n
    ahead = exact[j]  # always read (padded): a select, not a branch
    total = ahead if resync else running
    j += 1 if resync else 0
    since = 0 if resync else since + 1
    return total, since, j, (v if same >= n else total / n)


@_kernel
def _cross_one(x: Array, col: int, fast: int, slow: int, out: Array, k: int) -> None:
    """``out[:, k]``: the crossover of ``x[:, col]``'s ``fast`` and ``slow`` means, both in
    registers in one loop (``_finite_step`` when every price is finite, ``_sma_step`` if not)."""
    n_bars = x.shape[0]
    out[0, k] = 0.0
    finite = True
    for t in range(n_bars):
        if not np.isfinite(x[t, col]):
            finite = False
            break
    if finite:
        exact_f = _exact_sums(x, col, fast, n_bars - 1)
        exact_s = _exact_sums(x, col, slow, n_bars - 1)
        same = 0
        prev = np.nan
        tot_f, sn_f, j_f, tot_s, sn_s, j_s = 0.0, 0, 0, 0.0, 0, 0
        for t in range(n_bars - 1):
            v = x[t, col]
            same = same + 1 if v == prev else 1
            prev = v
            tot_f, sn_f, j_f, mean_f = _finite_step(x, col, t, fast, v, same, tot_f, sn_f, exact_f, j_f)
            tot_s, sn_s, j_s, mean_s = _finite_step(x, col, t, slow, v, same, tot_s, sn_s, exact_s, j_s)
            out[t + 1, k] = 1.0 if mean_f > mean_s else 0.0
        return
    r_f, s_f, tot_f, sn_f = 0, 0, 0.0, 0
    r_s, s_s, tot_s, sn_s = 0, 0, 0.0, 0
    for t in range(n_bars - 1):
        r_f, s_f, tot_f, sn_f, mean_f = _sma_step(x, col, t, fast, r_f, s_f, tot_f, sn_f)
        r_s, s_s, tot_s, sn_s, mean_s = _sma_step(x, col, t, slow, r_s, s_s, tot_s, sn_s)
        out[t + 1, k] = 1.0 if mean_f > mean_s else 0.0


@_kernel
def _cross_rows(x: Array, fast: Array, slow: Array, out: Array) -> None:
    """Column ``k`` of ``out``: the crossover of column ``k`` of ``x`` (``fast[k]``/``slow[k]``),
    row by row with every column's state in arrays: a ``[T, N]`` panel read and written in its
    memory order (a column at a time would stride through it, a cache miss a value)."""
    n_bars, n_out = out.shape
    state = np.zeros((6, n_out), dtype=np.int64)  # run, same, since of each mean (fast, slow)
    totals = np.zeros((2, n_out))
    for k in range(n_out):
        out[0, k] = 0.0
    for t in range(n_bars - 1):
        for k in range(n_out):
            r, s, tot, sn, mean_f = _sma_step(
                x, k, t, fast[k], state[0, k], state[1, k], totals[0, k], state[2, k]
            )
            state[0, k] = r
            state[1, k] = s
            state[2, k] = sn
            totals[0, k] = tot
            r, s, tot, sn, mean_s = _sma_step(
                x, k, t, slow[k], state[3, k], state[4, k], totals[1, k], state[5, k]
            )
            state[3, k] = r
            state[4, k] = s
            state[5, k] = sn
            totals[1, k] = tot
            out[t + 1, k] = 1.0 if mean_f > mean_s else 0.0


@_kernel
def _cross_grid(x: Array, distinct: Array, fast: Array, slow: Array, out: Array) -> None:
    """Column ``k`` of ``out``: the crossover of the one column of ``x`` with the means
    ``distinct[fast[k]]``/``distinct[slow[k]]``: each distinct window computed once, in registers
    down the series, into a ``[T, D]`` scratch that stays in cache, then compared into ``out`` in
    its memory order (a grid of 174 pairs needs 25 means, not 348)."""
    n_bars, n_out = out.shape
    scratch = np.empty((n_bars, len(distinct)))
    for d in range(len(distinct)):
        n = distinct[d]
        run, same, total, since = 0, 0, 0.0, 0
        for t in range(n_bars):
            run, same, total, since, scratch[t, d] = _sma_step(x, 0, t, n, run, same, total, since)
    for k in range(n_out):
        out[0, k] = 0.0
    for t in range(n_bars - 1):
        for k in range(n_out):
            out[t + 1, k] = 1.0 if scratch[t, fast[k]] > scratch[t, slow[k]] else 0.0


def _windows(n: int | Sequence[int] | ArrayLike, name: str) -> list[int]:
    if isinstance(n, int):
        return [_window(n, name)]
    given = np.asarray(n)
    if given.ndim > 1 or given.size == 0:
        raise ValueError(
            f"crossover_targets: {name} must be a window or a 1-D sequence of windows, got {n!r}"
        )
    return [_window(w, name) for w in given.reshape(-1).tolist()]


def crossover_targets(
    close: ArrayLike, fast: int | Sequence[int] | ArrayLike, slow: int | Sequence[int] | ArrayLike
) -> Array:
    """Long-only crossover weights ``[T, K]`` (see the module docstring) of ``close`` (``[T, N]``,
    or ``[T]`` as one column) with the ``fast``/``slow`` window pairs, paired with the columns as
    ``sma_columns`` pairs windows: one pair for every column (``K = N``), ``N`` pairs one per
    column, or one column swept over ``K`` pairs (each distinct window computed once).
    """
    a = np.ascontiguousarray(close, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2:
        raise ValueError(f"crossover_targets: close must be [T] or [T, N], got shape {a.shape}")
    n_bars, n_cols = a.shape
    if isinstance(fast, int) and isinstance(slow, int) and n_cols == 1:  # one account: no lists
        out = np.empty((n_bars, 1))
        if n_bars:
            _cross_one(a, 0, _window(fast, "fast"), _window(slow, "slow"), out, 0)
        return out
    f, s = _windows(fast, "fast"), _windows(slow, "slow")
    if len(f) != len(s) and 1 not in (len(f), len(s)):
        raise ValueError(f"crossover_targets: {len(f)} fast and {len(s)} slow windows do not pair up")
    pairs = max(len(f), len(s))
    if n_cols != pairs and 1 not in (n_cols, pairs):
        raise ValueError(f"crossover_targets: {n_cols} columns and {pairs} window pairs do not broadcast")
    width = max(n_cols, pairs)
    out = np.empty((n_bars, width))
    if n_bars == 0:
        return out
    f, s = f * (pairs // len(f)), s * (pairs // len(s))
    if n_cols > 1:
        reps = width // pairs
        _cross_rows(a, np.array(f * reps, dtype=np.int64), np.array(s * reps, dtype=np.int64), out)
    elif width == 1:
        _cross_one(a, 0, f[0], s[0], out, 0)
    else:
        slot: dict[int, int] = {}
        fi = [slot.setdefault(w, len(slot)) for w in f]
        si = [slot.setdefault(w, len(slot)) for w in s]
        _cross_grid(
            a,
            np.array(list(slot), dtype=np.int64),
            np.array(fi, dtype=np.int64),
            np.array(si, dtype=np.int64),
            out,
        )
    return out
