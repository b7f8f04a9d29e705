"""The engine end to end on the paper broker: cards, write-ahead orders, fills, kill switch, restart."""

from __future__ import annotations

from pathlib import Path

from engine.actor import Actor
from engine.config import Settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource, OrderStatus, Side, TradingState
from engine.model.events import ExecuteCard, Kill, RefusalEvent, ResetKill

OPERATOR = Actor("tester", CommandSource.HOTKEY)


def _entry(engine: Engine) -> str:
    return next(c.card_id for c in engine.cards if c.legs[0].side is Side.BUY)


async def test_cards_come_from_history_before_today(engine: Engine) -> None:
    assert engine.cards, "the card source offered nothing on the first replayed day"
    day = engine.feed.next_day()
    for card in engine.cards:
        assert 0.0 < card.confidence < 1.0
        assert card.card_id.endswith(f"{day:%Y%m%d}")
        assert card.max_risk >= 0.0


async def test_order_is_persisted_before_it_is_sent_then_fills(engine: Engine) -> None:
    seen_at_send: list[OrderStatus | None] = []
    real_submit = engine.broker.submit

    async def spy(order):  # type: ignore[no-untyped-def]
        stored = engine.store.get_order(order.client_order_id)
        seen_at_send.append(stored.status if stored else None)
        await real_submit(order)

    engine.broker.submit = spy  # type: ignore[method-assign]
    await engine.step_day()  # the broker knows prices only from quotes: play a session first
    card_id = _entry(engine)
    result = await engine.handle(ExecuteCard(card_id), OPERATOR)
    assert result.ok, result.message
    assert seen_at_send == [OrderStatus.INTENT]
    (order,) = engine.orders.open_orders()
    assert order.status is OrderStatus.ACKNOWLEDGED
    await engine.step_day()
    stored = engine.store.get_order(order.client_order_id)
    assert stored is not None and stored.status is OrderStatus.FILLED
    pos = {p.symbol: p for p in engine.ledger.positions(include_flat=False)}
    assert pos[order.symbol].quantity == order.quantity
    assert engine.store.verify_audit().ok


async def test_kill_switch_cancels_refuses_and_survives_restart(
    engine: Engine, settings: Settings, db: Path, shipped: MarketData
) -> None:
    refusals: list[RefusalEvent] = []
    engine.bus.on(RefusalEvent, refusals.append)
    await engine.step_day()
    await engine.handle(ExecuteCard(_entry(engine)), OPERATOR)
    (working,) = engine.orders.open_orders()
    result = await engine.handle(Kill(), OPERATOR)
    assert result.ok
    assert engine.store.get_order(working.client_order_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    refused = await engine.handle(ExecuteCard(_entry(engine)), OPERATOR)
    assert not refused.ok and refused.code == "HALTED"
    assert refusals and refusals[-1].code == "HALTED"
    await engine.stop()

    again = Engine(settings, database=db, market=shipped, paced=False)
    await again.start()
    try:
        assert again.snapshot().risk.trading_state is TradingState.HALTED
        assert not (await again.handle(ResetKill("resume"), OPERATOR)).ok
        assert (await again.handle(ResetKill("RESUME"), OPERATOR)).ok
        assert (await again.handle(ExecuteCard(_entry(again)), OPERATOR)).ok
    finally:
        await again.stop()


async def test_a_restart_mid_session_never_moves_market_time_back(
    engine: Engine, settings: Settings, db: Path, shipped: MarketData
) -> None:
    await engine.step(5)
    interrupted, stopped_at = engine.feed.current_day, engine.clock.now()
    await engine.stop()
    again = Engine(settings, database=db, market=shipped, paced=False)
    await again.start()
    try:
        nxt = again.feed.next_day()
        assert interrupted is not None and nxt is not None and nxt > interrupted
        assert again.clock.now() > stopped_at
        await again.step(1)
        assert again.feed.current_day == nxt
    finally:
        await again.stop()


async def test_restart_continues_the_replay(
    engine: Engine, settings: Settings, db: Path, shipped: MarketData
) -> None:
    await engine.step_day()
    await engine.step_day()
    played = engine.feed.current_day
    await engine.stop()
    again = Engine(settings, database=db, market=shipped, paced=False)
    await again.start()
    try:
        nxt = again.feed.next_day()
        assert played is not None and nxt is not None and nxt > played
    finally:
        await again.stop()
