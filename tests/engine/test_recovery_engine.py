"""Start-up reconciliation inside the engine: the journaled paper account and the database agree,
or trading waits for the operator."""

from __future__ import annotations

from pathlib import Path

from engine.actor import Actor
from engine.config import Settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource, Order, OrderRequest, OrderStatus, OrderType, Side, TradingState
from engine.model.events import ApproveRecovery, ExecuteCard, ReconciliationSummary

OPERATOR = Actor("alice", CommandSource.HOTKEY)


def entry(engine: Engine) -> str:
    return next(c.card_id for c in engine.cards if c.legs[0].side is Side.BUY)


async def restart(engine: Engine, settings: Settings, db: Path, shipped: MarketData) -> Engine:
    await engine.stop()
    again = Engine(settings, database=db, market=shipped, paced=False)
    await again.start()
    return again


async def test_a_working_order_survives_a_restart_and_fills_after_it(
    engine: Engine, settings: Settings, db: Path, shipped: MarketData
) -> None:
    await engine.step(3)
    limit = round(engine.feed.latest_quotes()["AAPL"].ask * 1.01, 2)
    working = await engine.orders.submit(
        OrderRequest("AAPL", Side.BUY, 3.0, OrderType.LMT, limit_price=limit)
    )
    assert working.status is OrderStatus.ACKNOWLEDGED
    again = await restart(engine, settings, db, shipped)
    try:
        summary = again.reconciliation
        assert summary is not None and summary.approved and summary.open_orders_matched == 1
        assert again.snapshot().risk.trading_state is TradingState.ACTIVE
        assert [o.client_order_id for o in again.orders.open_orders()] == [working.client_order_id]
        await again.step(2)
        stored = again.store.get_order(working.client_order_id)
        assert stored is not None and stored.status is OrderStatus.FILLED
        assert again.ledger.quantity("AAPL") == 3.0
    finally:
        await again.stop()


async def test_an_order_the_broker_never_got_is_lost_and_trading_waits_for_approval(
    engine: Engine, settings: Settings, db: Path, shipped: MarketData
) -> None:
    await engine.step(3)
    ghost = Order(
        client_order_id=engine.store.next_client_order_id(),
        symbol="AAPL",
        side=Side.BUY,
        quantity=5.0,
        created_at=engine.clock.now(),
    )
    engine.store.insert_order(ghost)  # written, then the process died before the send
    seen: list[ReconciliationSummary] = []
    again = await restart(engine, settings, db, shipped)
    try:
        summary = again.reconciliation
        assert summary is not None and not summary.approved
        assert summary.lost == (ghost.client_order_id,)
        assert again.snapshot().risk.trading_state is TradingState.RECOVERING
        stored = again.store.get_order(ghost.client_order_id)
        assert stored is not None and stored.status is OrderStatus.LOST
        await again.step(1)
        refused = await again.handle(ExecuteCard(entry(again)), OPERATOR)
        assert not refused.ok and refused.code == "RECOVERING"
        again.bus.on(ReconciliationSummary, seen.append)
        assert (await again.handle(ApproveRecovery(), OPERATOR)).ok
        assert seen and seen[-1].approved
        assert again.snapshot().risk.trading_state is TradingState.ACTIVE
        assert (await again.handle(ExecuteCard(entry(again)), OPERATOR)).ok
        actions = [a.action for a in again.store.load_audit()]
        assert "reconciliation" in actions and again.store.verify_audit().ok
    finally:
        await again.stop()
