"""The order manager: every order is persisted before it is sent, and every report is applied once.

Write-ahead: the INTENT row (with a client order id that is unique forever and that the
broker sees as the order reference) is committed before ``broker.submit`` is called. If
the send fails in a way that proves the broker never got it (``BrokerError``) the order is
REJECTED; any other failure leaves it UNKNOWN, never resent until reconciliation.
Fills are deduplicated by execution id through the store's unique key.

One report, one transaction: everything a broker report changes (a fill row, the order's filled
quantity, average price and status) and everything written synchronously while it is applied
(the audit entries of the bus handlers, the ledger's and the risk state's records through the
``on_fill`` callback) commit together or not at all. A crash between two of those writes would
otherwise leave a fill row beside an order that never took it in, and reconciliation would close
that order as vanished. Every state change made outside a report (sent, pending cancel, a final
state reconciliation established) is one transaction with its audit entry the same way. When
the transaction fails the order in memory is put back as it was, so the manager never holds a
state the database does not (a fill replayed after the failure then applies once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import fields, replace
from typing import Any, Protocol

from engine.brokers.base import (
    Broker,
    BrokerError,
    BrokerReport,
    OrderAcknowledged,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderModified,
    OrderRejected,
)
from engine.clock import Clock
from engine.execution.state_machine import can_transition
from engine.model import Fill, Order, OrderRequest, OrderStatus, Side, contract_multiplier
from engine.model.events import FillEvent, NoticeEvent, OrderEvent

log = logging.getLogger(__name__)

QTY_EPS = 1e-9
"""Quantities closer than this are equal (an order with less than this left is filled)."""
_ORDER_FIELDS = tuple(f.name for f in fields(Order))


class OrderStore(Protocol):
    def batch(self, what: str, *, anchor: bool = True) -> AbstractContextManager[None]: ...
    def flush_anchor(self) -> None: ...
    def next_client_order_id(self) -> str: ...
    def insert_order(self, order: Order) -> None: ...
    def update_order(self, order: Order) -> None: ...
    def insert_fill(self, fill: Fill) -> bool: ...
    def load_orders(self, *, open_only: bool = False) -> list[Order]: ...


class OrderManager:
    def __init__(
        self,
        store: OrderStore,
        broker: Broker,
        clock: Clock,
        publish: Callable[[Any], None],
        on_fill: Callable[[Fill], None],
    ) -> None:
        self._store = store
        self._broker = broker
        self._clock = clock
        self._publish = publish
        self._on_fill = on_fill
        # Algo parents are never at a broker: their children are the orders this manager works.
        self._open: dict[str, Order] = {
            o.client_order_id: o for o in store.load_orders(open_only=True) if not o.algo
        }
        self._recent: dict[str, Order] = {}
        self._deferred: list[BrokerReport] | None = None
        self._cancel_on_reconnect: set[str] = set()
        broker.set_reporter(self.on_report)

    # ------------------------------------------------------------------ queries
    def open_orders(self) -> list[Order]:
        return list(self._open.values())

    def get(self, client_order_id: str) -> Order | None:
        return self._open.get(client_order_id) or self._recent.get(client_order_id)

    def working_by_symbol(self, *, protective: bool = True) -> dict[str, float]:
        """symbol -> signed quantity still working. The orders of one OCA group count once (at
        most one of them can fill: the largest remaining); ``protective=False`` leaves out the
        protective orders (a stop and its target), which the protection manager keeps no larger
        than the position they protect, so they never hold back an exit of that position."""
        out: dict[str, float] = {}
        groups: dict[tuple[str, str], float] = {}
        for o in self._open.values():
            if o.protects is not None and not protective:
                continue
            if o.oca_group:
                key = (o.symbol, o.oca_group)
                signed = o.side.sign * o.remaining
                groups[key] = signed if abs(signed) > abs(groups.get(key, 0.0)) else groups.get(key, 0.0)
                continue
            out[o.symbol] = out.get(o.symbol, 0.0) + o.side.sign * o.remaining
        for (symbol, _group), signed in groups.items():
            out[symbol] = out.get(symbol, 0.0) + signed
        return out

    def working_buy_value(self, prices: Mapping[str, float]) -> float:
        """Money working buys may still spend: remaining x (limit, else ``prices``) x the contract
        multiplier (100 for an option: its price is the premium per unit of the underlying)."""
        return sum(
            o.remaining * (o.limit_price or prices.get(o.symbol, 0.0)) * contract_multiplier(o.symbol)
            for o in self._open.values()
            if o.side is Side.BUY
        )

    # ------------------------------------------------------------------ commands
    async def submit(self, request: OrderRequest) -> Order:
        """Persist the intent, then send. Risk checks happen before this is called.

        The id, the INTENT row and its audit entry are one transaction: one commit (one fsync)
        stands between the decision and the send, and it is complete before the send.
        """
        now = self._clock.now()
        with self._store.batch("order intent", anchor=False):
            order = request.to_order(self._store.next_client_order_id(), now)
            self._store.insert_order(order)
            self._publish(OrderEvent(replace(order)))
        # open only once committed: a failed intent (its audit entry refused) leaves nothing behind
        self._open[order.client_order_id] = order
        # committed: only now may anything leave the process (the audit anchor follows the send)
        try:
            await self._broker.submit(order)
        except BrokerError as exc:
            self._store.flush_anchor()
            self._transition(order, OrderStatus.REJECTED, reason=str(exc))
            return order
        except Exception as exc:  # the send may or may not have reached the broker
            log.exception("send of %s failed", order.client_order_id)
            self._store.flush_anchor()
            self._transition(
                order, OrderStatus.UNKNOWN, reason=f"send failed: {exc}; awaiting reconciliation"
            )
            return order
        self._store.flush_anchor()
        if order.status is OrderStatus.INTENT:
            self._transition(order, OrderStatus.SENT)
        return order

    async def modify(self, client_order_id: str, quantity: float, limit_price: float | None) -> str:
        """Ask the broker to change a working order in place; "" when sent, else why not.

        The new values are recorded when the broker confirms them (``OrderModified``): until then
        the database keeps what the broker is known to be working.
        """
        order = self._open.get(client_order_id)
        if order is None:
            return f"{client_order_id} is not open"
        if order.status in (OrderStatus.PENDING_CANCEL, OrderStatus.UNKNOWN, OrderStatus.INTENT):
            return f"{client_order_id} is {order.status.value}: it cannot be modified now"
        try:
            await self._broker.modify(client_order_id, quantity=quantity, limit_price=limit_price)
        except BrokerError as exc:
            return str(exc)
        return ""

    async def cancel(self, client_order_id: str) -> str:
        order = self._open.get(client_order_id)
        if order is None:
            return f"{client_order_id} is not open"
        if order.status is not OrderStatus.PENDING_CANCEL:
            self._transition(order, OrderStatus.PENDING_CANCEL)
        try:
            await self._broker.cancel(client_order_id)
        except BrokerError as exc:
            return str(exc)
        return ""

    async def cancel_all(self, keep: Callable[[Order], bool] | None = None) -> int:
        """Send a cancel for every open order (but those ``keep`` says to leave working) first,
        then record what happened.

        The kill switch's path: the requests leave back to back, and the state changes (each
        a database write and an audit entry) and the broker's confirmations are applied after
        the last request is out. Cancels need no write-ahead: a cancel can only reduce risk,
        and reconciliation restores the state of one that a crash left unrecorded.
        """
        pending: list[Order] = []
        failed: list[tuple[Order, str]] = []
        self._deferred = []
        try:
            for order in list(self._open.values()):
                if keep is not None and keep(order):
                    continue
                try:
                    await self._broker.cancel(order.client_order_id)
                except BrokerError as exc:
                    failed.append((order, str(exc)))
                    continue
                pending.append(order)
        finally:
            reports, self._deferred = self._deferred, None
        for order in pending:
            if order.status is not OrderStatus.PENDING_CANCEL and not order.status.is_terminal:
                self._transition(order, OrderStatus.PENDING_CANCEL)
        for report in reports:
            self.on_report(report)
        for order, reason in failed:
            # Not sent (the broker is unreachable): the cancel stays owed and goes out first on reconnect.
            self._cancel_on_reconnect.add(order.client_order_id)
            if order.status is not OrderStatus.PENDING_CANCEL:
                self._transition(order, OrderStatus.PENDING_CANCEL, reason="cancel owed: broker unreachable")
            self._publish(
                NoticeEvent(
                    self._clock.now(),
                    "error",
                    f"cancel of {order.client_order_id} not sent ({reason}); it is sent first on reconnect",
                )
            )
        return len(pending)

    @property
    def owed_cancels(self) -> frozenset[str]:
        """Cancels the kill switch could not send (broker unreachable), to send first on reconnect."""
        return frozenset(self._cancel_on_reconnect)

    async def send_owed_cancels(self) -> int:
        """After a reconnect, before anything else: the cancels a kill switch still owes the broker."""
        sent = 0
        for coid in sorted(self._cancel_on_reconnect):
            order = self._open.get(coid)
            if order is None:
                self._cancel_on_reconnect.discard(coid)
                continue
            try:
                await self._broker.cancel(coid)
            except BrokerError as exc:
                self._publish(
                    NoticeEvent(self._clock.now(), "error", f"cancel of {coid} still not sent: {exc}")
                )
                continue
            self._cancel_on_reconnect.discard(coid)
            sent += 1
        return sent

    def expire_all_open(self, reason: str) -> list[Order]:
        """At start-up with a broker that keeps no working orders (the paper broker)."""
        expired = []
        for order in list(self._open.values()):
            self._transition(order, OrderStatus.EXPIRED, reason=reason, force=True)
            expired.append(order)
        return expired

    # ------------------------------------------------------------------ reconciliation
    def track(self, order: Order) -> None:
        """Make a stored order known to this manager again, so broker reports for it apply.

        At start-up only open orders are loaded; reconciliation calls this for a finished
        order the broker still reports about (a fill it made that the database never heard of).
        """
        coid = order.client_order_id
        if coid in self._open or coid in self._recent:
            return
        if order.status.is_terminal:
            self._recent[coid] = order
        else:
            self._open[coid] = order

    def mark_final(self, client_order_id: str, status: OrderStatus, reason: str) -> Order | None:
        """Record a final state that reconciliation established, whatever the state machine says.

        For an order the broker has no trace of (LOST), or one the broker stopped working
        without telling us why (a partial fill, then nothing open). Forced because the evidence
        is the broker's own books, not a report that could arrive out of order. Returns the
        order, or None when this manager does not know it.
        """
        if not status.is_terminal:
            raise ValueError(f"mark_final needs a final status, got {status}")
        order = self.get(client_order_id)
        if order is None:
            return None
        self._cancel_on_reconnect.discard(client_order_id)
        self._transition(order, status, reason=reason, force=True)
        return order

    def catch_up(self, client_order_id: str, fills: Sequence[Fill], reason: str) -> list[Fill]:
        """Bring an order whose stored row lags its own stored fills up to them; returns the fills
        it had not taken in (none when it is not behind, or not known to this manager).

        Only a database written before a fill and its order's update were one transaction can hold
        such an order (a crash between the two writes). The fills are already in the ledger (it is
        folded from the stored fills at start), so ``on_fill`` is not called: this is the order's
        bookkeeping only, the filled quantity and average price recomputed from ``fills`` (all of
        the order's stored fills, in the order they arrived), then FILLED when nothing remains, or
        PARTIALLY_FILLED for an order still open (a finished one keeps its final state). Forced:
        the stored fills are the evidence. Its order event (and so its audit entry) follows.
        """
        order = self.get(client_order_id)
        if order is None:
            return []
        total = sum(f.quantity for f in fills)
        if total <= order.filled_quantity + QTY_EPS:
            return []
        taken, missing = 0.0, []
        for fill in fills:
            taken += fill.quantity
            if taken > order.filled_quantity + QTY_EPS:
                missing.append(fill)
        with self._atomic(order, f"order {client_order_id} brought up to its stored fills"):
            order.avg_fill_price = sum(f.quantity * f.price for f in fills) / total
            order.filled_quantity = total
            if order.remaining <= QTY_EPS:
                status = OrderStatus.FILLED
            elif order.status.is_terminal:
                status = order.status
            else:
                status = OrderStatus.PARTIALLY_FILLED
            self._transition(order, status, reason=reason, force=True)
        return missing

    # ------------------------------------------------------------------ reports
    def on_report(self, report: BrokerReport) -> None:
        """Apply one broker report, with everything it causes, as one transaction (one commit).

        Raises what the store or a critical handler raised; nothing of the report is then
        stored, and the order in memory is as it was before it.
        """
        if self._deferred is not None:
            self._deferred.append(report)  # applied once cancel_all has sent every request
            return
        coid = report.fill.client_order_id if isinstance(report, OrderFilled) else report.client_order_id
        with self._atomic(self.get(coid), f"{type(report).__name__} for order {coid}"):
            self._apply(report)

    def _apply(self, report: BrokerReport) -> None:
        match report:
            case OrderFilled(fill=fill):
                self._apply_fill(fill)
            case OrderAcknowledged(client_order_id=coid, broker_order_id=boid):
                order = self._find(coid)
                if order is not None:
                    order.broker_order_id = boid
                    if order.status in (OrderStatus.INTENT, OrderStatus.SENT, OrderStatus.UNKNOWN):
                        self._transition(order, OrderStatus.ACKNOWLEDGED)
                    else:
                        self._store.update_order(order)
            case OrderModified(client_order_id=coid, quantity=quantity, limit_price=limit):
                order = self._find(coid)
                if order is not None and not order.status.is_terminal:
                    order.quantity, order.limit_price = quantity, limit
                    # None: unchanged (a trailing stop's ratchet reports its new level here)
                    if report.stop_price is not None:
                        order.stop_price = report.stop_price
                    if report.trail_amount is not None:
                        order.trail_amount, order.trail_percent = report.trail_amount, None
                    if report.trail_percent is not None:
                        order.trail_amount, order.trail_percent = None, report.trail_percent
                    order.updated_at = self._clock.now()
                    self._store.update_order(order)
                    self._publish(OrderEvent(replace(order)))
            case OrderCancelled(client_order_id=coid, reason=reason):
                self._terminal(coid, OrderStatus.CANCELLED, reason or "cancelled")
            case OrderRejected(client_order_id=coid, reason=reason):
                self._terminal(coid, OrderStatus.REJECTED, reason)
            case OrderExpired(client_order_id=coid, reason=reason):
                self._terminal(coid, OrderStatus.EXPIRED, reason or "expired at the session close")

    @contextmanager
    def _atomic(self, order: Order | None, what: str) -> Iterator[None]:
        """One transaction for a change of ``order`` and everything written with it.

        Nested uses join the outer transaction (the store's batches do). On any failure, a
        simulated or real crash included, the transaction is rolled back and ``order`` in memory
        is restored, fields and open/finished membership, to what it was on entry.
        """
        if order is None:
            with self._store.batch(what):
                yield
            return
        coid = order.client_order_id
        saved = replace(order)
        was_open, was_recent = coid in self._open, coid in self._recent
        try:
            with self._store.batch(what):
                yield
        except BaseException:
            for name in _ORDER_FIELDS:
                setattr(order, name, getattr(saved, name))
            if was_open:
                self._open[coid] = order
            if not was_recent:
                self._recent.pop(coid, None)
            raise

    def _find(self, coid: str) -> Order | None:
        order = self.get(coid)
        if order is None:
            self._publish(NoticeEvent(self._clock.now(), "error", f"broker report for unknown order {coid}"))
        return order

    def _terminal(self, coid: str, status: OrderStatus, reason: str) -> None:
        order = self._find(coid)
        if order is not None:
            self._transition(order, status, reason=reason)

    def _apply_fill(self, fill: Fill) -> None:
        order = self._find(fill.client_order_id)
        if order is None:
            return
        if not self._store.insert_fill(fill):
            log.info("duplicate fill %s ignored", fill.exec_id)
            return
        total = order.filled_quantity + fill.quantity
        order.avg_fill_price = (
            (order.avg_fill_price or 0.0) * order.filled_quantity + fill.price * fill.quantity
        ) / total
        order.filled_quantity = total
        status = OrderStatus.FILLED if order.remaining <= QTY_EPS else OrderStatus.PARTIALLY_FILLED
        self._transition(order, status, force=order.status.is_terminal and status is OrderStatus.FILLED)
        self._on_fill(fill)
        self._publish(FillEvent(fill))

    def _transition(self, order: Order, new: OrderStatus, *, reason: str = "", force: bool = False) -> None:
        old = order.status
        if not force and old != new and not can_transition(old, new):
            msg = f"{order.client_order_id}: impossible transition {old} -> {new} ignored"
            log.error(msg)
            self._publish(NoticeEvent(self._clock.now(), "error", msg))
            return
        with self._atomic(order, f"order {order.client_order_id}: {old.value} -> {new.value}"):
            order.status = new
            order.updated_at = self._clock.now()
            if reason:
                order.reason = reason
            self._store.update_order(order)
            if new.is_terminal:
                self._open.pop(order.client_order_id, None)
                self._recent[order.client_order_id] = order
                if len(self._recent) > 500:
                    self._recent.pop(next(iter(self._recent)))
            self._publish(OrderEvent(replace(order)))  # its audit entry: same transaction
