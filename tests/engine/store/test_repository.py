"""The Store's mapping of the domain model, on a real SQLite file."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.model import (
    ExecutionStatus,
    Fill,
    Leg,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    StrategyCard,
    TimeInForce,
)
from engine.store import ExecutionRecord, RiskEventRecord, Store, StoreError
from tests.engine.store.conftest import T0, make_order


# --------------------------------------------------------------------------- client order ids
def test_client_order_ids_are_never_reused_across_reopen(db_path: Path) -> None:
    with Store.open(db_path) as store:
        first = [store.next_client_order_id() for _ in range(3)]
    with Store.open(db_path) as store:
        second = [store.next_client_order_id() for _ in range(3)]
    ids = first + second
    assert ids[0] == "OT-00000001"
    assert all(a < b for a, b in itertools.pairwise(ids))  # strictly increasing
    assert len(set(ids)) == 6


def test_taken_id_is_committed_before_it_is_returned(store: Store, db_path: Path) -> None:
    taken = store.next_client_order_id()
    conn = sqlite3.connect(db_path)
    stored = conn.execute("SELECT value FROM id_sequences WHERE name = 'client_order_id'").fetchone()
    conn.close()
    assert taken == f"OT-{stored[0]:08d}"


def test_two_stores_on_one_file_never_share_an_id(db_path: Path) -> None:
    with Store.open(db_path) as a, Store.open(db_path) as b:
        ids = [s.next_client_order_id() for _ in range(10) for s in (a, b)]
    assert len(set(ids)) == 20


# --------------------------------------------------------------------------- orders
def _full_order() -> Order:
    return Order(
        client_order_id="OT-00000042",
        symbol="AAPL",
        side=Side.SELL,
        quantity=12.5,
        order_type=OrderType.STP_LMT,
        limit_price=181.25,
        stop_price=180.75,
        tif=TimeInForce.GTC,
        status=OrderStatus.PARTIALLY_FILLED,
        filled_quantity=2.5,
        avg_fill_price=181.3333333333333,
        broker_order_id="ib-991",
        card_id="card-7",
        execution_id="ex-3",
        created_at=T0,
        updated_at=T0 + timedelta(seconds=1, microseconds=999_999),
        reason="mean reversion leg",
    )


def test_order_round_trip_keeps_every_field(store: Store) -> None:
    order = _full_order()
    store.insert_order(order)
    loaded = store.get_order(order.client_order_id)
    assert loaded == order
    assert loaded is not None
    assert loaded.created_at is not None and loaded.created_at.tzinfo is UTC
    assert loaded.updated_at == T0 + timedelta(seconds=1, microseconds=999_999)


def test_order_with_defaults_round_trips(store: Store) -> None:
    order = Order(client_order_id="OT-1", symbol="SPY", side=Side.BUY, quantity=1.0)
    store.insert_order(order)
    assert store.get_order("OT-1") == order


def test_other_zones_come_back_as_the_same_instant_in_utc(store: Store) -> None:
    new_york = datetime(2024, 7, 1, 9, 30, 0, 1, tzinfo=ZoneInfo("America/New_York"))
    plus_five = datetime(2024, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=5)))
    store.insert_order(make_order("OT-1", created_at=new_york, updated_at=plus_five))
    loaded = store.get_order("OT-1")
    assert loaded is not None
    assert loaded.created_at == new_york
    assert loaded.created_at is not None and loaded.created_at.utcoffset() == timedelta(0)
    assert loaded.updated_at == plus_five


def test_inserted_order_is_committed_before_insert_returns(store: Store, db_path: Path) -> None:
    store.insert_order(make_order("OT-1"))
    conn = sqlite3.connect(db_path)  # another connection sees only committed rows
    rows = conn.execute("SELECT client_order_id, status FROM orders").fetchall()
    conn.close()
    assert rows == [("OT-1", "INTENT")]


def test_enums_are_stored_by_value(store: Store, db_path: Path) -> None:
    store.insert_order(make_order("OT-1", order_type=OrderType.STP_LMT, side=Side.SELL))
    conn = sqlite3.connect(db_path)
    row = conn.execute("SELECT side, order_type, tif, status FROM orders").fetchone()
    conn.close()
    assert row == ("SELL", "STP LMT", "DAY", "INTENT")


def test_duplicate_order_id_is_refused_and_the_first_kept(store: Store) -> None:
    store.insert_order(make_order("OT-1", quantity=1.0))
    with pytest.raises(StoreError, match="OT-1 is already stored"):
        store.insert_order(make_order("OT-1", quantity=99.0))
    stored = store.get_order("OT-1")
    assert stored is not None and stored.quantity == 1.0
    assert len(store.load_orders()) == 1


def test_update_order(store: Store) -> None:
    order = make_order("OT-1")
    store.insert_order(order)
    order.status = OrderStatus.FILLED
    order.filled_quantity = 10.0
    order.avg_fill_price = 101.5
    order.broker_order_id = "b-1"
    order.updated_at = T0 + timedelta(minutes=1)
    store.update_order(order)
    assert store.get_order("OT-1") == order
    assert len(store.load_orders()) == 1


def test_update_of_an_unknown_order_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="OT-9 is not stored"):
        store.update_order(make_order("OT-9"))
    assert store.get_order("OT-9") is None


def test_naive_datetime_is_refused_and_nothing_written(store: Store) -> None:
    with pytest.raises(StoreError, match="naive datetime"):
        store.insert_order(make_order("OT-1", created_at=datetime(2024, 1, 1, 9, 30)))
    assert store.load_orders() == []


def test_load_orders_filters_and_order(store: Store) -> None:
    statuses = [
        OrderStatus.FILLED,
        OrderStatus.SENT,
        OrderStatus.CANCELLED,
        OrderStatus.ACKNOWLEDGED,
        OrderStatus.INTENT,
        OrderStatus.REJECTED,
    ]
    for i, status in enumerate(statuses):
        store.insert_order(make_order(f"OT-{i}", status=status, created_at=T0 + timedelta(hours=i)))
    everything = store.load_orders()
    assert [o.client_order_id for o in everything] == [f"OT-{i}" for i in range(6)]  # newest last
    assert [o.client_order_id for o in store.load_orders(open_only=True)] == ["OT-1", "OT-3", "OT-4"]
    since = store.load_orders(since=T0 + timedelta(hours=3))
    assert [o.client_order_id for o in since] == ["OT-3", "OT-4", "OT-5"]
    assert [o.client_order_id for o in store.load_orders(limit=2)] == ["OT-4", "OT-5"]
    combined = store.load_orders(open_only=True, since=T0 + timedelta(hours=2), limit=1)
    assert [o.client_order_id for o in combined] == ["OT-4"]
    assert store.load_orders(limit=0) == []


def test_get_unknown_order_is_none(store: Store) -> None:
    assert store.get_order("nope") is None


def test_no_orm_row_leaves_the_store(store: Store) -> None:
    store.insert_order(make_order("OT-1"))
    store.insert_fill(Fill("E1", "OT-1", "SPY", Side.BUY, 1.0, 100.0, 0.1, T0))
    store.save_positions([Position("SPY", 1.0, 100.0, 101.0)])
    assert all(type(o) is Order for o in store.load_orders())
    assert all(type(f) is Fill for f in store.load_fills())
    assert all(type(p) is Position for p in store.load_positions())


# --------------------------------------------------------------------------- fills
def test_duplicate_exec_id_is_ignored(store: Store) -> None:
    store.insert_order(make_order("OT-1"))
    fill = Fill("E1", "OT-1", "SPY", Side.BUY, 4.0, 100.25, 0.35, T0)
    assert store.insert_fill(fill) is True
    replay = Fill("E1", "OT-1", "SPY", Side.BUY, 4.0, 999.0, 0.0, T0 + timedelta(seconds=5))
    assert store.insert_fill(replay) is False
    assert store.load_fills() == [fill]


def test_fills_round_trip_and_filter_by_order(store: Store) -> None:
    store.insert_order(make_order("OT-1"))
    store.insert_order(make_order("OT-2", side=Side.SELL))
    fills = [
        Fill("E1", "OT-1", "SPY", Side.BUY, 4.0, 100.25, 0.35, T0),
        Fill("E2", "OT-2", "SPY", Side.SELL, 1.5, 100.5, 0.0, T0 + timedelta(microseconds=1)),
        Fill("E3", "OT-1", "SPY", Side.BUY, 6.0, 100.125, 0.5, T0 + timedelta(seconds=2)),
    ]
    for fill in fills:
        assert store.insert_fill(fill)
    assert store.load_fills() == fills
    assert store.load_fills(client_order_id="OT-1") == [fills[0], fills[2]]
    assert store.load_fills(client_order_id="OT-3") == []


def test_fill_of_an_unstored_order_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="E1"):
        store.insert_fill(Fill("E1", "OT-404", "SPY", Side.BUY, 1.0, 1.0, 0.0, T0))
    assert store.load_fills() == []


# --------------------------------------------------------------------------- positions
def test_save_positions_replaces_the_table(store: Store) -> None:
    store.save_positions(
        [Position("SPY", 10.0, 500.0, 505.0, 12.5, 5000.0), Position("QQQ", -2.0, 400.0, 399.0)], ts=T0
    )
    assert store.load_positions() == [
        Position("QQQ", -2.0, 400.0, 399.0),
        Position("SPY", 10.0, 500.0, 505.0, 12.5, 5000.0),
    ]
    store.save_positions([Position("IWM", 3.0, 200.0, 201.0)])
    assert store.load_positions() == [Position("IWM", 3.0, 200.0, 201.0)]
    store.save_positions([])
    assert store.load_positions() == []


def test_failed_save_positions_keeps_the_old_ones(store: Store) -> None:
    old = [Position("SPY", 10.0, 500.0, 505.0)]
    store.save_positions(old)
    with pytest.raises(StoreError, match="SPY appears twice"):
        store.save_positions([Position("SPY", 1.0, 1.0, 1.0), Position("SPY", 2.0, 2.0, 2.0)])
    with pytest.raises(StoreError, match="naive"):
        store.save_positions([Position("QQQ", 1.0, 1.0, 1.0)], ts=datetime(2024, 1, 1))
    assert store.load_positions() == old


# --------------------------------------------------------------------------- cards
def _card(card_id: str = "c-1", **changes: object) -> StrategyCard:
    values: dict[str, object] = {
        "card_id": card_id,
        "template": "pairs",
        "name": "SPY/QQQ spread",
        "legs": (
            Leg("SPY", Side.BUY, 10.0, OrderType.LMT, 500.01),
            Leg("QQQ", Side.SELL, 12.0),
        ),
        "confidence": 0.61,
        "expected_return": 0.0125,
        "max_risk": 250.0,
        "reason": "z-score 2.1",
        "asof": T0,
        "horizon_days": 3,
        "stop_price": 495.5,
        "target_price": 510.0,
        "score": 1.75,
        "details": {"ref_price:SPY": 500.0, "ref_price:QQQ": 420.5, "z": -2.1},
    }
    values.update(changes)
    return StrategyCard(**values)  # type: ignore[arg-type]


def test_cards_round_trip_with_legs_and_details(store: Store) -> None:
    card = _card()
    store.save_cards([card])
    loaded = store.load_card("c-1")
    assert loaded == card
    assert loaded is not None and loaded.legs[0].order_type is OrderType.LMT
    assert loaded.notional == card.notional
    assert store.load_card("missing") is None


def test_save_cards_upserts(store: Store) -> None:
    store.save_cards([_card("c-1"), _card("c-2", asof=T0 + timedelta(days=1))])
    changed = _card("c-1", score=9.0, legs=(Leg("IWM", Side.BUY, 1.0),), details={}, stop_price=None)
    store.save_cards([changed])
    assert store.load_card("c-1") == changed
    assert [c.card_id for c in store.load_cards()] == ["c-1", "c-2"]


def test_the_cards_of_orders_and_their_templates_are_read_as_two_columns(store: Store) -> None:
    store.save_cards([_card("c-1"), _card("c-2", template="momentum")])
    store.insert_order(Order("o-1", "SPY", Side.BUY, 1.0, card_id="c-1", created_at=T0))
    store.insert_order(Order("o-2", "SPY", Side.SELL, 1.0, card_id="gone-1", created_at=T0))
    store.insert_order(Order("o-3", "SPY", Side.SELL, 1.0, created_at=T0))
    card_of = store.card_ids_of_orders()
    assert card_of == {"o-1": "c-1", "o-2": "gone-1"}
    assert store.card_templates([*card_of.values(), "c-2", "c-1"]) == {"c-1": "pairs", "c-2": "momentum"}
    many = [f"x-{i}" for i in range(1200)]  # more ids than one IN list takes: read in chunks
    assert store.card_templates([*many, "c-2"]) == {"c-2": "momentum"}


# --------------------------------------------------------------------------- executions
def test_execution_lifecycle(store: Store) -> None:
    store.insert_execution("ex-1", "c-1", ExecutionStatus.PENDING, T0)
    store.update_execution("ex-1", ExecutionStatus.EXECUTING, T0 + timedelta(seconds=1))
    assert store.load_executions() == [
        ExecutionRecord("ex-1", "c-1", ExecutionStatus.EXECUTING, T0, None, "")
    ]
    done = T0 + timedelta(seconds=2)
    store.update_execution("ex-1", ExecutionStatus.ROLLED_BACK, done, "leg 2 rejected")
    store.insert_execution("ex-2", "c-2", ExecutionStatus.PENDING, T0 + timedelta(seconds=3))
    records = store.load_executions()
    assert records[0] == ExecutionRecord(
        "ex-1", "c-1", ExecutionStatus.ROLLED_BACK, T0, done, "leg 2 rejected"
    )
    assert [r.execution_id for r in records] == ["ex-1", "ex-2"]
    assert [r.execution_id for r in store.load_executions(card_id="c-2")] == ["ex-2"]


def test_execution_errors(store: Store) -> None:
    store.insert_execution("ex-1", "c-1", ExecutionStatus.PENDING, T0)
    with pytest.raises(StoreError, match="ex-1 is already stored"):
        store.insert_execution("ex-1", "c-9", ExecutionStatus.PENDING, T0)
    with pytest.raises(StoreError, match="ex-2 is not stored"):
        store.update_execution("ex-2", ExecutionStatus.FAILED, T0)
    assert [r.card_id for r in store.load_executions()] == ["c-1"]


# --------------------------------------------------------------------------- risk events
def test_risk_events_newest_last_with_limit(store: Store) -> None:
    for i in range(5):
        store.record_risk_event(
            T0 + timedelta(seconds=i),
            "breaker",
            f"R{i}",
            f"event {i}",
            {"loss": 100.0 * i, "symbols": ["SPY"]},
        )
    store.record_risk_event(T0 + timedelta(seconds=9), "check", "NO_DETAILS", "plain")
    events = store.load_risk_events(limit=3)
    assert [e.code for e in events] == ["R3", "R4", "NO_DETAILS"]
    assert events[0] == RiskEventRecord(
        events[0].id,
        T0 + timedelta(seconds=3),
        "breaker",
        "R3",
        "event 3",
        {"loss": 300.0, "symbols": ["SPY"]},
    )
    assert events[2].details == {}
    assert len(store.load_risk_events()) == 6


# --------------------------------------------------------------------------- engine state
def test_engine_state_survives_reopen(db_path: Path) -> None:
    with Store.open(db_path) as store:
        assert store.get_state("trading_state") is None
        store.set_state("trading_state", "ACTIVE", T0)
        store.set_state("trading_state", "HALTED", T0 + timedelta(seconds=1))
        store.set_state("halted_reason", "operator kill switch", T0 + timedelta(seconds=1))
    with Store.open(db_path) as store:
        assert store.get_state("trading_state") == "HALTED"
        assert store.get_state("halted_reason") == "operator kill switch"


# --------------------------------------------------------------------------- lifecycle
def test_closed_store_refuses_work(db_path: Path) -> None:
    store = Store.open(db_path)
    assert store.path == db_path
    assert not store.closed
    store.close()
    assert store.closed
    store.close()  # twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.next_client_order_id()
    with pytest.raises(StoreError, match="closed"):
        store.load_orders()


def test_store_opened_here_works_from_the_engine_thread(store: Store) -> None:
    taken: list[str] = []
    worker = threading.Thread(target=lambda: taken.append(store.next_client_order_id()))
    worker.start()
    worker.join()
    store.insert_order(make_order(taken[0]))
    assert [o.client_order_id for o in store.load_orders()] == ["OT-00000001"]


def test_damaged_row_is_reported_not_crashed(store: Store, db_path: Path) -> None:
    store.insert_order(make_order("OT-1"))
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE orders SET side = 'SIDEWAYS'")
    conn.close()
    with pytest.raises(StoreError, match="OT-1"):
        store.get_order("OT-1")


def test_times_are_stored_as_sortable_utc_text(store: Store, db_path: Path) -> None:
    store.insert_order(make_order("OT-1", created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)))
    conn = sqlite3.connect(db_path)
    (text,) = conn.execute("SELECT created_at FROM orders").fetchone()
    conn.close()
    assert text == "2024-01-02T03:04:05.000000+00:00"


def test_highest_numeric_broker_order_id_ignores_other_ids(store: Store) -> None:
    assert store.highest_numeric_broker_order_id() == 0
    for coid, broker_id in (
        ("OT-1", "9"),
        ("OT-2", "120"),
        ("OT-3", "perm:99999"),
        ("OT-4", None),
        ("OT-5", "1e9"),
    ):
        order = make_order(coid)
        order.broker_order_id = broker_id
        store.insert_order(order)
    assert store.highest_numeric_broker_order_id() == 120  # 120 > 9 as numbers, not as text
