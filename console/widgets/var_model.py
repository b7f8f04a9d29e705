"""The risk detail screen's model section: the live book's VaR by ``[risk] var_method``, its recent
exceedances as a one-line chart, and the backtest's verdict in words.

A VaR figure means little without its record, so the section puts them together: the figure,
then how the same model would have done on this book over the last year ("passes at 99%: 3
exceedances vs 2.5 expected, Kupiec p=0.74"), then the last 60 days' loss as a share of that
day's 99% VaR, a bar per day, an exceedance in red. Hidden when the report names no method.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from console.widgets.fmt import GAIN, LOSS
from console.widgets.risk_report import ReportSection, share, whole
from engine.model.risk import RiskReport, VarBacktest

METHOD_NAMES = {
    "historical": "historical simulation",
    "parametric": "normal variance-covariance",
    "monte_carlo": "Monte Carlo (normal)",
    "fhs_ewma": "filtered historical simulation, EWMA volatility",
    "fhs_garch": "filtered historical simulation, GARCH(1,1)",
    "fhs_gjr": "filtered historical simulation, GJR-GARCH",
    "student_t": "Student-t on EWMA volatility",
    "cornish_fisher": "Cornish-Fisher on EWMA volatility",
    "evt": "EVT (GPD tail) on GARCH(1,1)",
    "evt_gjr": "EVT (GPD tail) on GJR-GARCH",
}
"""What each ``[risk] var_method`` is, in a few words (engine.risk.var_models documents them)."""
BARS = "▁▂▃▄▅▆▇"
EXCEEDED = "█"


def verdict(b: VarBacktest) -> Text:
    """ "passes at 99%: 3 exceedances vs 2.5 expected, Kupiec p=0.74, Christoffersen p=0.81"."""
    word = "passes" if b.passes else "fails"
    text = Text()
    text.append(f"{word} at {b.level:.0%}", style=f"bold {GAIN if b.passes else LOSS}")
    text.append(
        f": {b.exceedances} exceedance{'s' if b.exceedances != 1 else ''} vs {b.expected:.1f} expected, "
        f"Kupiec p={b.kupiec_p:.2f}, Christoffersen p={b.christoffersen_p:.2f}"
    )
    if b.es_p is not None:
        text.append(f", ES p={b.es_p:.2f}")
    return text


def sparkline(ratios: tuple[float, ...]) -> Text:
    """One character per day: the loss as a share of the day's VaR in seven steps (a gain is the
    lowest bar), an exceedance (loss above VaR) as a full red block."""
    line = Text()
    for r in ratios:
        if r > 1.0:
            line.append(EXCEEDED, style=f"bold {LOSS}")
        else:
            step = min(len(BARS) - 1, max(0, int(r * len(BARS))))
            line.append(BARS[step], style="dim" if r <= 0 else "")
    return line


class ModelVarSection(ReportSection):
    """The configured model's VaR/ES, its backtest verdicts and the recent exceedances chart."""

    TITLE = "VaR model"
    DEFAULT_CSS: ClassVar[str] = "ModelVarSection.-none { display: none; }"

    def redraw(self) -> None:
        report = self.report
        self.set_class(report is None or not report.var_method, "-none")
        super().redraw()

    def draw(self, report: RiskReport) -> RenderableType:
        method = report.var_method
        self.border_title = f"VaR model: {method}"
        figures = next((f for f in report.var if f.method == method), None)
        parts: list[RenderableType] = [Text(METHOD_NAMES.get(method, method), style="dim")]
        if figures is not None:
            table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold")
            for header in ("", "VaR 95%", "ES 95%", "VaR 99%", "ES 99%"):
                table.add_column(header, justify="right" if header else "left", no_wrap=True)
            values = (figures.var_95, figures.cvar_95, figures.var_99, figures.cvar_99)
            table.add_row(Text("money", style="bold"), *(whole(v) for v in values))
            table.add_row(Text("of equity", style="bold"), *(share(v, report.equity) for v in values))
            parts.append(table)
        if not report.var_backtest:
            parts.append(Text("backtest: not enough history on this book yet", style="dim"))
            return Group(*parts)
        days = report.var_backtest[0].observations
        parts.append(Text(f"backtest on this book's last {days} days:", style="dim"))
        parts.extend(verdict(b) for b in report.var_backtest)
        top = report.var_backtest[-1]
        if top.recent:
            chart = Text(f"last {len(top.recent)} days, loss / VaR {top.level:.0%}: ", style="dim")
            chart.append_text(sparkline(top.recent))
            parts.append(chart)
        return Group(*parts)
