"""FX and crypto cards on intraday bars: backtest, walk-forward, permutation p-value, verdict.

An *intraday set* is one instrument's bars at one bar size (``engine.data.intraday``) and the
templates to run on it: the stock templates unchanged (their arrays do not care how long a bar
is), or one confirmed on a higher bar size (``trend@1d``: ``engine.strategies.multitimeframe``).
For each template the set gets, on its own bars and its own calendar:

- **a track record** (``engine.strategies.scan.scan_template``): every completed past trade of the
  template's setups, the horizon and the exits counted **in bars** (the trend template's 20-bar
  horizon is 20 hours on hourly FX, 5 hours on 15-minute crypto);
- **a backtest** (``engine.research.backtest.run_template``) beside **buy-and-hold** of the same bars,
  both annualised by the calendar and the bar size (``engine.data.bar_size.periods_per_year``:
  6,240 hourly bars a year for 24/5 FX, 35,040 15-minute bars for 24/7 crypto, 365 days for a
  daily coin; never sqrt(252) on hourly data);
- **a walk-forward** on the template's grid: the first third of the bars to choose in, then eight
  equal out-of-sample windows, each chosen on the ``train`` bars before it (rolling); its
  deflated Sharpe counts every grid point tried;
- **a permutation p-value**: the template's Sharpe on the real order of bars against joint
  shuffles of the bars (each bar's open/high/low/close/volume relative to the previous close
  moved whole, ``engine.research.permutation``);
- **the verdict** (``engine.research.verdict``) from the p-value and the out-of-sample deflated
  Sharpe: the one sentence the card shows.

Costs are the asset class's, per value traded (``COSTS``): a per-share commission means nothing for
a currency pair priced at 1.1 or a coin at 40,000.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.data.bar_size import BarSize
from engine.data.intraday import IntradaySeries
from engine.data.intraday_sets import IntradaySet as IntradaySet  # re-exported: research's name for it
from engine.data.intraday_sets import read_sets
from engine.model.enums import AssetClass
from engine.model.instruments import InstrumentSpec
from engine.research.backtest import BacktestConfig, Costs, run_template
from engine.research.executor import Executor
from engine.research.metrics import Metrics, summary
from engine.research.permutation import permutation_test
from engine.research.runs import buy_and_hold
from engine.research.verdict import Verdict, verdict
from engine.research.walkforward import DEFAULT_GRIDS
from engine.strategies.multitimeframe import confirmed
from engine.strategies.scan import TrackRecord, scan_template
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Array, Bars, Panel, Params, Template

COSTS: Mapping[AssetClass, Costs] = {
    AssetClass.FX: Costs(per_share=0.0, per_value=0.2e-4, slippage_bps=0.5),
    AssetClass.CRYPTO: Costs(per_share=0.0, per_value=12e-4, slippage_bps=2.0),
}
"""FX: IBKR's 0.2 bp commission on IDEALPRO and half a typical 1-pip EURUSD spread (~0.5 bp);
crypto: a 0.12% commission (IBKR/Paxos's published top tier) and 2 bp of slippage. Anything else:
the stock backtester's defaults."""

WF_WINDOWS = 8
"""Out-of-sample windows of a walk-forward on a set (after the first third, which only trains)."""
DEFAULT_PERMUTATIONS = 100


def series_bars(series: IntradaySeries) -> Bars:
    """The series as the templates read it: ``dates`` are the bar starts at minute resolution."""
    f = series.frame
    return Bars(
        series.symbol,
        series.starts,
        *(f[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")),
    )


def resolve_template(name: str, bar: BarSize) -> Template:
    """``trend`` or ``trend@1d`` (the trend on ``bar`` confirmed by the daily trend); ValueError
    naming what is unknown."""
    base_name, _, higher = name.partition("@")
    base = TEMPLATES.get(base_name)
    if base is None:
        raise ValueError(f"unknown template {base_name!r}; expected one of {', '.join(sorted(TEMPLATES))}")
    return confirmed(base, bar, BarSize.parse(higher)) if higher else base


def costs_for(spec: InstrumentSpec) -> BacktestConfig:
    costs = COSTS.get(spec.asset_class)
    return BacktestConfig(costs=costs, slots=1) if costs is not None else BacktestConfig(slots=1)


@dataclass(frozen=True, slots=True)
class Window:
    train_from: str
    test_from: str
    test_to: str
    chosen: Params
    test_sharpe: float


@dataclass(frozen=True, slots=True)
class SetCard:
    """One template on one set: what ``onetap cards`` shows for FX and crypto."""

    set_name: str
    symbol: str
    bar: str
    calendar: str
    template: str
    periods_per_year: int
    record: TrackRecord
    entry_now: bool
    """The entry rule holds at the last bar: a card would be offered now."""
    reason: str
    backtest: Metrics
    buy_hold: Metrics
    oos: Metrics
    oos_buy_hold: Metrics
    windows: tuple[Window, ...]
    p_value: float
    permutations: int
    verdict: Verdict


def _sharpe(r: Array, ann: int) -> float:
    sd = float(np.std(r, ddof=1)) if len(r) > 1 else 0.0
    return float(np.mean(r)) / sd * math.sqrt(ann) if sd > 0 else math.nan


def grid_for(template: Template) -> list[Params]:
    base_name = template.name.partition("@")[0]
    axes = DEFAULT_GRIDS.get(base_name, {})
    names = list(axes)
    import itertools

    base = template.params()
    return [{**base, **dict(zip(names, v, strict=True))} for v in itertools.product(*axes.values())] or [base]


def walk_forward_bars(
    template: Template, panel: Panel, config: BacktestConfig, ann: int, windows: int = WF_WINDOWS
) -> tuple[Array, Array, tuple[Window, ...], list[float], int]:
    """Rolling walk-forward in bars: (out-of-sample returns, their trades, windows, every grid point's
    whole-history Sharpe, the first out-of-sample bar). The first third only trains; ``windows``
    equal tests follow."""
    points = grid_for(template)
    runs = [run_template(template, panel, p, config) for p in points]
    dates = runs[0].dates
    matrix = np.column_stack([r.returns for r in runs])
    n = len(dates)
    train = n // 3
    test = max(1, (n - train) // windows)
    kept: list[Array] = []
    trades: list[Array] = []
    out: list[Window] = []
    for start in range(0, n - train - test + 1, test):
        end = start + train
        stop = min(end + test, n)
        scores = np.array([_sharpe(matrix[start:end, j], ann) for j in range(len(points))])
        best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0
        oos = matrix[end:stop, best]
        kept.append(oos)
        entries = runs[best].trade_entries
        trades.append(runs[best].trade_returns[(entries >= end) & (entries < stop)])
        out.append(
            Window(str(dates[start]), str(dates[end]), str(dates[stop - 1]), points[best], _sharpe(oos, ann))
        )
    returns = np.concatenate(kept) if kept else np.empty(0)
    trials = [_sharpe(matrix[:, j], ann) for j in range(len(points))]
    return returns, (np.concatenate(trades) if trades else np.empty(0)), tuple(out), trials, train


@dataclass(frozen=True)
class _BarSharpe:
    """The permutation statistic: the template's Sharpe on prices rebuilt from bars in the given
    order (module level and named by strings, so a process pool can pickle it)."""

    template: str
    bar: int
    symbol: str
    first_close: float
    dates: tuple[str, ...]
    config: BacktestConfig

    def __call__(self, flat: Array) -> float:
        close = np.asarray(self.first_close * np.cumprod(flat[:, 0]), dtype=np.float64)
        prev = np.r_[self.first_close, close[:-1]]
        dates = np.asarray(self.dates, dtype="datetime64[m]")
        bars = Bars(
            self.symbol,
            dates,
            prev * flat[:, 1],
            prev * flat[:, 2],
            prev * flat[:, 3],
            close,
            np.asarray(flat[:, 4], np.float64),
        )
        tpl = resolve_template(self.template, BarSize(self.bar))
        r = run_template(tpl, {self.symbol: bars}, None, self.config).returns
        sd = float(np.std(r, ddof=1))
        return float(np.mean(r)) / sd if sd > 0 else math.nan


def bar_permutation(
    template: str,
    series: IntradaySeries,
    config: BacktestConfig,
    *,
    runs: int,
    seed: int,
    executor: Executor | None = None,
) -> float:
    """The p-value of the template's Sharpe against ``runs`` shuffles of the bars."""
    b = series_bars(series)
    prev = b.close[:-1]
    flat = np.column_stack(
        [b.close[1:] / prev, b.open[1:] / prev, b.high[1:] / prev, b.low[1:] / prev, b.volume[1:]]
    )
    stat = _BarSharpe(
        template,
        series.bar.minutes,
        series.symbol,
        float(b.close[0]),
        tuple(str(d) for d in b.dates[1:]),
        config,
    )
    return permutation_test(stat, flat, n_runs=runs, seed=seed, executor=executor).p_value


def card_for(
    set_: IntradaySet,
    name: str,
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 7,
    executor: Executor | None = None,
) -> SetCard:
    series = set_.series
    template = resolve_template(name, series.bar)
    bars = series_bars(series)
    panel = {series.symbol: bars}
    ann = series.periods_per_year
    config = costs_for(series.spec)
    if len(bars) < template.min_history + 50:
        raise ValueError(
            f"{set_.name}: {len(bars)} bars are too few for {name} "
            f"(it needs {template.min_history} of history)"
        )
    params = template.params()
    record, found, _outcomes, _setups = scan_template(template, panel, params)
    bt = run_template(template, panel, params, config)
    bh = buy_and_hold(panel, config)
    oos, oos_trades, windows, trials, first = walk_forward_bars(template, panel, config, ann)
    oos_bh = bh.returns[first : first + len(oos)]
    n_grid = len(trials)
    finite = [x for x in trials if math.isfinite(x)]
    oos_m = summary(oos, trades=oos_trades, n_trials=n_grid, trial_sharpes=finite or None, annualization=ann)
    bt_m = summary(bt.returns, trades=bt.trade_returns, weights=bt.weights, annualization=ann)
    p = (
        bar_permutation(name, series, config, runs=permutations, seed=seed, executor=executor)
        if permutations
        else math.nan
    )
    return SetCard(
        set_name=set_.name,
        symbol=series.symbol,
        bar=str(series.bar),
        calendar=series.spec.calendar,
        template=name,
        periods_per_year=ann,
        record=record,
        entry_now=bool(found),
        reason=found[0].reason if found else "",
        backtest=bt_m,
        buy_hold=summary(bh.returns, annualization=ann),
        oos=oos_m,
        oos_buy_hold=summary(oos_bh, annualization=ann),
        windows=windows,
        p_value=p,
        permutations=permutations,
        verdict=honest_verdict(p if permutations else None, oos_m.dsr, bt_m.sharpe, oos_m.sharpe),
    )


def honest_verdict(p_value: float | None, dsr: float, sharpe: float, oos_sharpe: float) -> Verdict:
    """``engine.research.verdict`` with one more rule for these cards: a strategy that loses money
    after costs (in the backtest or out of sample) has no edge, however much better than shuffled
    bars it does (at 15 minutes the costs are what the shuffles pay more of)."""
    v = verdict(p_value, dsr)
    if v.edge and not (sharpe > 0 and oos_sharpe > 0):
        return Verdict(
            False,
            f"no edge: it loses after costs (Sharpe {sharpe:+.2f}, out of sample {oos_sharpe:+.2f}), "
            f"though shuffled bars lose more (p = {p_value:.3f})",
        )
    return v


def load_sets(path: str | Path) -> list[IntradaySet]:
    """The intraday sets file (``engine.data.intraday_sets``: one table per set, ``file`` relative
    to the sets file), every template name checked. A mistake is one ValueError naming the file,
    the set and the key."""
    return read_sets(path, check_template=resolve_template)


def set_cards(
    sets: Sequence[IntradaySet],
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 7,
    executor: Executor | None = None,
) -> list[SetCard]:
    return [
        card_for(s, t, permutations=permutations, seed=seed, executor=executor)
        for s in sets
        for t in s.templates
    ]


def with_series(set_: IntradaySet, series: IntradaySeries) -> IntradaySet:
    return replace(set_, series=series)
