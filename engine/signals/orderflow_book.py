"""``OrderFlowTracker``'s features for many symbols at once: state as arrays, a batch per call.

Why: the live engine quotes hundreds of symbols per step, and one Python tracker per symbol
updated one quote at a time was most of the engine's quote step. Here every symbol is a slot
(a row of each state array) and a numba kernel walks a batch of quotes in arrival order, so a
symbol quoted twice in one batch is updated twice, in order: the features are sequential per
symbol, and walking the batch in order is exact.

Exact means bit for bit: the kernel is ``OrderFlowTracker.on_quote`` line by line (the same
operations in the same order, the window sums kept as running sums recomputed every window
with an exactly rounded sum, as ``math.fsum`` does), and ``tests/engine/signals`` compares the
two on random batches, several quotes of one symbol included.

A quote whose sizes the tracker refuses (negative, not finite) is skipped (the tracker raises),
and so is one with an infinite last, last size or volume (the tracker would carry the infinity
through its window sums until the window ends; the quote guard never lets such a price through).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from engine.model.flow import FlowBatch

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MID_TOLERANCE = 1e-9  # as engine.signals.orderflow

# float state columns
_PB, _PQB, _PA, _PQA, _VOLUME, _SPREAD_SUM, _LAST_TRADE, _IMBALANCE, _DEPTH = range(9)
_F_COLUMNS = 9
# integer state columns
_UPDATES, _HAS_PREV, _SPREAD_CHANGES, _HAS_TRADE, _TICK_SIGN, _LAST_SIGN, _SEEN = range(7)
_SP_START, _SP_LEN, _PD_START, _PD_LEN = range(7, 11)
_I_COLUMNS = 11
# the three window sums: OFI increments, squared mid log returns, signed volume
OFI, SQUARES, SIGNED = range(3)

SKIPPED, REFUSED, UPDATED = 0, 1, 2
"""A quote's fate in ``update``: not for flow (no two-sided book); its symbol has a slot but the
quote's sizes were refused; the features moved."""

READING_COLUMNS = FlowBatch.COLUMNS
"""The rows ``FlowArrays.readings`` returns: the columns ``FlowBatch`` reads them back by
(``engine.model.flow``), named once there so the writer and the reader cannot drift apart."""
_ROW = {name: i for i, name in enumerate(READING_COLUMNS)}
"""Each reading's row, by name: ``readings`` writes the rows where ``FlowBatch`` looks for them."""


@numba.njit(cache=True)
def _fsum(values: FloatArray, start: int, length: int) -> float:
    """``math.fsum`` of a ring's ``length`` values from ``start``: CPython's algorithm (Shewchuk's
    partials, then the half-even correction), so the result is the same exactly rounded sum."""
    cap = values.shape[0]
    partials = np.empty(length + 1)
    n = 0
    for k in range(length):
        x = values[(start + k) % cap]
        i = 0
        for j in range(n):
            y = partials[j]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        n = i
        if x != 0.0:
            partials[n] = x
            n += 1
    hi = 0.0
    lo = 0.0
    if n > 0:
        n -= 1
        hi = partials[n]
        while n > 0:
            x = hi
            n -= 1
            y = partials[n]
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                break
        if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            yr = x - hi
            if y == yr:
                hi = x
    return float(hi)


@numba.njit(cache=True, inline="always")
def _window_add(sums: FloatArray, lens: IntArray, k: int, s: int, value: float) -> None:
    """``_WindowSum.add`` for window sum ``k`` of slot ``s``; ``lens[k, s]`` holds (start, len, since)."""
    vals = sums[k, s]
    cap = vals.shape[0] - 1  # the last cell holds the running total
    start, length, since = lens[k, s, 0], lens[k, s, 1], lens[k, s, 2]
    total = vals[cap]
    if length == cap:
        total -= vals[start]
        vals[start] = value
        start = (start + 1) % cap
    else:
        vals[(start + length) % cap] = value
        length += 1
    since += 1
    if since >= length:
        total = _fsum(vals[:cap], start, length)
        since = 0
    else:
        total += value
    vals[cap] = total
    lens[k, s, 0], lens[k, s, 1], lens[k, s, 2] = start, length, since


@numba.njit(cache=True)
def _update(  # noqa: C901 - the tracker's on_quote, written out as one loop for numba
    fs: FloatArray,
    ints: IntArray,
    sums: FloatArray,
    lens: IntArray,
    sp_upd: IntArray,
    sp_val: FloatArray,
    pd_due: IntArray,
    pd_sign: IntArray,
    pd_price: FloatArray,
    slots: IntArray,
    q: FloatArray,
    window: int,
    horizon: int,
    status: npt.NDArray[np.int8],
) -> None:
    sp_cap = sp_val.shape[1]
    pd_cap = pd_price.shape[1]
    for i in range(slots.shape[0]):
        bid, ask, last = q[0, i], q[1, i], q[2, i]
        bid_size, ask_size, last_size, volume = q[3, i], q[4, i], q[5, i], q[6, i]
        if not (bid > 0 and ask > 0 and bid <= ask):
            status[i] = SKIPPED
            continue
        s = slots[i]
        ints[s, _SEEN] = 1
        status[i] = REFUSED
        if not (math.isfinite(bid) and math.isfinite(ask)):
            continue
        if not (bid_size >= 0 and ask_size >= 0 and math.isfinite(bid_size) and math.isfinite(ask_size)):
            continue
        if math.isinf(last) or math.isinf(last_size) or math.isinf(volume):
            continue
        status[i] = UPDATED
        total = bid_size + ask_size
        fs[s, _IMBALANCE] = (bid_size - ask_size) / total if total > 0 else math.nan
        has_prev = ints[s, _HAS_PREV] == 1
        pb, pqb, pa, pqa = fs[s, _PB], fs[s, _PQB], fs[s, _PA], fs[s, _PQA]
        ints[s, _UPDATES] += 1
        updates = ints[s, _UPDATES]
        mid = (bid + ask) / 2.0
        e = 0.0
        if has_prev:
            e = (
                (bid_size if bid >= pb else 0.0)
                - (pqb if bid <= pb else 0.0)
                - (ask_size if ask <= pa else 0.0)
                + (pqa if ask >= pa else 0.0)
            )
        _window_add(sums, lens, OFI, s, e)
        if has_prev:
            r = math.log(mid / ((pb + pa) / 2.0))
            _window_add(sums, lens, SQUARES, s, r * r)
        # realized spreads whose horizon ends now, and those leaving the window
        changed = False
        while ints[s, _PD_LEN] > 0 and pd_due[s, ints[s, _PD_START]] <= updates:
            at = ints[s, _PD_START]
            value = 2.0 * pd_sign[s, at] * (pd_price[s, at] - mid)
            ints[s, _PD_START] = (at + 1) % pd_cap
            ints[s, _PD_LEN] -= 1
            put = (ints[s, _SP_START] + ints[s, _SP_LEN]) % sp_cap
            sp_upd[s, put], sp_val[s, put] = updates, value
            ints[s, _SP_LEN] += 1
            fs[s, _SPREAD_SUM] += value
            changed = True
        while ints[s, _SP_LEN] > 0 and sp_upd[s, ints[s, _SP_START]] <= updates - window:
            fs[s, _SPREAD_SUM] -= sp_val[s, ints[s, _SP_START]]
            ints[s, _SP_START] = (ints[s, _SP_START] + 1) % sp_cap
            ints[s, _SP_LEN] -= 1
            changed = True
        if changed:
            ints[s, _SPREAD_CHANGES] += 1
            if ints[s, _SPREAD_CHANGES] >= window or ints[s, _SP_LEN] == 0:
                fs[s, _SPREAD_SUM] = _fsum(sp_val[s], ints[s, _SP_START], ints[s, _SP_LEN])
                ints[s, _SPREAD_CHANGES] = 0
        # the trade this quote reports
        if volume > 0:
            before = fs[s, _VOLUME]
            traded = volume - before if volume >= before else volume  # a new session
            fs[s, _VOLUME] = volume
        else:
            traded = last_size if last_size > 0 else 0.0
        signed = 0.0
        if traded > 0 and last > 0:
            if ints[s, _HAS_TRADE] == 1 and last != fs[s, _LAST_TRADE]:
                ints[s, _TICK_SIGN] = 1 if last > fs[s, _LAST_TRADE] else -1
            ints[s, _HAS_TRADE] = 1
            fs[s, _LAST_TRADE] = last
            prevailing = (pb + pa) / 2.0 if has_prev else mid
            if abs(last - prevailing) <= _MID_TOLERANCE * prevailing:
                sign = ints[s, _TICK_SIGN]
            else:
                sign = 1 if last > prevailing else -1
            ints[s, _LAST_SIGN] = sign
            signed = sign * traded
            if sign != 0:
                put = (ints[s, _PD_START] + ints[s, _PD_LEN]) % pd_cap
                pd_due[s, put], pd_sign[s, put], pd_price[s, put] = updates + horizon, sign, last
                ints[s, _PD_LEN] += 1
        _window_add(sums, lens, SIGNED, s, signed)
        fs[s, _PB], fs[s, _PQB], fs[s, _PA], fs[s, _PQA] = bid, bid_size, ask, ask_size
        ints[s, _HAS_PREV] = 1


class FlowArrays:
    """The features of every slot (``OrderFlowTracker``'s state, one row per symbol)."""

    def __init__(self, window: int = 50, horizon: int = 5, capacity: int = 64) -> None:
        self.window = window
        self.horizon = horizon
        self._capacity = 0
        self.fs = np.zeros((0, _F_COLUMNS))
        self.ints = np.zeros((0, _I_COLUMNS), dtype=np.int64)
        self.sums = np.zeros((3, 0, window + 1))
        self.lens = np.zeros((3, 0, 3), dtype=np.int64)
        self.sp_upd = np.zeros((0, window + 1), dtype=np.int64)
        self.sp_val = np.zeros((0, window + 1))
        self.pd_due = np.zeros((0, horizon + 1), dtype=np.int64)
        self.pd_sign = np.zeros((0, horizon + 1), dtype=np.int64)
        self.pd_price = np.zeros((0, horizon + 1))
        self.reserve(capacity)

    def reserve(self, slots: int) -> None:
        """Room for ``slots`` symbols (grown by doubling; new rows start as a fresh tracker)."""
        if slots <= self._capacity:
            return
        new = max(slots, 2 * self._capacity)
        extra = new - self._capacity

        def grow(arr: npt.NDArray[Any], axis: int = 0) -> npt.NDArray[Any]:
            shape = list(arr.shape)
            shape[axis] = extra
            return np.concatenate([arr, np.zeros(shape, dtype=arr.dtype)], axis=axis)

        self.fs = grow(self.fs)
        self.fs[self._capacity :, _DEPTH] = math.nan
        self.fs[self._capacity :, _IMBALANCE] = math.nan
        self.ints = grow(self.ints)
        self.sums = grow(self.sums, axis=1)
        self.lens = grow(self.lens, axis=1)
        self.sp_upd, self.sp_val = grow(self.sp_upd), grow(self.sp_val)
        self.pd_due, self.pd_sign, self.pd_price = grow(self.pd_due), grow(self.pd_sign), grow(self.pd_price)
        self._capacity = new

    def update(self, slots: IntArray, values: FloatArray) -> npt.NDArray[np.int8]:
        """Walk one batch in order: ``values`` are a ``QuoteBatch``'s columns (bid, ask, last,
        bid size, ask size, last size, volume), ``slots`` each quote's row. Each quote's fate
        (``SKIPPED`` / ``REFUSED`` / ``UPDATED``)."""
        if len(slots):
            self.reserve(int(slots.max()) + 1)
        status = np.zeros(len(slots), dtype=np.int8)
        _update(
            self.fs,
            self.ints,
            self.sums,
            self.lens,
            self.sp_upd,
            self.sp_val,
            self.pd_due,
            self.pd_sign,
            self.pd_price,
            slots,
            values,
            self.window,
            self.horizon,
            status,
        )
        return status

    def seen(self, slot: int) -> bool:
        """The slot has had a two-sided quote (a tracker exists for it)."""
        return slot < self._capacity and bool(self.ints[slot, _SEEN])

    def set_depth(self, slot: int, value: float) -> None:
        self.reserve(slot + 1)
        self.fs[slot, _DEPTH] = value

    def readings(self, slots: IntArray) -> FloatArray:
        """``READING_COLUMNS`` of ``slots`` (one column each), as ``OrderFlowTracker.figures``
        computes them (NaN: not enough data yet)."""
        fs, ints, sums, lens = self.fs[slots], self.ints[slots], self.sums[:, slots], self.lens[:, slots]
        out = np.empty((len(READING_COLUMNS), len(slots)))
        out[_ROW["updates"]] = ints[:, _UPDATES]
        out[_ROW["ofi"]] = sums[OFI, :, -1]
        out[_ROW["quote_imbalance"]] = fs[:, _IMBALANCE]
        out[_ROW["last_sign"]] = ints[:, _LAST_SIGN]
        out[_ROW["signed_volume"]] = sums[SIGNED, :, -1]
        n_spreads = ints[:, _SP_LEN]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[_ROW["realized_spread"]] = np.where(
                n_spreads > 0, fs[:, _SPREAD_SUM] / np.maximum(n_spreads, 1), math.nan
            )
            squares = sums[SQUARES, :, -1]
            # max(total, 0.0) as the tracker takes it: NaN and -0.0 kept, a negative rounding is 0
            out[_ROW["realized_vol"]] = np.where(
                lens[SQUARES, :, 1] > 0, np.sqrt(np.where(squares < 0.0, 0.0, squares)), math.nan
            )
        out[_ROW["depth_imbalance"]] = fs[:, _DEPTH]
        return out
