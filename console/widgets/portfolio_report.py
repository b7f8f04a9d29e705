"""The sections of the portfolio screen, one widget each, all fed by assigning ``report``.

A ``PortfolioReport`` is built whole by the engine (off its loop), so every section redraws from
the same report and the screen never mixes two builds. Sections are Rich tables in ``Static``
widgets: they are read, not navigated. Money is shown to the cent (an attribution table is
checked against statements), returns and weights as percentages, P&L coloured by its sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from console.widgets.fmt import LOSS, money, pnl, pnl_style, right, signed_money
from engine.model.portfolio_report import AttributionLine, PortfolioReport


def pct(value: float | None, *, signed: bool = True) -> str:
    """A fraction as a percentage with two decimals; a dash when the figure is undefined."""
    if value is None:
        return "-"
    return f"{value:+.2%}" if signed else f"{value:.2%}"


def pct_cell(value: float | None) -> Text:
    """A signed percentage coloured by its sign, right-aligned."""
    return right(pct(value), pnl_style(value or 0.0))


def _table(*headers: str) -> Table:
    """A compact table: no outer edge (the widget's border frames it), header in bold."""
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    return table


def _pairs(pairs: Sequence[tuple[str, str | Text]]) -> Text:
    """``label value  ·  label value`` on one line, labels dim."""
    line = Text()
    for i, (label, value) in enumerate(pairs):
        if i:
            line.append("  ·  ", style="dim")
        line.append(f"{label} ", style="dim")
        line.append(value if isinstance(value, Text) else Text(value, style="bold"))
    return line


class PortfolioSection(Static):
    """A section drawn from ``report``; empty until one arrives. Subclasses implement ``draw``."""

    report: reactive[PortfolioReport | None] = reactive(None, init=False)
    TITLE: ClassVar[str] = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="portfolio-section")

    def on_mount(self) -> None:
        self.border_title = self.TITLE

    def watch_report(self) -> None:
        self.update("" if self.report is None else self.draw(self.report))

    def draw(self, report: PortfolioReport) -> RenderableType:
        """Each section draws its part of the report; the base draws nothing."""
        return ""


class SummarySection(PortfolioSection):
    """Value and P&L, returns, volatility and Sharpe, drawdowns, VaR and turnover."""

    TITLE = "Value and returns"

    def draw(self, report: PortfolioReport) -> RenderableType:
        r = report.returns
        value = _pairs(
            (
                ("period", f"{report.start} .. {report.end}"),
                ("sessions", str(r.sessions)),
                ("equity", f"{money(report.start_equity)} -> {money(report.end_equity)}"),
                ("P&L", Text(signed_money(report.total_pnl), style=f"bold {pnl_style(report.total_pnl)}")),
            )
        )
        returns = _pairs(
            (
                ("total", pct_cell(r.total_return)),
                ("annualised", pct_cell(r.annualized_return)),
                ("vol/day", pct(r.daily_volatility, signed=False)),
                ("vol/yr", pct(r.annualized_volatility, signed=False)),
                ("Sharpe", "-" if r.sharpe is None else f"{r.sharpe:.2f}"),
            )
        )
        risk = report.risk
        drawdown = _pairs(
            (
                ("max drawdown", Text(pct(r.max_drawdown), style=LOSS if (r.max_drawdown or 0) < 0 else "")),
                ("now", pct(r.current_drawdown)),
                (
                    "VaR 95% 1d",
                    f"- ({risk.observations} days: too few)"
                    if risk.var_95 is None
                    else f"{money(risk.var_95)} ({pct(risk.var_95_share, signed=False)})",
                ),
                ("turnover", "-" if report.turnover is None else f"{report.turnover:.2f}x"),
                ("fills", str(report.fills)),
            )
        )
        return Group(value, returns, drawdown)


class ExposureSection(PortfolioSection):
    """The end book: gross, net, long, short and cash as shares of equity, then net by sector."""

    TITLE = "Exposure at the end"

    def draw(self, report: PortfolioReport) -> RenderableType:
        e = report.exposures
        table = _table("", "value", "of equity")
        for label, amount, share in (
            ("Gross", e.gross_value, e.gross_share),
            ("Net", e.net_value, e.net_share),
            ("Long", e.long_value, e.long_share),
            ("Short", e.short_value, e.short_share),
            ("Cash", e.cash, e.cash_share),
        ):
            table.add_row(label, money(amount), pct(share, signed=False))
        for sector in e.sectors:
            table.add_row(
                Text(f"  {sector.sector}", style="dim"), money(sector.net_value), pct(sector.net_share)
            )
        return table


class AttributionSection(PortfolioSection):
    """P&L of the period by one key (strategy, symbol or sector); the total row is the report's."""

    KEY: ClassVar[str] = ""

    def lines(self, report: PortfolioReport) -> tuple[AttributionLine, ...]:
        return ()

    def draw(self, report: PortfolioReport) -> RenderableType:
        table = _table(self.KEY, "realized", "unrealized", "divs", "comm.", "total", "contrib")
        for line in self.lines(report):
            table.add_row(
                line.key,
                signed_money(line.realized),
                signed_money(line.unrealized_change),
                money(line.dividends),
                money(line.commissions),
                pnl(line.total),
                pct_cell(line.contribution),
            )
        if not self.lines(report):
            table.add_row(Text("no positions in the period", style="dim"))
        return table


class StrategyAttribution(AttributionSection):
    TITLE = "P&L by strategy"
    KEY = "strategy"

    def lines(self, report: PortfolioReport) -> tuple[AttributionLine, ...]:
        return report.by_strategy


class SymbolAttribution(AttributionSection):
    TITLE = "P&L by symbol"
    KEY = "symbol"

    def lines(self, report: PortfolioReport) -> tuple[AttributionLine, ...]:
        return report.by_symbol


class SectorAttribution(AttributionSection):
    TITLE = "P&L by sector"
    KEY = "sector"

    def lines(self, report: PortfolioReport) -> tuple[AttributionLine, ...]:
        return report.by_sector


class BrinsonSection(PortfolioSection):
    """Carino-linked Brinson-Fachler by sector; the benchmark is named under the table."""

    TITLE = "Brinson-Fachler by sector"

    def draw(self, report: PortfolioReport) -> RenderableType:
        b = report.brinson
        if b is None:
            return Text("no session to attribute yet", style="dim")
        head = _pairs(
            (
                ("portfolio", pct_cell(b.portfolio_return)),
                ("benchmark", pct_cell(b.benchmark_return)),
                ("active", pct_cell(b.active_return)),
            )
        )
        table = _table("sector", "w port", "w bench", "alloc", "select", "interact", "total")
        for s in b.sectors:
            table.add_row(
                s.sector,
                pct(s.portfolio_weight, signed=False),
                pct(s.benchmark_weight, signed=False),
                pct_cell(s.allocation),
                pct_cell(s.selection),
                pct_cell(s.interaction),
                pct_cell(s.total),
            )
        table.add_row(
            Text("total", style="bold"),
            "",
            "",
            pct_cell(b.allocation),
            pct_cell(b.selection),
            pct_cell(b.interaction),
            pct_cell(b.active_return),
        )
        days = "1 day" if b.days == 1 else f"{b.days} days"
        note = Text(f"{days} linked (Carino); benchmark: {b.benchmark}", style="dim")
        return Group(head, table, note)


class RealizedSection(PortfolioSection):
    """Realized gains by holding term (short: a year or less), and dividends."""

    TITLE = "Realized gains"

    def draw(self, report: PortfolioReport) -> RenderableType:
        g = report.realized
        table = _table("term", "lots", "gain")
        table.add_row("Short term", str(g.short_count), pnl(g.short_term))
        table.add_row("Long term", str(g.long_count), pnl(g.long_term))
        table.add_row(Text("Total", style="bold"), str(g.short_count + g.long_count), pnl(g.total))
        table.add_row("Dividends", str(len(report.dividends)), pnl(report.dividends_total))
        return table
