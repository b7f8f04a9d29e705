"""Reconciliation: after a crash or a reconnect, make the database agree with the broker's books.

Architecture rule 8 writes every order before it is sent, so after a crash the database knows
every order that *may* have reached the broker; the broker knows what it actually received and
executed. ``reconcile`` compares the two, by client order id (the broker keeps ours: the paper
broker as its order's id, IBKR as ``orderRef``), and repairs the database from the broker's
evidence without ever sending an order:

1. cancels the kill switch still owes go out first (they only reduce risk);
2. the database is checked (SQLite integrity, the audit chain with its keyed anchor and the
   witness): a failure is a *problem* and trading must stay refused until someone looks (a
   damaged file is then left untouched; a failed chain is sealed, kept exactly as found);
2b. the database is made to agree with itself: an order whose row lags its own stored fills is
   brought up to them (never closed as vanished with "0 of N filled"), and a stored fill without
   its audit entry is audited now. Only a database from before a fill, its order's state and their
   audit entries were one transaction can need this; what was repaired is listed
   (``fills_repaired``) and keeps the summary from being clean, so it is never approved silently;
3. orders the broker holds that the database still has as INTENT/SENT/UNKNOWN are acknowledged;
4. fills the broker made that the database lacks are fed to the order manager as ``OrderFilled``
   reports, which deduplicates by exec id and applies them to the ledger exactly once;
5. cancels the database recorded as pending (a kill that died with the process) are sent for
   orders the broker is still working;
6. an open order the broker has neither working nor filled becomes LOST; one it filled in part
   and no longer works is closed as CANCELLED with what was filled;
7. broker orders with no database order are recorded as EXTERNAL and never touched; one that
   carries an id in onetap's own format is also a problem (the database was replaced, and its
   id sequence would hand that id out again);
8. positions are compared, engine against broker, one line per symbol that differs.

The result is a ``ReconciliationSummary`` the operator approves before trading resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from engine.brokers.base import Broker, BrokerError, OrderAcknowledged, OrderFilled
from engine.execution.order_manager import OrderManager
from engine.model import CommandSource, Fill, Order, OrderStatus
from engine.model.events import ReconciliationSummary
from engine.store.audit import FILL_ACTION, fill_payload
from engine.store.repository import CLIENT_ORDER_ID_PREFIX, Store

log = logging.getLogger(__name__)

QTY_TOLERANCE = 1e-6
"""Positions closer than this are equal: fractional fills summed in a different order drift."""
EXTERNAL_PREFIX = "EXT-"
"""Stored id of an order found at the broker but not placed by onetap: ``EXT-<broker id>``.

Never the broker's own client id as it is: that id could be one our sequence hands out later
(or be empty, as for an order typed into TWS), and a stored id must be unique forever.
"""
_UNACKNOWLEDGED = frozenset({OrderStatus.INTENT, OrderStatus.SENT, OrderStatus.UNKNOWN})


async def reconcile(
    *,
    store: Store,
    broker: Broker,
    orders: OrderManager,
    ledger_positions: Mapping[str, float],
    now: datetime,
) -> ReconciliationSummary:
    """Compare the database with the broker, repair what the broker's books prove, report the rest.

    ``ledger_positions`` is the engine's net quantity per symbol taken *before* this call; the
    fills applied here reach the ledger through the order manager's ``on_fill`` and are added
    to that snapshot for the position comparison. ``now`` stamps the summary and any EXTERNAL
    record (engine clock time; nothing here reads a wall clock).

    Raises ``BrokerError`` when the broker cannot be asked (disconnected): apart from owed
    cancels, nothing has been changed by then, and the call can simply be made again.
    """
    cancels_sent = await orders.send_owed_cancels()
    problems = [f"database: {line}" for line in store.integrity_check()]
    if problems:
        # Writing into a damaged file could make it worse: report, change nothing, refuse trading.
        return ReconciliationSummary(now, 0, (), (), (), (), cancels_sent, problems=tuple(problems))
    # The strict check (chain, keyed anchor, witness): what the store found before its first
    # append, or what it finds now. Any problem has sealed the chain (kept as found).
    problems.extend(f"audit log: {line}" for line in store.audit_problems())

    working = {o.client_order_id: o for o in await broker.open_orders()}
    executions = await broker.executions()
    filled_at_broker = {fill.client_order_id for fill in executions}

    repaired = _repair_stored_fills(store, orders, now)
    matched = _acknowledge(orders, working)
    applied = _apply_missed_fills(store, orders, executions)
    cancels_sent += await _send_recorded_cancels(orders, working)
    lost = _close_vanished(orders, working, filled_at_broker)
    cancels_sent += await _cancel_finished_but_working(store, broker, orders)
    external = _record_external(store, working, executions, now)
    problems.extend(_foreign_ids_of_ours(store, working, executions))
    expected = dict(ledger_positions)
    for fill in applied:
        expected[fill.symbol] = expected.get(fill.symbol, 0.0) + fill.side.sign * fill.quantity
    mismatches = _compare_positions(expected, {p.symbol: p.quantity for p in await broker.positions()})
    return ReconciliationSummary(
        ts=now,
        open_orders_matched=matched,
        fills_applied=(*(fill.exec_id for fill in applied), *repaired),
        fills_repaired=tuple(repaired),
        lost=tuple(lost),
        external=tuple(external),
        position_mismatches=tuple(mismatches),
        cancels_sent=cancels_sent,
        problems=tuple(problems),
    )


def _repair_stored_fills(store: Store, orders: OrderManager, now: datetime) -> list[str]:
    """Make the database agree with its own fills; returns the exec ids of the fills repaired.

    Runs before the broker's fills are applied: a missed fill must land on an order that already
    counts the fills stored before it. An order behind its stored fills is brought up to them
    (``OrderManager.catch_up``: FILLED, or PARTIALLY_FILLED while open); a stored fill without its
    audit entry gets one now, marked as written by reconciliation. The fills are already in the
    ledger (folded from the stored fills at start): nothing reaches it twice. One transaction.
    """
    repaired: dict[str, None] = {}
    with store.batch("reconciliation: orders and audit brought up to the stored fills"):
        for order in store.orders_behind_their_fills():
            coid = order.client_order_id
            orders.track(order)  # a finished order is not in the manager's memory after a restart
            fills = store.load_fills(client_order_id=coid)
            reason = f"reconciliation: brought up to its {len(fills)} stored fill(s)"
            missing = orders.catch_up(coid, fills, reason)
            for fill in missing:
                repaired[fill.exec_id] = None
            if missing:
                log.warning(
                    "reconciliation: %s was stored as %s filled but has fills for %s; brought up to them",
                    coid,
                    _num(order.filled_quantity),
                    _num(sum(f.quantity for f in fills)),
                )
        for fill in store.unaudited_fills():
            log.warning("reconciliation: fill %s had no audit entry; audited now", fill.exec_id)
            store.append_audit(
                now,
                "engine",
                CommandSource.ENGINE.value,
                FILL_ACTION,
                fill_payload(fill, recovered="stored without its audit entry; audited by reconciliation"),
            )
            repaired[fill.exec_id] = None
    return list(repaired)


def _acknowledge(orders: OrderManager, working: Mapping[str, Order]) -> int:
    """Acknowledge our open orders the broker is working; returns how many of ours it is working.

    The acknowledgement a crash swallowed: without it an order the broker holds would stay SENT
    (or INTENT, when the process died between the write and the send's return).
    """
    matched = 0
    for order in orders.open_orders():
        theirs = working.get(order.client_order_id)
        if theirs is None or order.algo:
            continue
        matched += 1
        if order.status in _UNACKNOWLEDGED or order.broker_order_id != theirs.broker_order_id:
            orders.on_report(OrderAcknowledged(order.client_order_id, theirs.broker_order_id or ""))
    return matched


def _apply_missed_fills(store: Store, orders: OrderManager, executions: list[Fill]) -> list[Fill]:
    """Feed the broker's fills the database lacks to the order manager; returns those it stored.

    Only fills of our own orders: an EXTERNAL order's fills are not onetap's trades, and show
    up as a position difference instead of silently changing the engine's book.
    """
    stored = store.fill_exec_ids()
    applied: list[Fill] = []
    for fill in executions:
        if fill.exec_id in stored:
            continue
        order = orders.get(fill.client_order_id) or store.get_order(fill.client_order_id)
        if order is None or order.status is OrderStatus.EXTERNAL:
            continue
        orders.track(order)  # a finished order is not in the manager's memory after a restart
        orders.on_report(OrderFilled(fill))
        if any(f.exec_id == fill.exec_id for f in store.load_fills(client_order_id=fill.client_order_id)):
            applied.append(fill)
            stored.add(fill.exec_id)
    return applied


async def _send_recorded_cancels(orders: OrderManager, working: Mapping[str, Order]) -> int:
    """Cancels the database recorded as pending for orders the broker still works.

    A kill switch that could not reach the broker leaves its cancels owed in memory only; after
    a restart the PENDING_CANCEL rows are all that remains of that decision, and it still holds.
    Sent after the missed fills are in, so a fill that preceded the cancel lands on a live order.
    """
    sent = 0
    for order in orders.open_orders():
        if order.status is OrderStatus.PENDING_CANCEL and order.client_order_id in working:
            problem = await orders.cancel(order.client_order_id)
            if problem:
                log.warning("reconciliation: cancel of %s not sent: %s", order.client_order_id, problem)
            else:
                sent += 1
    return sent


def _close_vanished(orders: OrderManager, working: Mapping[str, Order], filled: set[str]) -> list[str]:
    """Close our open orders the broker is not working; returns the client ids marked LOST.

    Algo parents (``algo`` set) are never sent to a broker, so the broker's silence about them
    says nothing; their children are reconciled like any order.
    """
    lost: list[str] = []
    for order in orders.open_orders():
        coid = order.client_order_id
        if coid in working or order.algo:
            continue
        if coid in filled:
            reason = (
                f"reconciliation: no longer working at the broker after {_num(order.filled_quantity)} "
                f"of {_num(order.quantity)} filled"
            )
            orders.mark_final(coid, OrderStatus.CANCELLED, reason)
            continue
        reason = "reconciliation: the broker has neither a working order nor a fill for it"
        orders.mark_final(coid, OrderStatus.LOST, reason)
        lost.append(coid)
    return lost


async def _cancel_finished_but_working(store: Store, broker: Broker, orders: OrderManager) -> int:
    """Cancel at the broker an order of ours that the database has as finished.

    The engine decided that order is over (filled, cancelled, expired, lost); the broker still
    working it could trade behind the engine's back. Cancelling only reduces risk. The broker
    is asked afresh: the cancels sent a moment ago must not be sent twice.
    """
    sent = 0
    for coid in [o.client_order_id for o in await broker.open_orders()]:
        order = orders.get(coid) or store.get_order(coid)
        if order is None or not order.status.is_terminal or order.status is OrderStatus.EXTERNAL:
            continue
        log.warning(
            "reconciliation: %s is %s in the database but working at the broker; cancelling it",
            coid,
            order.status.value,
        )
        try:
            await broker.cancel(coid)
        except BrokerError as exc:
            log.warning("reconciliation: cancel of %s not sent: %s", coid, exc)
            continue
        sent += 1
    return sent


def _record_external(
    store: Store, working: Mapping[str, Order], executions: list[Fill], now: datetime
) -> list[str]:
    """Record broker orders onetap did not place as EXTERNAL; returns their broker ids.

    A working one is recorded once (an ``EXT-`` row) and listed every time it is still there:
    the operator should hear at every approval that someone else trades in this account. A
    finished one (known only from its fills) is listed when it is first recorded.
    """
    external: list[str] = []
    for coid, theirs in working.items():
        if coid and store.get_order(coid) is not None:
            continue
        ident = theirs.broker_order_id or coid
        if not ident:
            external.append(f"(no id) {theirs.side.value} {_num(theirs.quantity)} {theirs.symbol}")
            continue
        _store_external(store, theirs, ident, now)
        external.append(ident)
    finished: dict[str, list[Fill]] = {}
    for fill in executions:
        coid = fill.client_order_id
        if coid not in working and store.get_order(coid) is None:
            finished.setdefault(coid, []).append(fill)
    for coid, fills in finished.items():
        qty = sum(f.quantity for f in fills)
        order = Order(
            client_order_id=coid,
            symbol=fills[0].symbol,
            side=fills[0].side,
            quantity=qty,
            status=OrderStatus.FILLED,
            filled_quantity=qty,
            avg_fill_price=sum(f.quantity * f.price for f in fills) / qty if qty > 0 else None,
            created_at=fills[0].ts,
        )
        if _store_external(store, order, coid, now):
            external.append(coid)
    return external


def _foreign_ids_of_ours(store: Store, working: Mapping[str, Order], executions: list[Fill]) -> list[str]:
    """Client ids in onetap's own format that the broker knows and the database does not.

    Only possible when the database was replaced (deleted, restored from an older copy) or a
    second database trades the same account: either way the id sequence will hand those ids
    out again, and the broker would take a new order for a repeat of an old one.
    """
    seen = {*working, *(fill.client_order_id for fill in executions)}
    foreign = sorted(
        coid for coid in seen if coid.startswith(CLIENT_ORDER_ID_PREFIX) and store.get_order(coid) is None
    )
    if not foreign:
        return []
    shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    return [
        f"the broker knows onetap order ids this database never wrote ({shown}): the database was "
        "replaced or restored from an older copy, or another database trades this account; new "
        "orders would reuse those ids"
    ]


def _store_external(store: Store, theirs: Order, ident: str, now: datetime) -> bool:
    """Insert the ``EXT-`` row for a foreign order; True when it was new."""
    stored_id = f"{EXTERNAL_PREFIX}{ident}"
    if store.get_order(stored_id) is not None:
        return False
    reference = theirs.client_order_id or "no reference"
    store.insert_order(
        replace(
            theirs,
            client_order_id=stored_id,
            status=OrderStatus.EXTERNAL,
            reason=f"found at the broker ({reference}) during reconciliation; not placed by onetap",
            created_at=theirs.created_at or now,
            updated_at=now,
            card_id=None,
            execution_id=None,
            parent_id=None,
        )
    )
    return True


def _compare_positions(engine: Mapping[str, float], broker: Mapping[str, float]) -> list[str]:
    lines: list[str] = []
    for symbol in sorted(set(engine) | set(broker)):
        ours, theirs = engine.get(symbol, 0.0), broker.get(symbol, 0.0)
        if abs(ours - theirs) > QTY_TOLERANCE:
            lines.append(f"{symbol}: engine {_num(ours)}, broker {_num(theirs)}")
    return lines


def _num(qty: float) -> str:
    """A quantity as a trader writes it: 34, 2.5 (never 34.0 or 1e+06)."""
    text = f"{qty:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
