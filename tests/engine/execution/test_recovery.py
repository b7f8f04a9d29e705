"""Reconciliation against the real paper broker (with its journal) and a real store.

Each test builds the state a crash leaves behind: the database and the broker's journal
disagree, a fresh order manager and a broker rebuilt from its journal meet, and ``reconcile``
must make the database agree with the broker's books without sending a duplicate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event
from sqlalchemy import Engine as SqlEngine

from engine.brokers.base import BrokerPosition, BrokerReport, OrderFilled
from engine.brokers.paper import PaperBroker, journal_path_for
from engine.clock import FixedClock
from engine.execution.order_manager import OrderManager
from engine.execution.recovery import EXTERNAL_PREFIX, reconcile
from engine.model import Fill, Order, OrderRequest, OrderStatus, OrderType, Quote, Side, TimeInForce
from engine.model.events import ReconciliationSummary
from engine.store import FILL_ACTION, Store, StoreError, fill_payload
from tests.defaults import paper_broker

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


@dataclass
class World:
    """One engine's view: store, paper broker over the journal, order manager, what it published."""

    db: Path
    clock: FixedClock
    store: Store
    broker: PaperBroker
    orders: OrderManager
    fills: list[Fill] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    failing_fills: int = 0
    """The next this many fills fail in the handler, after their audit entry was written."""

    def quote(
        self, symbol: str = "AAPL", *, bid: float = 99.98, ask: float = 100.0, size: float = 1_000.0
    ) -> None:
        self.clock.advance(timedelta(seconds=1))
        self.broker.on_quote(
            Quote(symbol, self.clock.now(), bid, ask, (bid + ask) / 2, 500.0, 500.0, size, 1e5)
        )

    def on_fill(self, fill: Fill) -> None:
        """The engine's fill handler as far as the store is concerned: the fill is audited (in the
        report's transaction) and handed on."""
        self.store.append_audit(self.clock.now(), "engine", "engine", FILL_ACTION, fill_payload(fill))
        if self.failing_fills > 0:
            self.failing_fills -= 1
            raise StoreError("the ledger's record could not be written (injected)")
        self.fills.append(fill)

    def deaf(self) -> list[BrokerReport]:
        """The engine stops hearing the broker (it is dying): reports go nowhere from now on."""
        lost: list[BrokerReport] = []
        self.broker.set_reporter(lost.append)
        return lost

    async def reconcile(self, positions: dict[str, float] | None = None) -> ReconciliationSummary:
        if positions is None:
            positions = {}
            for fill in self.store.load_fills():
                positions[fill.symbol] = positions.get(fill.symbol, 0.0) + fill.side.sign * fill.quantity
        return await reconcile(
            store=self.store,
            broker=self.broker,
            orders=self.orders,
            ledger_positions=positions,
            now=self.clock.now(),
        )

    def crash(self) -> None:
        """The process dies: nothing is closed politely, only the files remain."""
        self.broker.close()
        self.store.close()


async def start(db: Path, *, at: datetime = T0, **broker: Any) -> World:
    """What a (re)starting engine builds: the broker replays its journal, the manager loads open orders."""
    clock = FixedClock(at)
    store = Store.open(db)
    paper = paper_broker(clock, journal=journal_path_for(db), **broker)
    world = World(db, clock, store, paper, None)  # type: ignore[arg-type]
    world.orders = OrderManager(store, paper, clock, world.events.append, world.on_fill)
    await paper.connect()
    return world


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "onetap.db"


@pytest.fixture
async def world(db: Path) -> AsyncIterator[World]:
    w = await start(db)
    yield w
    w.broker.close()
    if not w.store.closed:
        w.store.close()


def buy(qty: float = 10, **kw: Any) -> OrderRequest:
    return OrderRequest("AAPL", Side.BUY, qty, **kw)


# --------------------------------------------------------------------------- fills
async def test_a_fill_the_engine_never_saw_is_applied_exactly_once(world: World, db: Path) -> None:
    world.quote()
    order = await world.orders.submit(buy(10))
    assert order.status is OrderStatus.ACKNOWLEDGED
    world.deaf()
    world.quote()  # the broker fills it; the engine is already gone
    assert world.store.load_fills() == []
    world.crash()

    again = await start(db, at=T0 + timedelta(minutes=5))
    summary = await again.reconcile(positions={})
    (fill,) = await again.broker.executions()
    assert summary.fills_applied == (fill.exec_id,)
    assert again.fills == [fill]  # reached the ledger through on_fill, once
    assert again.store.load_fills() == [fill]
    assert again.store.get_order(order.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert summary.position_mismatches == ()  # the snapshot plus the applied fill is the broker's 10
    assert summary.lost == () and summary.external == () and summary.problems == ()

    second = await again.reconcile(positions={"AAPL": 10})
    assert second.fills_applied == () and len(again.fills) == 1
    assert len(again.store.load_fills()) == 1
    again.crash()


async def test_a_partial_fill_then_an_expiry_while_down_is_applied_and_closed(world: World, db: Path) -> None:
    world.quote()
    order = await world.orders.submit(buy(100))
    world.deaf()
    world.quote(size=200)  # 50 of 100 (participation cap)
    world.broker.on_session_close(T0.date())  # the DAY order expires at the broker
    world.crash()

    again = await start(db, at=T0 + timedelta(days=1))
    summary = await again.reconcile(positions={})
    assert len(summary.fills_applied) == 1 and summary.lost == ()
    stored = again.store.get_order(order.client_order_id)
    assert stored is not None and stored.status is OrderStatus.CANCELLED
    assert stored.filled_quantity == 50
    assert "no longer working at the broker after 50 of 100 filled" in stored.reason
    assert summary.position_mismatches == ()
    again.crash()


# --------------------------------------------------------------------------- one report, one transaction
async def test_a_fill_whose_handling_fails_stores_nothing_and_applies_once_later(world: World) -> None:
    world.quote()
    order = await world.orders.submit(buy(10))
    world.failing_fills = 1
    with pytest.raises(StoreError, match="injected"):
        world.quote()  # the broker fills it; the engine's handling of the fill fails half-way
    (fill,) = await world.broker.executions()
    assert world.store.load_fills() == []  # the fill row went with the failed transaction...
    stored = world.store.get_order(order.client_order_id)
    assert stored is not None and stored.status is OrderStatus.ACKNOWLEDGED and stored.filled_quantity == 0
    assert [a.action for a in world.store.load_audit()].count(FILL_ACTION) == 0  # ...and its audit entry
    assert world.store.verify_audit().ok
    in_memory = world.orders.get(order.client_order_id)
    assert in_memory is not None and in_memory.filled_quantity == 0  # memory was put back too
    assert in_memory.status is OrderStatus.ACKNOWLEDGED and in_memory in world.orders.open_orders()

    summary = await world.reconcile(positions={})  # the broker still has it: applied now, once
    assert summary.fills_applied == (fill.exec_id,) and summary.fills_repaired == ()
    assert world.fills == [fill]
    stored = world.store.get_order(order.client_order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED and stored.filled_quantity == 10
    assert world.store.unaudited_fills() == []


async def test_one_fill_report_is_one_commit(world: World, db: Path) -> None:
    commits: list[str] = []

    def count(conn: Connection) -> None:
        if conn.engine.url.database == str(db):
            commits.append("commit")

    world.quote()
    await world.orders.submit(buy(10))
    event.listen(SqlEngine, "commit", count)
    try:
        world.quote()  # the fill row, the order update, the fill's audit entry
    finally:
        event.remove(SqlEngine, "commit", count)
    assert len(world.fills) == 1
    assert len(commits) == 1


# --------------------------------------------------------------------------- a database that lags its fills
# Before a fill, its order's state and their audit entries were one transaction, a crash between
# those writes left a fill row beside an order that never took it in, or a fill without its audit
# entry. Such databases exist; these tests build that state with the store's own writes.


async def test_an_order_behind_its_stored_fill_is_filled_not_closed_as_vanished(
    world: World, db: Path
) -> None:
    world.quote()
    order = await world.orders.submit(buy(10))
    reports = world.deaf()
    world.quote()  # the broker fills it
    (fill,) = [r.fill for r in reports if isinstance(r, OrderFilled)]
    assert world.store.insert_fill(fill)  # the fill row committed; the process died before the order's update
    world.crash()

    again = await start(db, at=T0 + timedelta(minutes=5))
    summary = await again.reconcile()
    stored = again.store.get_order(order.client_order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED, stored
    assert stored.filled_quantity == 10 and stored.avg_fill_price == fill.price
    assert "0 of" not in stored.reason and "brought up to its 1 stored fill" in stored.reason
    assert summary.fills_repaired == (fill.exec_id,)
    assert fill.exec_id in summary.fills_applied and not summary.clean  # never approved as clean
    assert summary.lost == () and summary.position_mismatches == () and summary.problems == ()
    assert again.fills == []  # already in the ledger (folded from the stored fills): not applied twice
    assert again.store.unaudited_fills() == []
    (entry,) = [a for a in again.store.load_audit() if a.action == FILL_ACTION]
    assert entry.payload["exec_id"] == fill.exec_id and "recovered" in entry.payload
    assert again.store.verify_audit().ok

    second = await again.reconcile()
    assert second.fills_repaired == () and second.clean  # repaired once
    again.crash()


async def test_a_lagging_partial_fill_is_counted_before_a_missed_fill_lands(world: World, db: Path) -> None:
    world.quote()
    order = await world.orders.submit(buy(100))
    reports = world.deaf()
    world.quote(size=200)  # 50 of 100 (participation cap)
    (first,) = [r.fill for r in reports if isinstance(r, OrderFilled)]
    assert world.store.insert_fill(first)  # stored; the order's update never committed
    world.quote(size=200)  # the other 50, which the database never hears of
    world.crash()

    again = await start(db, at=T0 + timedelta(minutes=5))
    summary = await again.reconcile()
    (_, second) = await again.broker.executions()
    assert summary.fills_repaired == (first.exec_id,)
    assert set(summary.fills_applied) == {first.exec_id, second.exec_id}
    assert again.fills == [second]  # only the missed one reaches the ledger
    stored = again.store.get_order(order.client_order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED and stored.filled_quantity == 100
    assert summary.position_mismatches == ()
    again.crash()


async def test_an_order_once_closed_as_vanished_with_its_fill_is_repaired(world: World, db: Path) -> None:
    world.quote()
    order = await world.orders.submit(buy(10))
    reports = world.deaf()
    world.quote()
    (fill,) = [r.fill for r in reports if isinstance(r, OrderFilled)]
    world.store.insert_fill(fill)
    # What the old reconciliation then did to it:
    closed = replace(order, status=OrderStatus.CANCELLED, reason="reconciliation: 0 of 10 filled")
    world.store.update_order(closed)
    world.crash()

    again = await start(db)
    summary = await again.reconcile()
    stored = again.store.get_order(order.client_order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED and stored.filled_quantity == 10
    assert summary.fills_repaired == (fill.exec_id,) and not summary.clean
    again.crash()


async def test_a_filled_order_whose_fill_has_no_audit_entry_gets_one(world: World, db: Path) -> None:
    world.quote()
    order = await world.orders.submit(buy(10))
    reports = world.deaf()
    world.quote()
    (fill,) = [r.fill for r in reports if isinstance(r, OrderFilled)]
    world.store.insert_fill(fill)
    filled = replace(order, status=OrderStatus.FILLED, filled_quantity=10, avg_fill_price=fill.price)
    world.store.update_order(filled)  # the order took it in; the fill's audit entry never committed
    world.crash()

    again = await start(db)
    assert [f.exec_id for f in again.store.unaudited_fills()] == [fill.exec_id]
    summary = await again.reconcile()
    assert summary.fills_repaired == (fill.exec_id,) and not summary.clean
    assert again.store.unaudited_fills() == [] and again.store.verify_audit().ok
    stored = again.store.get_order(order.client_order_id)
    assert stored == filled  # the order itself was right and is left alone
    again.crash()


async def test_a_swallowed_acknowledgement_is_restored(world: World, db: Path) -> None:
    world.quote()
    world.deaf()  # the ack is lost with the process: the database still says SENT
    order = await world.orders.submit(buy(5, order_type=OrderType.LMT, limit_price=90.0))
    assert world.store.get_order(order.client_order_id).status is OrderStatus.SENT  # type: ignore[union-attr]
    world.crash()

    again = await start(db)
    summary = await again.reconcile()
    assert summary.open_orders_matched == 1 and summary.lost == ()
    stored = again.store.get_order(order.client_order_id)
    assert stored is not None and stored.status is OrderStatus.ACKNOWLEDGED and stored.broker_order_id == "P1"
    again.crash()


# --------------------------------------------------------------------------- lost and external
async def test_an_intent_the_broker_never_got_becomes_lost(world: World, db: Path) -> None:
    world.quote()
    coid = world.store.next_client_order_id()
    # Written, then the process died before the send: the write-ahead row is all there is.
    world.store.insert_order(Order(coid, "AAPL", Side.BUY, 10, created_at=T0, updated_at=T0))
    world.crash()

    again = await start(db)
    summary = await again.reconcile()
    assert summary.lost == (coid,)
    stored = again.store.get_order(coid)
    assert stored is not None and stored.status is OrderStatus.LOST
    assert "neither a working order nor a fill" in stored.reason
    assert await again.broker.open_orders() == [] and await again.broker.executions() == []
    assert again.orders.open_orders() == []  # nothing left to cancel on a kill, nothing resent
    again.crash()


async def test_an_order_only_the_broker_has_becomes_external_and_is_never_cancelled(
    world: World, db: Path
) -> None:
    world.quote()
    world.broker.set_reporter(lambda report: None)  # someone else's session at the same broker
    await world.broker.submit(Order("TWS-7", "AAPL", Side.BUY, 3, OrderType.LMT, limit_price=80.0))
    await world.broker.submit(Order("TWS-8", "AAPL", Side.BUY, 2))
    world.quote()  # TWS-8 (market) fills at once; TWS-7 rests
    world.crash()

    again = await start(db)
    summary = await again.reconcile(positions={})
    assert summary.external == ("P1", "TWS-8")
    working = again.store.get_order(f"{EXTERNAL_PREFIX}P1")
    assert working is not None and working.status is OrderStatus.EXTERNAL
    assert working.symbol == "AAPL" and working.quantity == 3 and "TWS-7" in working.reason
    done = again.store.get_order(f"{EXTERNAL_PREFIX}TWS-8")
    assert done is not None and done.status is OrderStatus.EXTERNAL and done.filled_quantity == 2
    assert [o.client_order_id for o in await again.broker.open_orders()] == ["TWS-7"]  # untouched
    assert summary.fills_applied == () and again.fills == []  # not onetap's trades
    assert summary.position_mismatches == ("AAPL: engine 0, broker 2",)
    assert summary.cancels_sent == 0

    await again.orders.cancel_all()  # a kill switch never touches it either
    assert [o.client_order_id for o in await again.broker.open_orders()] == ["TWS-7"]
    second = await again.reconcile(positions={})
    assert second.external == ("P1",)  # still working, still reported; recorded once
    assert sum(o.status is OrderStatus.EXTERNAL for o in again.store.load_orders()) == 2
    again.crash()


async def test_a_replaced_database_is_a_problem_before_ids_collide(world: World, db: Path) -> None:
    world.quote()
    order = await world.orders.submit(buy(10))
    world.quote()
    world.crash()
    for leftover in db.parent.glob(f"{db.name}*"):  # the operator deletes the database, not the journal
        leftover.unlink()

    again = await start(db)
    summary = await again.reconcile(positions={})
    (problem,) = summary.problems
    assert f"never wrote ({order.client_order_id})" in problem and "reuse those ids" in problem
    assert summary.external == (order.client_order_id,)
    assert summary.position_mismatches == ("AAPL: engine 0, broker 10",)
    again.crash()


# --------------------------------------------------------------------------- positions
async def test_a_position_mismatch_is_listed_one_line_per_symbol(world: World) -> None:
    world.broker.adopt_book(
        cash=10_000.0, positions=[BrokerPosition("AAPL", 30, 100.0), BrokerPosition("MSFT", 2.5, 300.0)]
    )
    summary = await world.reconcile(positions={"AAPL": 34, "MSFT": 2.5, "SPY": 0.0, "QQQ": 1})
    assert summary.position_mismatches == ("AAPL: engine 34, broker 30", "QQQ: engine 1, broker 0")


# --------------------------------------------------------------------------- cancels
@dataclass
class Recorder:
    """A broker wrapper writing down the order of the calls reconciliation makes."""

    inner: PaperBroker
    calls: list[str] = field(default_factory=list)
    name: str = "paper"

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self.inner, attr)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(attr if not args else f"{attr}:{args[0]}")
            return target(*args, **kwargs)

        return call


async def test_owed_cancels_go_out_before_anything_else(world: World, db: Path) -> None:
    recorder = Recorder(world.broker)
    # The order manager talks to the broker through the recorder from the start.
    world.orders = OrderManager(world.store, recorder, world.clock, world.events.append, world.on_fill)  # type: ignore[arg-type]
    world.quote()
    resting = await world.orders.submit(buy(10, order_type=OrderType.LMT, limit_price=90.0))
    await world.broker.disconnect()  # the connection drops
    await world.orders.cancel_all()  # the kill switch cannot reach the broker: the cancel is owed
    assert world.orders.owed_cancels == {resting.client_order_id}
    await world.broker.connect()
    recorder.calls.clear()  # only what reconciliation does from here on

    summary = await reconcile(
        store=world.store, broker=recorder, orders=world.orders, ledger_positions={}, now=world.clock.now()
    )  # type: ignore[arg-type]
    assert recorder.calls[0] == f"cancel:{resting.client_order_id}"
    assert recorder.calls.index("open_orders") > 0
    assert summary.cancels_sent == 1 and summary.lost == ()
    assert world.orders.owed_cancels == frozenset()
    assert world.store.get_order(resting.client_order_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]


async def test_a_recorded_pending_cancel_is_sent_after_a_restart(world: World, db: Path) -> None:
    world.quote()
    resting = await world.orders.submit(
        buy(10, order_type=OrderType.LMT, limit_price=90.0, tif=TimeInForce.GTC)
    )
    await world.broker.disconnect()
    await world.orders.cancel_all()  # owed in memory, PENDING_CANCEL on disk
    world.crash()  # the memory is gone

    again = await start(db)
    assert again.orders.owed_cancels == frozenset()
    summary = await again.reconcile()
    assert summary.cancels_sent == 1
    assert await again.broker.open_orders() == []
    assert again.store.get_order(resting.client_order_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    again.crash()


# --------------------------------------------------------------------------- problems
def _sql(db: Path, statement: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(statement)
    conn.close()


async def test_a_tampered_audit_log_is_a_problem(world: World, db: Path) -> None:
    for i in range(5):
        world.store.append_audit(T0, "operator", "hotkey", "note", {"n": i})
    _sql(db, "UPDATE audit_events SET payload_json = '{\"n\":9}' WHERE seq = 3")
    summary = await world.reconcile()
    assert summary.problems == ("audit log: entry 3 (seq 3) is altered: its hash does not match its content",)


async def test_a_damaged_database_is_reported_and_left_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.quote()
    coid = world.store.next_client_order_id()
    world.store.insert_order(Order(coid, "AAPL", Side.BUY, 10, created_at=T0, updated_at=T0))
    monkeypatch.setattr(world.store, "integrity_check", lambda: ["row 7 missing from index ix_orders"])
    orders = OrderManager(world.store, world.broker, world.clock, world.events.append, world.fills.append)
    summary = await reconcile(
        store=world.store, broker=world.broker, orders=orders, ledger_positions={}, now=world.clock.now()
    )
    assert summary.problems == ("database: row 7 missing from index ix_orders",)
    assert summary.lost == ()  # nothing written into a damaged file
    assert world.store.get_order(coid).status is OrderStatus.INTENT  # type: ignore[union-attr]
