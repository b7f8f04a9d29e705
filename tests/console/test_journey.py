"""The first-run journey, keys to database, with nothing standing in for the engine.

The console runs on the real ``EmbeddedClient``: the engine on its own thread with the real
paper broker, the shipped data and a SQLite file in ``tmp_path``. Only the replay's pace is
taken over by the test (``paced=False`` and ``on_engine(step)``), so what the desk shows
depends on the seeded replay alone, never on how fast this machine is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from console.app import OneTapApp
from console.client import EmbeddedClient
from console.screens import ResumeDialog
from console.widgets import HaltBanner, MessageLine
from engine.config import Settings, load_settings
from engine.data.loader import DataError, MarketData
from engine.kernel import Engine
from engine.model import OrderStatus, TradingState
from engine.store.repository import Store
from tests.console.helpers import settle, table_rows


@pytest.fixture
def settings() -> Settings:
    return load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})


def embedded(settings: Settings, db: Path, market: MarketData) -> EmbeddedClient:
    return EmbeddedClient(
        settings,
        user="tester",
        engine_factory=lambda: Engine(settings, database=db, market=market, paced=False),
    )


async def wait_for(pilot: Pilot[None], what: str, ready: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll the desk until ``ready``; the engine answers from its own thread, so some waiting is real.
    A timeout names what the desk last said (its message line and latest journal entries), so a
    failure under load tells why instead of only that it waited."""
    waited = 0.0
    while not ready():
        if waited >= timeout:
            raise AssertionError(f"timed out waiting for {what}; {desk_said(pilot)}")
        await pilot.pause(0.05)
        waited += 0.05
        app = pilot.app
        assert isinstance(app, OneTapApp)
        app.flush_desk()


def desk_said(pilot: Pilot[None]) -> str:
    app = pilot.app
    if not isinstance(app, OneTapApp):
        return "no desk"
    line = app.state.line
    said = [f"{e.kind}:{e.text}" for e in app.state.journal.entries()[-6:]]
    return f"message line {line.text if line else '(empty)'!r}; journal {said}"


def blotter(app: OneTapApp) -> list[list[str]]:
    return table_rows(app, "blotter-table")


async def step(client: EmbeddedClient, steps: int) -> None:
    await client.on_engine(lambda engine: engine.step(steps))


async def test_execute_fill_kill_refuse_restart_resume(
    tmp_path: Path, settings: Settings, shipped: MarketData
) -> None:
    db = tmp_path / "data" / "onetap.db"
    client = embedded(settings, db, shipped)
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, "the first cards", lambda: bool(table_rows(app, "cards-table")))
        await step(client, 3)  # the market opens: the paper broker has quotes to fill against

        top = table_rows(app, "cards-table")[0]
        symbol, side_qty = top[2], top[3]
        await pilot.press("x")
        await wait_for(pilot, "the order in the blotter", lambda: len(blotter(app)) == 1)
        assert blotter(app)[0][2:5] == [symbol, *side_qty.split()]
        assert blotter(app)[0][7] == "WORKING"

        await step(client, 2)
        await wait_for(pilot, "the fill", lambda: blotter(app)[0][7] == "FILLED")
        await wait_for(
            pilot, "the position", lambda: [r[0] for r in table_rows(app, "positions-table")] == [symbol]
        )
        assert table_rows(app, "positions-table")[0][1] == side_qty.split()[1]
        await step(client, 3)  # P&L is live: later quotes re-mark the position
        await wait_for(pilot, "a live mark", lambda: table_rows(app, "positions-table")[0][5] != "+0.00")

        # A second order is working when the switch is pressed: it must be cancelled.
        await wait_for(pilot, "another entry card", lambda: _other_entry(app, symbol) is not None)
        app.screen.query_one("#cards-table", DataTable).move_cursor(row=_other_entry(app, symbol))
        await pilot.press("x")
        await wait_for(pilot, "the second order", lambda: len(blotter(app)) == 2)
        assert blotter(app)[0][7] == "WORKING"
        await pilot.press("ctrl+k")
        await wait_for(pilot, "the halt", lambda: app.state.halted)
        await wait_for(pilot, "the cancel", lambda: blotter(app)[0][7] == "CANCELLED")
        banner = app.screen.query_one(HaltBanner)
        assert banner.display and "HALTED" in str(banner.render())

        await pilot.press("x")
        await settle(pilot)
        await wait_for(
            pilot, "the refusal", lambda: "HALTED" in str(app.screen.query_one(MessageLine).render())
        )
        assert len(blotter(app)) == 2, "a refused card must not reach the blotter"
        await pilot.press("q")

    store = Store.open(db)
    try:
        orders = store.load_orders()
        assert sorted(o.status for o in orders) == [OrderStatus.CANCELLED, OrderStatus.FILLED]
        assert len(store.load_fills()) >= 1
        assert store.verify_audit().ok
    finally:
        store.close()

    client = embedded(settings, db, shipped)
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, "the snapshot", lambda: app.state.risk is not None)
        assert app.state.halted, "the kill switch must survive a restart"
        assert app.screen.query_one(HaltBanner).display
        assert [r[0] for r in table_rows(app, "positions-table")] == [symbol]

        await pilot.press("R")
        await wait_for(pilot, "the resume dialog", lambda: isinstance(app.screen, ResumeDialog))
        await pilot.press(*"resume", "enter")  # the wrong case is not the word
        await settle(pilot)
        assert app.state.halted and isinstance(app.screen, ResumeDialog)
        app.screen.query_one(Input).value = ""
        await pilot.press(*"RESUME", "enter")
        await wait_for(pilot, "trading to resume", lambda: not app.state.halted)
        assert app.state.risk is not None and app.state.risk.trading_state is TradingState.ACTIVE
        assert not isinstance(app.screen, ResumeDialog)
        assert not app.screen.query_one(HaltBanner).display
        await pilot.press("q")


async def test_an_engine_that_cannot_start_ends_the_console_with_its_reason(
    tmp_path: Path, settings: Settings
) -> None:
    missing = tmp_path / "nowhere.csv"

    def broken() -> Engine:
        raise DataError(f"{missing}: no such file")

    client = EmbeddedClient(settings, user="tester", engine_factory=broken)
    app = OneTapApp(client, exit_on_connect_error=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.return_code == 2
    assert isinstance(client.start_error, DataError) and str(missing) in str(client.start_error)


def _other_entry(app: OneTapApp, symbol: str) -> int | None:
    """The row of a buy card on another symbol (the first card's symbol is held now).

    The columns are found by their content: a narrow table drops the Template column."""
    for i, row in enumerate(table_rows(app, "cards-table")):
        legs = next((j for j, cell in enumerate(row) if cell.startswith(("BUY ", "SELL "))), None)
        if legs is not None and row[legs].startswith("BUY") and (not symbol or symbol not in row[legs - 1]):
            return i
    return None


async def test_cards_from_five_templates_reach_the_desk_and_one_executes(
    tmp_path: Path, shipped: MarketData
) -> None:
    """Nine sessions of replay from 2012-01-17: the desk is offered cards from five templates (the
    generator, not a fixture, chose them), and one of them executes end to end. (Nine since the
    track records follow the templates' exit policies: trend's first card of the window is on the
    ninth session.)"""
    settings = load_settings(
        environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30", "ONETAP_REPLAY__START": "2012-01-17"}
    )
    client = embedded(settings, tmp_path / "data" / "onetap.db", shipped)
    app = OneTapApp(client)
    seen: set[str] = set()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, "the first cards", lambda: bool(table_rows(app, "cards-table")))
        for _ in range(9 * 6):  # nine sessions of 30 steps, looked at every 5 steps
            seen |= {card.template for card in app.state.cards}
            await step(client, 5)
            await settle(pilot)
            app.flush_desk()
        seen.discard("exit")
        assert len(seen) >= 5, f"templates seen on the desk: {sorted(seen)}"

        await wait_for(pilot, "an entry card", lambda: _other_entry(app, "") is not None)
        row = _other_entry(app, "")
        assert row is not None
        card_row = table_rows(app, "cards-table")[row]
        app.screen.query_one("#cards-table", DataTable).move_cursor(row=row)
        await pilot.press("x")
        await wait_for(pilot, "the order", lambda: len(blotter(app)) >= 1)
        await step(client, 3)
        await wait_for(pilot, "the fill", lambda: "FILLED" in {r[7] for r in blotter(app)})
        legs = next(j for j, cell in enumerate(card_row) if cell.startswith(("BUY ", "SELL ")))
        symbols = card_row[legs - 1].split(", ")
        held = {r[0] for r in table_rows(app, "positions-table")}
        assert symbols[0] in held, (card_row, held)
        await pilot.press("q")
