"""``AlgoRunner``: works parent orders through child orders on market time.

What each algo does, and why slices are cumulative targets, is told in the package docstring
(``engine.execution.algos``); this module holds the runner's state machine only.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np

from engine.execution.algos.callbacks import CancelChild, ParentSink, SendChild, SessionHours, VolumeCurve
from engine.execution.algos.flow import flow_lean
from engine.execution.algos.params import AlgoParams
from engine.execution.algos.pricing import passive_price
from engine.execution.algos.quantities import EPS, floor_to_lot, shares
from engine.execution.algos.volume_profile import exchange_session, replay_volume_curve, volume_weights
from engine.execution.algos.work import Child, Work
from engine.execution.tape import Tape
from engine.model import Algo, Order, OrderRequest, OrderStatus, OrderType, Quote, Side, TimeInForce
from engine.model.quote_batch import as_batch

log = logging.getLogger("engine.execution.algos")
"""Named after the package (``engine.execution.algos``), as before the split, so log filters keep working."""

_INF = math.inf
TAPE_SPAN = timedelta(hours=6, minutes=30)
"""How much traded volume per symbol the runner remembers: one regular session is more than
any participation look-back needs (at most the time since the previous slice)."""
_FINISHED_KEPT = 500
"""Finished parents remembered so that a late child fill still updates its parent."""


class AlgoRunner:
    """Works parent orders through child orders; see the package docstring.

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
        self._work: dict[str, Work] = {}
        self._finished: dict[str, Work] = {}
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
                    why = reason or f"expired at the session close with {shares(self._rest(work))} unfilled"
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
            child = work.children[coid] = Child(replace(order), sent_at=order.created_at or ts)
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
    ) -> Work:
        if algo is Algo.IMMEDIATE:
            return Work(parent, algo, params, now, None, 0.0, strategy, protective_stop)
        span = params.timeout_seconds if algo is Algo.LIMIT_AT_MID else params.window_seconds
        session = self._session_hours(now)
        deadline = now + timedelta(seconds=span)
        if session is not None and session[0] <= now < session[1]:
            deadline = min(deadline, session[1])
        span = (deadline - now).total_seconds()
        if algo is Algo.LIMIT_AT_MID:
            return Work(
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
            cum = parent.quantity if last else floor_to_lot(parent.quantity * share, params.lot_size)
            targets.append((now + timedelta(seconds=k * interval), cum))
        return Work(parent, algo, params, now, deadline, interval, strategy, protective_stop, targets)

    async def _step(self, work: Work, quote: Quote, now: datetime) -> None:
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

    async def _slice(self, work: Work, quote: Quote, now: datetime) -> None:
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

    async def _limit_at_mid(self, work: Work, quote: Quote, now: datetime) -> None:
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

    async def _finish(self, work: Work, now: datetime) -> None:
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
            self._close(work, OrderStatus.EXPIRED, f"deadline reached with {shares(rest)} unfilled", now)
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
        work: Work,
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
            child = work.children[coid] = Child(replace(order), sent_at=now, sweep=sweep)
        else:  # its reports arrived (by parent id) before the send returned
            child.order, child.sent_at, child.sweep = replace(order), now, sweep
        self._refresh(work, now)
        if order.status.is_terminal and order.status is not OrderStatus.FILLED and not work.done:
            self._child_ended(work, child, now)

    async def _cancel_working(self, work: Work) -> None:
        for coid, child in list(work.children.items()):
            if child.order.status.is_terminal or child.cancel_requested:
                continue
            child.cancel_requested = True
            reason = await self._cancel(coid)
            if reason:
                # Typically the child finished meanwhile; if it is still working it stays counted
                # as committed, so the parent is never over-sent.
                log.info("cancel of child %s: %s", coid, reason)

    def _child_ended(self, work: Work, child: Child, ts: datetime) -> None:
        """A child ended unfilled (or partly filled) in a way that may end the parent."""
        status = child.order.status
        coid = child.order.client_order_id
        why = child.order.reason or status.value.lower()
        if child.sweep:
            rest = shares(self._rest(work))
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
    def _refresh(self, work: Work, ts: datetime) -> None:
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

    def _close(self, work: Work, status: OrderStatus, reason: str, ts: datetime) -> None:
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

    def _emit(self, work: Work) -> None:
        self._on_parent(replace(work.parent))

    def _rest(self, work: Work) -> float:
        return max(work.parent.quantity - work.filled()[0], 0.0)

    # ------------------------------------------------------------------ sizing and prices
    def _capped(self, work: Work, want: float, now: datetime, *, exact: bool) -> float:
        """``want`` limited by the participation cap, in whole lots unless ``exact`` and uncapped."""
        cap = work.params.max_participation
        lot = work.params.lot_size
        if want <= EPS:
            return 0.0
        if cap is not None:
            since = work.last_slice_at or now - timedelta(seconds=work.lookback)
            allowed = cap * self._volume(work.parent.symbol, since, now)
            if allowed < want - EPS:
                return floor_to_lot(allowed, lot)
        return want if exact else floor_to_lot(want, lot)

    def _mid_price(self, work: Work, quote: Quote) -> float:
        price = passive_price(quote.mid, work.parent.side, work.params.tick_size)
        limit = work.parent.limit_price if work.parent.order_type is OrderType.LMT else None
        if limit is not None:
            price = min(price, limit) if work.parent.side is Side.BUY else max(price, limit)
        return price

    @staticmethod
    def _touch_price(work: Work, quote: Quote) -> float:
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
