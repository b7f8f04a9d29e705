"""The models screen: the trained agents in the registry, which one a template trades, each
one's training curves and its out-of-sample evaluation.

The registry is a folder of the data directory (``engine.rl.registry``: one folder per model,
meta.json, curve.csv, and evaluation.json once ``onetap rl evaluate`` has run), read here with
the standard library, as ``onetap rl list`` reads it: the learning libraries are never
imported by the console. It is the models of the machine the console runs on (the engine that
trades them loads them from the same folder when it runs there).

Top: one row per model (id, agent, symbols, data range, training end, steps, created) and its
status: traded by the ``rl`` template (``[cards] templates`` lists ``rl`` and
``[strategies.rl] model`` names it), not used, or why its folder is not a usable model.
Below, for the highlighted model: the training curve (mean episode reward and loss by step)
as braille charts, and the evaluation table (the agent against buy-and-hold, the best
template, an equal weight of the templates and random agents of the same turnover, with the
permutation p-value and the deflated Sharpe), or "not evaluated". ``r`` reads the folder again;
Escape returns to the desk; the app's kill switch works here as on every screen.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from console.widgets.research import BrailleChart
from engine.rl.registry import ModelRecord, list_models

if TYPE_CHECKING:
    from engine.config import Settings

EVALUATION = "evaluation.json"
NOT_EVALUATED = "not evaluated (onetap rl evaluate MODEL walks it forward out of sample)"
NO_MODELS = "No trained model in {root} (onetap rl train AGENT --symbols ... --train-end DATE)."
COLUMNS = ("Model", "Agent", "Symbols", "Data", "Train end", "Steps", "Created", "Status")
EVAL_COLUMNS = (
    ("total_return", "return"),
    ("sharpe", "Sharpe"),
    ("sortino", "Sortino"),
    ("max_drawdown", "max DD"),
    ("turnover", "turnover"),
    ("cost_paid", "cost"),
)
PERCENT = frozenset({"total_return", "max_drawdown", "cost_paid"})


@dataclass(frozen=True, slots=True)
class ModelView:
    """One registry row as the screen shows it."""

    record: ModelRecord
    status: str
    used: bool
    evaluation: Mapping[str, Any] | None
    """evaluation.json beside the model, when ``onetap rl evaluate`` wrote one."""


def traded_model(settings: Settings | None) -> str:
    """The model the ``rl`` template trades under ``settings`` ("" when it is not enabled)."""
    if settings is None or "rl" not in settings.cards.templates:
        return ""
    configured = settings.strategies.get("rl")
    return configured.model.strip() if configured is not None else ""


def names_model(name: str, record: ModelRecord) -> bool:
    """Whether the configured ``name`` (an id, a unique prefix, a folder) is this model, as the
    registry's ``find_model`` resolves it."""
    if not name or record.problem:
        return False
    if record.path is not None and Path(name).expanduser().is_dir():
        return Path(name).expanduser().resolve() == record.path.resolve()
    return record.model_id == name or record.model_id.startswith(name)


def _evaluation(record: ModelRecord) -> Mapping[str, Any] | None:
    if record.path is None:
        return None
    try:
        data = json.loads((record.path / EVALUATION).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def model_views(records: Sequence[ModelRecord], settings: Settings | None) -> list[ModelView]:
    """Each record with its status; a prefix naming several models marks none (the engine refuses it)."""
    name = traded_model(settings)
    hits = [r for r in records if names_model(name, r)]
    exact = [r for r in hits if r.model_id == name]
    used = exact or (hits if len(hits) == 1 else [])
    out = []
    for r in records:
        if r.problem:
            status = r.problem
        elif r in used:
            status = "traded by the rl template"
        else:
            status = "not used"
        out.append(ModelView(r, status, r in used, _evaluation(r)))
    return out


def _num(key: str, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    if key == "cost_paid":
        return f"{value * 100:.1f}%"
    if key in PERCENT:
        return f"{value * 100:+.1f}%"
    return f"{value:.2f}"


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def evaluation_table(view: ModelView) -> RenderableType:
    """The walk-forward table (evaluation.json), else the ``oos_`` metrics meta.json keeps, else
    "not evaluated"; the validation metrics of training under it either way."""
    parts: list[RenderableType] = []
    ev: Mapping[str, Any] = view.evaluation or {}
    oos = {k[4:]: v for k, v in view.record.metrics.items() if k.startswith("oos_")}
    rows = ev.get("table")
    if isinstance(rows, Mapping) and rows:
        table = Table(box=None, pad_edge=False, header_style="bold", expand=False)
        table.add_column("out of sample")
        for _key, head in EVAL_COLUMNS:
            table.add_column(head, justify="right")
        for name, metrics in rows.items():
            m = metrics if isinstance(metrics, Mapping) else {}
            table.add_row(str(name), *(_num(k, _float(m.get(k))) for k, _h in EVAL_COLUMNS))
        parts.append(table)
        folds = ev.get("folds")
        n_folds = len(folds) if isinstance(folds, list) else 0
        p_value, dsr, trials = _float(ev.get("p_value")), _float(ev.get("dsr")), ev.get("trials", "?")
        parts.append(
            Text(
                f"{n_folds} folds  ·  permutation p-value {_num('p', p_value)}  ·  "
                f"deflated Sharpe {_num('dsr', dsr)} over {trials} configuration(s) tried",
                style="dim",
            )
        )
    elif oos:
        line = "  ".join(f"{k} {_num(k, v)}" for k, v in sorted(oos.items()))
        parts.append(Text(f"out of sample: {line}"))
    else:
        parts.append(Text(NOT_EVALUATED, style="italic"))
    val = {k: v for k, v in view.record.metrics.items() if not k.startswith("oos_")}
    shown = [k for k in ("total_return", "sharpe", "max_drawdown", "reward") if k in val]
    if shown:
        parts.append(
            Text(
                "validation (training, in sample): " + "  ".join(f"{k} {_num(k, val[k])}" for k in shown),
                style="dim",
            )
        )
    return Group(*parts)


def curve_series(record: ModelRecord, key: str) -> tuple[float, ...]:
    """One column of the training curve, in step order (missing or NaN points left out)."""
    points = [(row.get("step", math.nan), row.get(key, math.nan)) for row in record.curve]
    return tuple(float(v) for _s, v in sorted(points) if isinstance(v, int | float) and math.isfinite(v))


def _home_short(path: Path) -> str:
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


def _label(value: float) -> str:
    return f"{value:.3g}"


class ModelsScreen(Screen[None]):
    """The registry on top, the highlighted model's curves and evaluation under it."""

    CSS_PATH = "models.tcss"
    AUTO_FOCUS = "#models-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back to desk"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, root: Path, settings: Settings | None = None, label: str | None = None) -> None:
        """``label``: how the title names the folder (default: its path, the home as ``~``)."""
        super().__init__(id="models")
        self._root = root
        self._label = label if label is not None else _home_short(root)
        self._settings = settings
        self._views: list[ModelView] = []

    def compose(self) -> ComposeResult:
        yield Static("Models", id="models-title", markup=False)
        yield DataTable(id="models-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="models-detail"):
            with Vertical(id="models-curves"):
                yield BrailleChart(label=_label, id="models-reward")
                yield BrailleChart(label=_label, style="yellow", id="models-loss")
            yield Static("", id="models-eval")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#models-reward", BrailleChart).border_title = "Mean episode reward by step"
        self.query_one("#models-loss", BrailleChart).border_title = "Loss by step"
        self.query_one("#models-eval", Static).border_title = "Evaluation"
        table = self.query_one("#models-table", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        self.action_reload()

    def action_reload(self) -> None:
        self._views = model_views(list_models(self._root), self._settings)
        table = self.query_one("#models-table", DataTable)
        table.clear()
        for v in self._views:
            r = v.record
            status = Text(v.status, style="bold green" if v.used else "red" if r.problem else "dim")
            table.add_row(
                r.model_id,
                r.agent or "-",
                ",".join(r.symbols) or "-",
                f"{r.data_start}..{r.data_end}" if r.data_start else "-",
                r.train_end or "-",
                f"{r.steps:,}" if r.steps else "-",
                r.created[:16].replace("T", " ") or "-",
                status,
                key=r.model_id,
            )
        traded = traded_model(self._settings)
        using = f"the rl template trades {traded}" if traded else "no rl template enabled"
        self.query_one("#models-title", Static).update(
            f"Models  ·  {self._label}  ·  {len(self._views)} model(s)  ·  {using}  ·  r reloads"
        )
        self.set_class(not self._views, "-empty")
        if not self._views:
            self.query_one("#models-eval", Static).update(NO_MODELS.format(root=self._label))
        self._show(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.cursor_row)

    def _show(self, row: int) -> None:
        reward = self.query_one("#models-reward", BrailleChart)
        loss = self.query_one("#models-loss", BrailleChart)
        if not 0 <= row < len(self._views):
            reward.series = loss.series = ()
            return
        view = self._views[row]
        reward.series = curve_series(view.record, "episode_reward")
        loss.series = curve_series(view.record, "loss")
        self.query_one("#models-eval", Static).update(
            Text(view.record.problem) if view.record.problem else evaluation_table(view)
        )
        self.query_one("#models-eval", Static).border_title = f"Evaluation  ·  {view.record.model_id}"

    def action_close(self) -> None:
        self.dismiss(None)
