"""Walk-forward windows: out-of-sample periods never overlap, and choices use the past only."""

from __future__ import annotations

import numpy as np
import pytest

from engine.research.executor import make_executor
from engine.research.walkforward import grid_points, sharpe, walk_forward
from engine.strategies.templates.base import Bars, Panel


@pytest.fixture(scope="module")
def panel() -> Panel:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT", "IBM"]).bars
    return {s: Bars.from_frame(s, f.loc["2004-01-01":"2013-03-01"]) for s, f in bars.items()}


def test_windows_step_forward_without_overlap(panel: Panel) -> None:
    wf = walk_forward("trend", panel, train_days=504, test_days=126)
    assert len(wf.windows) >= 5
    for w in wf.windows:
        assert w.train_end - w.train_start == 504 and w.test_end > w.train_end
    for a, b in zip(wf.windows, wf.windows[1:], strict=False):
        assert b.train_end >= a.test_end  # the next test starts where this one ended
        assert b.train_end == a.test_end
    assert len(wf.returns) == sum(w.test_end - w.train_end for w in wf.windows)
    assert np.all(np.diff(wf.dates.astype("int64")) > 0)
    assert set(wf.stability()) == set(wf.windows[0].chosen)


def test_the_choice_uses_the_training_window_only(panel: Panel) -> None:
    """Scrambling everything after a window's training period does not change that window's choice."""
    wf = walk_forward("momentum", panel, train_days=504, test_days=126)
    first = wf.windows[0]
    cut = wf.dates[0]  # the first out-of-sample session
    shocked = {}
    rng = np.random.default_rng(5)
    for sym, b in panel.items():
        late = b.dates >= cut
        k = np.where(late, rng.uniform(0.8, 1.2, len(b)), 1.0)
        shocked[sym] = Bars(sym, b.dates, b.open * k, b.high * k, b.low * k, b.close * k, b.volume)
    again = walk_forward("momentum", shocked, train_days=504, test_days=126)
    assert again.windows[0].chosen == first.chosen
    assert again.windows[0].train_objective == pytest.approx(first.train_objective)


def test_two_workers_give_the_serial_result(panel: Panel) -> None:
    serial = walk_forward("mean_reversion", panel, train_days=504, test_days=252)
    pool = make_executor("process", 2)
    try:
        parallel = walk_forward("mean_reversion", panel, train_days=504, test_days=252, executor=pool)
    finally:
        pool.close()
    np.testing.assert_array_equal(serial.returns, parallel.returns)


def test_a_grid_with_an_unknown_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown parameters"):
        grid_points("trend", {"fastt": (10.0,)})
    assert len(grid_points("trend")) == 8
    assert np.isnan(sharpe(np.zeros(10)))
