"""The quote guard's rules (``engine.data.quote_quality``) over a whole batch: state as arrays,
one numba walk per step.

Why: every quote of every step is screened, and at 500 symbols a Python pass over ``Quote``
objects was a large share of the step. Each symbol is a slot (a row of the state arrays); the
kernel walks the batch in arrival order (a symbol quoted twice in one batch is judged twice, in
order), exactly as ``QuoteGuard`` judged one quote at a time. It returns a verdict per quote and,
for the quotes it holds out, the numbers their message needs; the guard writes the messages.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

GOOD, BAD_PRICE, CROSSED, LOCKED, OUT_OF_ORDER, DELAYED, SPIKE = range(7)
"""A quote's verdict (the order ``QuoteGuard`` checks the rules in)."""
NONE = np.iinfo(np.int64).min
"""An integer state that is not set yet (no quote, no good quote)."""

RETURNS_KEPT = 64
"""Quote-to-quote returns kept per symbol for its spike limit."""
CONFIRM_QUOTES = 3
"""Quotes in a row that must agree at a new level before a jump is believed."""
RESCALE_EVERY = 8
"""New returns between two computations of a symbol's spike limit."""
ROBUST_SCALE = 1.4826
"""Median absolute deviation -> standard deviation for normal returns."""

# float state columns
_GOOD_MID, _THRESHOLD = range(2)
# integer state columns
_LAST_TS, _GOOD_DAY, _STALE_FOR, _RET_START, _RET_LEN, _PENDING, _HELD, _NO_BOOK = range(8)
_I_COLUMNS = 8
# what a held-out quote's message needs
MID, MOVE, PREVIOUS_MID, LIMIT, LAST_TS = range(5)


@numba.njit(cache=True)
def _threshold(
    fs: FloatArray, ints: IntArray, returns: FloatArray, s: int, history: int, deviations: float, floor: float
) -> float:
    """The spike limit (NaN: too few returns yet), recomputed every ``RESCALE_EVERY`` returns:
    ``deviations`` x 1.4826 x the median of the non-zero absolute returns, at least ``floor``."""
    n = ints[s, _RET_LEN]
    if n < history:
        return math.nan
    if not math.isnan(fs[s, _THRESHOLD]) and ints[s, _STALE_FOR] < RESCALE_EVERY:
        return float(fs[s, _THRESHOLD])
    ints[s, _STALE_FOR] = 0
    moves = np.empty(n)
    start = ints[s, _RET_START]
    for k in range(n):
        moves[k] = abs(returns[s, (start + k) % RETURNS_KEPT])
    moves.sort()
    zeros = 0
    while zeros < n and moves[zeros] <= 0.0:
        zeros += 1
    scale = ROBUST_SCALE * moves[zeros + (n - zeros) // 2] if n > zeros else 0.0
    limit = deviations * scale
    fs[s, _THRESHOLD] = limit if limit >= floor else floor
    return float(fs[s, _THRESHOLD])


@numba.njit(cache=True, inline="always")
def _accept(
    fs: FloatArray,
    ints: IntArray,
    returns: FloatArray,
    s: int,
    mid: float,
    day: int,
    move: float,
    learn: bool,
) -> None:
    fs[s, _GOOD_MID] = mid
    ints[s, _GOOD_DAY] = day
    ints[s, _PENDING] = 0
    if learn:
        n = ints[s, _RET_LEN]
        if n == RETURNS_KEPT:
            start = ints[s, _RET_START]
            returns[s, start] = move
            ints[s, _RET_START] = (start + 1) % RETURNS_KEPT
        else:
            returns[s, (ints[s, _RET_START] + n) % RETURNS_KEPT] = move
            ints[s, _RET_LEN] = n + 1
        ints[s, _STALE_FOR] += 1


@numba.njit(cache=True)
def screen(
    fs: FloatArray,
    ints: IntArray,
    returns: FloatArray,
    pending: FloatArray,
    slots: IntArray,
    q: FloatArray,
    ts: IntArray,
    days: IntArray,
    now: int,
    max_lag_s: float,
    locked_bad: bool,
    history: int,
    deviations: float,
    floor: float,
    verdict: npt.NDArray[np.int8],
    why: FloatArray,
) -> None:
    """Judge each quote of a batch in order; ``ts`` in microseconds since the epoch, ``days`` the
    New York date of each (an ordinal), ``now`` the engine's clock. Fills ``verdict`` and, for
    a held-out quote, ``why`` (``MID`` .. ``LAST_TS``)."""
    for i in range(slots.shape[0]):
        s = slots[i]
        bid, ask, last = q[0, i], q[1, i], q[2, i]
        t = ts[i]
        v = GOOD
        if (
            not (math.isfinite(bid) and math.isfinite(ask) and math.isfinite(last))
            or last <= 0.0
            or bid < 0.0
            or ask < 0.0
        ):
            v = BAD_PRICE
        elif bid > 0.0 and ask > 0.0 and ints[s, _NO_BOOK] == 0 and bid > ask:
            v = CROSSED
        elif bid > 0.0 and ask > 0.0 and ints[s, _NO_BOOK] == 0 and bid == ask and locked_bad:
            v = LOCKED
        elif ints[s, _LAST_TS] != NONE and t < ints[s, _LAST_TS]:
            v = OUT_OF_ORDER
            why[LAST_TS, i] = ints[s, _LAST_TS]
        elif (now - t) / 1e6 > max_lag_s:
            v = DELAYED
        else:
            mid = (bid + ask) / 2.0 if bid > 0.0 and ask > 0.0 else last
            day = days[i]
            if ints[s, _GOOD_DAY] == NONE or ints[s, _GOOD_DAY] != day:
                _accept(fs, ints, returns, s, mid, day, 0.0, False)  # a session's first quote may gap
            else:
                move = math.log(mid / fs[s, _GOOD_MID])
                limit = _threshold(fs, ints, returns, s, history, deviations, floor)
                if math.isnan(limit) or abs(move) <= limit:
                    _accept(fs, ints, returns, s, mid, day, move, True)
                else:
                    k = ints[s, _PENDING]
                    pending[s, k % CONFIRM_QUOTES] = mid
                    ints[s, _PENDING] = k + 1
                    walk = k + 1 >= CONFIRM_QUOTES
                    for j in range(k + 2 - CONFIRM_QUOTES, k + 1):  # the last three, oldest first
                        if walk and j >= 1:
                            a = pending[s, (j - 1) % CONFIRM_QUOTES]
                            b = pending[s, j % CONFIRM_QUOTES]
                            if not abs(math.log(b / a)) <= limit:
                                walk = False
                    if walk:
                        _accept(fs, ints, returns, s, mid, day, 0.0, False)  # a new level, confirmed
                    else:
                        v = SPIKE
                        why[MID, i], why[MOVE, i] = mid, move
                        why[PREVIOUS_MID, i], why[LIMIT, i] = fs[s, _GOOD_MID], limit
        if ints[s, _LAST_TS] == NONE or t > ints[s, _LAST_TS]:
            ints[s, _LAST_TS] = t
        ints[s, _HELD] = 0 if v == GOOD else 1
        verdict[i] = v


class ScreenArrays:
    """Every slot's guard state (a row per symbol), grown as symbols appear."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = 0
        self.fs = np.zeros((0, 2))
        self.ints = np.zeros((0, _I_COLUMNS), dtype=np.int64)
        self.returns = np.zeros((0, RETURNS_KEPT))
        self.pending = np.zeros((0, CONFIRM_QUOTES))
        self.reserve(capacity)

    def reserve(self, slots: int) -> None:
        if slots <= self.capacity:
            return
        extra = max(slots, 2 * self.capacity) - self.capacity
        fresh_f = np.full((extra, 2), math.nan)
        fresh_i = np.zeros((extra, _I_COLUMNS), dtype=np.int64)
        fresh_i[:, _LAST_TS] = NONE
        fresh_i[:, _GOOD_DAY] = NONE
        self.fs = np.concatenate([self.fs, fresh_f])
        self.ints = np.concatenate([self.ints, fresh_i])
        self.returns = np.concatenate([self.returns, np.zeros((extra, RETURNS_KEPT))])
        self.pending = np.concatenate([self.pending, np.zeros((extra, CONFIRM_QUOTES))])
        self.capacity += extra

    def set_no_book(self, slot: int) -> None:
        self.reserve(slot + 1)
        self.ints[slot, _NO_BOOK] = 1

    def held(self, slot: int) -> bool:
        return bool(self.ints[slot, _HELD])
