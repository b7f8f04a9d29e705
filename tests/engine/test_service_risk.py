"""The risk engine inside the engine: kill levels, limit changes, the duplicate guard, pauses.

Real parts only: the shipped data, the paper broker, SQLite in ``tmp_path``, the socket.
"""

from __future__ import annotations

from pathlib import Path

from console.client import SocketClient
from engine.actor import Actor
from engine.api.socket_server import serve
from engine.config import Settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import (
    Action,
    CommandSource,
    OrderRequest,
    OrderStatus,
    OrderType,
    RefusalCode,
    Side,
    TradingState,
)
from engine.model.events import (
    Event,
    ExecuteCard,
    Flatten,
    Kill,
    LimitsEvent,
    ModifyOrder,
    RefusalEvent,
    RiskAlert,
    RiskReportEvent,
    SetLimit,
)

OPERATOR = Actor("alice", CommandSource.HOTKEY)


def entry(engine: Engine) -> str:
    return next(c.card_id for c in engine.cards if c.legs[0].side is Side.BUY)


async def test_flatten_halts_cancels_and_closes_every_position(
    engine: Engine, settings: Settings, db: Path, shipped: MarketData
) -> None:
    await engine.step(3)
    assert (await engine.handle(ExecuteCard(entry(engine)), OPERATOR)).ok
    await engine.step(3)
    held = {p.symbol: p.quantity for p in engine.ledger.positions(include_flat=False)}
    assert held, "the card's order should have filled"
    assert (await engine.handle(ExecuteCard(entry(engine)), OPERATOR)).ok  # a second one left working
    assert engine.orders.open_orders()

    result = await engine.handle(Flatten(), OPERATOR)
    assert result.ok, result.message
    assert engine.risk.state.halted and engine.risk.state.kill_level == 2
    assert all(o.side is Side.SELL for o in engine.orders.open_orders()), "buys cancelled, sells sent"
    await engine.step(5)
    assert engine.ledger.positions(include_flat=False) == []
    stored = engine.store.load_orders()
    assert {o.status for o in stored} <= {OrderStatus.FILLED, OrderStatus.CANCELLED}
    refused = await engine.handle(ExecuteCard(entry(engine)), OPERATOR)
    assert not refused.ok and refused.code == "HALTED"
    codes = [e.code for e in engine.store.load_risk_events()]
    assert "FLATTEN" in codes
    await engine.stop()

    again = Engine(settings, database=db, market=shipped, paced=False)
    await again.start()
    try:
        assert again.snapshot().risk.trading_state is TradingState.HALTED
        assert again.snapshot().risk.kill_level == 2
        assert again.store.verify_audit().ok
    finally:
        await again.stop()


async def test_kill_over_the_socket_cancels_working_orders(engine: Engine, tmp_path: Path) -> None:
    await engine.step(3)
    assert (await engine.handle(ExecuteCard(entry(engine)), OPERATOR)).ok
    (working,) = engine.orders.open_orders()
    path = tmp_path / "run" / "engine.sock"
    server = await serve(engine, path)
    client = SocketClient(path)
    seen: list[Event] = []
    try:
        await client.connect(seen.append)
        result = await client.send(Kill(reason="from a shell", source=CommandSource.CLI))
        assert result.ok, result.message
        assert engine.orders.open_orders() == []
        stored = engine.store.get_order(working.client_order_id)
        assert stored is not None and stored.status is OrderStatus.CANCELLED
        refused = await client.send(ExecuteCard(entry(engine), source=CommandSource.SOCKET))
        assert not refused.ok and refused.code == "HALTED"
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    alerts = [e for e in seen if isinstance(e, RiskAlert)]
    assert alerts and alerts[0].code == "KILL" and "from a shell" in alerts[0].message


async def test_a_limit_changed_at_run_time_is_audited_and_enforced(engine: Engine) -> None:
    published: list[LimitsEvent] = []
    engine.bus.on(LimitsEvent, published.append)
    await engine.step(3)
    bad = await engine.handle(SetLimit("max_position_pct", 2.0), OPERATOR)
    assert not bad.ok and bad.code == "BAD_LIMIT"
    assert (await engine.handle(SetLimit("max_position_pct", 0.01), OPERATOR)).ok
    assert published[-1].limits["max_position_pct"] == 0.01
    refused = await engine.handle(ExecuteCard(entry(engine)), OPERATOR)
    assert not refused.ok and refused.code == "MAX_POSITION"
    risk_entries = [a for a in engine.store.load_audit() if a.action == "risk"]
    assert risk_entries and risk_entries[-1].payload["code"] == "LIMIT_CHANGED"
    assert risk_entries[-1].actor == "alice"
    assert engine.store.verify_audit().ok


async def test_the_same_order_twice_needs_an_override(engine: Engine) -> None:
    refusals: list[RefusalEvent] = []
    engine.bus.on(RefusalEvent, refusals.append)
    await engine.step(3)
    card = entry(engine)
    assert (await engine.handle(ExecuteCard(card), OPERATOR)).ok
    again = await engine.handle(ExecuteCard(card), OPERATOR)
    assert not again.ok and again.code is RefusalCode.DUPLICATE  # the member, as the console compares it
    assert [(r.action, r.code, r.subject) for r in refusals] == [
        (Action.EXECUTE_CARD, RefusalCode.DUPLICATE, card)
    ]
    forced = await engine.handle(ExecuteCard(card, override_duplicate=True), OPERATOR)
    assert forced.code is not RefusalCode.DUPLICATE  # past the guard, the other limits still apply


async def test_a_paused_strategy_stays_paused_across_a_restart(
    engine: Engine, settings: Settings, db: Path, shipped: MarketData
) -> None:
    await engine.step(3)
    card = next(c for c in engine.cards if c.legs[0].side is Side.BUY)
    engine.risk.pause(card.template, "test")
    refused = await engine.handle(ExecuteCard(card.card_id), OPERATOR)
    assert not refused.ok and refused.code == "STRATEGY_PAUSED"
    await engine.stop()
    again = Engine(settings, database=db, market=shipped, paced=False)
    await again.start()
    try:
        assert again.snapshot().risk.paused_strategies == (card.template,)
    finally:
        await again.stop()


async def test_a_kill_while_the_broker_is_unreachable_cancels_first_on_reconnect(engine: Engine) -> None:
    await engine.step(3)
    assert (await engine.handle(ExecuteCard(entry(engine)), OPERATOR)).ok
    (working,) = engine.orders.open_orders()
    await engine.broker.disconnect()
    result = await engine.handle(Kill(reason="line down"), OPERATOR)
    assert result.ok and engine.risk.state.halted, "the halt is in force even though nothing was sent"
    assert engine.orders.owed_cancels == {working.client_order_id}
    stored = engine.store.get_order(working.client_order_id)
    assert stored is not None and stored.status is OrderStatus.PENDING_CANCEL

    calls: list[str] = []
    real_cancel = engine.broker.cancel

    async def spy_cancel(coid: str) -> None:
        calls.append(f"cancel {coid}")
        await real_cancel(coid)

    engine.broker.cancel = spy_cancel  # type: ignore[method-assign]
    await engine.reconnect_broker()
    assert calls == [f"cancel {working.client_order_id}"]
    assert engine.orders.owed_cancels == frozenset() and engine.orders.open_orders() == []
    stored = engine.store.get_order(working.client_order_id)
    assert stored is not None and stored.status is OrderStatus.CANCELLED


async def test_the_risk_report_describes_the_book_after_a_fill(engine: Engine) -> None:
    published: list[RiskReportEvent] = []
    engine.bus.on(RiskReportEvent, published.append)
    await engine.step(3)
    assert (await engine.handle(ExecuteCard(entry(engine)), OPERATOR)).ok
    await engine.step(3)
    report = await engine.refresh_risk_report()
    assert report is not None and published and published[-1].report == report
    (symbol,) = report.symbols
    assert report.correlation == ((1.0,),)
    methods = {v.method: v for v in report.var}
    assert set(methods) == {"historical", "parametric", "monte_carlo", "evt_gjr"}  # [risk] var_method
    assert report.var_method == "evt_gjr"
    assert [b.level for b in report.var_backtest] == [0.95, 0.99]
    for figures in methods.values():
        assert 0 < figures.var_95 <= figures.var_99 <= figures.cvar_99
        assert figures.var_95 <= figures.cvar_95
    position = next(p for p in engine.ledger.positions(include_flat=False) if p.symbol == symbol)
    assert methods["historical"].var_99 < position.market_value
    weight = position.market_value / report.equity  # beta is of the whole book, cash included
    assert report.beta is not None and 0.2 * weight < report.beta < 3.0 * weight
    assert {s.scenario for s in report.stress} >= {"2008", "2020", "flash crash", "correction", "stagflation"}
    down = [s for s in report.stress if s.shock < 0]
    assert len(down) == 6 and all(s.pnl < 0 for s in down), "a long book loses in every down scenario"
    assert engine.snapshot().risk_report == report


async def test_a_daily_loss_beyond_the_limit_halts_and_cancels_with_its_cause(engine: Engine) -> None:
    alerts: list[RiskAlert] = []
    engine.bus.on(RiskAlert, alerts.append)
    await engine.step(3)
    assert (await engine.handle(SetLimit("daily_loss_limit_pct", 0.000001), OPERATOR)).ok
    assert (await engine.handle(ExecuteCard(entry(engine)), OPERATOR)).ok
    await engine.step(2)  # the fill pays the spread and a commission: a loss beyond a tiny limit
    assert engine.risk.state.halted
    assert alerts[-1].code == "DAILY_LOSS" and alerts[-1].level == "error"
    assert "today's loss" in engine.snapshot().risk.halted_reason
    await engine.step(1)
    assert engine.orders.open_orders() == []
    events = [e for e in engine.store.load_risk_events() if e.code == "DAILY_LOSS"]
    assert events and "circuit breaker" in events[-1].message


async def test_a_drawdown_beyond_the_limit_allows_only_reducing_orders(engine: Engine) -> None:
    await engine.step(3)
    assert (await engine.handle(ExecuteCard(entry(engine)), OPERATOR)).ok
    await engine.step(2)
    assert (await engine.handle(SetLimit("drawdown_limit_pct", 0.000001), OPERATOR)).ok
    await engine.step(4)
    assert engine.snapshot().risk.trading_state is TradingState.REDUCING
    refused = await engine.handle(ExecuteCard(entry(engine)), OPERATOR)
    assert not refused.ok and refused.code == "REDUCING"
    exit_card = next(c for c in engine.cards if c.legs[0].side is Side.SELL)
    assert (await engine.handle(ExecuteCard(exit_card.card_id), OPERATOR)).ok


async def test_a_working_limit_order_is_modified_in_place_through_the_checks(engine: Engine) -> None:
    await engine.step(3)
    bid = engine.feed.latest_quotes()["AAPL"].bid
    order = await engine.orders.submit(
        OrderRequest("AAPL", Side.BUY, 5.0, OrderType.LMT, limit_price=round(bid * 0.97, 2))
    )
    result = await engine.handle(
        ModifyOrder(order.client_order_id, quantity=8.0, limit_price=bid * 0.98), OPERATOR
    )
    assert result.ok, result.message
    stored = engine.store.get_order(order.client_order_id)
    assert stored is not None and stored.quantity == 8.0
    assert (
        stored.limit_price is not None and bid * 0.98 - 0.01 < stored.limit_price <= bid * 0.98
    )  # on the tick
    (working,) = await engine.broker.open_orders()
    assert (working.quantity, working.limit_price) == (8.0, stored.limit_price)
    banded = await engine.handle(ModifyOrder(order.client_order_id, limit_price=bid * 0.5), OPERATOR)
    assert not banded.ok and banded.code == "PRICE_BAND"
    too_big = await engine.handle(ModifyOrder(order.client_order_id, quantity=4_000.0), OPERATOR)
    assert not too_big.ok and too_big.code in {"MAX_ORDER_VALUE", "MAX_POSITION", "MAX_ORDER_QTY"}
    gone = await engine.handle(ModifyOrder("OT-99999999", quantity=1.0), OPERATOR)
    assert not gone.ok and gone.code == "NOT_OPEN"
