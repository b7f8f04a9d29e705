"""The risk detail screen: the whole ``RiskReport`` behind the desk's VaR gauge, and the paused
strategies with the key that resumes them.

It is a full screen rather than a dialog: the report has more to show than a pane holds. It
follows the desk's fold (``FollowsDesk``), so a report that arrives while it is open redraws
it at the desk's bounded rate; the app's kill switch (a priority binding) works here as on
every screen.
"""

from __future__ import annotations

from collections.abc import Set
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.state import DeskState
from console.widgets.risk import state_label
from console.widgets.risk_report import (
    CorrelationSection,
    FiguresSection,
    GreeksSection,
    PausedStrategies,
    ReportHeader,
    ReportSection,
    StressSection,
    VarSection,
)
from console.widgets.var_model import ModelVarSection
from engine.model import DeskArea

NO_REPORT = (
    "No risk report has arrived from the engine yet. It is computed off the engine's loop after "
    "every fill and every few seconds ([risk] recompute_seconds); this screen fills in when it comes."
)


class RiskDetailScreen(Screen[None]):
    """VaR/CVaR by method, volatility, beta, concentration, correlation, stress, Greeks, paused
    strategies. Escape returns to the desk."""

    AUTO_FOCUS = "#paused-list"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Back to desk")]

    def __init__(self, state: DeskState) -> None:
        super().__init__(id="risk-detail")
        self._state = state

    def compose(self) -> ComposeResult:
        yield Static("", id="risk-detail-title", markup=False)
        with VerticalScroll(id="risk-detail-body", can_focus=False):
            yield Static(NO_REPORT, id="risk-detail-empty", markup=False)
            yield ReportHeader(id="report-header")
            yield PausedStrategies(id="paused-strategies")
            with Horizontal(id="report-columns"):
                with Vertical(id="report-left"):
                    yield ModelVarSection(id="report-var-model")
                    yield VarSection(id="report-var")
                    yield StressSection(id="report-stress")
                with Vertical(id="report-right"):
                    yield FiguresSection(id="report-figures")
                    yield CorrelationSection(id="report-correlation")
                    yield GreeksSection(id="report-greeks")
        yield Footer()

    def on_mount(self) -> None:
        self.follow(self._state, {DeskArea.REPORT, DeskArea.RISK})

    def follow(self, state: DeskState, areas: Set[DeskArea]) -> None:
        """Redraw the sections the changed areas feed (``FollowsDesk``)."""
        if DeskArea.REPORT in areas:
            report = state.report
            self.set_class(report is None, "-no-report")
            for section in self.query(ReportSection):
                section.report = report
        if DeskArea.RISK in areas:
            risk = state.risk
            self.query_one(VarSection).var_limit = risk.var_limit if risk is not None else None
            self.query_one(PausedStrategies).paused = state.paused_strategies
            title = "Risk detail" + (f"  ·  trading {state_label(risk)}" if risk is not None else "")
            self.query_one("#risk-detail-title", Static).update(title)

    def action_close(self) -> None:
        self.dismiss(None)
