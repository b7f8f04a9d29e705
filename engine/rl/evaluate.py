"""Out-of-sample evaluation of learning agents: walk-forward against honest baselines.

Walk-forward (expanding window): the sessions after the warm-up are cut into a first training
span (``min_train`` sessions) and ``n_folds`` equal test blocks after it. Fold ``i`` trains a
fresh agent (fixed seed) on every session before its test block (``train.train`` cuts the panel
at the fold's ``train_end``; the learner never receives a later bar: the panel it is given is cut
here first, and the fold records the last session it saw so tests can assert it), then trades the
test block unseen, starting flat. The folds' out-of-sample daily returns, concatenated, are the
agent's record; nothing in it was earned by a model that had seen it.

Baselines over exactly the same sessions, through the same backtester and costs:

* **buy-and-hold**: an equal-weight basket of the symbols, bought on the first out-of-sample bar
  and held (the backtester's drift rule rebalances it when a weight drifts 5 %);
* **best template**: per fold, the template with the best Sharpe over the fold's *training*
  sessions only, then its returns over the fold's test block;
* **equal-weight templates**: the mean of the templates' daily returns (a daily re-mix of the
  template accounts; re-mixing the sleeves is not charged, each template pays its own costs);
* **random agent, same turnover**: the agent's own target path within each fold, circularly
  shifted by a random offset (seeded). Every target and every change the agent made is kept, so
  the exposure is the same and the turnover the same up to the one junction per fold (its
  ``|w_last - w_first|``), while the timing is random. ``n_random`` draws give the permutation
  distribution of the Sharpe ratio.

Statistics: the **permutation p-value** is ``(1 + #{random Sharpe >= agent Sharpe}) / (1 + n)``
over those draws (one-sided: is the agent's timing better than random timing at the same
turnover?). The **deflated Sharpe ratio** (Bailey & López de Prado, 2014,
``engine.research.metrics.deflated_sharpe_ratio``) deflates the agent's out-of-sample Sharpe by
the expected maximum Sharpe of ``N`` unskilled trials, ``N`` counting every configuration ever
evaluated under the registry root (``trials.json``: one entry per distinct configuration hash,
with its out-of-sample Sharpe; their variance is the trials' ``V``).

Fold work is the module-level ``run_fold`` (a learner object and a fold, both picklable), so it
fans out through ``engine.research.executor`` like any research job, the panel sent to each
worker once (``map_shared``: a Dask cluster scatters it) rather than with every fold.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from engine.research import metrics as rm
from engine.research.backtest import DEFAULT_CONFIG, BacktestConfig, run_template, simulate
from engine.research.executor import Executor, SerialExecutor
from engine.rl.env import (
    DEFAULT_FEATURES,
    EnvConfig,
    Market,
    TradingEnv,
    build_market,
    cut_panel,
    first_decision,
)
from engine.strategies.templates.base import Array, Panel

if TYPE_CHECKING:
    from engine.config import Settings

DEFAULT_TEMPLATES: tuple[str, ...] = ("momentum", "mean_reversion", "breakout", "trend", "rotation")
"""The templates the baselines and the allocator mix: the equity ones (pairs and options need
paired or option data the shipped universe does not give every symbol)."""
TRIALS = "trials.json"


# -- folds ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward step: train on ``[train_start, train_end]``, trade ``[test_start, test_end]``."""

    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date


def make_folds(
    dates: NDArray[np.datetime64], first_test: int, n_folds: int, last: int | None = None
) -> list[Fold]:
    """``n_folds`` equal test blocks over bars ``[first_test, last]`` (default: to the end); each
    fold trains on every bar before its block (expanding window)."""
    end = len(dates) - 1 if last is None else last
    if n_folds < 1:
        raise ValueError(f"n_folds must be at least 1, got {n_folds}")
    if first_test < 1 or end - first_test + 1 < n_folds:
        raise ValueError(
            f"cannot cut {n_folds} test block(s) from bars {first_test}..{end} of {len(dates)} sessions"
        )
    edges = np.linspace(first_test, end + 1, n_folds + 1).astype(int)

    def day(i: int) -> date:
        return date.fromisoformat(str(dates[i])[:10])

    return [
        Fold(k, day(0), day(int(a) - 1), day(int(a)), day(int(b) - 1))
        for k, (a, b) in enumerate(itertools.pairwise(edges))
    ]


# -- what a fold produces -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FoldOutcome:
    """A fold's out-of-sample trading: row ``i`` of ``returns`` is earned on ``dates[i]``.

    ``weights`` are the targets held over each return (``[L, K]``; symbols for a trading agent,
    templates for the allocator) and ``start_weights`` those before the first one (flat)."""

    fold: Fold
    dates: NDArray[np.datetime64]
    returns: Array
    weights: Array
    cost_frac: Array
    """Costs paid each bar as a share of the previous bar's equity."""
    seen_end: date
    """The last session the learner saw (training and validation): before ``fold.test_start``."""
    info: dict[str, float] = field(default_factory=dict)


class Learner(Protocol):
    """Trains on a fold's past and trades its test block (a picklable, module-level class)."""

    @property
    def name(self) -> str: ...

    def run(self, panel: Panel, fold: Fold, root: Path) -> FoldOutcome: ...

    def pricer(self, panel: Panel, fold: Fold) -> Callable[[Array], tuple[Array, Array]]:
        """Returns and cost shares of another weights path over the fold (the random agents)."""
        ...

    def identity(self) -> dict[str, Any]:
        """What makes this configuration a distinct trial (hashed into the trials ledger)."""
        ...


def run_fold(panel: Panel, job: tuple[Learner, Fold, str]) -> FoldOutcome:
    """One fold (module level, so an executor can ship it to a worker; the panel is the data
    every fold shares: ``Executor.map_shared`` sends it to each worker once, not per fold)."""
    learner, fold, root = job
    outcome = learner.run(cut_panel(panel, fold.test_end), fold, Path(root))
    if outcome.seen_end >= fold.test_start:
        raise RuntimeError(
            f"fold {fold.index}: the learner saw {outcome.seen_end}, inside its test block "
            f"from {fold.test_start}"
        )
    return outcome


# -- trading a policy over a fold through TradingEnv ----------------------------------------------


def fold_range(market: Market, fold: Fold, window: int) -> tuple[int, int]:
    """The environment's bar range for a fold: the first decision at the close of the last
    training bar, the last trade at the last test bar."""
    start = market.index(fold.test_start, "left") - 1
    end = market.index(fold.test_end) - 1
    if start < first_decision(market, window):
        raise ValueError(
            f"fold {fold.index}: the test block starts {fold.test_start}, before the features and a "
            f"{window}-bar window are ready; give the first fold more training sessions"
        )
    return start, end


def trade_policy(
    policy: Callable[[NDArray[np.float32]], tuple[Any, float]],
    panel: Panel,
    fold: Fold,
    config: EnvConfig,
    features: Sequence[str] = DEFAULT_FEATURES,
    seen_end: date | None = None,
) -> FoldOutcome:
    """``policy`` over the fold's test block, from flat, through ``TradingEnv`` (the backtester)."""
    from engine.rl.rollout import rollout

    market = build_market(panel, features, config.backtest.fill)
    start, end = fold_range(market, fold, config.window)
    env = TradingEnv(market, replace(config, episode_bars=end - start), start, end, random_start=False)
    run = rollout(policy, env)
    prev = run.equity[:-1]
    return FoldOutcome(
        fold,
        run.dates[1:],
        run.returns,
        run.targets[1:],
        run.costs[1:] / prev,
        seen_end or fold.train_end,
    )


def target_pricer(
    panel: Panel, fold: Fold, config: EnvConfig, features: Sequence[str] = DEFAULT_FEATURES
) -> Callable[[Array], tuple[Array, Array]]:
    """The backtester's returns and cost shares for a target path over the fold (from flat)."""
    market = build_market(panel, features, config.backtest.fill)
    start, end = fold_range(market, fold, config.window)
    dates = market.dates[start : end + 1]
    fill = market.fill[start : end + 1]
    close = market.close[start : end + 1]

    def price(weights: Array) -> tuple[Array, Array]:
        target = np.vstack([np.zeros(weights.shape[1]), weights])
        bt = simulate(dates, market.symbols, fill, close, target, config.backtest)
        return bt.returns[1:], bt.costs[1:] / bt.equity[:-1]

    return price


@dataclass(frozen=True, slots=True)
class AgentLearner:
    """A fresh SB3 agent per fold, trained by ``train.train`` with a fixed seed."""

    agent: str
    steps: int = 5_000
    seed: int = 0
    reward: str = "log_return"
    window: int = 32
    features: tuple[str, ...] = DEFAULT_FEATURES
    validation: float = 0.2
    eval_every: int = 1_000
    patience: int = 5
    device: str = "cpu"
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        return self.agent

    def spec(self, train_end: date) -> Any:
        from engine.rl.train import TrainSpec

        return TrainSpec(
            agent=self.agent,
            train_end=train_end,
            steps=self.steps,
            seed=self.seed,
            reward=self.reward,
            window=self.window,
            features=self.features,
            validation=self.validation,
            eval_every=self.eval_every,
            patience=self.patience,
            checkpoint_every=0,
            device=self.device,
            overrides=dict(self.overrides),
        )

    def run(self, panel: Panel, fold: Fold, root: Path) -> FoldOutcome:
        from engine.rl.agents import predictor
        from engine.rl.train import train

        spec = self.spec(fold.train_end)
        trained = train(
            spec, cut_panel(panel, fold.train_end), root, model_id=f"{self.agent}-fold{fold.index}"
        )
        seen = date.fromisoformat(trained.record.data_end)
        out = trade_policy(predictor(trained.model), panel, fold, spec.env_config(), self.features, seen)
        info = {"train_seconds": trained.seconds, "steps": float(trained.record.steps)}
        return replace(out, info=info)

    def pricer(self, panel: Panel, fold: Fold) -> Callable[[Array], tuple[Array, Array]]:
        return target_pricer(panel, fold, self.spec(fold.train_end).env_config(), self.features)

    def identity(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "steps": self.steps,
            "seed": self.seed,
            "reward": self.reward,
            "window": self.window,
            "features": list(self.features),
            "validation": self.validation,
            "overrides": dict(self.overrides),
        }


# -- baselines ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stream:
    """A daily return stream on the evaluation's sessions, with what it traded and paid."""

    returns: Array
    cost_frac: Array
    weights: Array | None = None

    def metrics(self) -> dict[str, float]:
        r = self.returns
        if not r.size:
            return {}

        def safe(fn: Callable[[], float]) -> float:
            try:
                return float(fn())
            except (ValueError, ZeroDivisionError):
                return math.nan

        turnover = math.nan
        if self.weights is not None and len(self.weights) > 1:
            w = np.vstack([np.zeros(self.weights.shape[1]), self.weights])
            turnover = safe(lambda: rm.turnover(w))
        return {
            "total_return": safe(lambda: rm.total_return(r)),
            "sharpe": safe(lambda: rm.sharpe_ratio(r)),
            "sortino": safe(lambda: rm.sortino_ratio(r)),
            "max_drawdown": safe(lambda: rm.max_drawdown(r)),
            "turnover": turnover,
            "cost_paid": float(np.nansum(self.cost_frac)),
            "bars": float(r.size),
        }


@dataclass(frozen=True, slots=True)
class TemplateStreams:
    """Each template's daily returns and cost shares over the panel's sessions (``[T, K]``)."""

    dates: NDArray[np.datetime64]
    names: tuple[str, ...]
    returns: Array
    cost_frac: Array
    weights: tuple[Array, ...]


def template_streams(
    panel: Panel, templates: Sequence[str] = DEFAULT_TEMPLATES, config: BacktestConfig = DEFAULT_CONFIG
) -> TemplateStreams:
    """Every template run once over the whole panel (a template's setup at bar t reads bars up to
    t only, as ``engine.research.walkforward`` relies on), as daily return streams."""
    from engine.strategies.templates import TEMPLATES

    unknown = [t for t in templates if t not in TEMPLATES]
    if unknown:
        raise ValueError(f"unknown template(s) {', '.join(unknown)}; known: {', '.join(TEMPLATES)}")
    if not templates:
        raise ValueError("at least one template is needed")
    runs = [run_template(TEMPLATES[t], panel, None, config) for t in templates]
    dates = runs[0].dates
    rets = np.column_stack([bt.returns for bt in runs])
    costs = np.zeros_like(rets)
    for k, bt in enumerate(runs):
        costs[1:, k] = bt.costs[1:] / bt.equity[:-1]
    return TemplateStreams(dates, tuple(templates), rets, costs, tuple(bt.weights for bt in runs))


def _rows(dates: NDArray[np.datetime64], wanted: NDArray[np.datetime64]) -> NDArray[np.int64]:
    idx = np.searchsorted(dates, wanted)
    if (idx >= len(dates)).any() or (dates[np.minimum(idx, len(dates) - 1)] != wanted).any():
        raise ValueError("the out-of-sample sessions are not all in the template streams")
    return idx.astype(np.int64)


def buy_and_hold(
    panel: Panel, oos: NDArray[np.datetime64], config: BacktestConfig = DEFAULT_CONFIG
) -> Stream:
    """An equal-weight basket bought at the first out-of-sample fill and held (see module doc)."""
    market = build_market(panel, ("ret1",), config.fill)
    rows = _rows(market.dates, oos)
    a, b = int(rows[0]) - 1, int(rows[-1])
    n = len(market.symbols)
    target = np.full((b - a + 1, n), 1.0 / n)
    target[0] = 0.0
    bt = simulate(
        market.dates[a : b + 1],
        market.symbols,
        market.fill[a : b + 1],
        market.close[a : b + 1],
        target,
        config,
    )
    r = bt.returns[1:]
    c = bt.costs[1:] / bt.equity[:-1]
    keep = rows - a - 1
    return Stream(r[keep], c[keep], target[1:][keep])


def best_template(
    streams: TemplateStreams, folds: Sequence[Fold], oos: NDArray[np.datetime64]
) -> tuple[Stream, list[str]]:
    """Per fold, the template with the best Sharpe on the fold's training sessions only."""
    rets, costs, chosen = [], [], []
    weights = []
    for fold in folds:
        train = streams.dates <= np.datetime64(fold.train_end, "D")
        test = (streams.dates >= np.datetime64(fold.test_start, "D")) & (
            streams.dates <= np.datetime64(fold.test_end, "D")
        )
        scores = []
        for k in range(len(streams.names)):
            r = streams.returns[train, k]
            s = rm.sharpe_ratio(r) if r.size > 2 else math.nan
            scores.append(s if math.isfinite(s) else -math.inf)
        k = int(np.argmax(scores))
        chosen.append(streams.names[k])
        rets.append(streams.returns[test, k])
        costs.append(streams.cost_frac[test, k])
        weights.append(streams.weights[k][test])
    _rows(streams.dates, oos)
    return Stream(np.concatenate(rets), np.concatenate(costs), np.vstack(weights)), chosen


def equal_weight_templates(streams: TemplateStreams, oos: NDArray[np.datetime64]) -> Stream:
    rows = _rows(streams.dates, oos)
    k = len(streams.names)
    w = sum(streams.weights) / k
    return Stream(
        streams.returns[rows].mean(axis=1), streams.cost_frac[rows].mean(axis=1), np.asarray(w)[rows]
    )


# -- the random agents ----------------------------------------------------------------------------


def shifted(weights: Array, rng: np.random.Generator) -> Array:
    """``weights`` (one fold's ``[L, K]`` path) circularly shifted by a random offset in ``1..L-1``."""
    n = len(weights)
    if n < 2:
        return weights.copy()
    return np.roll(weights, int(rng.integers(1, n)), axis=0)


def random_agents(
    learner: Learner, panel: Panel, outcomes: Sequence[FoldOutcome], n: int, seed: int
) -> tuple[Array, Array]:
    """``n`` random agents with the agent's turnover: their Sharpe ratios and mean turnover."""
    rng = np.random.default_rng(seed)
    pricers = [learner.pricer(panel, o.fold) for o in outcomes]
    sharpes = np.empty(n)
    turnovers = np.empty(n)
    for i in range(n):
        rets, paths = [], []
        for o, price in zip(outcomes, pricers, strict=True):
            w = shifted(o.weights, rng)
            r, _ = price(w)
            rets.append(r)
            paths.append(np.vstack([np.zeros(w.shape[1]), w]))
        r_all = np.concatenate(rets)
        sharpes[i] = rm.sharpe_ratio(r_all)
        turnovers[i] = _fold_turnover(paths)
    return sharpes, turnovers


def _fold_turnover(paths: Sequence[Array]) -> float:
    """Annualised turnover of fold paths (each from flat), as ``rm.turnover`` of one path."""
    total = sum(float(np.abs(np.diff(p, axis=0)).sum()) for p in paths)
    bars = sum(len(p) - 1 for p in paths)
    return total / bars * rm.ANNUALIZATION if bars else math.nan


def p_value(observed: float, null: Array) -> float:
    """``(1 + #{null >= observed}) / (1 + n)``: never 0, NaN when the agent's Sharpe is undefined."""
    if not math.isfinite(observed):
        return math.nan
    finite = null[np.isfinite(null)]
    return float((1 + np.sum(finite >= observed)) / (1 + finite.size))


# -- the trials ledger and the deflated Sharpe ----------------------------------------------------


def record_trial(root: Path, key: str, sharpe: float, label: str) -> dict[str, dict[str, Any]]:
    """Add (or update) configuration ``key``'s out-of-sample Sharpe in ``<root>/trials.json``."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / TRIALS
    trials = read_trials(root)
    trials[key] = {"sharpe": sharpe if math.isfinite(sharpe) else None, "label": label}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(trials, indent=2, sort_keys=True))
    tmp.replace(path)
    return trials


def read_trials(root: Path) -> dict[str, dict[str, Any]]:
    path = root / TRIALS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable trials ledger ({exc}); fix or remove it") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the trials ledger is not an object")
    return data


def deflated_sharpe(returns: Array, trial_sharpes: Sequence[float]) -> float:
    """The DSR of ``returns`` counting ``len(trial_sharpes)`` trials (annualised Sharpes)."""
    finite = [s for s in trial_sharpes if s is not None and math.isfinite(s)]
    return rm.deflated_sharpe_ratio(returns, trial_sharpes=finite, n_trials=max(len(finite), 1))


# -- the evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evaluation:
    learner: str
    folds: tuple[Fold, ...]
    outcomes: tuple[FoldOutcome, ...]
    table: dict[str, dict[str, float]]
    """Row name (the agent, buy-and-hold, best template, equal-weight templates, random agent
    (median draw)) -> metrics."""
    p_value: float
    dsr: float
    trials: int
    random_sharpes: Array
    best_templates: tuple[str, ...]
    config_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "learner": self.learner,
            "folds": [
                {
                    "train": [str(f.train_start), str(f.train_end)],
                    "test": [str(f.test_start), str(f.test_end)],
                    "seen_end": str(o.seen_end),
                    **o.info,
                }
                for f, o in zip(self.folds, self.outcomes, strict=True)
            ],
            "table": self.table,
            "p_value": self.p_value,
            "p_value_test": "agent Sharpe vs random agents with its turnover (circular shifts of its "
            "targets within each fold), one-sided",
            "dsr": self.dsr,
            "trials": self.trials,
            "best_templates": list(self.best_templates),
            "config_hash": self.config_hash,
        }

    def summary_metrics(self) -> dict[str, float]:
        """The flat numbers a model's meta.json keeps (prefixed ``oos_``)."""
        agent = self.table[self.learner]
        out = {f"oos_{k}": v for k, v in agent.items()}
        out["oos_p_value"] = self.p_value
        out["oos_dsr"] = self.dsr
        out["oos_trials"] = float(self.trials)
        out["oos_folds"] = float(len(self.folds))
        for row, name in (
            ("buy-and-hold", "bh"),
            ("best template", "best_template"),
            ("equal-weight templates", "ew"),
        ):
            if row in self.table:
                out[f"oos_{name}_sharpe"] = self.table[row].get("sharpe", math.nan)
                out[f"oos_{name}_return"] = self.table[row].get("total_return", math.nan)
        return out


def evaluate(
    learner: Learner,
    panel: Panel,
    *,
    n_folds: int = 4,
    min_train: int = 756,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    n_random: int = 200,
    seed: int = 0,
    executor: Executor | None = None,
    registry_root: Path | None = None,
    streams: TemplateStreams | None = None,
) -> Evaluation:
    """Walk-forward ``learner`` over ``panel`` against the baselines (see the module docstring).

    ``min_train``: sessions (from the panel's first) before the first test block. The trial is
    recorded in ``registry_root``'s ledger (none given: a throwaway one, so only this trial).
    No ``templates`` and no ``streams``: the template baselines are left out (synthetic tests)."""
    from engine.rl.registry import config_hash

    market = build_market(panel, DEFAULT_FEATURES)
    if min_train < 2 or min_train >= len(market) - n_folds:
        raise ValueError(
            f"min_train must leave {n_folds} test session(s) after it: {min_train} of {len(market)} sessions"
        )
    folds = make_folds(market.dates, min_train, n_folds)
    scratch = Path(tempfile.mkdtemp(prefix="onetap-rl-eval-"))
    try:
        runner = executor or SerialExecutor()
        outcomes = runner.map_shared(run_fold, panel, [(learner, f, str(scratch)) for f in folds])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    oos = np.concatenate([o.dates for o in outcomes])
    agent_r = np.concatenate([o.returns for o in outcomes])
    agent = Stream(agent_r, np.concatenate([o.cost_frac for o in outcomes]))
    table: dict[str, dict[str, float]] = {}
    paths = [np.vstack([np.zeros(o.weights.shape[1]), o.weights]) for o in outcomes]
    row = agent.metrics()
    row["turnover"] = _fold_turnover(paths)
    table[learner.name] = row
    table["buy-and-hold"] = buy_and_hold(panel, oos).metrics()
    chosen: list[str] = []
    if streams is None and templates:
        streams = template_streams(panel, templates)
    if streams is not None:
        best, chosen = best_template(streams, folds, oos)
        table["best template"] = best.metrics()
        table["equal-weight templates"] = equal_weight_templates(streams, oos).metrics()
    sharpes, turnovers = random_agents(learner, panel, outcomes, n_random, seed)
    finite = sharpes[np.isfinite(sharpes)]
    table["random agent (median)"] = {
        "sharpe": float(np.median(finite)) if finite.size else math.nan,
        "sharpe_p95": float(np.quantile(finite, 0.95)) if finite.size else math.nan,
        "turnover": float(np.mean(turnovers)),
    }
    pv = p_value(row["sharpe"], sharpes)
    key = config_hash(
        {**learner.identity(), "folds": n_folds, "min_train": min_train, "symbols": sorted(panel)}
    )
    ledger_root = registry_root or Path(tempfile.mkdtemp(prefix="onetap-rl-trials-"))
    trials = record_trial(ledger_root, key, row["sharpe"], learner.name)
    if registry_root is None:
        shutil.rmtree(ledger_root, ignore_errors=True)
    trial_sharpes = [t.get("sharpe") for t in trials.values()]
    dsr = deflated_sharpe(agent_r, [s for s in trial_sharpes if s is not None])
    return Evaluation(
        learner.name,
        tuple(folds),
        tuple(outcomes),
        table,
        pv,
        dsr,
        len(trials),
        sharpes,
        tuple(chosen),
        key,
    )


def load_panel(settings: Settings, symbols: Sequence[str], start: date | None, end: date | None) -> Panel:
    """The configured data's bars for ``symbols`` between the dates (all of them by default)."""
    from engine.research.runs import load_panel as research_panel

    return research_panel(settings, symbols, start, end)


def fold_executor(workers: int) -> Executor:
    """In process for one worker, else a process pool (``run_fold`` is module level)."""
    from engine.research.executor import make_executor

    return make_executor("process" if workers > 1 else "serial", max(workers, 1))


def format_table(ev: Evaluation) -> str:
    """The evaluation as a fixed-width table with the p-value and DSR under it."""
    cols = ("total_return", "sharpe", "sortino", "max_drawdown", "turnover", "cost_paid")
    head = ("", "return", "Sharpe", "Sortino", "max DD", "turnover", "cost")
    lines = []
    width = max(len(k) for k in ev.table) + 2
    lines.append(head[0].ljust(width) + "".join(h.rjust(10) for h in head[1:]))
    for name, m in ev.table.items():
        cells = []
        for c in cols:
            v = m.get(c, math.nan)
            if not math.isfinite(v):
                cells.append("-")
            elif c in ("total_return", "max_drawdown", "cost_paid"):
                cells.append(f"{v * 100:+.1f}%")
            else:
                cells.append(f"{v:.2f}")
        lines.append(name.ljust(width) + "".join(x.rjust(10) for x in cells))
    f0, f1 = ev.folds[0], ev.folds[-1]
    lines.append("")
    lines.append(
        f"{len(ev.folds)} folds, out of sample {f0.test_start}..{f1.test_end}; "
        f"best template by fold (chosen on training): {', '.join(ev.best_templates) or '-'}"
    )
    rand = ev.table.get("random agent (median)", {})
    lines.append(
        f"permutation p-value {_fmt(ev.p_value, 3)} (Sharpe vs {ev.random_sharpes.size} random agents, "
        f"same turnover; their 95th pct Sharpe {_fmt(rand.get('sharpe_p95', math.nan), 2)})"
    )
    lines.append(f"deflated Sharpe ratio {_fmt(ev.dsr, 3)} over {ev.trials} configuration(s) tried")
    return "\n".join(lines)


def _fmt(x: float, digits: int) -> str:
    return "-" if not math.isfinite(x) else f"{x:.{digits}f}"


def write_to_record(record_folder: Path, ev: Evaluation) -> None:
    """The evaluation into a model's meta.json (``metrics``) and ``evaluation.json`` beside it."""
    from engine.rl import registry

    rec = registry.read_record(record_folder)
    if rec.problem:
        raise LookupError(f"model {rec.model_id}: {rec.problem}")
    metrics = {**rec.metrics, **{k: v for k, v in ev.summary_metrics().items() if math.isfinite(v)}}
    registry.write_meta(replace(rec, metrics=metrics), record_folder)
    (record_folder / "evaluation.json").write_text(json.dumps(clean_json(ev.to_json()), indent=2))


def clean_json(data: Mapping[str, Any]) -> Any:
    """``data`` with NaN and infinities as null (strict JSON)."""

    def fix(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [fix(x) for x in v]
        return v

    return fix(dict(data))
