"""Options inside the engine on the paper broker: a protective put bought through a card, marked at
the broker's model x100, in the risk report's Greeks, cash-settled at expiry; restarts, a settlement
the engine never heard of, and a flatten that buys a covered call back before selling its shares.

Real parts only: the shipped data, the paper broker and its journal, SQLite in ``tmp_path``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine.actor import Actor
from engine.brokers.paper import SETTLEMENT_PREFIX, PaperBroker, journal_path_for
from engine.clock import SimulatedClock
from engine.config import Settings
from engine.data.calendar import session_open_close
from engine.data.loader import MarketData
from engine.execution.quality import execution_quality, order_quality
from engine.kernel import Engine
from engine.model import (
    CommandSource,
    Fill,
    Leg,
    OptionContract,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    StrategyCard,
    TradingState,
)
from engine.model.events import ApproveRecovery, ExecuteCard, Flatten
from engine.signals.indicators import rolling_volatility
from tests.defaults import paper_broker

OPERATOR = Actor("alice", CommandSource.HOTKEY)
EXPIRY = date(2012, 1, 13)
"""A Friday nine sessions into the replay (which starts 2012-01-03); MSFT closes it at 28.25."""
PUT = OptionContract("MSFT", EXPIRY, 28.5, "P")
"""In the money all along (MSFT trades 26.5 to 28.25 until then): settled at a non-zero intrinsic."""
SETTLEMENT_ID = f"{SETTLEMENT_PREFIX}{EXPIRY.isoformat()}-{PUT.symbol.replace(' ', '')}"


def protective_put_card(engine: Engine) -> StrategyCard:
    """A card as the options template writes one: the put first, then the 100 shares it protects."""
    return StrategyCard(
        card_id=f"options-MSFT-{engine.clock.now():%Y%m%d}",
        template="options",
        name="Protective put MSFT",
        legs=(Leg(PUT.symbol, Side.BUY, 1.0), Leg("MSFT", Side.BUY, 100.0)),
        confidence=0.6,
        expected_return=0.01,
        max_risk=200.0,
        reason="placed by hand for the test",
        asof=engine.clock.now(),
    )


async def buy_protective_put(engine: Engine) -> None:
    await engine.step(2)  # the broker knows prices from quotes only
    card = protective_put_card(engine)
    engine.cards.append(card)
    result = await engine.handle(ExecuteCard(card.card_id), OPERATOR)
    assert result.ok, result.message
    await engine.step(2)
    assert engine.ledger.quantity(PUT.symbol) == 1.0
    assert engine.ledger.quantity("MSFT") == 100.0


async def play_through(engine: Engine, day: date) -> None:
    """Step until the session ``day`` has been played to its close."""
    while engine.feed.current_day is None or engine.feed.current_day < day:
        await engine.step_day()
    assert engine.feed.current_day == day


async def test_a_protective_put_is_marked_x100_has_greeks_and_is_cash_settled_at_expiry(
    engine: Engine,
) -> None:
    await buy_protective_put(engine)
    broker = engine.broker
    assert isinstance(broker, PaperBroker)

    mark = broker.option_marks()[PUT.symbol]
    (put,) = [p for p in engine.ledger.positions(include_flat=False) if p.symbol == PUT.symbol]
    assert put.last == mark
    assert put.market_value == pytest.approx(100.0 * mark)
    assert engine.ledger.market_value(PUT.symbol) == pytest.approx(100.0 * mark)
    assert put.unrealized_pnl == pytest.approx(100.0 * (mark - put.avg_cost))
    assert engine.snapshot().risk.gross_exposure * engine.ledger.equity == pytest.approx(
        100.0 * mark + 100.0 * engine.feed.latest_quotes()["MSFT"].last
    )

    report = await engine.refresh_risk_report()
    assert report is not None
    greeks = report.greeks
    assert -100.0 < greeks.delta < 0.0, "a long put's delta is negative, at most one per share covered"
    assert greeks.gamma > 0.0 and greeks.vega > 0.0 and greeks.theta < 0.0
    assert report.gross_value == pytest.approx(100.0 * mark + 100.0 * engine.ledger.positions()[0].last)

    cash_before = engine.ledger.cash
    await play_through(engine, EXPIRY)
    close = engine.feed.latest_quotes()["MSFT"].last
    intrinsic = round(max(PUT.strike - close, 0.0), 4)
    assert intrinsic > 0.0
    assert engine.ledger.quantity(PUT.symbol) == 0.0
    assert engine.ledger.quantity("MSFT") == 100.0
    stored = engine.store.get_order(SETTLEMENT_ID)
    assert stored is not None
    assert (stored.status, stored.side, stored.filled_quantity) == (OrderStatus.FILLED, Side.SELL, 1.0)
    assert stored.avg_fill_price == pytest.approx(intrinsic)
    (fill,) = engine.store.load_fills(client_order_id=SETTLEMENT_ID)
    assert (fill.price, fill.commission) == (pytest.approx(intrinsic), 0.0)
    assert engine.ledger.cash == pytest.approx(cash_before + 100.0 * intrinsic)
    assert [p.symbol for p in await broker.positions()] == ["MSFT"]
    assert await broker.cash() == pytest.approx(engine.ledger.cash)

    after = await engine.refresh_risk_report()
    assert after is not None and after.greeks.delta == 0.0
    assert engine.store.verify_audit().ok


async def test_a_restart_reproduces_the_account_and_the_trade_goes_on_as_without_it(
    settings: Settings, tmp_path: Path, shipped: MarketData
) -> None:
    async def run(db: Path, *, restart_after: date | None) -> Engine:
        engine = Engine(settings, database=db, market=shipped, paced=False)
        await engine.start()
        await buy_protective_put(engine)
        if restart_after is not None:
            await play_through(engine, restart_after)
            await engine.step(3)  # into the next session: the rest of it is skipped after the restart
            before = (engine.ledger.cash, engine.ledger.positions(), engine.ledger.equity)
            await engine.stop()
            engine = Engine(settings, database=db, market=shipped, paced=False)
            await engine.start()
            assert (engine.ledger.cash, engine.ledger.positions(), engine.ledger.equity) == before
            summary = engine.reconciliation
            assert summary is not None and summary.approved and not summary.position_mismatches
            assert engine.risk.state.state is TradingState.ACTIVE
            # Volatility is not journaled: given again at start, from the history before the next session.
            nxt = engine.feed.next_day()
            assert nxt is not None
            closes = engine.feed.history("MSFT", before=nxt)["close"].to_numpy(dtype=float)
            assert engine.parts.market.option_vols["MSFT"] == pytest.approx(
                rolling_volatility(closes[-21:], 20)[-1]
            )
            report = await engine.refresh_risk_report()
            assert report is not None and report.greeks.delta < 0.0
        await play_through(engine, EXPIRY)
        return engine

    straight = await run(tmp_path / "a" / "onetap.db", restart_after=None)
    restarted = await run(tmp_path / "b" / "onetap.db", restart_after=date(2012, 1, 5))
    try:
        for engine in (straight, restarted):
            assert engine.ledger.quantity(PUT.symbol) == 0.0
            stored = engine.store.get_order(SETTLEMENT_ID)
            assert stored is not None and stored.status is OrderStatus.FILLED
            assert await engine.broker.cash() == pytest.approx(engine.ledger.cash)
        # Nothing traded after the restart but the settlement, at the same expiry close either way:
        # the account ends where it ends without a restart.
        assert restarted.ledger.cash == pytest.approx(straight.ledger.cash)
        assert restarted.ledger.equity == pytest.approx(straight.ledger.equity)
        assert [(p.symbol, p.quantity, p.avg_cost, p.realized_pnl) for p in restarted.ledger.positions()] == [
            (p.symbol, p.quantity, p.avg_cost, pytest.approx(p.realized_pnl))
            for p in straight.ledger.positions()
        ]
    finally:
        await straight.stop()
        await restarted.stop()


async def test_a_settlement_the_engine_never_recorded_is_applied_by_reconciliation(
    engine: Engine, settings: Settings, db: Path, shipped: MarketData
) -> None:
    await engine.step(2)
    order = await engine.orders.submit(OrderRequest(PUT.symbol, Side.BUY, 2.0))
    assert order.status is OrderStatus.ACKNOWLEDGED, order.reason
    await engine.step(1)
    assert engine.ledger.quantity(PUT.symbol) == 2.0
    await play_through(engine, date(2012, 1, 12))
    await engine.stop()

    # The broker closes the expiry session (its journal line is written) and the process dies
    # before the engine records the settlement it made.
    clock = SimulatedClock(session_open_close(EXPIRY)[1])
    broker = paper_broker(clock, journal=journal_path_for(db))
    broker.on_session_close(EXPIRY, closes={"MSFT": 28.25})
    broker.close()

    again = Engine(settings, database=db, market=shipped, paced=False)
    await again.start()
    try:
        summary = again.reconciliation
        assert summary is not None
        assert summary.fills_applied == (f"{SETTLEMENT_ID}.1",)
        assert summary.external == () and summary.position_mismatches == () and summary.problems == ()
        stored = again.store.get_order(SETTLEMENT_ID)
        assert stored is not None and stored.status is OrderStatus.FILLED
        assert stored.avg_fill_price == pytest.approx(0.25)
        assert again.ledger.quantity(PUT.symbol) == 0.0
        assert again.ledger.cash == pytest.approx(await again.broker.cash())
        assert again.risk.state.state is TradingState.RECOVERING  # a missed fill is shown to a person
        assert (await again.handle(ApproveRecovery(), OPERATOR)).ok
        assert again.risk.state.state is TradingState.ACTIVE
        assert again.store.verify_audit().ok
    finally:
        await again.stop()


async def test_flatten_buys_a_covered_call_back_before_selling_its_shares(engine: Engine) -> None:
    call = OptionContract("MSFT", date(2012, 1, 20), 27.0, "C").symbol  # near the money: it has a bid
    await engine.step(2)
    await engine.orders.submit(OrderRequest("MSFT", Side.BUY, 100.0))
    await engine.step(1)
    written = await engine.orders.submit(OrderRequest(call, Side.SELL, 1.0))
    assert written.status is OrderStatus.ACKNOWLEDGED, written.reason
    await engine.step(1)
    assert (engine.ledger.quantity("MSFT"), engine.ledger.quantity(call)) == (100.0, -1.0)
    assert engine.ledger.market_value(call) < 0.0

    result = await engine.handle(Flatten(), OPERATOR)
    assert result.ok, result.message
    assert "MSFT held until the calls written on them are bought back" in result.message
    (buyback,) = engine.orders.open_orders()
    assert (buyback.symbol, buyback.side) == (call, Side.BUY)
    await engine.step(4)
    assert engine.ledger.positions(include_flat=False) == []
    stored = engine.store.load_orders()
    assert OrderStatus.REJECTED not in {o.status for o in stored}
    share_sale = next(o for o in stored if o.symbol == "MSFT" and o.side is Side.SELL)
    assert share_sale.created_at is not None and buyback.created_at is not None
    assert share_sale.created_at > buyback.created_at


async def test_paper_cards_may_trade_options_and_working_option_buys_count_x100(engine: Engine) -> None:
    day = engine.feed.next_day()
    assert day is not None
    assert engine.broker.trades_options is True
    assert engine.parts.cards.context(day).book.can_trade_options is True

    await engine.step(2)
    broker = engine.broker
    assert isinstance(broker, PaperBroker)
    quote = broker.option_quote(PUT.symbol)
    assert quote is not None
    limit = round(quote.bid / 2, 2)  # far below the model: it keeps working
    order = await engine.orders.submit(
        OrderRequest(PUT.symbol, Side.BUY, 2.0, OrderType.LMT, limit_price=limit)
    )
    assert order.status is OrderStatus.ACKNOWLEDGED, order.reason
    assert engine.orders.working_buy_value({}) == pytest.approx(2.0 * limit * 100.0)
    view = engine.parts.dispatcher.book_view()
    assert view.working_buy_value == pytest.approx(2.0 * limit * 100.0)
    assert view.prices[PUT.symbol] == broker.option_marks()[PUT.symbol]


def test_positions_and_execution_quality_of_an_option_are_money_x100() -> None:
    put = Position(PUT.symbol, 2.0, avg_cost=1.00, last=1.50)
    assert (put.market_value, put.unrealized_pnl) == (300.0, 100.0)
    stock = Position("MSFT", 2.0, avg_cost=1.00, last=1.50)
    assert (stock.market_value, stock.unrealized_pnl) == (3.0, 1.0)

    t0 = datetime(2012, 1, 3, 15, 0, tzinfo=UTC)
    bought = Order("OT-1", PUT.symbol, Side.BUY, 2.0, arrival_price=1.00, created_at=t0, execution_id="X-1")
    q = order_quality(bought, [Fill("OT-1.1", "OT-1", PUT.symbol, Side.BUY, 2.0, 1.02, 1.30, t0)])
    assert q.slippage_cost == pytest.approx(2.0 * 0.02 * 100.0)
    shares = replace(bought, client_order_id="OT-2", symbol="MSFT", quantity=100.0, arrival_price=26.0)
    s = order_quality(shares, [Fill("OT-2.1", "OT-2", "MSFT", Side.BUY, 100.0, 26.0, 1.0, t0)])
    both = execution_quality([q, s])
    assert both.slippage_bps == pytest.approx(4.0 / (200.0 + 2600.0) * 1e4)
