"""The research screen's results: braille charts of equity and drawdown, and one section each for
the metrics (strategy vs buy & hold), the walk-forward, the permutation test and the Monte Carlo.

Every section is fed by assigning ``result`` (a ``ResearchResult``, computed whole in the
screen's worker), so the screen never shows figures of two different runs side by side. The
charts are drawn here, in braille (2 x 4 dots a cell), so no plotting package is needed.

Nothing here imports ``engine.research`` at run time: it pulls in SciPy, and the console's
first frame must not wait for that (the screen imports it in its worker, on first use).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from console.research_cmd import ROWS, metric_cell, metric_value
from console.widgets.fmt import GAIN, LOSS
from engine.research.verdict import Verdict, verdict  # light: no SciPy behind it

if TYPE_CHECKING:
    from engine.research.metrics import Metrics
    from engine.research.montecarlo import MonteCarloSummary
    from engine.research.permutation import PermutationResult
    from engine.research.runs import BacktestRun
    from engine.research.walkforward import WalkForward

BRAILLE = 0x2800
DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""The bit of each braille dot, by dot row (0-3, top down) and dot column (0-1)."""
AXIS_WIDTH = 9
"""Columns left of a chart for its top and bottom labels."""


@dataclass(frozen=True)
class ResearchResult:
    """One run of the research screen: the backtest and whatever each later stage gave (its
    result, or the one-line reason it could not run on this window)."""

    template: str
    symbols: tuple[str, ...]
    span: str
    equity: tuple[float, ...]
    """The strategy's equity as a multiple of its start (1.0 = where it began)."""
    run: BacktestRun
    walkforward: tuple[WalkForward, Metrics, Metrics] | None = None
    permutation: PermutationResult | None = None
    montecarlo: MonteCarloSummary | None = None
    errors: dict[str, str] = field(default_factory=dict)
    """Stage name -> why it has no result (e.g. too few sessions for a walk-forward window)."""
    settings: dict[str, int] = field(default_factory=dict)
    """What the stages ran with: train/test days, permutations, paths, horizon."""
    where: str = "this process"
    """Where the walk-forward, permutation and Monte Carlo ran (``[research] scheduler``)."""

    @property
    def drawdown(self) -> tuple[float, ...]:
        peak = -math.inf
        out = []
        for value in self.equity:
            peak = max(peak, value)
            out.append(value / peak - 1.0 if peak > 0 else 0.0)
        return tuple(out)


def braille_lines(
    values: Sequence[float], width: int, height: int, *, fill_to: float | None = None
) -> list[str]:
    """``values`` drawn in ``width`` x ``height`` cells of braille, oldest on the left.

    Each dot column takes the slice of values it covers and draws from its low to its high (so
    a spike is never lost to resampling), joined to the previous column; with ``fill_to`` the
    area between the line and that level is filled instead (a drawdown hangs from 0).
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite or width < 1 or height < 1:
        return []
    cols, rows = width * 2, height * 4
    top, bottom = max(finite), min(finite)
    if fill_to is not None:
        top, bottom = max(top, fill_to), min(bottom, fill_to)
    span = top - bottom or 1.0

    def row_of(value: float) -> int:
        return round((top - value) / span * (rows - 1))

    grid = [[0] * width for _ in range(height)]
    n = len(values)
    previous: tuple[int, int] | None = None
    for x in range(cols):
        lo = x * n // cols
        chunk = [v for v in values[lo : max(lo + 1, (x + 1) * n // cols)] if math.isfinite(v)]
        if not chunk:
            continue
        first, last = row_of(max(chunk)), row_of(min(chunk))
        if fill_to is not None:
            level = row_of(fill_to)
            first, last = min(first, level), max(last, level)
        elif previous is not None:
            first, last = min(first, previous[1]), max(last, previous[0])
        previous = (row_of(max(chunk)), row_of(min(chunk)))
        for y in range(first, last + 1):
            grid[y // 4][x // 2] |= DOTS[y % 4][x % 2]
    return ["".join(chr(BRAILLE + bits) for bits in line) for line in grid]


class BrailleChart(Widget):
    """A series as a braille line (or area, with ``fill_to``), the top and bottom values labelled
    on the left. It redraws to whatever size the layout gives it."""

    DEFAULT_CSS = """
    BrailleChart {
        height: 8;
    }
    """

    series: reactive[tuple[float, ...]] = reactive((), layout=False)

    def __init__(
        self,
        *,
        label: Callable[[float], str],
        style: str = GAIN,
        fill_to: float | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes="research-section")
        self._label = label
        self._style = style
        self._fill_to = fill_to

    def render(self) -> RenderableType:
        values = self.series
        width, height = self.content_size.width - AXIS_WIDTH, self.content_size.height
        lines = braille_lines(values, width, height, fill_to=self._fill_to)
        if not lines:
            return Text("")
        finite = [v for v in values if math.isfinite(v)]
        top, bottom = max(finite), min(finite)
        if self._fill_to is not None:
            top, bottom = max(top, self._fill_to), min(bottom, self._fill_to)
        out = Text(no_wrap=True, overflow="crop")
        for i, line in enumerate(lines):
            axis = self._label(top) if i == 0 else self._label(bottom) if i == len(lines) - 1 else ""
            if i:
                out.append("\n")
            out.append(f"{axis:>{AXIS_WIDTH - 1}} ", style="dim")
            out.append(line, style=self._style)
        return out


def _table(*headers: str) -> Table:
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold")
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    return table


def _sharpe_style(value: float) -> str:
    if not math.isfinite(value):
        return "dim"
    return GAIN if value > 0 else LOSS if value < 0 else ""


class ResearchSection(Static):
    """A section drawn from ``result``; empty until a run finishes. Subclasses implement ``draw``."""

    result: reactive[ResearchResult | None] = reactive(None, init=False)
    TITLE: ClassVar[str] = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="research-section")

    def on_mount(self) -> None:
        self.border_title = self.TITLE

    def watch_result(self) -> None:
        self.update("" if self.result is None else self.draw(self.result))

    def draw(self, result: ResearchResult) -> RenderableType:
        """Each section draws its part of the result; the base draws nothing."""
        return ""

    @staticmethod
    def missing(result: ResearchResult, stage: str) -> Text:
        return Text(f"not run: {result.errors.get(stage, 'no result')}", style="dim")


class MetricsSection(ResearchSection):
    """The CLI's metric rows (``research_cmd.ROWS``), the strategy next to buy & hold."""

    TITLE = "Metrics"

    def draw(self, result: ResearchResult) -> RenderableType:
        self.border_subtitle = "buy & hold: equal weights, same costs"
        columns = {result.template: result.run.metrics, "buy & hold": result.run.benchmark}
        table = _table("", *columns)
        for key, label, fmt in ROWS:
            cells = [metric_cell(metric_value(m, key), fmt) for m in columns.values()]
            table.add_row(label, *cells)
        return table


class WalkForwardSection(ResearchSection):
    """Windows, the out-of-sample Sharpe and return, and how often each parameter was kept."""

    TITLE = "Walk-forward"

    def draw(self, result: ResearchResult) -> RenderableType:
        if result.walkforward is None:
            return self.missing(result, "walk-forward")
        wf, metrics, _benchmark = result.walkforward
        train, test = result.settings.get("train_days", 0), result.settings.get("test_days", 0)
        self.border_subtitle = f"{train} train / {test} test sessions"
        table = _table("", "")
        table.show_header = False
        table.add_row("Windows", f"{len(wf.windows)} (grid of {len(wf.grid)})")
        if len(wf.dates):
            table.add_row("Out of sample", f"{wf.dates[0]} .. {wf.dates[-1]}")
        sharpe = float(metrics.sharpe)
        table.add_row("OOS Sharpe", Text(metric_cell(sharpe, "{:.2f}"), style=_sharpe_style(sharpe)))
        table.add_row("OOS total return", metric_cell(float(metrics.total_return), "{:+.1%}"))
        table.add_row("Deflated Sharpe", metric_cell(float(metrics.dsr), "{:.1%}"))
        if result.permutation is None:  # with one, the permutation section gives the verdict
            table.add_row("Verdict", verdict_text(verdict(None, float(metrics.dsr))))
        stability = wf.stability()
        if stability:
            table.add_row(Text("Parameter stability", style="bold"), Text("kept", style="dim"))
            for name, kept in stability.items():
                table.add_row(f"  {name}", f"{kept:.0%}")
        return table


def verdict_text(v: Verdict) -> Text:
    """The verdict, green when there is evidence of an edge, bold when there is none."""
    return Text(v.text, style=GAIN if v.edge else "bold" if v.edge is False else "dim")


class PermutationSection(ResearchSection):
    """The Sharpe on the real order of days against joint shuffles of them, and the p-value."""

    TITLE = "Permutation test"

    def draw(self, result: ResearchResult) -> RenderableType:
        if result.permutation is None:
            return self.missing(result, "permutation")
        perm = result.permutation
        self.border_subtitle = f"{result.settings.get('runs', len(perm.null))} joint shuffles of the days"
        table = _table("", "")
        table.show_header = False
        table.add_row("Real Sharpe", Text(f"{perm.observed:+.2f}", style=_sharpe_style(perm.observed)))
        null = sorted(float(v) for v in perm.null if math.isfinite(v))
        if null:
            q = [null[min(len(null) - 1, int(p * len(null)))] for p in (0.05, 0.5, 0.95)]
            table.add_row("Shuffled 5/50/95%", "  ".join(f"{v:+.2f}" for v in q))
        style = GAIN if perm.p_value <= 0.05 else ""
        table.add_row("p-value", Text(f"{perm.p_value:.3f}", style=style))
        dsr = float(result.walkforward[1].dsr) if result.walkforward is not None else None
        table.add_row("Verdict", verdict_text(verdict(perm.p_value, dsr)))
        return table


class MonteCarloSection(ResearchSection):
    """Percentiles of final equity and max drawdown over bootstrapped paths, and P(loss)."""

    TITLE = "Monte Carlo"

    def draw(self, result: ResearchResult) -> RenderableType:
        if result.montecarlo is None:
            return self.missing(result, "Monte Carlo")
        mc = result.montecarlo
        self.border_subtitle = f"{mc.n_paths:,} paths of {mc.horizon} sessions"
        table = _table("percentile", "5%", "25%", "50%", "75%", "95%")
        fe, dd = mc.final_equity, mc.max_drawdown
        table.add_row("final (x)", *(f"{v:.3f}" for v in (fe.p5, fe.p25, fe.p50, fe.p75, fe.p95)))
        table.add_row("max DD", *(f"{v:.1%}" for v in (dd.p5, dd.p25, dd.p50, dd.p75, dd.p95)))
        table.add_row("P(loss)", f"{mc.prob_loss:.1%}", "", "", "", "")
        return table
