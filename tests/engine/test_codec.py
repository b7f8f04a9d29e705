"""The wire codec: every event and command survives a round trip; bad messages are named."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.model import (
    AccountSnapshot,
    Action,
    AlertCode,
    Leg,
    Order,
    OrderStatus,
    Position,
    Quote,
    RefusalCode,
    RiskState,
    Side,
    StrategyCard,
    TradingState,
)
from engine.model.codec import DecodeError, dumps, loads
from engine.model.events import (
    CommandResult,
    ExecuteCard,
    Kill,
    MarketEvent,
    OrderEvent,
    RefusalEvent,
    RiskAlert,
    SnapshotEvent,
    StatusEvent,
)

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


# ----------------------------------------------------------------------- the typed vocabulary
def _wire(value: object) -> dict[str, object]:
    """What the peer receives: the JSON text parsed back, as the socket's reader sees it."""
    data = json.loads(dumps(value))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    "event",
    [
        RefusalEvent(TS, Action.EXECUTE_CARD, RefusalCode.DUPLICATE, "BUY 10 AAPL was sent 2 s ago", "c1"),
        RefusalEvent(TS, Action.REBALANCE, RefusalCode.NO_PRICE, "no price for MSFT", "autopilot"),
        CommandResult(ok=False, message="trading halted", code=RefusalCode.HALTED),
        CommandResult(ok=True, message="done"),
        RiskAlert(TS, AlertCode.DRAWDOWN, "error", "REDUCING: drawdown 21% exceeds 20%"),
        RiskAlert(TS, AlertCode.AUTOPILOT, "info", "rebalanced", "autopilot"),
    ],
    ids=lambda e: f"{type(e).__name__}-{getattr(e, 'code', '')}",
)
def test_vocabulary_fields_round_trip_as_enum_members(
    event: RefusalEvent | CommandResult | RiskAlert,
) -> None:
    back = loads(dumps(event))
    assert back == event
    assert type(back.code) is type(event.code)  # an enum member again, not a bare string
    assert back.code is event.code
    if isinstance(event, RefusalEvent):
        assert back.action is event.action


def test_the_wire_carries_the_same_strings_as_before_the_enums() -> None:
    """StrEnum values are the old strings: a peer built before the enums reads them unchanged."""
    refusal = _wire(RefusalEvent(TS, Action.MODIFY_ORDER, RefusalCode.THROTTLE, "slow down", "OT-1"))
    assert (refusal["action"], refusal["code"]) == ("modify_order", "THROTTLE")
    assert _wire(CommandResult(ok=True))["code"] == ""
    assert _wire(RiskAlert(TS, AlertCode.LIMIT_CHANGED, "warning", "m"))["code"] == "LIMIT_CHANGED"
    old_peer = '{"type": "CommandResult", "ok": false, "message": "m", "code": "CARD_STALE"}'
    assert loads(old_peer).code is RefusalCode.CARD_STALE
    assert loads('{"type": "CommandResult", "ok": true}').code is RefusalCode.NONE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"type": "CommandResult", "ok": false, "code": "NEW_CODE"}',
            "CommandResult.code: 'NEW_CODE' is not a valid RefusalCode",
        ),
        (
            '{"type": "RefusalEvent", "ts": "2012-03-05T15:30:00+00:00", "action": "teleport",'
            ' "code": "HALTED", "message": "m"}',
            "RefusalEvent.action: 'teleport' is not a valid Action",
        ),
        (
            '{"type": "RefusalEvent", "ts": "2012-03-05T15:30:00+00:00", "action": "kill",'
            ' "code": "halted", "message": "m"}',
            "RefusalEvent.code: 'halted' is not a valid RefusalCode",
        ),
        (
            '{"type": "RiskAlert", "ts": "2012-03-05T15:30:00+00:00", "code": "METEOR",'
            ' "level": "error", "message": "m"}',
            "RiskAlert.code: 'METEOR' is not a valid AlertCode",
        ),
        (
            '{"type": "RiskAlert", "ts": "2012-03-05T15:30:00+00:00", "code": 7,'
            ' "level": "error", "message": "m"}',
            "RiskAlert.code: 7 is not a valid AlertCode",
        ),
    ],
)
def test_an_unknown_code_from_the_wire_is_a_decode_error_naming_it(text: str, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        loads(text)
    assert message in str(info.value)
