"""A walk-forward's trade count comes from the trades behind its out-of-sample returns: a
non-zero return with "Trades 0" and a blank win rate was the count lost between the runs and
the stitched curve."""

from __future__ import annotations

import numpy as np

from engine.research.backtest import run_template
from engine.research.runs import run_walkforward
from engine.research.walkforward import grid_points
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars, Panel


def _panel() -> Panel:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT", "GOOG", "IBM", "AMZN"]).bars
    return {s: Bars.from_frame(s, f) for s, f in bars.items()}


def test_walk_forward_counts_the_trades_of_its_out_of_sample_windows() -> None:
    panel = _panel()
    wf, metrics, _bench = run_walkforward("trend", panel, train_days=504, test_days=126)
    assert abs(float(np.prod(1 + wf.returns)) - 1.0) > 0  # it traded and made or lost money
    assert metrics.n_trades == len(wf.trade_returns) > 0
    assert np.isfinite(metrics.win_rate)
    # every counted trade entered inside an out-of-sample window of the point chosen for it
    bt = run_template(TEMPLATES["trend"], panel, wf.windows[0].chosen)
    assert len(bt.trade_entries) == len(bt.trade_returns)
    first = wf.windows[0]
    inside = (bt.trade_entries >= first.train_end) & (bt.trade_entries < first.test_end)
    assert set(bt.trade_returns[inside]) <= set(wf.trade_returns)
    assert len(grid_points("trend")) == len(wf.grid)


def test_a_run_without_trade_records_shows_no_trade_count_rather_than_zero() -> None:
    import io

    from console.research_cmd import print_metrics
    from engine.research.metrics import summary

    returns = np.array([0.0, 0.01, -0.005, 0.02])
    out = io.StringIO()
    print_metrics(
        {"strategy": summary(returns, trades=np.array([0.01, -0.005])), "buy & hold": summary(returns)}, out
    )
    (trades,) = [line for line in out.getvalue().splitlines() if line.startswith("Trades")]
    assert trades.split() == ["Trades", "2", "—"]
