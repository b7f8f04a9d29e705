"""Research runs as the command line asks for them: a panel from the configured data, a run, a
report folder. The console's commands only parse arguments and print; everything else is here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from engine.config import Settings
from engine.data.bar_size import daily_periods_of
from engine.model.risk import StressResult
from engine.research.backtest import DEFAULT_CONFIG, Backtest, BacktestConfig, run_template
from engine.research.executor import Executor
from engine.research.metrics import Metrics, summary
from engine.research.montecarlo import METHODS, MonteCarloSummary, simulate
from engine.research.permutation import PermutationResult, permutation_test
from engine.research.walkforward import WalkForward, walk_forward
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Array, Bars, Panel

__all__ = [
    "METHODS",
    "Panel",
    "load_panel",
    "run_backtest",
    "run_montecarlo",
    "run_permutation",
    "run_walkforward",
]


def load_panel(
    settings: Settings,
    symbols: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Panel:
    """The configured data's bars for ``symbols`` (default: the universe) between the dates.

    Without dates, the span every symbol has (latest first session to earliest last one), so a
    strategy and its buy-and-hold benchmark start with the whole universe available.
    """
    from engine.data.market import load_market as _load_market

    market = _load_market(settings)
    wanted = [s.upper() for s in symbols] if symbols else list(settings.universe.symbols)
    missing = [s for s in wanted if s not in market.bars]
    if missing:
        raise ValueError(f"no data for {', '.join(missing)}; the data has {', '.join(sorted(market.bars))}")
    frames = [market.bars[s] for s in wanted if len(market.bars[s])]
    if start is None and frames:
        start = max(f.index[0] for f in frames).date()
    if end is None and frames:
        end = min(f.index[-1] for f in frames).date()
    panel: dict[str, Bars] = {}
    for sym in wanted:
        frame = market.bars[sym]
        if start is not None:
            frame = frame.loc[frame.index >= np.datetime64(start)]
        if end is not None:
            frame = frame.loc[frame.index <= np.datetime64(end)]
        if len(frame):
            panel[sym] = Bars.from_frame(sym, frame)
    if not panel:
        raise ValueError(
            f"no bars for {', '.join(wanted)} between {start or 'the start'} and {end or 'the end'}"
        )
    return panel


def template_named(name: str) -> str:
    if name not in TEMPLATES:
        raise ValueError(f"unknown template {name!r}; expected one of {', '.join(TEMPLATES)}")
    return name


@dataclass(frozen=True, slots=True)
class BacktestRun:
    template: str
    backtest: Backtest
    metrics: Metrics
    benchmark: Metrics
    """Buy-and-hold of the same symbols, equal weight, same costs, same sessions."""


def buy_and_hold(panel: Panel, config: BacktestConfig = DEFAULT_CONFIG) -> Backtest:
    """Equal weights in every symbol from the second session, held (drift never rebalanced)."""
    from engine.research.backtest import price_matrix, sessions_and_symbols, simulate

    dates, symbols = sessions_and_symbols(panel)
    fill = np.nan_to_num(price_matrix(panel, dates, symbols, "open" if config.fill == "open" else "close"))
    close = np.nan_to_num(price_matrix(panel, dates, symbols, "close"))
    target = np.where(fill > 0, 1.0, 0.0)
    counts = target.sum(axis=1, keepdims=True)
    target = np.divide(target, counts, out=np.zeros_like(target), where=counts > 0)
    target[0] = 0.0
    held = BacktestConfig(config.fill, config.costs, 1.0, config.start_equity, config.slots)
    return simulate(dates, symbols, fill, close, target, held)


def run_backtest(template: str, panel: Panel, config: BacktestConfig = DEFAULT_CONFIG) -> BacktestRun:
    bt = run_template(TEMPLATES[template_named(template)], panel, None, config)
    bench = buy_and_hold(panel, config)
    ann = daily_periods_of(bt.dates)  # 365 for a coin's 7-day weeks, never 252 (issue 20)
    return BacktestRun(
        template,
        bt,
        summary(bt.returns, trades=bt.trade_returns, weights=bt.weights, annualization=ann),
        summary(bench.returns, annualization=ann),
    )


def run_walkforward(
    template: str, panel: Panel, *, train_days: int, test_days: int, executor: Executor | None = None
) -> tuple[WalkForward, Metrics, Metrics]:
    """The walk-forward, its out-of-sample metrics (the deflated Sharpe counting every grid point
    tried), and buy-and-hold's metrics over the same out-of-sample sessions."""
    wf = walk_forward(
        template_named(template), panel, train_days=train_days, test_days=test_days, executor=executor
    )
    trials = [x for x in wf.trial_sharpes if math.isfinite(x)]
    bench = buy_and_hold(panel)
    kept = np.isin(bench.dates, wf.dates)
    ann = daily_periods_of(bench.dates)  # 365 for a coin's 7-day weeks, never 252 (issue 20)
    # the trial Sharpes are on the walk-forward's factor: rescaled so the deflation compares like with like
    trials = [x * math.sqrt(ann / wf.periods_per_year) for x in trials]
    return (
        wf,
        # the trades behind the out-of-sample returns, so the trade count and win rate agree with them
        summary(
            wf.returns,
            trades=wf.trade_returns,
            n_trials=len(wf.grid),
            trial_sharpes=trials or None,
            annualization=ann,
        ),
        summary(bench.returns[kept], annualization=ann),
    )


def _returns_matrix(panel: Panel) -> tuple[list[str], Array, Array]:
    """Common sessions of the panel as per-day ratios ``[T-1, N, 5]``: close, open, high, low to
    the previous close, and volume, so a permutation of days keeps each day's bars whole."""
    from engine.strategies.templates.base import align

    symbols = sorted(panel)
    data = align(panel, symbols)
    prev = data.close[:-1]
    stack = np.stack(
        [
            data.close[1:] / prev,
            data.open[1:] / prev,
            data.high[1:] / prev,
            data.low[1:] / prev,
            data.volume[1:],
        ],
        axis=2,
    )
    return symbols, data.close[0], stack


@dataclass(frozen=True)
class _TemplateSharpe:
    """The statistic of a permutation run: the template's Sharpe on prices rebuilt from days in
    the given order (a module-level class, so a process pool can pickle it)."""

    template: str
    symbols: tuple[str, ...]
    first_close: tuple[float, ...]
    dates: tuple[str, ...]

    def __call__(self, flat: Array) -> float:
        days = flat.reshape(len(flat), len(self.symbols), 5)
        close = np.asarray(self.first_close) * np.cumprod(days[:, :, 0], axis=0)
        prev = np.vstack([np.asarray(self.first_close)[None, :], close[:-1]])
        dates = np.asarray(self.dates, dtype="datetime64[D]")
        panel = {
            s: Bars(
                s,
                dates,
                prev[:, j] * days[:, j, 1],
                prev[:, j] * days[:, j, 2],
                prev[:, j] * days[:, j, 3],
                close[:, j],
                days[:, j, 4],
            )
            for j, s in enumerate(self.symbols)
        }
        r = run_template(TEMPLATES[self.template], panel).returns
        sd = float(np.std(r, ddof=1))
        return float(np.mean(r)) / sd * math.sqrt(252.0) if sd > 0 else math.nan


def run_permutation(
    template: str,
    panel: Panel,
    *,
    runs: int,
    seed: int,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PermutationResult:
    """The template's Sharpe on the real order of days against ``runs`` joint permutations of them."""
    from engine.strategies.templates.base import align

    symbols, first, days = _returns_matrix(panel)
    dates = align(panel, symbols).dates[1:]
    stat = _TemplateSharpe(
        template_named(template), tuple(symbols), tuple(first), tuple(str(d) for d in dates)
    )
    flat = days.reshape(len(days), -1)  # [T, N x 5]: a permutation moves whole days, every field
    return permutation_test(stat, flat, n_runs=runs, seed=seed, executor=executor, progress=progress)


@dataclass(frozen=True, slots=True)
class StrategyStress:
    """The risk engine's named shocks on the strategy's book on two days: its last, and the day
    it held the most (gross), with betas to the benchmark estimated over the run's sessions."""

    last_day: str
    last: tuple[StressResult, ...]
    largest_day: str
    largest: tuple[StressResult, ...]


def strategy_stress(run: BacktestRun, panel: Panel, benchmark: Bars | None) -> StrategyStress:
    from engine.risk.stress import stress_test
    from engine.risk.var import AlignedBook

    bt = run.backtest
    close = np.column_stack([_closes_on(panel[s], bt.dates) for s in bt.symbols])
    values = bt.shares * close
    rets = np.zeros_like(close)
    rets[1:] = np.where(close[:-1] > 0, close[1:] / np.where(close[:-1] > 0, close[:-1], 1.0) - 1.0, 0.0)
    betas: dict[str, float | None] = {}
    if benchmark is not None:
        bench = _closes_on(benchmark, bt.dates)
        b = np.zeros_like(bench)
        b[1:] = np.where(bench[:-1] > 0, bench[1:] / np.where(bench[:-1] > 0, bench[:-1], 1.0) - 1.0, 0.0)
        var = float(np.var(b[1:], ddof=1))
        for j, sym in enumerate(bt.symbols):
            betas[sym] = float(np.cov(rets[1:, j], b[1:])[0, 1] / var) if var > 0 else None
    window = rets[-250:]

    def at(t: int) -> tuple[StressResult, ...]:
        book = AlignedBook(bt.symbols, values[t], window)
        return stress_test(book, equity=float(bt.equity[t]), betas=betas)

    largest = int(np.argmax(np.abs(values).sum(axis=1)))
    last = len(bt.dates) - 1
    return StrategyStress(str(bt.dates[last]), at(last), str(bt.dates[largest]), at(largest))


def _closes_on(bars: Bars, dates: np.ndarray) -> Array:
    """The symbol's closes on ``dates``, the last known close carried over days it has no bar."""
    idx = np.searchsorted(bars.dates, dates, side="right") - 1
    out = np.where(idx >= 0, bars.close[np.clip(idx, 0, None)], np.nan)
    return np.nan_to_num(out)


def benchmark_bars(settings: Settings) -> Bars | None:
    from engine.data.market import load_market as _load_market

    frame = _load_market(settings).bars.get(settings.universe.benchmark)
    return Bars.from_frame(settings.universe.benchmark, frame) if frame is not None and len(frame) else None


def run_montecarlo(
    returns: Array, *, method: str, paths: int, horizon: int, seed: int, executor: Executor | None = None
) -> MonteCarloSummary:
    """``paths`` simulated paths, in chunks on ``executor`` (the same result on every backend)."""
    return simulate(returns, method, paths, horizon, seed=seed, executor=executor)


def _jsonable(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def write_backtest(out: Path, run: BacktestRun) -> list[Path]:
    """metrics.json, equity.csv, weights.csv and trades.csv (and PNG charts when matplotlib is
    installed: it is optional, so a headless box without it still gets every number)."""
    out.mkdir(parents=True, exist_ok=True)
    bt = run.backtest
    written = []
    metrics = {
        "template": run.template,
        "strategy": asdict(run.metrics),
        "buy_and_hold": asdict(run.benchmark),
    }
    (out / "metrics.json").write_text(json.dumps(_jsonable(metrics), indent=2) + "\n")
    written.append(out / "metrics.json")
    frame = bt.frame()
    frame.to_csv(out / "equity.csv")
    written.append(out / "equity.csv")
    pd.DataFrame(bt.weights, index=frame.index, columns=list(bt.symbols)).to_csv(out / "weights.csv")
    written.append(out / "weights.csv")
    t_idx, s_idx = np.nonzero(bt.traded)
    trades = pd.DataFrame(
        {
            "date": frame.index[t_idx],
            "symbol": [bt.symbols[i] for i in s_idx],
            "quantity": bt.traded[t_idx, s_idx],
        }
    )
    trades.to_csv(out / "trades.csv", index=False)
    written.append(out / "trades.csv")
    written.extend(_charts(out, frame))
    return written


def _charts(out: Path, frame: pd.DataFrame) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    paths = []
    equity = frame["equity"]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(equity.index, equity.to_numpy())
    ax.set_title("Equity")
    fig.savefig(out / "equity.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    paths.append(out / "equity.png")
    drawdown = equity / equity.cummax() - 1.0
    fig, ax = plt.subplots(figsize=(8, 2.5))
    ax.fill_between(drawdown.index, drawdown.to_numpy(), 0.0)
    ax.set_title("Drawdown")
    fig.savefig(out / "drawdown.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    paths.append(out / "drawdown.png")
    monthly = equity.resample("ME").last().pct_change().dropna()
    if len(monthly):
        months = pd.DatetimeIndex(monthly.index)
        table = pd.DataFrame({"year": months.year, "month": months.month, "r": monthly.to_numpy()}).pivot(
            index="year", columns="month", values="r"
        )
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(table) + 1.2))
        limit = float(np.nanmax(np.abs(table.to_numpy()))) or 1.0
        image = ax.imshow(table.to_numpy(), cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(len(table.columns)), [str(m) for m in table.columns])
        ax.set_yticks(range(len(table.index)), [str(y) for y in table.index])
        ax.set_title("Monthly returns")
        fig.colorbar(image, ax=ax, format="{x:.0%}")
        fig.savefig(out / "monthly_returns.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        paths.append(out / "monthly_returns.png")
    return paths
