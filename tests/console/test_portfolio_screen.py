"""The portfolio screen: `p` asks the engine for the report and draws it; `r` asks again; Escape.

One test drives the real embedded engine (paper broker, shipped data, SQLite in tmp, the replay
stepped by the test) and checks the screen against the engine's own book; the others feed the
hand-worked history of ``tests/engine/portfolio/test_report.py`` through the test double, so
every figure on the screen is known to the cent.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

from rich.console import Console, RenderableType
from textual.widgets import Static

from console.app import OneTapApp
from console.screens.portfolio import BUILDING, PortfolioScreen
from console.widgets.fmt import money, signed_money
from engine.actor import Actor
from engine.config import Settings, load_settings
from engine.kernel import Engine
from engine.model import CommandSource, Side
from engine.model.events import ExecuteCard, GetPortfolioReport, PortfolioReportEvent
from tests.console.helpers import FakeClient, settle
from tests.console.test_journey import embedded, wait_for
from tests.console.test_widgets import snapshot
from tests.engine.portfolio.test_report import report as hand_worked_report
from tests.shipped import shipped_market

START_CASH = 100_000.0
OPERATOR = Actor("tester", CommandSource.HOTKEY)


def text_of(app: OneTapApp, selector: str, width: int = 160) -> str:
    """What a section reads as, without colour."""
    section = app.screen.query_one(selector, Static)
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(cast(RenderableType, section.content))
    return console.export_text()


def row_of(app: OneTapApp, selector: str, key: str) -> list[str]:
    """The cells of the table row whose first cell is ``key``."""
    for line in text_of(app, selector).splitlines():
        cells = line.split()
        if cells and cells[0] == key:
            return cells
    raise AssertionError(f"no row {key!r} in {selector}:\n{text_of(app, selector)}")


async def test_p_shows_the_report_of_what_the_engine_traded(tmp_path: Path) -> None:
    settings: Settings = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})
    client = embedded(settings, tmp_path / "data" / "onetap.db", shipped_market())
    app = OneTapApp(client)

    async def trade(engine: Engine) -> tuple[str, str]:
        await engine.step_day()
        card = next(c for c in engine.cards if c.legs[0].side is Side.BUY)
        assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
        await engine.step_day()
        await engine.step(5)
        return card.template, card.legs[0].symbol

    async def equity(engine: Engine) -> float:
        return engine.ledger.equity

    async with app.run_test(size=(160, 60)) as pilot:
        await wait_for(pilot, "the engine's first snapshot", lambda: app.state.risk is not None)
        template, symbol = await client.on_engine(trade)
        book = await client.on_engine(equity)
        await pilot.press("p")
        await wait_for(pilot, "the report", lambda: app.state.portfolio_report is not None)
        await settle(pilot)
        assert isinstance(app.screen, PortfolioScreen)
        summary = text_of(app, "#portfolio-summary")
        assert f"equity {money(START_CASH)} -> {money(book)}" in summary
        assert f"P&L {signed_money(book - START_CASH)}" in summary
        # one strategy, one symbol: each table's only row is the whole P&L (opened on the first fill)
        assert row_of(app, "#portfolio-by-strategy", template)[-2] == signed_money(book - START_CASH)
        assert row_of(app, "#portfolio-by-symbol", symbol)[-2] == signed_money(book - START_CASH)
        assert row_of(app, "#portfolio-realized", "Short")[2:] == ["0", "+0.00"]
        brinson = text_of(app, "#portfolio-brinson")
        assert "Cash" in brinson and "the universe equal-weighted (AAPL, MSFT, GOOG, IBM, AMZN)" in brinson
        await pilot.press("escape")
        await pilot.press("q")


async def test_the_screen_draws_a_hand_worked_report_to_the_cent() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 60)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, PortfolioScreen)
        assert [c for c in client.sent if isinstance(c, GetPortfolioReport)] == [GetPortfolioReport()]
        assert BUILDING in text_of(app, "#portfolio-status")

        client.push(PortfolioReportEvent(hand_worked_report()))
        await settle(pilot)
        assert not app.screen.query_one("#portfolio-status").display
        summary = text_of(app, "#portfolio-summary")
        assert "equity 10,000.00 -> 10,527.00" in summary and "P&L +527.00" in summary
        assert "total +5.27%" in summary
        assert row_of(app, "#portfolio-by-strategy", "manual")[-2:] == ["+199.00", "+1.99%"]
        assert row_of(app, "#portfolio-by-strategy", "momentum")[-2:] == ["+128.00", "+1.28%"]
        assert row_of(app, "#portfolio-by-strategy", "value")[-2:] == ["+200.00", "+2.00%"]
        assert row_of(app, "#portfolio-by-symbol", "AAA")[1:] == [
            "+30.00",
            "+100.00",
            "0.00",
            "2.00",
            "+128.00",
            "+1.28%",
        ]
        assert row_of(app, "#portfolio-by-sector", "Energy")[-2] == "+399.00"
        assert row_of(app, "#portfolio-realized", "Short")[2:] == ["1", "+28.50"]
        assert row_of(app, "#portfolio-realized", "Long")[2:] == ["1", "+200.00"]
        assert row_of(app, "#portfolio-exposure", "Cash")[1:] == ["8,727.00", "82.90%"]
        assert row_of(app, "#portfolio-exposure", "Gross")[1:] == ["1,800.00", "17.10%"]
        assert {row_of(app, "#portfolio-brinson", s)[0] for s in ("Cash", "Energy", "Tech", "total")} == {
            "Cash",
            "Energy",
            "Tech",
            "total",
        }

        await pilot.press("r")
        await settle(pilot)
        assert [c for c in client.sent if isinstance(c, GetPortfolioReport)] == [GetPortfolioReport()] * 2
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, PortfolioScreen)


async def test_the_portfolio_key_comes_from_the_settings() -> None:
    from engine.config import HotkeySettings

    keys = HotkeySettings(portfolio="P")
    assert keys.portfolio == "P"
    client = FakeClient(snapshot())
    app = OneTapApp(client, hotkeys=keys)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert not isinstance(app.screen, PortfolioScreen)
        await pilot.press("P")
        await settle(pilot)
        assert isinstance(app.screen, PortfolioScreen)
