"""The whole engine on ``[broker] kind = "ibkr"`` against the TWS simulator.

Bars come from IBKR's history (cached), quotes from IBKR's stream, the clock from IBKR's time;
a card executes to a fill at the simulator; the kill switch cancels what is working there; a
dropped connection reconnects and reconciles the fills made meanwhile exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from engine.actor import Actor
from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator
from engine.clock import SimulatedClock
from engine.config import Settings, load_settings
from engine.kernel import Engine
from engine.model import CommandSource, OrderStatus, TradingState
from engine.model.events import ApproveRecovery, ExecuteCard, Kill
from engine.runtime.startup import EngineStartError

SYMBOLS = ("AAPL", "MSFT", "GOOG", "IBM", "AMZN")
ACTOR = Actor("tester", CommandSource.HOTKEY)


def engine_settings(port: int, cache: Path, **extra: str) -> Settings:
    env = {
        "ONETAP_BROKER__KIND": "ibkr",
        "ONETAP_IBKR__PORT": str(port),
        "ONETAP_IBKR__HEARTBEAT_S": "0.2",
        "ONETAP_IBKR__CONNECT_TIMEOUT_S": "2",
        "ONETAP_IBKR__RECONNECT_MAX_S": "0.5",
        "ONETAP_IBKR__NIGHTLY_RESET": "",
        "ONETAP_IBKR__HISTORY": "1 Y",
        "ONETAP_IBKR__HISTORY_CACHE": str(cache),
        **extra,
    }
    return load_settings(environ=env)


def quote_day(sim: TwsSimulator, bars: Mapping[str, pd.DataFrame], day: str, field: str = "open") -> None:
    for symbol in SYMBOLS:
        price = float(bars[symbol][field].loc[pd.Timestamp(day)])
        sim.set_quote(
            symbol, round(price - 0.01, 2), round(price + 0.01, 2), price, bid_size=10_000, ask_size=10_000
        )


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
async def engine(
    port: int, tmp_path: Path, sim: TwsSimulator, shipped_bars: Mapping[str, pd.DataFrame]
) -> AsyncIterator[Engine]:
    eng = Engine(engine_settings(port, tmp_path / "bars"), database=tmp_path / "onetap.db")
    await eng.start()
    quote_day(sim, shipped_bars, "2012-06-01")
    yield eng
    if not eng.store.closed:
        await eng.stop()


async def test_engine_takes_its_market_from_ibkr(engine: Engine, tmp_path: Path) -> None:
    assert engine.broker.name == "ibkr"
    assert sorted(engine.market.bars) == sorted(SYMBOLS)
    assert engine.market.bars["AAPL"].index[-1] == pd.Timestamp("2012-05-31")  # before IBKR's today
    assert (tmp_path / "bars" / "AAPL.csv").is_file()
    await until(lambda: engine.feed.current_day is not None and len(engine.feed.latest_quotes()) == 5)
    assert str(engine.feed.current_day) == "2012-06-01"
    status = engine.parts.status.event()
    assert (status.broker, status.link, status.account, status.server_version) == (
        "ibkr",
        "connected",
        "DU1234567",
        176,
    )
    assert status.mode == "paper"
    await until(
        lambda: engine.parts.status.event().broker_equity > 0
    )  # IBKR's own figures, beside onetap's book
    assert engine.parts.status.event().broker_equity == pytest.approx(100_000.0)
    assert engine.parts.status.event().buying_power == pytest.approx(100_000.0)


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(accounts=("DU1234567",), cash=100_000.0, max_fill_per_quote=2)]
)
async def test_a_card_executes_at_the_simulator_and_the_kill_switch_cancels_there(
    engine: Engine, sim: TwsSimulator, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    await until(lambda: bool(engine.cards), timeout=30)
    card = engine.cards[0]
    result = await engine.handle(ExecuteCard(card.card_id), ACTOR)
    assert result.ok, result.message
    await until(lambda: any(p.quantity != 0 for p in engine.ledger.positions(include_flat=False)), timeout=15)
    held = {p.symbol for p in engine.ledger.positions(include_flat=False)}
    assert held <= {leg.symbol for leg in card.legs}
    # two shares per quote: the card's orders are still working at the simulator
    assert sim.call(lambda: len(sim.exchange.open_orders())) > 0
    result = await engine.handle(Kill(reason="test"), ACTOR)
    assert result.ok, result.message
    assert engine.risk.state.state is TradingState.HALTED
    await until(lambda: sim.call(lambda: len(sim.exchange.open_orders())) == 0)
    await until(
        lambda: not [o for o in engine.store.load_orders() if o.status is OrderStatus.PARTIALLY_FILLED]
    )
    quote_day(sim, shipped_bars, "2012-06-01", "close")  # nothing left to fill
    await engine.broker.open_orders()  # a round trip: what the simulator sent has been handled
    fills = len(engine.store.load_fills())
    quote_day(sim, shipped_bars, "2012-06-01", "high")
    assert await engine.broker.open_orders() == []  # the same barrier, after the new quotes
    high = float(shipped_bars["AAPL"]["high"].loc[pd.Timestamp("2012-06-01")])
    assert engine.feed.latest_quotes()["AAPL"].last == pytest.approx(high)  # the quotes did arrive
    assert len(engine.store.load_fills()) == fills


async def test_live_gate_mismatch_refuses_to_start(port: int, tmp_path: Path) -> None:
    settings = engine_settings(
        port, tmp_path / "bars", ONETAP_IBKR__LIVE="true", ONETAP_IBKR__ACCOUNT="U7654321"
    )
    eng = Engine(settings, database=tmp_path / "onetap.db")
    with pytest.raises(EngineStartError, match="account U7654321 is not managed by this login"):
        await eng.start()
    paper_port = engine_settings(
        7497, tmp_path / "bars", ONETAP_IBKR__LIVE="true", ONETAP_IBKR__ACCOUNT="U7654321"
    )
    with pytest.raises(EngineStartError, match="paper-trading port"):
        await Engine(paper_port, database=tmp_path / "other.db").start()


async def test_a_live_account_behind_a_paper_flag_refuses_to_start(
    tmp_path: Path, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    from engine.brokers.tws_sim import run_in_thread

    sim = TwsSimulator(
        SimulatorConfig(accounts=("U7654321",)),
        bars=shipped_bars,
        clock=SimulatedClock(pd.Timestamp("2012-06-01 15:00", tz="UTC").to_pydatetime()).now,
    )
    with run_in_thread(sim) as port:
        eng = Engine(engine_settings(port, tmp_path / "bars"), database=tmp_path / "onetap.db")
        with pytest.raises(EngineStartError, match="live account but --live was not given"):
            await eng.start()


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(accounts=("DU1234567",), cash=100_000.0, max_fill_per_quote=2)]
)
async def test_dropped_link_reconnects_and_applies_missed_fills_once(
    engine: Engine, sim: TwsSimulator, sim_clock: SimulatedClock, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    await until(lambda: bool(engine.cards), timeout=30)
    card = engine.cards[0]
    result = await engine.handle(ExecuteCard(card.card_id), ACTOR)
    assert result.ok, result.message
    await until(lambda: bool(engine.store.load_fills()), timeout=15)
    working = [
        o.client_order_id for o in engine.store.load_orders() if o.status is OrderStatus.PARTIALLY_FILLED
    ]
    assert working, "a 2-share-per-quote market leaves the card's orders working"
    sim.faults.drop_connections()
    await until(lambda: engine.broker.link.state == "reconnecting")  # type: ignore[attr-defined]
    for _ in range(5):  # the market trades on while onetap is away: fills nobody hears of
        sim_clock.advance(timedelta(minutes=1))
        quote_day(sim, shipped_bars, "2012-06-01", "open")
    held_at_ibkr = sim.call(
        lambda: {k: p.quantity for k, p in sim.exchange.accounts["DU1234567"].positions.items() if p.quantity}
    )
    await until(lambda: engine.broker.connected and engine.broker.reconnects == 1, timeout=15)  # type: ignore[attr-defined]
    await until(
        lambda: engine.reconciliation is not None and len(engine.reconciliation.fills_applied) > 0, timeout=15
    )
    fills = [f.exec_id for f in engine.store.load_fills()]
    assert len(fills) == len(set(fills))  # nothing applied twice
    await until(
        lambda: {p.symbol: p.quantity for p in engine.ledger.positions(include_flat=False)} == held_at_ibkr,
        timeout=15,
    )
    assert engine.risk.state.state is TradingState.RECOVERING  # the operator sees what changed
    result = await engine.handle(ApproveRecovery(), ACTOR)
    assert result.ok, result.message


async def test_a_fresh_database_starts_from_the_ibkr_account_as_it_is(
    port: int, tmp_path: Path, sim: TwsSimulator, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    from engine.brokers.ibkr.broker import IbkrBroker
    from engine.model import Order, Side

    quote_day(sim, shipped_bars, "2012-06-01")
    other = IbkrBroker(engine_settings(port, tmp_path / "bars").ibkr.model_copy(update={"client_id": 99}))
    await other.connect()
    await other.submit(Order(client_order_id="TWS-1", symbol="AAPL", side=Side.BUY, quantity=10.0))
    await until(lambda: any(p.position == 10 for p in other.ib.positions()))
    await other.disconnect()
    cash_at_ibkr = sim.call(lambda: sim.exchange.accounts["DU1234567"].cash)

    eng = Engine(engine_settings(port, tmp_path / "bars"), database=tmp_path / "onetap.db")
    await eng.start()
    try:
        assert eng.ledger.quantity("AAPL") == 10
        assert eng.ledger.cash == pytest.approx(cash_at_ibkr)
        assert eng.reconciliation is not None and not eng.reconciliation.position_mismatches
        assert eng.risk.state.state is TradingState.ACTIVE
        assert [lot.quantity for lot in eng.lots.open_lots("AAPL")] == [10]
    finally:
        await eng.stop()
    again = Engine(engine_settings(port, tmp_path / "bars"), database=tmp_path / "onetap.db")
    await again.start()  # a restart folds the same opening book, not the account anew
    try:
        assert again.ledger.quantity("AAPL") == 10
        assert again.ledger.cash == pytest.approx(cash_at_ibkr)
    finally:
        await again.stop()


async def test_read_only_refuses_cards_before_any_order_exists(
    port: int, tmp_path: Path, sim: TwsSimulator, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    eng = Engine(
        engine_settings(port, tmp_path / "bars", ONETAP_IBKR__READ_ONLY="true"), database=tmp_path / "r.db"
    )
    await eng.start()
    try:
        quote_day(sim, shipped_bars, "2012-06-01")
        await until(lambda: bool(eng.cards), timeout=30)
        result = await eng.handle(ExecuteCard(eng.cards[0].card_id), ACTOR)
        assert not result.ok and result.code == "BROKER_CLOSED" and "read-only" in result.message
        assert eng.store.load_orders() == []
        assert eng.parts.status.event().mode == "paper read-only"
    finally:
        await eng.stop()


async def test_headless_live_is_acknowledged_by_its_setting(
    tmp_path: Path, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    from engine.brokers.tws_sim import run_in_thread

    clock = SimulatedClock(pd.Timestamp("2012-06-01 15:00", tz="UTC").to_pydatetime())
    live = TwsSimulator(SimulatorConfig(accounts=("U7654321",)), bars=shipped_bars, clock=clock.now)
    with run_in_thread(live) as port:
        for typed, acknowledged in (("U765432", False), ("U7654321", True)):
            settings = engine_settings(
                port,
                tmp_path / "bars",
                ONETAP_IBKR__LIVE="true",
                ONETAP_IBKR__ACCOUNT="U7654321",
                ONETAP_IBKR__LIVE_ACKNOWLEDGE=typed,
            )
            eng = Engine(settings, database=tmp_path / f"{typed}.db")
            await eng.start()
            try:
                status = eng.parts.status.event()
                assert status.mode == "live" and status.live_acknowledged is acknowledged
            finally:
                await eng.stop()


async def test_a_paper_database_is_refused_by_an_ibkr_account(
    port: int, tmp_path: Path, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    """The README's walk (paper, then IBKR on the same file) must not mix two books."""
    from engine.config import load_settings

    db = tmp_path / "onetap.db"
    paper = Engine(load_settings(environ={}), database=db, paced=False)
    await paper.start()
    await paper.stop()
    ibkr = Engine(engine_settings(port, tmp_path / "bars"), database=db)
    with pytest.raises(EngineStartError, match="belongs to paper account paper"):
        await ibkr.start()


async def test_resume_never_bypasses_a_mismatch_and_approval_adopts_the_brokers_quantity(
    port: int, tmp_path: Path, sim: TwsSimulator, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    from engine.brokers.ibkr.broker import IbkrBroker
    from engine.model import Order, OrderRequest, Side
    from engine.model.events import ApproveRecovery, Kill, ResetKill

    quote_day(sim, shipped_bars, "2012-06-01")
    other = IbkrBroker(engine_settings(port, tmp_path / "bars").ibkr.model_copy(update={"client_id": 99}))
    await other.connect()
    await other.submit(Order(client_order_id="TWS-1", symbol="AAPL", side=Side.BUY, quantity=10.0))
    await until(lambda: any(p.position == 10 for p in other.ib.positions()))

    db = tmp_path / "onetap.db"
    first = Engine(engine_settings(port, tmp_path / "bars"), database=db)
    await first.start()
    assert first.ledger.quantity("AAPL") == 10  # the opening book
    assert (await first.handle(Kill("end of day"), ACTOR)).ok
    await first.stop()

    # while onetap is away, the shares are sold in TWS: onetap's book now says 10 the account lacks
    await other.submit(Order(client_order_id="TWS-2", symbol="AAPL", side=Side.SELL, quantity=10.0))
    await until(lambda: not any(p.position for p in other.ib.positions()))
    await other.disconnect()

    again = Engine(engine_settings(port, tmp_path / "bars"), database=db)
    await again.start()
    try:
        summary = again.reconciliation
        assert summary is not None and summary.position_mismatches, "no mismatch: the test proves nothing"
        assert again.risk.state.state is TradingState.HALTED
        resumed = await again.handle(ResetKill("RESUME"), ACTOR)
        assert resumed.ok and again.risk.state.state is TradingState.RECOVERING  # not ACTIVE
        # until approved, a reduce-only sale (an exit, the flatten) counts only what the broker holds
        view = again.parts.dispatcher.book_view()
        assert again.ledger.quantity("AAPL") == 10 and view.positions.get("AAPL", 0.0) == 0.0
        sell = OrderRequest("AAPL", Side.SELL, 10.0, reduce_only=True)
        refusal = again.risk.check(sell, view, again.clock.now())
        assert refusal is not None and refusal.code == "NOT_REDUCING"
        approved = await again.handle(ApproveRecovery(), ACTOR)
        assert approved.ok, approved.message
        assert again.ledger.quantity("AAPL") == 0  # the broker's quantity, adopted
        assert again.risk.state.state is TradingState.ACTIVE
        assert not any(c.legs[0].symbol == "AAPL" and c.legs[0].side is Side.SELL for c in again.cards)
        assert any(e.action == "adopt_position" for e in again.store.load_audit())
    finally:
        await again.stop()
    last = Engine(engine_settings(port, tmp_path / "bars"), database=db)
    await last.start()  # the adoption is folded at every start
    try:
        assert last.ledger.quantity("AAPL") == 0
        assert not (last.reconciliation and last.reconciliation.position_mismatches)
    finally:
        await last.stop()


async def test_a_symbol_ibkr_has_no_history_for_is_a_data_problem_in_the_snapshot(engine: Engine) -> None:
    """Said while the engine started, before any console subscribed: the snapshot carries it, marked
    as data (the console's event log files it under data), with the closes for the day change."""
    data = [n for n in engine.snapshot().notices if n.topic == "data"]
    assert data and all(n.level == "warning" for n in data)
    assert any("no daily bars for SPX" in n.message for n in data), [n.message for n in data]
    await until(lambda: engine.feed.current_day is not None)
    assert set(engine.parts.status.event().closes) == set(SYMBOLS)
