"""One-tap group execution on the real engine: every leg fills, or the card is visibly undone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.actor import Actor
from engine.brokers.base import OrderRejected
from engine.kernel import Engine
from engine.model import (
    Algo,
    CommandSource,
    ExecutionStatus,
    Leg,
    OrderStatus,
    OrderType,
    Side,
    StrategyCard,
)
from engine.model.events import ExecuteCard, ExecutionEvent

OPERATOR = Actor("alice", CommandSource.HOTKEY)


def pair_card(engine: Engine, *, deadline_minutes: float = 60.0, passive_second: bool = True) -> StrategyCard:
    """AAPL at market and MSFT either at market or resting 3.5% under the bid (it will not fill)."""
    quotes = engine.feed.latest_quotes()
    msft = Leg("MSFT", Side.BUY, 5.0)
    if passive_second:
        msft = Leg("MSFT", Side.BUY, 5.0, OrderType.LMT, round(quotes["MSFT"].bid * 0.965, 2))
    card = StrategyCard(
        card_id=f"pair-AAPL-MSFT-{engine.feed.current_day:%Y%m%d}",
        template="pair",
        name="Pair AAPL/MSFT",
        legs=(Leg("AAPL", Side.BUY, 5.0), msft),
        confidence=0.55,
        expected_return=0.01,
        max_risk=100.0,
        reason="test pair",
        asof=datetime(2012, 1, 3, tzinfo=UTC),
        deadline_minutes=deadline_minutes,
    )
    engine.cards.append(card)
    return card


@pytest.fixture
def progress(engine: Engine) -> list[ExecutionEvent]:
    events: list[ExecutionEvent] = []
    engine.bus.on(ExecutionEvent, events.append)
    return events


async def test_every_leg_filled_completes_the_card(engine: Engine, progress: list[ExecutionEvent]) -> None:
    await engine.step(3)
    card = pair_card(engine, passive_second=False)
    result = await engine.handle(ExecuteCard(card.card_id), OPERATOR)
    assert result.ok, result.message
    assert progress[0].status is ExecutionStatus.PENDING, "the confirmation shows at once"
    await engine.step(3)
    last = progress[-1]
    assert last.status is ExecutionStatus.COMPLETED
    assert [(leg.symbol, leg.status, leg.filled) for leg in last.legs] == [
        ("AAPL", "FILLED", 5.0),
        ("MSFT", "FILLED", 5.0),
    ]
    (row,) = engine.store.load_executions(card_id=card.card_id)
    assert row.status is ExecutionStatus.COMPLETED


async def test_a_leg_rejected_after_another_filled_unwinds_the_fill(
    engine: Engine, progress: list[ExecutionEvent]
) -> None:
    await engine.step(3)
    card = pair_card(engine)
    assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
    await engine.step(2)
    aapl = engine.ledger.quantity("AAPL")
    assert aapl == 5.0
    (msft,) = [o for o in engine.orders.open_orders() if o.symbol == "MSFT"]
    engine.orders.on_report(OrderRejected(msft.client_order_id, "no shortable shares (test)"))
    await engine.step(0)  # the engine sends the unwind
    await engine.step(2)
    last = progress[-1]
    assert last.status is ExecutionStatus.ROLLED_BACK, last.message
    assert "MSFT" in last.message and "REJECTED" in last.message
    assert engine.ledger.quantity("AAPL") == 0.0, "the filled leg was unwound"
    assert {leg.symbol: leg.status for leg in last.legs} == {"AAPL": "UNWOUND", "MSFT": "REJECTED"}
    unwinds = [o for o in engine.store.load_orders() if o.symbol == "AAPL" and o.side is Side.SELL]
    assert len(unwinds) == 1 and unwinds[0].status is OrderStatus.FILLED
    (row,) = engine.store.load_executions(card_id=card.card_id)
    assert row.status is ExecutionStatus.ROLLED_BACK


async def test_a_leg_unfilled_at_the_deadline_rolls_the_card_back(
    engine: Engine, progress: list[ExecutionEvent]
) -> None:
    await engine.step(3)
    card = pair_card(engine, deadline_minutes=30.0)
    assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
    await engine.step(4)  # 30 steps a session: 13 market minutes a step
    await engine.step(2)  # the unwind fills
    last = progress[-1]
    assert last.status is ExecutionStatus.ROLLED_BACK, last.message
    assert "deadline" in last.message and "MSFT 0/5" in last.message
    assert engine.orders.open_orders() == []
    assert engine.ledger.quantity("AAPL") == 0.0 and engine.ledger.quantity("MSFT") == 0.0


async def test_an_unwind_that_fails_leaves_the_card_failed_and_says_so(
    engine: Engine, progress: list[ExecutionEvent]
) -> None:
    await engine.step(3)
    card = pair_card(engine)
    assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
    await engine.step(2)
    (msft,) = [o for o in engine.orders.open_orders() if o.symbol == "MSFT"]
    engine.orders.on_report(OrderRejected(msft.client_order_id, "test"))
    await engine.step(0)
    (unwind,) = [o for o in engine.orders.open_orders() if o.symbol == "AAPL"]
    assert unwind.side is Side.SELL
    engine.orders.on_report(OrderRejected(unwind.client_order_id, "broker down (test)"))
    await engine.step(0)
    last = progress[-1]
    assert last.status is ExecutionStatus.FAILED
    assert "unwinding AAPL ended REJECTED: broker down (test)" in last.message
    assert "needs the operator" in last.message
    assert engine.ledger.quantity("AAPL") == 5.0


async def test_finished_executions_are_in_the_snapshot(engine: Engine) -> None:
    await engine.step(3)
    card = pair_card(engine, passive_second=False)
    assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
    await engine.step(3)
    (event,) = engine.snapshot().executions
    assert event.card_id == card.card_id and event.status is ExecutionStatus.COMPLETED


async def test_an_algo_leg_works_through_children_and_completes_the_card(
    engine: Engine, progress: list[ExecutionEvent]
) -> None:
    await engine.step(3)
    card = StrategyCard(
        card_id=f"twap-AAPL-{engine.feed.current_day:%Y%m%d}",
        template="twap_test",
        name="TWAP AAPL",
        legs=(Leg("AAPL", Side.BUY, 30.0, algo=Algo.TWAP),),
        confidence=0.55,
        expected_return=0.01,
        max_risk=100.0,
        reason="test",
        asof=datetime(2012, 1, 3, tzinfo=UTC),
        deadline_minutes=90.0,
    )
    engine.cards.append(card)
    assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
    await engine.step(10)
    last = progress[-1]
    assert last.status is ExecutionStatus.COMPLETED, last.message
    stored = engine.store.load_orders()
    (parent,) = [o for o in stored if o.algo]
    children = [o for o in stored if o.parent_id == parent.client_order_id]
    assert parent.algo == "TWAP" and parent.status is OrderStatus.FILLED and parent.filled_quantity == 30.0
    assert len(children) >= 2, "a TWAP works in slices"
    assert sum(c.filled_quantity for c in children) == 30.0
    assert all(c.arrival_price == parent.arrival_price for c in children)
    assert engine.ledger.quantity("AAPL") == 30.0


async def test_the_execution_report_compares_the_cards_expected_cost_with_the_fills(engine: Engine) -> None:
    from engine.api.reports import load_execution_quality

    await engine.step(3)
    card = next(c for c in engine.cards if c.legs[0].side is Side.BUY)
    assert card.details["expected_cost"] > 0
    assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
    await engine.step(3)
    since = engine.clock.now().replace(hour=0)
    await engine.stop()
    (quality,) = load_execution_quality(engine.database, since)
    assert quality.expected is not None and quality.expected.total == card.details["expected_cost"]
    assert quality.realized_cost is not None and quality.filled_quantity == card.legs[0].quantity
