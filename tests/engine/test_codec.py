"""The wire codec: every event and command survives a round trip; bad messages are named."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.model import (
    AccountSnapshot,
    Leg,
    Order,
    OrderStatus,
    Position,
    Quote,
    RiskState,
    Side,
    StrategyCard,
    TradingState,
)
from engine.model.codec import DecodeError, dumps, loads
from engine.model.events import ExecuteCard, Kill, MarketEvent, OrderEvent, SnapshotEvent, StatusEvent

TS = datetime(2012, 3, 5, 15, 30, tzinfo=UTC)


def test_snapshot_round_trip() -> None:
    card = StrategyCard(
        "c1",
        "momentum",
        "Momentum AAPL",
        (Leg("AAPL", Side.BUY, 10.0),),
        0.56,
        0.01,
        120.0,
        "why",
        TS,
        details={"ref_price:AAPL": 500.0},
    )
    snap = SnapshotEvent(
        status=StatusEvent(TS, "paper", "paper", "running", "2012-03-05", 45.0),
        positions=(Position("AAPL", 10.0, 500.0, 510.0, 3.0),),
        account=AccountSnapshot(1000.0, 6100.0, 5100.0, 3.0, 100.0, 50.0, 6050.0, 6100.0),
        orders=(Order("OT-1", "AAPL", Side.BUY, 10.0, status=OrderStatus.FILLED, created_at=TS),),
        cards=(card,),
        risk=RiskState(TradingState.HALTED, 0.8, 1.0, 0.0, 0.02, 0.0, 0.1, 0.01, 0.02, "kill", TS),
        quotes=(Quote("AAPL", TS, 509.9, 510.1, 510.0, 100, 200, 50, 1e6),),
    )
    assert loads(dumps(snap)) == snap


def test_commands_round_trip() -> None:
    for cmd in (ExecuteCard("c1"), Kill("because")):
        assert loads(dumps(cmd)) == cmd


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ('{"type": "Nope"}', "unknown message type 'Nope'"),
        ('{"type": "ExecuteCard"}', "ExecuteCard: missing field 'card_id'"),
        (
            '{"type": "OrderEvent", "order": {"type": "Order", "client_order_id": "x", "symbol": "A",'
            ' "side": "UP", "quantity": 1}}',
            "OrderEvent.order: Order.side: 'UP' is not a valid Side",
        ),
        (
            '{"type": "MarketEvent", "ts": "2012-01-01T00:00:00+00:00", "quotes": 3}',
            "MarketEvent.quotes: expected a list",
        ),
    ],
)
def test_bad_messages_are_named(text: str, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        loads(text)
    assert message in str(info.value)


def test_order_event_keeps_status() -> None:
    ev = OrderEvent(
        Order("OT-9", "MSFT", Side.SELL, 3.5, status=OrderStatus.PARTIALLY_FILLED, filled_quantity=1.0)
    )
    back = loads(dumps(ev))
    assert back.order.status is OrderStatus.PARTIALLY_FILLED
    assert back.order.remaining == 2.5
    assert isinstance(loads(dumps(MarketEvent(TS, ()))), MarketEvent)


def test_fixed_length_tuples_round_trip_and_a_wrong_length_is_refused() -> None:
    from engine.model.codec import DecodeError, from_jsonable, to_jsonable
    from engine.model.events import CardsEvent

    event = CardsEvent(
        asof=datetime(2012, 1, 3, tzinfo=UTC), cards=(), rejected=(("no_edge", 2), ("illiquid", 1))
    )
    assert from_jsonable(json.loads(json.dumps(to_jsonable(event)))) == event
    bad = to_jsonable(event)
    bad["rejected"] = [["no_edge"]]
    with pytest.raises(DecodeError, match="expected 2 items, got 1"):
        from_jsonable(bad)
