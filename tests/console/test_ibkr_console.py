"""The console on ``--broker ibkr`` against the TWS simulator: the status line shows the link,
a card executes with one key, and the kill switch cancels what is working at the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from textual.pilot import Pilot

from console.app import OneTapApp
from console.client import EmbeddedClient
from console.widgets.cards import CardsPane
from console.widgets.status import StatusLine
from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator, run_in_thread
from engine.clock import SimulatedClock
from engine.config import load_settings
from engine.kernel import Engine
from engine.model import TradingState
from tests.console.helpers import table_rows
from tests.console.test_journey import wait_for

SYMBOLS = ("AAPL", "MSFT", "GOOG", "IBM", "AMZN")
DAY = pd.Timestamp("2012-06-01")


@pytest.fixture(scope="module")
def bars(shipped_bars: Mapping[str, pd.DataFrame]) -> Mapping[str, pd.DataFrame]:
    return shipped_bars


@pytest.fixture
def sim(bars: Mapping[str, pd.DataFrame]) -> TwsSimulator:
    clock = SimulatedClock(datetime(2012, 6, 1, 15, 0, tzinfo=UTC))
    return TwsSimulator(
        SimulatorConfig(accounts=("DU1234567",), cash=100_000.0, max_fill_per_quote=1),
        bars=bars,
        clock=clock.now,
    )


@pytest.fixture
def port(sim: TwsSimulator) -> Iterator[int]:
    with run_in_thread(sim) as bound:
        yield bound


def quote(sim: TwsSimulator, bars: Mapping[str, pd.DataFrame]) -> None:
    for symbol in SYMBOLS:
        price = float(bars[symbol]["open"].loc[DAY])
        sim.set_quote(
            symbol, round(price - 0.01, 2), round(price + 0.01, 2), price, bid_size=1000, ask_size=1000
        )


async def execute_top_card(pilot: Pilot[None], app: OneTapApp, sent: Callable[[], bool]) -> None:
    """Choose the top card and press ``x``, as a trader does. On IBKR the symbols' history arrives
    one request at a time, so the card list can change between the first cards and the key: the
    desk then parks the cursor, sends nothing and says "the card you had selected is gone" (its
    one-key safety), and the trader chooses again. Only that case is retried; anything else the
    desk said is in the failure."""
    pane = app.screen.query_one(CardsPane)
    for attempt in range(3):
        await pilot.press("up")  # a cursor key is a choice (ends a parked cursor)
        await pilot.press("x")
        try:
            await wait_for(pilot, "orders working at IBKR", sent)
            return
        except AssertionError:
            if attempt == 2 or not pane.selection_lost:
                raise


async def test_console_on_ibkr_executes_a_card_and_kills_at_the_simulator(
    tmp_path: Path, port: int, sim: TwsSimulator, bars: Mapping[str, pd.DataFrame]
) -> None:
    settings = load_settings(
        environ={
            "ONETAP_BROKER__KIND": "ibkr",
            "ONETAP_IBKR__PORT": str(port),
            "ONETAP_IBKR__HEARTBEAT_S": "0.2",
            "ONETAP_IBKR__HISTORY": "1 Y",
            "ONETAP_IBKR__HISTORY_CACHE": str(tmp_path / "bars"),
            "ONETAP_IBKR__NIGHTLY_RESET": "",
        }
    )
    db = tmp_path / "onetap.db"
    client = EmbeddedClient(settings, user="tester", engine_factory=lambda: Engine(settings, database=db))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        status = app.screen.query_one(StatusLine)
        linked = lambda: "DU1234567 connected" in str(status.render())  # noqa: E731
        await wait_for(pilot, "the IBKR link", linked, timeout=20)
        line = str(status.render())
        assert "│ ibkr" in line and "DU1234567" in line and "live data" in line
        quote(sim, bars)
        await wait_for(pilot, "the first cards", lambda: bool(table_rows(app, "cards-table")), timeout=30)
        await execute_top_card(pilot, app, lambda: sim.call(lambda: len(sim.exchange.open_orders())) > 0)
        quote(sim, bars)  # one share fills per quote: the rest keeps working
        await wait_for(pilot, "a position", lambda: bool(table_rows(app, "positions-table")))
        assert sim.call(lambda: len(sim.exchange.open_orders())) > 0
        await pilot.press("ctrl+k")
        await wait_for(
            pilot, "the kill at IBKR", lambda: sim.call(lambda: len(sim.exchange.open_orders())) == 0
        )
        await wait_for(
            pilot,
            "HALTED",
            lambda: app.state.risk is not None and app.state.risk.trading_state is TradingState.HALTED,
        )
        await asyncio.sleep(0)
        await pilot.press("q")


async def test_a_live_account_waits_for_its_id_to_be_typed(
    tmp_path: Path, bars: Mapping[str, pd.DataFrame]
) -> None:
    from textual.widgets import Input

    from console.screens.live_ack import LiveAckDialog
    from engine.model.events import ExecuteCard

    clock = SimulatedClock(datetime(2012, 6, 1, 15, 0, tzinfo=UTC))
    live = TwsSimulator(SimulatorConfig(accounts=("U7654321",), cash=100_000.0), bars=bars, clock=clock.now)
    with run_in_thread(live) as live_port:
        settings = load_settings(
            environ={
                "ONETAP_BROKER__KIND": "ibkr",
                "ONETAP_IBKR__PORT": str(live_port),
                "ONETAP_IBKR__LIVE": "true",
                "ONETAP_IBKR__ACCOUNT": "U7654321",
                "ONETAP_IBKR__HISTORY": "1 Y",
                "ONETAP_IBKR__HISTORY_CACHE": str(tmp_path / "bars"),
                "ONETAP_IBKR__NIGHTLY_RESET": "",
            }
        )
        db = tmp_path / "onetap.db"
        client = EmbeddedClient(settings, user="tester", engine_factory=lambda: Engine(settings, database=db))
        app = OneTapApp(client)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, "the question", lambda: isinstance(app.screen, LiveAckDialog), timeout=20)
            status = app.state.status
            assert status is not None and status.mode == "live" and not status.live_acknowledged
            quote(live, bars)
            await wait_for(pilot, "the first cards", lambda: bool(app.state.cards), timeout=30)
            refused = await app.send_command(ExecuteCard(app.state.cards[0].card_id))
            assert not refused.ok  # nothing reaches a live account before the operator typed its id
            assert live.call(lambda: len(live.exchange.orders)) == 0
            dialog = app.screen
            await pilot.click("#live-ack-input")
            await pilot.press(*"U765432", "enter")
            await wait_for(
                pilot, "the refusal", lambda: "Refused" in str(dialog.query_one("#live-ack-error").render())
            )
            assert isinstance(app.screen, LiveAckDialog)
            dialog.query_one(Input).value = "U7654321"
            await pilot.press("enter")
            await wait_for(pilot, "the desk", lambda: not isinstance(app.screen, LiveAckDialog))
            await wait_for(
                pilot,
                "acknowledged",
                lambda: app.state.status is not None and app.state.status.live_acknowledged,
            )
            await pilot.press("q")
