"""Order-flow and microstructure features: from top-of-book quotes, trades and market depth.

Pure functions over 1-D arrays (oldest first, inputs never modified), and ``OrderFlowTracker``,
the same features kept incrementally one quote at a time for the live engine. Every feature is
exact on hand-worked sequences (``tests/engine/signals/test_orderflow.py`` shows the arithmetic).

* **Order-flow imbalance** (Cont, Kukanov & Stoikov 2014, "The price impact of order book
  events", eq. 10): each top-of-book update ``n`` contributes
  ``e_n = 1{Pb_n >= Pb_n-1} qb_n - 1{Pb_n <= Pb_n-1} qb_n-1 - 1{Pa_n <= Pa_n-1} qa_n
  + 1{Pa_n >= Pa_n-1} qa_n-1``: size arriving at (or improving) the bid is buying pressure,
  size arriving at (or improving) the ask is selling pressure, and size leaving either side
  the opposite. OFI over a window is the sum of the ``e_n`` in it.
* **Quote imbalance**: ``(bid_size - ask_size) / (bid_size + ask_size)`` in [-1, 1]; NaN when
  both sizes are zero (no information, not balance).
* **Trade sign**: the tick rule (an uptick buys, a downtick sells, an unchanged price keeps the
  previous sign) and Lee & Ready (1991): above the prevailing quote's midpoint buys, below
  sells, at the midpoint the tick rule decides.
* **Depth imbalance**: the quote imbalance of the sizes summed over the first ``levels``
  levels of each side (optionally weighted ``decay**k`` for level ``k``).
* **Effective and realized spread** of a signed trade: ``2 s (p - m_t)`` against the midpoint
  when it traded and ``2 s (p - m_t+h)`` against the midpoint ``h`` quote updates later: what
  the liquidity provider kept once the price had moved.
* **Short-horizon realized volatility**: ``sqrt(sum r^2)`` of the midpoint's log returns over
  the window (not annualised: a volatility per window of updates).

About the data: the replay invents its bid and ask sizes (uniform multiples of a lot), and the
TWS simulator's depth levels are synthetic (built around the replay's top of book), so on the
shipped data these features are computed and shown but their predictive value is **not
measurable**: that needs a recorded live session or real tick data.

Plain numpy is enough here (each function is a handful of vectorised operations); the tracker
is O(window) per quote at most, which the quote rate of a terminal desk never notices.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
SignArray = npt.NDArray[np.int8]

__all__ = [
    "FlowFigures",
    "OrderFlowTracker",
    "depth_imbalance",
    "effective_spread",
    "imbalance",
    "lee_ready",
    "ofi",
    "ofi_increments",
    "quote_imbalance",
    "realized_spread",
    "realized_volatility",
    "rolling_realized_volatility",
    "tick_rule",
]

_MID_TOLERANCE = 1e-9
"""Relative distance from the midpoint under which a trade counts as "at the midpoint" (prices
are binary floats: 1.10005 + 1.10015 is not exactly twice 1.1001)."""


# ---------------------------------------------------------------------- input checks
def _series(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D series, got {arr.ndim} dimensions")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name} has a missing or infinite value at index {int(np.argmin(np.isfinite(arr)))}"
        )
    return arr


def _sizes(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = _series(name, values)
    if np.any(arr < 0):
        raise ValueError(f"{name} has a negative size at index {int(np.argmax(arr < 0))}")
    return arr


def _prices(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = _series(name, values)
    if np.any(arr <= 0):
        raise ValueError(f"{name} has a price that is not positive at index {int(np.argmax(arr <= 0))}")
    return arr


def _same_length(**series: FloatArray) -> int:
    lengths = {name: len(arr) for name, arr in series.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"series of different lengths: {lengths}")
    return next(iter(lengths.values()))


def _window(window: int) -> int:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive whole number of updates, got {window!r}")
    return window


# ---------------------------------------------------------------------- order-flow imbalance
def ofi_increments(
    bid: npt.ArrayLike, bid_size: npt.ArrayLike, ask: npt.ArrayLike, ask_size: npt.ArrayLike
) -> FloatArray:
    """Cont-Kukanov-Stoikov ``e_n`` for each top-of-book update; ``e_0 = 0`` (nothing before it).

    Prices are compared exactly (a quote's prices come from the same tick grid every time).
    """
    b, qb = _prices("bid", bid), _sizes("bid_size", bid_size)
    a, qa = _prices("ask", ask), _sizes("ask_size", ask_size)
    n = _same_length(bid=b, bid_size=qb, ask=a, ask_size=qa)
    out = np.zeros(n)
    if n > 1:
        up_b, down_b = b[1:] >= b[:-1], b[1:] <= b[:-1]
        up_a, down_a = a[1:] >= a[:-1], a[1:] <= a[:-1]
        out[1:] = up_b * qb[1:] - down_b * qb[:-1] - down_a * qa[1:] + up_a * qa[:-1]
    return out


def ofi(bid: npt.ArrayLike, bid_size: npt.ArrayLike, ask: npt.ArrayLike, ask_size: npt.ArrayLike) -> float:
    """The order-flow imbalance of the whole sequence: the sum of its ``e_n``."""
    return float(np.sum(ofi_increments(bid, bid_size, ask, ask_size)))


def _ofi_step(prev: tuple[float, float, float, float], new: tuple[float, float, float, float]) -> float:
    """One ``e_n`` from (bid, bid_size, ask, ask_size) before and after; the tracker's kernel."""
    pb, pqb, pa, pqa = prev
    b, qb, a, qa = new
    return (
        (qb if b >= pb else 0.0)
        - (pqb if b <= pb else 0.0)
        - (qa if a <= pa else 0.0)
        + (pqa if a >= pa else 0.0)
    )


# ---------------------------------------------------------------------- imbalances
def imbalance(buy_side: float, sell_side: float) -> float:
    """``(buy - sell) / (buy + sell)``; NaN when both are zero. Sizes must not be negative."""
    if buy_side < 0 or sell_side < 0 or not (math.isfinite(buy_side) and math.isfinite(sell_side)):
        raise ValueError(f"sizes must be finite and not negative, got {buy_side!r} and {sell_side!r}")
    total = buy_side + sell_side
    return (buy_side - sell_side) / total if total > 0 else math.nan


def quote_imbalance(bid_size: npt.ArrayLike, ask_size: npt.ArrayLike) -> FloatArray:
    """Each quote's ``(bid_size - ask_size) / (bid_size + ask_size)``; NaN where both are zero."""
    qb, qa = _sizes("bid_size", bid_size), _sizes("ask_size", ask_size)
    _same_length(bid_size=qb, ask_size=qa)
    total = qb + qa
    out = np.full(len(qb), np.nan)
    np.divide(qb - qa, total, out=out, where=total > 0)
    return out


def depth_imbalance(
    bid_sizes: Sequence[float], ask_sizes: Sequence[float], levels: int = 5, decay: float = 1.0
) -> float:
    """The imbalance of the book's first ``levels`` levels (best first), level ``k`` weighted
    ``decay**k`` (1: a plain sum). NaN for an empty book. A side with fewer levels counts what it has."""
    _window(levels)
    if not (0.0 < decay <= 1.0):
        raise ValueError(f"decay must be in (0, 1], got {decay!r}")
    bids = _sizes("bid_sizes", list(bid_sizes)[:levels])
    asks = _sizes("ask_sizes", list(ask_sizes)[:levels])
    weights = decay ** np.arange(levels, dtype=np.float64)
    return imbalance(float(np.dot(bids, weights[: len(bids)])), float(np.dot(asks, weights[: len(asks)])))


# ---------------------------------------------------------------------- trade signs
def _carry_forward(signs: SignArray) -> SignArray:
    """Each zero replaced by the last non-zero sign before it (zero while there is none)."""
    index = np.where(signs != 0, np.arange(len(signs)), 0)
    np.maximum.accumulate(index, out=index)
    out: SignArray = signs[index]
    return out


def tick_rule(prices: npt.ArrayLike) -> SignArray:
    """+1 on an uptick, -1 on a downtick, a zero tick keeps the previous sign; the first trade
    (and any run of unchanged prices at the start) is 0: unknown."""
    p = _prices("prices", prices)
    moves = np.zeros(len(p), dtype=np.int8)
    if len(p) > 1:
        moves[1:] = np.sign(np.diff(p)).astype(np.int8)
    return _carry_forward(moves)


def _mid_sign(price: FloatArray, bid: FloatArray, ask: FloatArray) -> SignArray:
    mid = (bid + ask) / 2.0
    gap = price - mid
    signs: SignArray = np.where(np.abs(gap) <= _MID_TOLERANCE * mid, 0, np.sign(gap)).astype(np.int8)
    return signs


def lee_ready(prices: npt.ArrayLike, bid: npt.ArrayLike, ask: npt.ArrayLike) -> SignArray:
    """Lee-Ready signs: against the midpoint of the quote prevailing at each trade (the caller
    aligns it: the last quote before the trade), the tick rule at the midpoint."""
    p, b, a = _prices("prices", prices), _prices("bid", bid), _prices("ask", ask)
    _same_length(prices=p, bid=b, ask=a)
    if np.any(b > a):
        raise ValueError(f"crossed quote (bid above ask) at index {int(np.argmax(b > a))}")
    by_mid = _mid_sign(p, b, a)
    signs: SignArray = np.where(by_mid != 0, by_mid, tick_rule(p)).astype(np.int8)
    return signs


# ---------------------------------------------------------------------- spreads
def _signed_spread(prices: npt.ArrayLike, signs: npt.ArrayLike, mids: npt.ArrayLike) -> FloatArray:
    p, m = _prices("prices", prices), _prices("mids", mids)
    s = _series("signs", signs)
    _same_length(prices=p, signs=s, mids=m)
    if np.any((s != 1) & (s != -1) & (s != 0)):
        raise ValueError("signs must be +1 (buy), -1 (sell) or 0 (unknown)")
    out = 2.0 * s * (p - m)
    out[s == 0] = np.nan
    return out


def effective_spread(prices: npt.ArrayLike, signs: npt.ArrayLike, mids: npt.ArrayLike) -> FloatArray:
    """``2 s (p - m)`` against the midpoint when each trade happened; NaN for an unsigned trade."""
    return _signed_spread(prices, signs, mids)


def realized_spread(prices: npt.ArrayLike, signs: npt.ArrayLike, mids_later: npt.ArrayLike) -> FloatArray:
    """``2 s (p - m_later)``: the effective spread measured against the midpoint a horizon after
    each trade (the caller picks the horizon and aligns ``mids_later``); NaN for an unsigned trade."""
    return _signed_spread(prices, signs, mids_later)


# ---------------------------------------------------------------------- volatility
def _log_returns(mids: npt.ArrayLike) -> FloatArray:
    m = _prices("mids", mids)
    return np.diff(np.log(m))


def realized_volatility(mids: npt.ArrayLike, window: int | None = None) -> float:
    """``sqrt(sum r^2)`` of the midpoint's log returns (the last ``window`` of them); NaN with
    fewer than one return (or fewer than ``window``)."""
    r = _log_returns(mids)
    if window is not None:
        if len(r) < _window(window):
            return math.nan
        r = r[-window:]
    return math.sqrt(float(np.sum(r * r))) if len(r) else math.nan


def rolling_realized_volatility(mids: npt.ArrayLike, window: int) -> FloatArray:
    """At each update, the realized volatility of the ``window`` returns ending there (NaN before)."""
    r = _log_returns(mids)
    w = _window(window)
    out = np.full(len(r) + 1, np.nan)
    for i in range(w, len(r) + 1):  # exact window sums (no running-sum drift), O(n w)
        chunk = r[i - w : i]
        out[i] = math.sqrt(float(np.sum(chunk * chunk)))
    return out


# ---------------------------------------------------------------------- the live tracker
@dataclass(frozen=True, slots=True)
class FlowFigures:
    """What ``OrderFlowTracker`` knows after the last update (NaN: not enough data yet)."""

    updates: int
    ofi: float
    """Sum of the OFI increments of the last ``window`` updates."""
    quote_imbalance: float
    last_sign: int
    """The last trade's Lee-Ready sign (0: no trade yet, or unknown)."""
    signed_volume: float
    """Sum of sign times size of the trades in the last ``window`` updates."""
    realized_spread: float
    """Mean realized spread of the trades whose horizon ended in the last ``window`` updates."""
    realized_vol: float
    depth_imbalance: float


class OrderFlowTracker:
    """The features of one symbol, kept one top-of-book update at a time.

    A quote carries a trade when its cumulative volume grew (the growth is the trade's size);
    a feed without volume (0) reports a trade through ``last_size``. A trade is signed by Lee-Ready
    against the quote **before** it (the prevailing quote; the quote that reports the trade was
    set after it), the tick rule at the midpoint. Its realized spread is taken ``horizon``
    updates after the quote that reported it.
    """

    def __init__(self, window: int = 50, horizon: int = 5, depth_levels: int = 5) -> None:
        self.window = _window(window)
        self.horizon = _window(horizon)
        self.depth_levels = _window(depth_levels)
        self.updates = 0
        self._prev: tuple[float, float, float, float] | None = None
        self._volume = 0.0
        self._ofi = _WindowSum(self.window)
        self._squares = _WindowSum(self.window)  # squared mid log returns
        self._signed = _WindowSum(self.window)
        self._spreads: deque[tuple[int, float]] = deque()
        self._spread_sum = 0.0
        """The sum of ``_spreads``' values, kept as they come and go (``figures`` runs on every
        quote: summing the window each time was most of the engine's quote step at 500 symbols),
        recomputed exactly every ``window`` changes so rounding never accumulates."""
        self._spread_changes = 0
        self._pending: deque[tuple[int, int, float]] = deque()  # (due update, sign, price)
        self._last_trade: float | None = None
        self._tick_sign = 0
        self._last_sign = 0
        self._imbalance = math.nan
        self._depth = math.nan

    def on_quote(
        self,
        bid: float,
        ask: float,
        bid_size: float,
        ask_size: float,
        last: float = 0.0,
        last_size: float = 0.0,
        volume: float = 0.0,
    ) -> None:
        """One top-of-book update (with the trade it reports, if any)."""
        if not (bid > 0 and ask > 0 and math.isfinite(bid) and math.isfinite(ask)):
            raise ValueError(f"a quote needs a positive bid and ask, got {bid!r} / {ask!r}")
        if bid > ask:
            raise ValueError(f"crossed quote: bid {bid} above ask {ask}")
        self._imbalance = imbalance(bid_size, ask_size)
        new = (bid, bid_size, ask, ask_size)
        prev = self._prev
        self.updates += 1
        mid = (bid + ask) / 2.0
        self._ofi.add(0.0 if prev is None else _ofi_step(prev, new))
        if prev is not None:
            r = math.log(mid / ((prev[0] + prev[2]) / 2.0))
            self._squares.add(r * r)
        changed = False
        while self._pending and self._pending[0][0] <= self.updates:
            _, sign, price = self._pending.popleft()
            value = 2.0 * sign * (price - mid)
            self._spreads.append((self.updates, value))
            self._spread_sum += value
            changed = True
        while self._spreads and self._spreads[0][0] <= self.updates - self.window:
            self._spread_sum -= self._spreads.popleft()[1]
            changed = True
        if changed:
            self._spread_changes += 1
            if self._spread_changes >= self.window or not self._spreads:
                self._spread_sum = math.fsum(v for _, v in self._spreads)
                self._spread_changes = 0
        traded = self._traded(last, last_size, volume)
        signed = 0.0
        if traded > 0 and last > 0:
            sign = self._sign(last, prev if prev is not None else new)
            self._last_sign = sign
            signed = sign * traded
            if sign != 0:
                self._pending.append((self.updates + self.horizon, sign, last))
        self._signed.add(signed)
        self._prev = new

    def _traded(self, last: float, last_size: float, volume: float) -> float:
        if volume > 0:
            grew = volume - self._volume if volume >= self._volume else volume  # a new session
            self._volume = volume
            return grew
        return last_size if last_size > 0 else 0.0

    def _sign(self, price: float, prevailing: tuple[float, float, float, float]) -> int:
        if self._last_trade is not None and price != self._last_trade:
            self._tick_sign = 1 if price > self._last_trade else -1
        self._last_trade = price
        mid = (prevailing[0] + prevailing[2]) / 2.0
        if abs(price - mid) <= _MID_TOLERANCE * mid:
            return self._tick_sign
        return 1 if price > mid else -1

    def on_depth(self, bid_sizes: Sequence[float], ask_sizes: Sequence[float]) -> None:
        """The book's levels (best first), from market depth."""
        self._depth = depth_imbalance(bid_sizes, ask_sizes, self.depth_levels)

    def figures(self) -> FlowFigures:
        spreads = self._spreads
        return FlowFigures(
            updates=self.updates,
            ofi=self._ofi.total,
            quote_imbalance=self._imbalance,
            last_sign=self._last_sign,
            signed_volume=self._signed.total,
            realized_spread=self._spread_sum / len(spreads) if spreads else math.nan,
            realized_vol=math.sqrt(max(self._squares.total, 0.0)) if self._squares.count else math.nan,
            depth_imbalance=self._depth,
        )


class _WindowSum:
    """The sum of the last ``size`` values, O(1) per value: a running sum, recomputed exactly
    (``math.fsum``) every ``size`` values so rounding never accumulates."""

    __slots__ = ("_since", "_values", "total")

    def __init__(self, size: int) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._since = 0
        self.total = 0.0

    @property
    def count(self) -> int:
        return len(self._values)

    def add(self, value: float) -> None:
        values = self._values
        if len(values) == values.maxlen:
            self.total -= values[0]
        values.append(value)
        self._since += 1
        if self._since >= len(values):
            self.total, self._since = math.fsum(values), 0
        else:
            self.total += value
