"""Execution algos: a parent order worked through child orders on market time.

A card's leg with an ``Algo`` other than a plain order becomes a *parent* ``Order`` (``algo`` set)
that never reaches a broker. The ``AlgoRunner`` works it by sending *child* orders through an
injected ``send_child`` (the engine routes it through the pre-trade checks and the write-ahead
order manager, so every child is as persisted and as checked as a manual order) and cancels
them through an injected ``cancel``. It owns no broker, no store and no clock: time is the
timestamp of the quotes it is fed (``on_quote``) and of the child updates (``on_order``), so a
replay, a test and a live session run the same code, never sleep and never read the wall clock.

What each algo does (``AlgoParams`` holds the numbers):

* ``IMMEDIATE``: one child exactly as the leg says (market or limit); no participation cap.
* ``LIMIT_AT_MID``: a limit child at the mid, rounded to the tick on the passive side (a buy
  rounds down, a sell up, so the child never crosses the spread by rounding); every
  ``reprice_seconds`` of market time, if the mid moved, the working child is cancelled and a new
  one sent at the new mid (at most ``max_reprices`` times); at ``timeout_seconds`` the rest goes
  at market (``finish_at_market``) or the parent expires.
* ``TWAP``: ``slices`` children at equal intervals over ``window_seconds``; slice *k* brings the
  parent to ``(k + 1) / slices`` of its quantity, so the last slice catches any remainder.
* ``VWAP``: the same slices, sized by the expected share of the session's volume in each
  interval (``volume_weights``), so the parent trades more where the market trades more.

Order-flow timing (issue 20, ``flow_timing``; off by default): TWAP/VWAP hold a due slice (not
the last) while the quote imbalance leans against the parent, and LIMIT_AT_MID prices its child
at the far touch while the imbalance says the price is running away; see ``AlgoParams``.

Slices are *cumulative targets*: a slice sends what the parent still lacks to reach its target
(after cancelling the previous child if it is still working), so whatever a capped or unfilled
child left behind rolls into the next slice by construction, and a parent can never be
over-sent. The participation cap (every algo but ``IMMEDIATE``) limits each child to
``max_participation`` of the volume traded (quotes' ``last_size``) since the previous slice, or,
for the first child, during the interval before it: a child never asks for more than a fixed
share of what the market is actually trading. At the deadline the remainder is sent at market
(uncapped: the deadline is the point where finishing beats waiting) or the parent expires.

A parent has at most one working child at a time, which keeps cancelling simple and auditable:
``cancel_parent`` cancels that child and stops. A child that ends in a way the algo did not ask
for (rejected by risk or the broker, cancelled by the operator or the kill switch, expired at
the close) ends the parent too: retrying a refusal every slice would only feed the reject
breaker, and an operator's cancel means stop.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from engine.execution.tape import Tape
from engine.model import Algo, Order, OrderRequest, OrderStatus, OrderType, Quote, Side, TimeInForce
from engine.model.quote_batch import as_batch
from engine.signals.orderflow import imbalance

log = logging.getLogger(__name__)

SendChild = Callable[[OrderRequest], Awaitable[Order]]
"""Sends a child order; a refused child comes back as an Order with status REJECTED."""
CancelChild = Callable[[str], Awaitable[str]]
"""Cancels a child by client order id; returns "" when the cancel was sent, else the reason."""
ParentSink = Callable[[Order], None]
"""Receives a copy of the parent order after every change (the engine persists and publishes it)."""
SessionHours = Callable[[datetime], tuple[datetime, datetime] | None]
"""The regular session (open, close) containing a time, or None when unknown or closed."""
VolumeCurve = Callable[[float], float]
"""Cumulative share of a session's volume traded by a fraction of the session (0 -> 0, 1 -> 1)."""

EPS = 1e-9
"""Quantities closer than this are equal (floats summed over partial fills drift)."""
_INF = math.inf
TAPE_SPAN = timedelta(hours=6, minutes=30)
"""How much traded volume per symbol the runner remembers: one regular session is more than
any participation look-back needs (at most the time since the previous slice)."""
_FINISHED_KEPT = 500
"""Finished parents remembered so that a late child fill still updates its parent."""


# --------------------------------------------------------------------------- the volume profile
def replay_volume_curve(x: float) -> float:
    """Expected cumulative share of a session's volume traded by session fraction ``x``.

    The intraday volume onetap trades against is the replay's (``engine.data.replay.volume_path``):
    per-step weights ``(0.6 + 2.4 (2x - 1)^2)`` times seeded lognormal noise with the same
    distribution at every step, ``x`` the step's fraction of the session. The noise scales every
    step alike in expectation, so the expected share of the volume in ``[a, b]`` is the integral
    of the U-shaped density over ``[a, b]`` divided by its integral over ``[0, 1]`` (= 1.4);
    the continuous integral is the limit of the replay's per-step sum (off by at most one step).

    Why not the shipped history: it is daily bars, which carry no information at all about how
    volume is spread within a day; the replay invents the intraday spread with exactly this
    U shape, so this curve is the profile of the market the paper broker fills against. A live
    deployment should inject a curve estimated from intraday history instead (``AlgoRunner``'s
    ``volume_curve``).
    """
    x = min(max(x, 0.0), 1.0)
    return (0.6 * x + 0.4 * (2.0 * x - 1.0) ** 3 + 0.4) / 1.4


def volume_weights(
    start: datetime,
    window_seconds: float,
    slices: int,
    session: tuple[datetime, datetime] | None,
    curve: VolumeCurve = replay_volume_curve,
) -> tuple[float, ...]:
    """The expected share of the window's volume in each of ``slices`` equal intervals (sums to 1).

    Intervals outside the session get no volume. Without a known session, or for a window that
    lies entirely outside it, every interval gets the same share (VWAP degrades to TWAP rather
    than refusing to trade).
    """
    if slices < 1:
        raise ValueError(f"slices must be at least 1, got {slices}")
    equal = tuple(1.0 / slices for _ in range(slices))
    if session is None:
        return equal
    opens, closes = session
    length = (closes - opens).total_seconds()
    if length <= 0:
        return equal
    step = window_seconds / slices

    def at(k: int) -> float:
        return curve(((start - opens).total_seconds() + k * step) / length)

    raw = [max(at(k + 1) - at(k), 0.0) for k in range(slices)]
    total = sum(raw)
    if total <= EPS:
        return equal
    return tuple(w / total for w in raw)


def exchange_session(ts: datetime) -> tuple[datetime, datetime] | None:
    """The XNYS regular session of ``ts``'s New York day, or None (weekend, holiday, out of range).

    Imported lazily: the calendar is only needed once a VWAP (or a window to clip) starts.
    """
    from engine.data import calendar

    try:
        if not calendar.is_session(ts):
            return None
        return calendar.session_open_close(ts)
    except ValueError:
        return None


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True, slots=True)
class AlgoParams:
    """How an algo works a parent. Times are seconds of *market* time (quote timestamps).

    Every deadline is also clipped to the close of the session the parent started in (when the
    session is known): children are DAY orders, so nothing can trade after it anyway.
    """

    window_seconds: float = 1800.0
    """TWAP/VWAP: the slices are spread over this much market time; its end is the deadline.
    30 minutes, the default ``StrategyCard.deadline_minutes``."""
    slices: int = 6
    """TWAP/VWAP: number of slices (one every five minutes with the default window)."""
    reprice_seconds: float = 60.0
    """LIMIT_AT_MID: how often the limit is moved to the new mid (one exchange minute)."""
    max_reprices: int = 5
    """LIMIT_AT_MID: at most this many cancel-and-replace steps, so a fast market cannot turn
    the algo into a stream of cancels (each counts against the cancel throttles)."""
    timeout_seconds: float = 300.0
    """LIMIT_AT_MID: after this much market time the rest is finished (or the parent expires)."""
    max_participation: float | None = 0.10
    """Largest share of the volume traded since the previous slice one child may ask for
    (None: no cap). Ten percent is a common institutional ceiling; the paper broker's own
    per-quote cap (``[broker] max_participation``) still applies on top of it."""
    finish_at_market: bool = True
    """At the deadline: send the remainder at market (True) or let the parent expire (False)."""
    tick_size: float = 0.01
    """The instrument's price increment: limit children are rounded to it."""
    lot_size: float = 1.0
    """Children are whole multiples of this many shares (0: any fraction); the slice that must
    finish the parent sends the exact remainder."""
    flow_timing: float | None = None
    """Order-flow timing (None: off, the default). With the quote imbalance
    ``q = (bid size - ask size) / (bid size + ask size)``: TWAP/VWAP hold a due slice (never the
    last) while ``q`` leans against the parent by more than this (a buy waits while
    ``q < -flow_timing``, a sell while ``q > +flow_timing``: pressure that may bring a better
    price); the slice goes at the first quote that does not lean so, or rolls into the next one.
    LIMIT_AT_MID prices its child at the far touch instead of the mid while ``q`` leans the
    other way by more than this (a buy while ``q > +flow_timing``: the price may run away).
    On the shipped replay the sizes are invented, so the measured effect there is noise
    (``tests/bench/flow_algos.py``)."""

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            problems.append(f"window_seconds must be positive, got {self.window_seconds}")
        if self.slices < 1:
            problems.append(f"slices must be at least 1, got {self.slices}")
        if not (math.isfinite(self.reprice_seconds) and self.reprice_seconds > 0):
            problems.append(f"reprice_seconds must be positive, got {self.reprice_seconds}")
        if self.max_reprices < 0:
            problems.append(f"max_reprices must not be negative, got {self.max_reprices}")
        if not (math.isfinite(self.timeout_seconds) and self.timeout_seconds > 0):
            problems.append(f"timeout_seconds must be positive, got {self.timeout_seconds}")
        cap = self.max_participation
        if cap is not None and not (math.isfinite(cap) and 0.0 < cap <= 1.0):
            problems.append(f"max_participation must be in (0, 1] or None, got {cap}")
        if not (math.isfinite(self.tick_size) and self.tick_size > 0):
            problems.append(f"tick_size must be positive, got {self.tick_size}")
        if not (math.isfinite(self.lot_size) and self.lot_size >= 0):
            problems.append(f"lot_size must be >= 0, got {self.lot_size}")
        flow = self.flow_timing
        if flow is not None and not (math.isfinite(flow) and 0.0 < flow < 1.0):
            problems.append(f"flow_timing must be in (0, 1) or None, got {flow}")
        if problems:
            raise ValueError("algo parameters: " + "; ".join(problems))


# --------------------------------------------------------------------------- bookkeeping
@dataclass(slots=True)
class _Child:
    order: Order
    """The latest state the runner has seen (a copy)."""
    sent_at: datetime
    cancel_requested: bool = False
    sweep: bool = False
    """Sent at the deadline for the remainder, uncapped."""


@dataclass(slots=True)
class _Work:
    parent: Order
    algo: Algo
    params: AlgoParams
    started: datetime
    deadline: datetime | None
    lookback: float
    """Seconds of volume the first child's participation cap looks back over."""
    strategy: str = ""
    protective_stop: float | None = None
    targets: list[tuple[datetime, float]] = field(default_factory=list)
    """TWAP/VWAP: (due time, cumulative quantity the parent should have reached)."""
    next_slice: int = 0
    next_reprice: datetime | None = None
    reprices: int = 0
    last_slice_at: datetime | None = None
    children: dict[str, _Child] = field(default_factory=dict)
    sweeping: bool = False
    stopping: bool = False
    done: bool = False

    def filled(self) -> tuple[float, float | None]:
        qty = sum(c.order.filled_quantity for c in self.children.values())
        if qty <= EPS:
            return 0.0, None
        value = sum(c.order.filled_quantity * (c.order.avg_fill_price or 0.0) for c in self.children.values())
        return qty, value / qty

    def committed(self) -> float:
        """Filled plus what working children may still fill: never send beyond the parent."""
        return sum(
            c.order.filled_quantity if c.order.status.is_terminal else max(c.order.quantity, 0.0)
            for c in self.children.values()
        )

    def working(self) -> _Child | None:
        """The child the algo is working now (not one whose cancel is still unconfirmed)."""
        live = [c for c in self.children.values() if not (c.order.status.is_terminal or c.cancel_requested)]
        return live[-1] if live else None


# --------------------------------------------------------------------------- the runner
class AlgoRunner:
    """Works parent orders through child orders; see the module docstring.

    Feed it every quote (``await on_quote``, after the broker has seen the quote) and every child
    order update (``on_order``, synchronously, in the order the order manager publishes them).
    ``start``, ``on_quote``, ``cancel_parent`` and ``on_session_close`` are serialised by a lock,
    so a quote never interleaves with a cancel; ``on_order`` only records state and may arrive
    at any time, including while a send or a cancel is being awaited.
    """

    def __init__(
        self,
        send_child: SendChild,
        cancel: CancelChild,
        on_parent: ParentSink,
        *,
        session_hours: SessionHours = exchange_session,
        volume_curve: VolumeCurve = replay_volume_curve,
    ) -> None:
        self._send_child = send_child
        self._cancel = cancel
        self._on_parent = on_parent
        self._session_hours = session_hours
        self._volume_curve = volume_curve
        self._work: dict[str, _Work] = {}
        self._finished: dict[str, _Work] = {}
        self._child_parent: dict[str, str] = {}
        self._tape = Tape(TAPE_SPAN)
        self._now: datetime | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ queries
    def parents(self) -> list[Order]:
        """Copies of the parents still being worked."""
        return [replace(w.parent) for w in self._work.values()]

    def get(self, parent_id: str) -> Order | None:
        """A copy of a parent, working or recently finished."""
        work = self._work.get(parent_id) or self._finished.get(parent_id)
        return None if work is None else replace(work.parent)

    def children(self, parent_id: str) -> list[Order]:
        """Copies of a parent's children as last seen, oldest first."""
        work = self._work.get(parent_id) or self._finished.get(parent_id)
        return [] if work is None else [replace(c.order) for c in work.children.values()]

    # ------------------------------------------------------------------ commands
    async def start(
        self,
        parent: Order,
        params: AlgoParams,
        now: datetime,
        quote: Quote | None,
        *,
        strategy: str = "",
        protective_stop: float | None = None,
    ) -> Order:
        """Begin working ``parent`` (already persisted by the caller); returns its new state.

        ``quote`` is the symbol's latest quote: its mid becomes the arrival price (unless the
        parent has one) and, for every algo but IMMEDIATE, the first child goes out at once;
        without a quote the first child waits for the next one. ``strategy`` and
        ``protective_stop`` are copied onto every child request for the risk checks.
        Raises ``ValueError`` for a parent that cannot be worked (no algo, bad quantity, a stop).
        """
        algo = _parse_algo(parent)
        if parent.client_order_id in self._work:
            raise ValueError(f"{parent.client_order_id} is already being worked")
        if not (math.isfinite(parent.quantity) and parent.quantity > 0):
            raise ValueError(f"{parent.client_order_id}: quantity must be positive, got {parent.quantity}")
        if algo is not Algo.IMMEDIATE and parent.order_type not in (OrderType.MKT, OrderType.LMT):
            raise ValueError(
                f"{parent.client_order_id}: {algo} works market or limit orders, not {parent.order_type}"
            )
        if parent.order_type is OrderType.LMT and not _positive(parent.limit_price):
            raise ValueError(f"{parent.client_order_id}: a limit parent needs a positive limit price")
        async with self._lock:
            self._advance_time(now)
            if quote is not None and quote.symbol == parent.symbol and _usable(quote):
                self._record(quote)
            work = self._new_work(replace(parent), algo, params, now, strategy, protective_stop)
            self._work[parent.client_order_id] = work
            p = work.parent
            if p.arrival_price is None and quote is not None and _usable(quote):
                p.arrival_price = quote.mid
            p.status = OrderStatus.ACKNOWLEDGED
            p.filled_quantity, p.avg_fill_price = 0.0, None
            p.reason = ""
            p.updated_at = now
            self._emit(work)
            if algo is Algo.IMMEDIATE:
                await self._send(work, p.quantity, p.order_type, p.limit_price, now, tif=p.tif)
            elif quote is not None and quote.symbol == p.symbol and _usable(quote):
                await self._step(work, quote, max(now, quote.ts))
            return replace(work.parent)

    async def on_quote(self, quote: Quote) -> None:
        """Advance every parent in ``quote.symbol``: due slices, re-prices, deadlines.

        Call it after the broker has seen the same quote, so a child sent now fills against the
        quotes that follow it, as any order does.
        """
        if not _usable(quote):
            return
        async with self._lock:
            self._advance_time(quote.ts)
            self._record(quote)
            for work in [w for w in self._work.values() if w.parent.symbol == quote.symbol]:
                await self._step(work, quote, quote.ts)

    async def on_quotes(self, quotes: Iterable[Quote]) -> None:
        """``on_quote`` for a whole step, in order: every usable quote goes on its symbol's tape,
        and only the symbols with a working parent are stepped (a step of 500 symbols with no
        algo working costs the tape, not 500 trips through the lock and the parent list).
        The tape (``engine.execution.tape``) takes a step whose quotes share one time (the
        replay's) whole, as columns; any other step quote by quote."""
        batch = as_batch(quotes)
        async with self._lock:
            if batch.stamp is None or not batch.unique:
                for quote in batch:
                    if _usable(quote):
                        self._advance_time(quote.ts)
                        self._record(quote)
                        await self._step_symbol(quote)
                return
            ts = batch.stamp
            usable = (batch.bid > 0.0) & (batch.bid < _INF) & (batch.ask > 0.0) & (batch.ask < _INF)
            if not usable.any():
                return
            self._advance_time(ts)
            size = batch.last_size
            self._tape.record_step(batch, usable, np.where((size > 0.0) & (size < _INF), size, 0.0).tolist())
            if self._work:
                for i in batch.in_order({w.parent.symbol for w in self._work.values()}):
                    if usable[i]:
                        await self._step_symbol(batch[i])

    async def _step_symbol(self, quote: Quote) -> None:
        """Step the parents working on the quote's symbol (those still working now)."""
        if self._work and any(w.parent.symbol == quote.symbol for w in self._work.values()):
            for work in [w for w in self._work.values() if w.parent.symbol == quote.symbol]:
                await self._step(work, quote, quote.ts)

    async def cancel_parent(
        self,
        parent_id: str,
        reason: str = "cancelled at the operator's request",
        now: datetime | None = None,
    ) -> str:
        """Stop working a parent: cancel its working child, then mark it CANCELLED.

        Returns "" on success, else why nothing was done. Fills of the child that arrive after
        the cancel (a cancel races the market) still count on the parent.
        """
        work = self._work.get(parent_id)
        if work is None or work.done:
            return f"{parent_id} is not a working algo order"
        async with self._lock:
            if work.done:
                return f"{parent_id} is not a working algo order"
            work.stopping = True
            await self._cancel_working(work)
            if not work.done:
                self._close(work, OrderStatus.CANCELLED, reason, now or self._now or work.started)
            return ""

    async def on_session_close(self, now: datetime, reason: str = "") -> list[Order]:
        """Expire every parent at the close (call it after the broker expired its DAY orders).

        A parent between slices would otherwise wake at the next session's first quote with its
        deadline long past and sweep at the open.
        """
        expired: list[Order] = []
        async with self._lock:
            self._advance_time(now)
            for work in list(self._work.values()):
                work.stopping = True
                await self._cancel_working(work)
                if not work.done:
                    why = reason or f"expired at the session close with {_shares(self._rest(work))} unfilled"
                    self._close(work, OrderStatus.EXPIRED, why, now)
                expired.append(replace(work.parent))
        return expired

    # ------------------------------------------------------------------ child updates
    def on_order(self, order: Order) -> None:
        """Take a child's update (acknowledgement, fill, cancel, ...); others are ignored."""
        coid = order.client_order_id
        parent_id = self._child_parent.get(coid)
        if parent_id is None:
            # A report that arrives while the send is still being awaited: known by its parent id.
            if order.parent_id is None or order.parent_id not in self._work:
                return
            parent_id = order.parent_id
            self._child_parent[coid] = parent_id
        work = self._work.get(parent_id) or self._finished.get(parent_id)
        if work is None:
            return
        ts = order.updated_at or self._now or work.started
        child = work.children.get(coid)
        if child is None:
            child = work.children[coid] = _Child(replace(order), sent_at=order.created_at or ts)
        else:
            child.order = replace(order)
        self._refresh(work, ts)
        if order.status.is_terminal and order.status is not OrderStatus.FILLED and not work.done:
            self._child_ended(work, child, ts)

    # ------------------------------------------------------------------ the algos
    def _new_work(
        self,
        parent: Order,
        algo: Algo,
        params: AlgoParams,
        now: datetime,
        strategy: str,
        protective_stop: float | None,
    ) -> _Work:
        if algo is Algo.IMMEDIATE:
            return _Work(parent, algo, params, now, None, 0.0, strategy, protective_stop)
        span = params.timeout_seconds if algo is Algo.LIMIT_AT_MID else params.window_seconds
        session = self._session_hours(now)
        deadline = now + timedelta(seconds=span)
        if session is not None and session[0] <= now < session[1]:
            deadline = min(deadline, session[1])
        span = (deadline - now).total_seconds()
        if algo is Algo.LIMIT_AT_MID:
            return _Work(
                parent, algo, params, now, deadline, params.reprice_seconds, strategy, protective_stop
            )
        interval = span / params.slices
        if algo is Algo.VWAP:
            weights = volume_weights(now, span, params.slices, session, self._volume_curve)
        else:
            weights = tuple(1.0 / params.slices for _ in range(params.slices))
        targets: list[tuple[datetime, float]] = []
        share = 0.0
        for k, w in enumerate(weights):
            share += w
            last = k == len(weights) - 1
            cum = parent.quantity if last else _floor(parent.quantity * share, params.lot_size)
            targets.append((now + timedelta(seconds=k * interval), cum))
        return _Work(parent, algo, params, now, deadline, interval, strategy, protective_stop, targets)

    async def _step(self, work: _Work, quote: Quote, now: datetime) -> None:
        if work.done or work.stopping:
            return
        p = work.parent
        if p.arrival_price is None:
            p.arrival_price = quote.mid
            self._emit(work)
        if work.algo is Algo.IMMEDIATE or work.sweeping:
            return
        if work.deadline is not None and now >= work.deadline:
            await self._finish(work, now)
        elif work.algo is Algo.LIMIT_AT_MID:
            await self._limit_at_mid(work, quote, now)
        else:
            await self._slice(work, quote, now)

    async def _slice(self, work: _Work, quote: Quote, now: datetime) -> None:
        """TWAP/VWAP: at a due slice, top the parent up to its cumulative target (capped)."""
        due = work.next_slice
        while due < len(work.targets) and work.targets[due][0] <= now:
            due += 1
        if due == work.next_slice:
            return
        last = due == len(work.targets)
        if not last and flow_lean(work.params.flow_timing, work.parent.side, quote) < 0:
            return  # the imbalance leans against the parent: hold the slice for a later quote
        work.next_slice = due
        target = work.targets[due - 1][1]
        if target - work.committed() <= EPS:
            work.last_slice_at = now
            return
        await self._cancel_working(work)
        if work.done:
            return
        qty = self._capped(work, target - work.committed(), now, exact=last)
        work.last_slice_at = now
        if qty > EPS:
            limit = work.parent.limit_price if work.parent.order_type is OrderType.LMT else None
            await self._send(work, qty, work.parent.order_type, limit, now)

    async def _limit_at_mid(self, work: _Work, quote: Quote, now: datetime) -> None:
        """A passive limit at the mid, moved to the new mid every ``reprice_seconds`` (at the far
        touch while the order flow says the price is running away, with ``flow_timing``)."""
        price = self._mid_price(work, quote)
        if flow_lean(work.params.flow_timing, work.parent.side, quote) > 0:
            price = self._touch_price(work, quote)
        if work.next_reprice is not None:
            if now < work.next_reprice:
                return
            child = work.working()
            if child is not None:
                at_mid = abs((child.order.limit_price or 0.0) - price) < work.params.tick_size / 2
                if at_mid or work.reprices >= work.params.max_reprices:
                    work.next_reprice = now + timedelta(seconds=work.params.reprice_seconds)
                    return
                await self._cancel_working(work)
                work.reprices += 1
                if work.done:
                    return
        work.next_reprice = now + timedelta(seconds=work.params.reprice_seconds)
        qty = self._capped(work, work.parent.quantity - work.committed(), now, exact=False)
        work.last_slice_at = now
        if qty > EPS:
            await self._send(work, qty, OrderType.LMT, price, now)

    async def _finish(self, work: _Work, now: datetime) -> None:
        """The deadline: cancel the working child, then the rest at market or the parent expires.

        If a cancelled child is still working (its cancel not yet confirmed) and covers the rest,
        nothing is sent: the next quote runs this again, with the child's outcome known.
        """
        await self._cancel_working(work)
        if work.done:
            return
        rest = work.parent.quantity - work.committed()
        if rest <= EPS:
            return
        if not work.params.finish_at_market:
            self._close(work, OrderStatus.EXPIRED, f"deadline reached with {_shares(rest)} unfilled", now)
            return
        work.sweeping = True
        limited = work.parent.order_type is OrderType.LMT
        await self._send(
            work,
            rest,
            OrderType.LMT if limited else OrderType.MKT,
            work.parent.limit_price if limited else None,
            now,
            sweep=True,
        )

    # ------------------------------------------------------------------ children
    async def _send(
        self,
        work: _Work,
        qty: float,
        order_type: OrderType,
        limit: float | None,
        now: datetime,
        *,
        tif: TimeInForce = TimeInForce.DAY,
        sweep: bool = False,
    ) -> None:
        p = work.parent
        request = OrderRequest(
            symbol=p.symbol,
            side=p.side,
            quantity=qty,
            order_type=order_type,
            limit_price=limit,
            stop_price=p.stop_price if work.algo is Algo.IMMEDIATE else None,
            tif=tif,
            card_id=p.card_id,
            execution_id=p.execution_id,
            strategy=work.strategy,
            protective_stop=work.protective_stop,
            parent_id=p.client_order_id,
            arrival_price=p.arrival_price,
        )
        try:
            order = await self._send_child(request)
        except Exception as exc:  # the engine keeps running; the parent stops with the reason
            log.exception("child of %s could not be sent", p.client_order_id)
            if not work.done:
                status = OrderStatus.REJECTED if p.filled_quantity <= EPS else OrderStatus.CANCELLED
                self._close(work, status, f"child order could not be sent: {exc}", now)
            return
        coid = order.client_order_id
        self._child_parent[coid] = p.client_order_id
        child = work.children.get(coid)
        if child is None:
            child = work.children[coid] = _Child(replace(order), sent_at=now, sweep=sweep)
        else:  # its reports arrived (by parent id) before the send returned
            child.order, child.sent_at, child.sweep = replace(order), now, sweep
        self._refresh(work, now)
        if order.status.is_terminal and order.status is not OrderStatus.FILLED and not work.done:
            self._child_ended(work, child, now)

    async def _cancel_working(self, work: _Work) -> None:
        for coid, child in list(work.children.items()):
            if child.order.status.is_terminal or child.cancel_requested:
                continue
            child.cancel_requested = True
            reason = await self._cancel(coid)
            if reason:
                # Typically the child finished meanwhile; if it is still working it stays counted
                # as committed, so the parent is never over-sent.
                log.info("cancel of child %s: %s", coid, reason)

    def _child_ended(self, work: _Work, child: _Child, ts: datetime) -> None:
        """A child ended unfilled (or partly filled) in a way that may end the parent."""
        status = child.order.status
        coid = child.order.client_order_id
        why = child.order.reason or status.value.lower()
        if child.sweep:
            rest = _shares(self._rest(work))
            self._close(
                work,
                OrderStatus.EXPIRED,
                f"the deadline order {coid} ended {status}: {why}; {rest} unfilled",
                ts,
            )
        elif child.cancel_requested:
            return  # the algo asked for it: the next slice or re-price takes over
        elif status is OrderStatus.REJECTED:
            final = OrderStatus.REJECTED if work.parent.filled_quantity <= EPS else OrderStatus.CANCELLED
            self._close(work, final, f"child {coid} rejected: {why}", ts)
        elif status is OrderStatus.EXPIRED:
            self._close(work, OrderStatus.EXPIRED, f"child {coid} expired: {why}", ts)
        else:
            self._close(work, OrderStatus.CANCELLED, f"child {coid} {status}: {why}", ts)

    # ------------------------------------------------------------------ the parent
    def _refresh(self, work: _Work, ts: datetime) -> None:
        """Parent fill figures from its children; FILLED ends it."""
        p = work.parent
        qty, avg = work.filled()
        if abs(qty - p.filled_quantity) <= EPS and avg == p.avg_fill_price:
            return
        p.filled_quantity, p.avg_fill_price = qty, avg
        p.updated_at = ts
        if p.quantity - qty <= EPS:
            if work.done:
                p.status = OrderStatus.FILLED  # a late fill completed a stopped parent
                self._emit(work)
            else:
                self._close(work, OrderStatus.FILLED, "", ts)
            return
        if not work.done and qty > EPS:
            p.status = OrderStatus.PARTIALLY_FILLED
        self._emit(work)

    def _close(self, work: _Work, status: OrderStatus, reason: str, ts: datetime) -> None:
        p = work.parent
        work.done = True
        p.status = status
        p.reason = reason
        p.updated_at = ts
        self._work.pop(p.client_order_id, None)
        self._finished[p.client_order_id] = work
        while len(self._finished) > _FINISHED_KEPT:
            old = self._finished.pop(next(iter(self._finished)))
            for coid in old.children:
                self._child_parent.pop(coid, None)
        self._emit(work)

    def _emit(self, work: _Work) -> None:
        self._on_parent(replace(work.parent))

    def _rest(self, work: _Work) -> float:
        return max(work.parent.quantity - work.filled()[0], 0.0)

    # ------------------------------------------------------------------ sizing and prices
    def _capped(self, work: _Work, want: float, now: datetime, *, exact: bool) -> float:
        """``want`` limited by the participation cap, in whole lots unless ``exact`` and uncapped."""
        cap = work.params.max_participation
        lot = work.params.lot_size
        if want <= EPS:
            return 0.0
        if cap is not None:
            since = work.last_slice_at or now - timedelta(seconds=work.lookback)
            allowed = cap * self._volume(work.parent.symbol, since, now)
            if allowed < want - EPS:
                return _floor(allowed, lot)
        return want if exact else _floor(want, lot)

    def _mid_price(self, work: _Work, quote: Quote) -> float:
        price = passive_price(quote.mid, work.parent.side, work.params.tick_size)
        limit = work.parent.limit_price if work.parent.order_type is OrderType.LMT else None
        if limit is not None:
            price = min(price, limit) if work.parent.side is Side.BUY else max(price, limit)
        return price

    @staticmethod
    def _touch_price(work: _Work, quote: Quote) -> float:
        """The far touch (a buy's ask, a sell's bid), within the parent's limit."""
        price = quote.ask if work.parent.side is Side.BUY else quote.bid
        limit = work.parent.limit_price if work.parent.order_type is OrderType.LMT else None
        if limit is not None:
            price = min(price, limit) if work.parent.side is Side.BUY else max(price, limit)
        return price

    def _record(self, quote: Quote) -> None:
        """The quote on its symbol's tape (start() and on_quote() may both get the same quote)."""
        size = quote.last_size if math.isfinite(quote.last_size) and quote.last_size > 0 else 0.0
        self._tape.record(quote.symbol, quote.ts, size)

    def _volume(self, symbol: str, since: datetime, until: datetime) -> float:
        """Volume traded in ``(since, until]`` by the quotes seen."""
        return self._tape.volume(symbol, since, until)

    def _advance_time(self, ts: datetime) -> None:
        if self._now is None or ts > self._now:
            self._now = ts


# --------------------------------------------------------------------------- helpers
def flow_lean(threshold: float | None, side: Side, quote: Quote) -> int:
    """+1 when the quote imbalance presses the price away from the parent (a buy and more bid size
    than ask size by more than ``threshold``), -1 when it presses the price towards it, else 0
    (also without a threshold, or without sizes)."""
    if threshold is None:
        return 0
    bid, ask = quote.bid_size, quote.ask_size
    if not (math.isfinite(bid) and math.isfinite(ask) and bid >= 0 and ask >= 0 and bid + ask > 0):
        return 0
    q = imbalance(bid, ask) * (1 if side is Side.BUY else -1)
    return 1 if q > threshold else -1 if q < -threshold else 0


def passive_price(mid: float, side: Side, tick: float) -> float:
    """The mid on the tick grid, rounded away from the other side: a buy down, a sell up."""
    steps = mid / tick
    n = math.floor(steps + 1e-9) if side is Side.BUY else math.ceil(steps - 1e-9)
    return round(n * tick, _decimals(tick))


def _decimals(tick: float) -> int:
    exponent = Decimal(str(tick)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 2


def _floor(qty: float, lot: float) -> float:
    if lot <= 0:
        return max(qty, 0.0)
    return max(math.floor(qty / lot + 1e-9) * lot, 0.0)


def _parse_algo(parent: Order) -> Algo:
    try:
        return Algo(parent.algo)
    except ValueError:
        known = ", ".join(a.value for a in Algo)
        raise ValueError(f"{parent.client_order_id}: algo {parent.algo!r} is not one of {known}") from None


def _usable(quote: Quote) -> bool:
    return all(math.isfinite(v) and v > 0 for v in (quote.bid, quote.ask))


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _shares(qty: float) -> str:
    text = f"{qty:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
