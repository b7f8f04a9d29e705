"""Walk-forward: choose parameters on the past, trade them on the next period, repeat.

Rolling windows: ``train_days`` sessions to choose in (default 3 years = 756), then the next
``test_days`` (default 3 months = 63) to trade in; the windows step by ``test_days``, so the
out-of-sample periods never overlap each other or their own training window. In each window the
grid point with the best objective on the training sessions (annualised Sharpe by default) is
chosen, and its returns over the following out-of-sample sessions are kept. The kept segments,
concatenated, are the honest equity curve: every return in it was earned by parameters chosen
before it. The chosen parameters by window show how stable the choice is.

Each grid point is backtested once over the whole history (fanned out over an ``Executor``);
since a setup at bar t reads bars up to t only (tested), the returns of that run inside a
window are those of the same parameters traded continuously, with no knowledge of later bars.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from engine.data.bar_size import daily_periods_of
from engine.research.backtest import DEFAULT_CONFIG, BacktestConfig, run_template
from engine.research.executor import Executor, SerialExecutor
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Array, Panel, Params

DEFAULT_GRIDS: Mapping[str, Mapping[str, Sequence[float]]] = {
    "momentum": {"stop_atr": (1.5, 2.0, 3.0), "min_volume": (0.9, 1.0, 1.1)},
    "mean_reversion": {"rsi_entry": (30.0, 35.0, 40.0), "pct_b_entry": (0.1, 0.2)},
    "breakout": {"stop_atr": (1.0, 1.5, 2.0), "target_atr": (2.0, 3.0, 4.0)},
    "trend": {"fast": (10.0, 20.0), "slow": (50.0, 100.0), "stop_atr": (2.0, 3.0)},
    "rotation": {"top_n": (2.0, 3.0), "rebalance_days": (10.0, 21.0)},
    "pairs": {"entry_z": (1.5, 2.0, 2.5), "exit_z": (0.0, 0.5)},
    "options": {"otm": (0.03, 0.05, 0.08)},
}
"""A small grid per template around its defaults (the values a trader would try first)."""


def sharpe(returns: Array, periods_per_year: float = 252.0) -> float:
    """Annualised Sharpe ratio of per-bar returns (risk-free 0; NaN when flat). ``periods_per_year``:
    bars a year on the instrument's calendar (``engine.data.bar_size``): 252 for daily bars on an
    exchange, 365 on 24/7, 6,240 for hourly 24/5 FX, 35,040 for 15-minute 24/7 crypto."""
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be a positive number, got {periods_per_year!r}")
    sd = float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0
    return float(np.mean(returns)) / sd * math.sqrt(periods_per_year) if sd > 0 else math.nan


@dataclass(frozen=True, slots=True)
class Window:
    train_start: int
    train_end: int
    """Exclusive: the first out-of-sample bar."""
    test_end: int
    """Exclusive."""
    chosen: Params
    train_objective: float
    test_objective: float
    train_from: str = ""
    test_from: str = ""
    test_to: str = ""
    """The sessions as ISO dates (first training, first and last out-of-sample)."""


@dataclass(frozen=True, slots=True)
class WalkForward:
    template: str
    dates: NDArray[np.datetime64]
    """The out-of-sample sessions, in order."""
    returns: Array
    """The concatenated out-of-sample daily returns."""
    windows: tuple[Window, ...]
    grid: tuple[Params, ...]
    trial_sharpes: tuple[float, ...] = ()
    """Each grid point's Sharpe over the whole history: the trials the deflated Sharpe accounts for."""
    trade_returns: Array = field(default_factory=lambda: np.empty(0))
    """The trades behind ``returns``: those of each window's chosen grid point that entered in the
    window's out-of-sample sessions (a trade still open at the end of the history is left out)."""
    periods_per_year: int = 252
    """What the Sharpe ratios here are annualised by (the sessions' calendar)."""

    @property
    def equity(self) -> Array:
        return np.asarray(np.cumprod(1.0 + self.returns), dtype=np.float64)

    def stability(self) -> Mapping[str, float]:
        """For each parameter, the share of windows that kept the previous window's value."""
        if len(self.windows) < 2:
            return {}
        names = list(self.windows[0].chosen)
        return {
            n: float(np.mean([a.chosen[n] == b.chosen[n] for a, b in itertools.pairwise(self.windows)]))
            for n in names
        }


def grid_points(template: str, grid: Mapping[str, Sequence[float]] | None = None) -> list[Params]:
    """Every combination of the grid's values over the template's defaults."""
    base = TEMPLATES[template].params()
    axes = dict(grid if grid is not None else DEFAULT_GRIDS.get(template, {}))
    unknown = set(axes) - set(base)
    if unknown:
        raise ValueError(f"{template}: the grid names unknown parameters {sorted(unknown)}")
    names = list(axes)
    return [{**base, **dict(zip(names, values, strict=True))} for values in itertools.product(*axes.values())]


PointRun = tuple[NDArray[np.datetime64], Array, NDArray[np.int64], Array]
"""One grid point's run: dates, daily returns, each trade's entry bar and its return."""


def _run_point(shared: tuple[str, Panel, BacktestConfig], params: Params) -> PointRun:
    """One grid point over the whole history (module level, so a process pool or a Dask worker can
    run it); the template, panel and costs are the data every point shares (sent once)."""
    template, panel, config = shared
    bt = run_template(TEMPLATES[template], panel, params, config)
    return bt.dates, bt.returns, bt.trade_entries, bt.trade_returns


def walk_forward(
    template: str,
    panel: Panel,
    *,
    grid: Mapping[str, Sequence[float]] | None = None,
    train_days: int = 756,
    test_days: int = 63,
    config: BacktestConfig = DEFAULT_CONFIG,
    executor: Executor | None = None,
    periods_per_year: int | None = None,
) -> WalkForward:
    """Rolling train/test windows over ``panel``'s sessions; see the module docstring.

    The Sharpe ratios are annualised by ``periods_per_year``; by default the sessions' own
    calendar (``bar_size.daily_periods_of``: 252 for an exchange, 365 when weekends trade, 260
    for weekday-only FX over a year or more). The choice in each window does not depend on it
    (one factor scales every grid point); the reported objectives do."""
    if train_days < 20 or test_days < 1:
        raise ValueError(f"train_days must be >= 20 and test_days >= 1, got {train_days}, {test_days}")
    points = grid_points(template, grid)
    runner = executor or SerialExecutor()
    runs = runner.map_shared(_run_point, (template, panel, config), points)
    dates = runs[0][0]
    ann = periods_per_year if periods_per_year is not None else daily_periods_of(dates)

    def score(returns: Array) -> float:
        return sharpe(returns, ann)

    matrix = np.column_stack([r[1] for r in runs])  # [T, grid points]
    if len(dates) < train_days + test_days:
        raise ValueError(
            f"{template}: {len(dates)} sessions cannot hold one {train_days}-session training window "
            f"and a {test_days}-session test"
        )
    windows: list[Window] = []
    kept: list[Array] = []
    kept_dates: list[NDArray[np.datetime64]] = []
    kept_trades: list[Array] = []
    for start in range(0, len(dates) - train_days - test_days + 1, test_days):
        train_end = start + train_days
        test_end = min(train_end + test_days, len(dates))
        scores = np.array([score(matrix[start:train_end, j]) for j in range(len(points))])
        best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0
        oos = matrix[train_end:test_end, best]
        windows.append(
            Window(
                start,
                train_end,
                test_end,
                points[best],
                float(scores[best]),
                score(oos),
                str(dates[start]),
                str(dates[train_end]),
                str(dates[test_end - 1]),
            )
        )
        kept.append(oos)
        kept_dates.append(dates[train_end:test_end])
        entries, trades = runs[best][2], runs[best][3]
        kept_trades.append(trades[(entries >= train_end) & (entries < test_end)])
    return WalkForward(
        template=template,
        dates=np.concatenate(kept_dates),
        returns=np.concatenate(kept),
        windows=tuple(windows),
        grid=tuple(points),
        trial_sharpes=tuple(score(matrix[:, j]) for j in range(len(points))),
        trade_returns=np.concatenate(kept_trades) if kept_trades else np.empty(0),
        periods_per_year=ann,
    )
