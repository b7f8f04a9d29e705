"""The research screen: a template over a universe and period, backtested, walked forward,
permuted and simulated, with the equity curve and drawdown as braille charts.

The inputs are the template (preselected from the desk's highlighted card), the symbols (the
configured universe by default) and the first and last session (blank: the span every symbol
has). ``r``, Enter in a field or the Run button starts a run in a thread worker, so the desk's
loop never waits on it; a progress bar names each stage as it starts. A bad date or an
unknown symbol is one line under the form, never a traceback. Escape returns to the desk; the
app's kill switch (a priority binding) works here as on every screen.

The walk-forward, permutation and Monte Carlo fan out on the executor ``[research] scheduler``
names, chosen by the CLI's rule (``engine.research.executor.configured_executor``: a Dask
cluster, else this process), built and closed in the worker (a local cluster takes seconds to
start); the closing line says where they ran.

Everything from ``engine.research`` is imported inside the worker: it pulls in SciPy, which
the console's first frame must not wait for.
"""

from __future__ import annotations

import time
from contextlib import closing
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, get_args

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, ProgressBar, Select, Static
from textual.worker import get_current_worker

from console.widgets.fmt import LOSS
from console.widgets.research import (
    BrailleChart,
    MetricsSection,
    MonteCarloSection,
    PermutationSection,
    ResearchResult,
    ResearchSection,
    WalkForwardSection,
)
from engine.config import TemplateName

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.config import Settings
    from engine.research.executor import Executor

TEMPLATES: tuple[str, ...] = get_args(TemplateName)
TRAIN_DAYS = 504
"""Walk-forward training window: two years of sessions."""
TEST_DAYS = 126
"""Walk-forward out-of-sample window: half a year."""
PERMUTATIONS = 50
PATHS = 2_000
HORIZON = 252
SEED = 7
STAGES = ("loading data", "backtest", "walk-forward", "permutation", "Monte Carlo")
HINT = "r or Enter runs  ·  Escape back to the desk"


def parse_date(text: str, name: str) -> date | None:
    """A blank field is no bound; anything else must be YYYY-MM-DD."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a date (YYYY-MM-DD)") from None


class ResearchScreen(Screen[None]):
    """Inputs on top, progress under them, then charts and result sections. Escape closes."""

    AUTO_FOCUS = "#research-template"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back to desk"),
        Binding("r", "run", "Run"),
    ]

    def __init__(self, settings: Settings, template: str | None = None) -> None:
        super().__init__(id="research")
        self._settings = settings
        self._template = template if template in TEMPLATES else TEMPLATES[0]
        self.running = False
        self.result: ResearchResult | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("Research", id="research-title", markup=False)
        with Horizontal(id="research-form"):
            with Vertical(classes="research-field -template"):
                yield Label("Template")
                yield Select(
                    [(t, t) for t in TEMPLATES],
                    value=self._template,
                    allow_blank=False,
                    id="research-template",
                )
            with Vertical(classes="research-field -symbols"):
                yield Label("Symbols")
                symbols = ",".join(self._settings.universe.symbols)
                yield Input(symbols, placeholder="AAPL,MSFT", id="research-symbols")
            with Vertical(classes="research-field -date"):
                yield Label("Start")
                yield Input("", placeholder="YYYY-MM-DD", id="research-start")
            with Vertical(classes="research-field -date"):
                yield Label("End")
                yield Input("", placeholder="YYYY-MM-DD", id="research-end")
            yield Button("Run (r)", id="research-run", variant="primary")
        with Horizontal(id="research-progress-row"):
            yield ProgressBar(total=len(STAGES), show_eta=False, id="research-progress")
            yield Static(HINT, id="research-stage", markup=False)
        yield Static("", id="research-error", markup=False)
        with VerticalScroll(id="research-body", can_focus=False):
            yield BrailleChart(label=lambda v: f"{v:.2f}x", id="research-equity")
            yield BrailleChart(label=lambda v: f"{v:.0%}", style=LOSS, fill_to=0.0, id="research-drawdown")
            with Horizontal(id="research-columns"):
                yield MetricsSection(id="research-metrics")
                with Vertical(id="research-right"):
                    yield WalkForwardSection(id="research-walkforward")
                    yield PermutationSection(id="research-permutation")
                    yield MonteCarloSection(id="research-montecarlo")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#research-equity", BrailleChart).border_title = "Equity (x start)"
        self.query_one("#research-drawdown", BrailleChart).border_title = "Drawdown"
        self.set_class(True, "-empty")

    # ------------------------------------------------------------------ run
    @on(Input.Submitted)
    @on(Button.Pressed, "#research-run")
    def _submit(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        if self.running:
            self.notify("a research run is already going", severity="warning")
            return
        template = str(self.query_one("#research-template", Select).value)
        text = self.query_one("#research-symbols", Input).value
        symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
        try:
            start = parse_date(self.query_one("#research-start", Input).value, "start")
            end = parse_date(self.query_one("#research-end", Input).value, "end")
            if start is not None and end is not None and start > end:
                raise ValueError(f"start {start} is after end {end}")
        except ValueError as exc:
            self._fail(str(exc))
            return
        self.running = True
        self._set_error(None)
        self.query_one(ProgressBar).update(progress=0)
        self._stage(0, STAGES[0])
        self._research(template, symbols, start, end)

    @work(thread=True, exclusive=True, group="research", exit_on_error=False)
    def _research(self, template: str, symbols: list[str], start: date | None, end: date | None) -> None:
        """Every stage off the UI loop; each reports back through ``call_from_thread``."""
        worker = get_current_worker()
        began = time.monotonic()
        try:
            result = self._compute(template, symbols, start, end)
        except Exception as exc:  # shown as one line; the app must outlive a failed study
            if not worker.is_cancelled:
                self.app.call_from_thread(self._fail, _one_line(exc))
            return
        if result is not None and not worker.is_cancelled:
            self.app.call_from_thread(self._show, result, time.monotonic() - began)

    def _compute(
        self, template: str, symbols: list[str], start: date | None, end: date | None
    ) -> ResearchResult | None:
        """The stages in order (in the worker's thread); None once the screen has gone."""
        from engine.research.executor import configured_executor
        from engine.research.runs import load_panel, template_named

        def stage(i: int) -> bool:
            """Report stage ``i`` as started; False once the screen has gone."""
            if get_current_worker().is_cancelled:
                return False
            self.app.call_from_thread(self._stage, i, STAGES[i])
            return True

        template_named(template)
        panel = load_panel(self._settings, symbols or None, start, end)
        if not stage(1):
            return None
        executor, where = configured_executor(self._settings.research)  # as the CLI: [research] scheduler
        with closing(executor):  # a local Dask cluster stops with the run
            return self._stages(template, panel, executor, where, stage)

    def _stages(
        self, template: str, panel: Any, executor: Executor, where: str, stage: Callable[[int], bool]
    ) -> ResearchResult | None:
        """Backtest, walk-forward, permutation and Monte Carlo (the last three on ``executor``);
        ``panel`` as ``load_panel`` gave it (its type lives in engine.strategies, which the
        console does not import)."""
        from engine.research.runs import run_backtest, run_montecarlo, run_permutation, run_walkforward

        run = run_backtest(template, panel)
        bt = run.backtest
        first = float(bt.equity[0]) or 1.0
        errors: dict[str, str] = {}
        settings = {
            "train_days": TRAIN_DAYS,
            "test_days": TEST_DAYS,
            "runs": PERMUTATIONS,
            "paths": PATHS,
            "horizon": HORIZON,
        }
        if not stage(2):
            return None
        walkforward = None
        try:
            walkforward = run_walkforward(
                template, panel, train_days=TRAIN_DAYS, test_days=TEST_DAYS, executor=executor
            )
        except ValueError as exc:
            errors["walk-forward"] = _one_line(exc)
        if not stage(3):
            return None
        permutation = None
        try:
            permutation = run_permutation(template, panel, runs=PERMUTATIONS, seed=SEED, executor=executor)
        except ValueError as exc:
            errors["permutation"] = _one_line(exc)
        if not stage(4):
            return None
        montecarlo = None
        try:
            montecarlo = run_montecarlo(
                bt.returns[1:], method="bootstrap", paths=PATHS, horizon=HORIZON, seed=SEED, executor=executor
            )
        except ValueError as exc:
            errors["Monte Carlo"] = _one_line(exc)
        return ResearchResult(
            template=template,
            symbols=tuple(bt.symbols),
            span=f"{bt.dates[0]} .. {bt.dates[-1]}" if len(bt.dates) else "",
            equity=tuple(float(v) / first for v in bt.equity),
            run=run,
            walkforward=walkforward,
            permutation=permutation,
            montecarlo=montecarlo,
            errors=errors,
            settings=settings,
            where=where,
        )

    # ------------------------------------------------------------------ back on the UI loop
    def _stage(self, index: int, name: str) -> None:
        if not self.is_mounted:
            return
        self.query_one(ProgressBar).update(progress=index)
        self.query_one("#research-stage", Static).update(f"{index + 1}/{len(STAGES)} {name}…")

    def _show(self, result: ResearchResult, seconds: float) -> None:
        self.running = False
        if not self.is_mounted:
            return
        self.result = result
        self.query_one(ProgressBar).update(progress=len(STAGES))
        self.query_one("#research-stage", Static).update(
            f"done in {seconds:.1f}s ({result.where})  ·  {HINT}"
        )
        self.set_class(False, "-empty")
        equity = self.query_one("#research-equity", BrailleChart)
        equity.series = result.equity
        equity.border_subtitle = result.span
        drawdown = self.query_one("#research-drawdown", BrailleChart)
        drawdown.series = result.drawdown
        drawdown.border_subtitle = f"worst {min(result.drawdown, default=0.0):.1%}"
        for section in self.query(ResearchSection):
            section.result = result
        title = f"Research  ·  {result.template} on {', '.join(result.symbols)}  ·  {result.span}"
        self.query_one("#research-title", Static).update(title)

    def _fail(self, message: str) -> None:
        self.running = False
        if not self.is_mounted:
            return
        self._set_error(message)
        self.query_one(ProgressBar).update(progress=0)
        self.query_one("#research-stage", Static).update(HINT)

    def _set_error(self, message: str | None) -> None:
        self.error = message
        error = self.query_one("#research-error", Static)
        error.update(message or "")
        error.set_class(message is not None, "-shown")

    def action_close(self) -> None:
        self.dismiss(None)


def _one_line(exc: BaseException) -> str:
    """An exception as one line: its message (first line), or its type when it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
