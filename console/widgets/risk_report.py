"""The sections of the risk detail screen, one widget each, all fed by assigning ``report``.

A ``RiskReport`` is a value computed whole off the engine's loop, so every section redraws
from the same report and the screen never mixes two recomputes. Sections are Rich tables in
``Static`` widgets: they are read, not navigated, so only the paused-strategies list takes
focus (Enter on a template resumes it).

Colour carries data here too, so it is set where the value is rendered: VaR 95% against the
configured limit (the gauges' thresholds), correlations by magnitude, stress P&L by sign.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.messages import CommandRequest
from console.widgets.fmt import (
    GAIN,
    LOSS,
    WARN,
    money,
    ny_stamp,
    pnl_style,
    right,
    signed_money,
    utilisation_style,
)
from engine.model import CommandSource
from engine.model.events import ResumeStrategy
from engine.model.risk import RiskReport

METHOD_LABEL = {"historical": "Historical", "parametric": "Parametric", "monte_carlo": "Monte Carlo"}
CORRELATION_STRONG = 0.7
"""|rho| at or above this is red: the two holdings move as one and add little diversification."""
CORRELATION_MODERATE = 0.4
"""|rho| from this up to ``CORRELATION_STRONG`` is amber; below it green."""
VAR_MEASURES = (
    ("VaR 95%", "var_95"),
    ("CVaR 95%", "cvar_95"),
    ("VaR 99%", "var_99"),
    ("CVaR 99%", "cvar_99"),
)
"""Rows of the VaR table; the methods are its columns, so one measure reads across methods."""
GREEK_UNITS = (
    ("Delta", "delta", "per $1 in the underlying"),
    ("Gamma", "gamma", "change of delta per $1"),
    ("Vega", "vega", "per volatility point"),
    ("Theta", "theta", "per calendar day"),
    ("Rho", "rho", "per rate point"),
)


def _table(*headers: str) -> Table:
    """A compact table: no outer edge (the widget's border frames it), header in bold."""
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    return table


def whole(value: float) -> str:
    """Whole money units: a VaR or a stress loss is an estimate, and cents would be false precision
    (and would not let the VaR table fit an 80-column terminal)."""
    return f"{value:,.0f}"


def share(value: float, equity: float) -> str:
    """``value`` as a percentage of equity, or a dash when equity is not positive."""
    return f"{value / equity:.2%}" if equity > 0 else "-"


class ReportSection(Static):
    """A section drawn from ``report``; empty until one arrives. Subclasses implement ``draw``."""

    report: reactive[RiskReport | None] = reactive(None, init=False)
    TITLE: ClassVar[str] = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="report-section")

    def on_mount(self) -> None:
        self.border_title = self.TITLE

    def watch_report(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        self.update("" if self.report is None else self.draw(self.report))

    def draw(self, report: RiskReport) -> RenderableType:
        """Each section draws its part of the report; the base draws nothing."""
        return ""


class ReportHeader(ReportSection):
    """One line: when the report was computed, on what book and from how much history."""

    def draw(self, report: RiskReport) -> RenderableType:
        line = Text()
        for i, (label, value) in enumerate(
            (
                ("as of", ny_stamp(report.asof)),
                ("equity", money(report.equity)),
                ("gross", f"{money(report.gross_value)} ({share(report.gross_value, report.equity)})"),
                ("history", f"{report.window_days} sessions"),
                ("Monte Carlo", f"{report.scenarios:,} scenarios"),
            )
        ):
            if i:
                line.append("  ·  ", style="dim")
            line.append(f"{label} ", style="dim")
            line.append(value, style="bold")
        return line


class VarSection(ReportSection):
    """One-day VaR and CVaR at 95% and 99% by method (columns), in money and as a share of equity.

    ``var_limit`` (a share of equity, from ``RiskState``) colours the VaR 95% shares like the
    desk's gauge, so the figure the pre-trade check uses reads the same on both screens.
    """

    TITLE = "Value at Risk, one day (losses)"
    var_limit: reactive[float | None] = reactive(None, init=False)

    def watch_var_limit(self) -> None:
        self.redraw()

    def draw(self, report: RiskReport) -> RenderableType:
        shown = [f for f in report.var if f.method in METHOD_LABEL]  # the model has its own section
        if not shown:
            return Text("no VaR figures in this report", style="dim")
        headers = [h for f in shown for h in (METHOD_LABEL[f.method], "%")]
        table = _table("", *headers)
        for label, attr in VAR_MEASURES:
            cells: list[RenderableType] = []
            for figures in shown:
                value = getattr(figures, attr)
                style = self._limit_style(value, report.equity) if attr == "var_95" else ""
                cells += [whole(value), Text(share(value, report.equity), style=style)]
            table.add_row(Text(label, style="bold"), *cells)
        limit = self.var_limit
        self.border_subtitle = "" if limit is None else f"limit: VaR 95% ≤ {limit:.2%} of equity"
        return table

    def _limit_style(self, var_95: float, equity: float) -> str:
        """The gauges' colour for a VaR 95% against the limit; none while the limit is unknown."""
        limit = self.var_limit
        if limit is None or equity <= 0:
            return ""
        return utilisation_style(var_95 / equity / limit if limit > 0 else 1.0)


class FiguresSection(ReportSection):
    """Volatility, beta and the two concentration figures, each with what it means."""

    TITLE = "Portfolio"

    def draw(self, report: RiskReport) -> RenderableType:
        table = _table("", "", "")
        table.columns[2].justify = "left"
        table.show_header = False
        beta = "n/a" if report.beta is None else f"{report.beta:.2f}"
        holdings = len(report.symbols)
        table.add_row("Volatility", f"{report.volatility:.2%}", Text("annualised, of equity", style="dim"))
        table.add_row(f"Beta to {report.benchmark or 'benchmark'}", beta, "")
        table.add_row(
            "Effective positions",
            f"{report.effective_positions:.1f}",
            Text(f"of {holdings} holding{'s' if holdings != 1 else ''}", style="dim"),
        )
        table.add_row(
            "Diversification ratio",
            f"{report.diversification_ratio:.2f}",
            Text("1.00 = no diversification", style="dim"),
        )
        return table


class GreeksSection(ReportSection):
    """The book's option sensitivities in money; all zero for a book of shares."""

    TITLE = "Greeks"

    def draw(self, report: RiskReport) -> RenderableType:
        table = _table("", "", "")
        table.columns[2].justify = "left"
        table.show_header = False
        for label, attr, unit in GREEK_UNITS:
            table.add_row(label, signed_money(getattr(report.greeks, attr)), Text(unit, style="dim"))
        return table


class CorrelationSection(ReportSection):
    """The holdings' correlation matrix, each cell coloured by the magnitude of rho."""

    TITLE = "Correlation"

    def draw(self, report: RiskReport) -> RenderableType:
        symbols, matrix = report.symbols, report.correlation
        if len(symbols) < 2 or len(matrix) != len(symbols):
            return Text("fewer than two holdings: nothing to correlate", style="dim")
        table = _table("", *symbols)
        for i, (symbol, row) in enumerate(zip(symbols, matrix, strict=True)):
            cells = [correlation_cell(rho, diagonal=i == j) for j, rho in enumerate(row)]
            table.add_row(Text(symbol, style="bold"), *cells)
        return table


def correlation_style(rho: float) -> str:
    """Red for strongly, amber for moderately, green for weakly correlated (either sign)."""
    size = abs(rho)
    if size >= CORRELATION_STRONG:
        return f"bold {LOSS}"
    if size >= CORRELATION_MODERATE:
        return WARN
    return GAIN


def correlation_cell(rho: float, *, diagonal: bool = False) -> Text:
    return Text(f"{rho:+.2f}", style="dim" if diagonal else correlation_style(rho))


class StressSection(ReportSection):
    """The current book under each scenario: the shock's P&L and the VaR it would leave."""

    TITLE = "Stress scenarios"

    def draw(self, report: RiskReport) -> RenderableType:
        if not report.stress:
            return Text("no stress scenarios in this report", style="dim")
        table = _table("Scenario", "Shock", "Vol x", "P&L", "P&L %", "VaR 99% after")
        for s in report.stress:
            table.add_row(
                s.scenario,
                f"{s.shock:+.1%}",
                f"{s.vol_multiplier:.1f}x",
                right(f"{s.pnl:+,.0f}", style=pnl_style(s.pnl)),
                right(f"{s.pnl_pct:+.2%}", style=pnl_style(s.pnl_pct)),
                whole(s.var_99),
            )
        return table


REPORT_SECTIONS: tuple[type[ReportSection], ...] = (
    ReportHeader,
    VarSection,
    FiguresSection,
    GreeksSection,
    CorrelationSection,
    StressSection,
)


class PausedList(OptionList):
    """The paused templates; Enter resumes the highlighted one (shown in the footer)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Resume strategy"),
        Binding("k", "cursor_up", "Up", show=False, id="onetap.up"),
        Binding("j", "cursor_down", "Down", show=False, id="onetap.down"),
    ]


class PausedStrategies(Vertical):
    """Assign ``paused`` (from ``RiskState``); selecting a template asks the app to resume it.

    A breaker or the repeat-fill throttle paused these strategies: their cards are refused
    (STRATEGY_PAUSED) until an operator resumes them here, after looking at the risk above.
    """

    paused: reactive[tuple[str, ...]] = reactive((), init=False)

    def compose(self) -> ComposeResult:
        yield PausedList(id="paused-list")
        yield Static("no strategy is paused", id="paused-none", markup=False)

    def on_mount(self) -> None:
        self.border_title = "Paused strategies"
        self._redraw(())

    def watch_paused(self, paused: tuple[str, ...]) -> None:
        self._redraw(paused)

    def _redraw(self, paused: tuple[str, ...]) -> None:
        options = self.query_one(PausedList)
        keep = options.highlighted_option.id if options.highlighted_option is not None else None
        options.set_options(Option(template, id=template) for template in paused)
        if keep in paused:
            options.highlighted = paused.index(keep)
        elif paused:
            options.highlighted = 0
        self.set_class(not paused, "-empty")
        self.border_subtitle = f"{len(paused)} paused · Enter resumes" if paused else ""

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is not None:
            self.post_message(CommandRequest(ResumeStrategy(event.option_id, source=CommandSource.HOTKEY)))
