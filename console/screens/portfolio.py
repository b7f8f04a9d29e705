"""The portfolio screen: the period's value, returns and drawdown, an equity chart, exposures,
P&L attribution by strategy, symbol and sector, Brinson by sector and realized gains by term.

The engine builds the report (``GetPortfolioReport``: from the later of the year's start and
the first fill, to the session in progress) off its loop and publishes it; the screen asks on
opening and on ``r``, and draws whatever report the desk's fold holds (``FollowsDesk``), so a
report that arrives while it is open redraws it at the desk's bounded rate. Escape returns to
the desk; the app's kill switch works here as on every screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Set
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.state import DeskState
from console.widgets.fmt import money
from console.widgets.portfolio_report import (
    BrinsonSection,
    ExposureSection,
    PortfolioSection,
    RealizedSection,
    SectorAttribution,
    StrategyAttribution,
    SummarySection,
    SymbolAttribution,
)
from console.widgets.research import BrailleChart
from engine.model import DeskArea
from engine.model.events import Command, CommandResult, GetPortfolioReport

Send = Callable[[Command], Awaitable[CommandResult]]
BUILDING = "Building the portfolio report from the fills and the daily closes…"
FAILED = "portfolio report failed"
"""How the engine's notice of a failed build begins (``Engine._portfolio_report``)."""


class PortfolioScreen(Screen[None]):
    """The portfolio report. ``r`` asks the engine for a fresh one; Escape returns to the desk."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back to desk"),
        Binding("r", "refresh_report", "Refresh"),
    ]

    def __init__(self, state: DeskState, send: Send) -> None:
        super().__init__(id="portfolio")
        self._state = state
        self._send = send

    def compose(self) -> ComposeResult:
        yield Static("Portfolio", id="portfolio-title", markup=False)
        with VerticalScroll(id="portfolio-body", can_focus=False):
            yield Static(BUILDING, id="portfolio-status", markup=False)
            yield SummarySection(id="portfolio-summary")
            yield BrailleChart(label=money, id="portfolio-equity")
            with Horizontal(id="portfolio-columns"):
                with Vertical(id="portfolio-left"):
                    yield ExposureSection(id="portfolio-exposure")
                    yield RealizedSection(id="portfolio-realized")
                with Vertical(id="portfolio-right"):
                    yield BrinsonSection(id="portfolio-brinson")
            yield StrategyAttribution(id="portfolio-by-strategy")
            yield SymbolAttribution(id="portfolio-by-symbol")
            yield SectorAttribution(id="portfolio-by-sector")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#portfolio-equity", BrailleChart).border_title = "Equity at each close"
        self.follow(self._state, {DeskArea.PORTFOLIO})
        self.action_refresh_report()

    def follow(self, state: DeskState, areas: Set[DeskArea]) -> None:
        """Redraw from the report the fold holds (``FollowsDesk``)."""
        line = state.line
        if DeskArea.NOTICE in areas and line is not None and line.text.startswith(FAILED):
            self._status(line.text)
        if DeskArea.PORTFOLIO not in areas:
            return
        report = state.portfolio_report
        self.set_class(report is None, "-no-report")
        for section in self.query(PortfolioSection):
            section.report = report
        chart = self.query_one("#portfolio-equity", BrailleChart)
        chart.series = tuple(p.equity for p in report.equity_curve) if report is not None else ()
        if report is not None:
            self._status("")
            self.query_one("#portfolio-title", Static).update(
                f"Portfolio  ·  {report.start} .. {report.end}  ·  r refreshes"
            )

    def action_refresh_report(self) -> None:
        self._status(BUILDING)
        self.run_worker(self._request(), group="portfolio-report", exclusive=True)

    async def _request(self) -> None:
        result = await self._send(GetPortfolioReport())
        if not result.ok:
            self._status(f"No portfolio report: {result.message}")

    def _status(self, text: str) -> None:
        status = self.query_one("#portfolio-status", Static)
        status.update(text)
        status.display = bool(text)

    def action_close(self) -> None:
        self.dismiss(None)
