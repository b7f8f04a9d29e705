"""Safety under faults, end to end on the real engine: a full disk, a second engine, a database
that belongs to another broker, and a store failure inside the audit handler."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.actor import Actor
from engine.config import Settings, load_settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource, OrderStatus, Side, TradingState
from engine.model.events import ExecuteCard, Kill, NoticeEvent, OrderEvent
from engine.runtime.health import fallback_path
from engine.store.db import StoreError
from tests.engine.faults.disk import full_disk

OPERATOR = Actor("tester", CommandSource.HOTKEY)


def _entry(engine: Engine) -> str:
    return next(c.card_id for c in engine.cards if c.legs[0].side is Side.BUY)


async def _working_order(engine: Engine) -> str:
    """A card executed after the close: its order works at the broker until the next session."""
    await engine.step_day()
    result = await engine.handle(ExecuteCard(_entry(engine)), OPERATOR)
    assert result.ok, result.message
    (order,) = engine.orders.open_orders()
    assert order.status is OrderStatus.ACKNOWLEDGED
    return order.client_order_id


async def test_the_kill_switch_acts_on_a_full_disk_and_the_halt_survives_a_restart(
    engine: Engine, settings: Settings, db: Path, shipped: MarketData
) -> None:
    coid = await _working_order(engine)
    assert [o.client_order_id for o in await engine.broker.open_orders()] == [coid]
    notices: list[NoticeEvent] = []
    engine.bus.on(NoticeEvent, notices.append)
    with full_disk() as disk:
        result = await engine.handle(Kill("disk test"), OPERATOR)
        assert disk.refused > 0, "the fault never fired: the test proves nothing"
        assert result.ok, result.message
        assert "DEGRADED" in result.message
        assert engine.risk.state.state is TradingState.HALTED
        assert await engine.broker.open_orders() == []  # the cancel reached the broker
        assert fallback_path(db).exists()
        assert any("DEGRADED" in n.message for n in notices)
        refused = await engine.handle(ExecuteCard(_entry(engine)), OPERATOR)
        assert not refused.ok
        day = engine.feed.current_day
        await engine.step_day()  # the market keeps running on a full disk
        assert engine.feed.current_day != day
    await engine.stop()

    again = Engine(settings, database=db, market=shipped, paced=False)
    await again.start()
    try:
        assert again.risk.state.state is TradingState.HALTED  # from the fallback file
        assert not fallback_path(db).exists()  # the database has it now
    finally:
        await again.stop()


async def test_a_full_disk_refuses_new_orders_and_keeps_the_feed(engine: Engine) -> None:
    await engine.step_day()
    with full_disk() as disk:
        await engine.step_day()
        assert disk.refused > 0
        result = await engine.handle(ExecuteCard(_entry(engine)), OPERATOR)
        assert not result.ok
        assert result.code == "STORE_DEGRADED"
        assert engine.orders.open_orders() == []
        assert engine.feed.latest_quotes()  # prices still move


async def test_a_second_engine_on_one_database_is_refused_whatever_its_broker(
    engine: Engine, db: Path, shipped: MarketData
) -> None:
    import os

    for env in ({}, {"ONETAP_BROKER__KIND": "ibkr", "ONETAP_IBKR__PORT": "9"}):
        second = Engine(load_settings(environ=env), database=db, market=shipped, paced=False)
        with pytest.raises(StoreError, match=f"pid {os.getpid()}"):
            await second.start()
    assert engine.risk.state.state is TradingState.ACTIVE  # the first one is untouched


async def test_an_audit_failure_rolls_back_the_order_intent(engine: Engine) -> None:
    """The order's audit entry is written by a critical handler: when it fails, the INTENT row
    must not commit without it (and nothing is sent)."""
    await engine.step_day()
    sent: list[str] = []
    real_submit = engine.broker.submit

    async def spy(order):  # type: ignore[no-untyped-def]
        sent.append(order.client_order_id)
        await real_submit(order)

    engine.broker.submit = spy  # type: ignore[method-assign]

    def failing_audit(event: OrderEvent) -> None:
        raise StoreError("injected: the audit log cannot be written")

    engine.bus.on(OrderEvent, failing_audit, critical=True)
    before = len(engine.store.load_orders())
    with pytest.raises(StoreError, match="injected"):
        await engine.handle(ExecuteCard(_entry(engine)), OPERATOR)
    assert sent == []
    assert len(engine.store.load_orders()) == before
    assert engine.store.verify_audit().ok


async def test_a_deleted_paper_journal_is_not_adopted_silently(
    engine: Engine, settings: Settings, db: Path, shipped: MarketData
) -> None:
    from engine.brokers.paper import journal_path_for
    from engine.model.events import ApproveRecovery

    await _working_order(engine)
    await engine.step_day()
    assert engine.ledger.positions(include_flat=False), "nothing was bought: the test proves nothing"
    await engine.stop()
    journal_path_for(db).unlink()

    again = Engine(settings, database=db, market=shipped, paced=False)
    notices: list[NoticeEvent] = []
    again.bus.on(NoticeEvent, notices.append)
    await again.start()
    try:
        assert again.risk.state.state is TradingState.RECOVERING
        assert any("journal is missing" in n.message for n in notices)
        assert any(e.action == "broker_journal_missing" for e in again.store.load_audit())
        assert (await again.handle(ApproveRecovery(), OPERATOR)).ok
        assert again.risk.state.state is TradingState.ACTIVE
    finally:
        await again.stop()
