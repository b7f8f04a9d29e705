"""The allocator: weights across templates by regime, and its targets through the rebalancer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from engine.model.commission import CommissionSchedule
from engine.portfolio.rebalance import RebalanceCosts, plan_rebalance
from engine.rl.allocator import (
    WARMUP,
    Allocator,
    AllocatorEnv,
    AllocatorLearner,
    combine_targets,
    price_weights,
    regime_data,
    softmax,
    switch_cost_rate,
)
from engine.rl.env import synthetic_panel
from engine.rl.evaluate import TemplateStreams, evaluate, make_folds, run_fold
from engine.strategies.templates.base import Panel

FREE = RebalanceCosts(CommissionSchedule(per_share=0.0, minimum=0.0, max_pct=0.0, per_contract=0.0), 0.0, 0.0)


def _streams(n: int = 400, seed: int = 0) -> tuple[TemplateStreams, Panel]:
    """Two templates: A earns when the benchmark trends up, B the rest (a regime the agent can see)."""
    panel = synthetic_panel(n, seed=seed, symbols=("AAA", "BBB"))
    dates = panel["AAA"].dates
    bench = np.log(panel["AAA"].close) + np.log(panel["BBB"].close)
    up = np.concatenate([[0.0], np.diff(bench)]) > 0
    a = np.where(np.roll(up, 1), 0.004, -0.004)
    rets = np.column_stack([a, -a])
    rets[0] = 0.0
    w = np.ones((n, 1))
    return TemplateStreams(dates, ("A", "B"), rets, np.zeros_like(rets), (w, w)), panel


def test_allocator_env_passes_check_env() -> None:
    streams, panel = _streams()
    env = AllocatorEnv(regime_data(streams, panel), episode_bars=50)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4 + 2 * 2 + 2,)


def test_the_allocators_return_is_the_weighted_template_return_less_switching() -> None:
    streams, panel = _streams()
    data = regime_data(streams, panel)
    env = AllocatorEnv(data, WARMUP, WARMUP + 3, random_start=False)
    env.reset()
    _, _, _, _, info = env.step(np.array([1.0, -1.0], dtype=np.float32))
    w = softmax(np.array([3.0, -3.0]))
    expected = float(w @ streams.returns[WARMUP + 1]) - switch_cost_rate() * w.sum()
    assert info["return"] == pytest.approx(expected)
    r, _ = price_weights(data, WARMUP, w[None, :], switch_cost_rate())
    assert r[0] == pytest.approx(expected)


def test_the_allocator_features_do_not_read_the_future() -> None:
    streams, panel = _streams()
    base = regime_data(streams, panel).features
    changed = TemplateStreams(
        streams.dates, streams.names, streams.returns.copy(), streams.cost_frac, streams.weights
    )
    changed.returns[300:] *= -3.0
    after = regime_data(changed, panel).features
    assert np.array_equal(base[:300], after[:300])
    assert not np.array_equal(base[300:], after[300:])


def test_allocator_weights_become_targets_the_rebalancer_turns_into_orders() -> None:
    streams, panel = _streams()
    data = regime_data(streams, panel)
    allocator = Allocator(lambda obs: np.array([1.0 / 3.0, 0.0], dtype=np.float32), data)
    day = str(data.dates[250])[:10]
    template_targets = {"A": {"AAA": 0.5, "BBB": 0.3}, "B": {"BBB": 0.6}}
    targets = allocator.targets(day, template_targets)
    w = softmax(np.array([1.0, 0.0]))
    assert targets["AAA"] == pytest.approx(w[0] * 0.5)
    assert targets["BBB"] == pytest.approx(w[0] * 0.3 + w[1] * 0.6)
    plan = plan_rebalance(
        {},
        {"AAA": 100.0, "BBB": 50.0},
        100_000.0,
        100_000.0,
        targets,
        FREE,
        asof=datetime(2020, 1, 2, tzinfo=UTC),
        fractional=True,
        cash_buffer=0.0,
    )
    orders = {o.symbol: o for o in plan.orders}
    assert set(orders) == {"AAA", "BBB"}
    assert orders["AAA"].quantity == pytest.approx(targets["AAA"] * 100_000.0 / 100.0, rel=1e-6)
    assert orders["BBB"].quantity == pytest.approx(targets["BBB"] * 100_000.0 / 50.0, rel=1e-6)


def test_combined_targets_never_borrow_and_name_what_is_missing() -> None:
    out = combine_targets({"A": 0.5, "B": 0.5}, {"A": {"X": 1.0}, "B": {"Y": 1.5}})
    assert sum(out.values()) == pytest.approx(1.0)
    assert out["Y"] > out["X"]
    with pytest.raises(ValueError, match="no targets for template"):
        combine_targets({"A": 0.5, "C": 0.5}, {"A": {"X": 1.0}})
    with pytest.raises(ValueError, match="finite and >= 0"):
        combine_targets({"A": -0.1}, {"A": {"X": 1.0}})


def test_an_allocator_fold_trains_before_its_test_block(tmp_path: Path) -> None:
    streams, panel = _streams(500)
    learner = AllocatorLearner(regime_data(streams, panel), steps=512, episode_bars=64)
    fold = make_folds(streams.dates, 400, 1)[0]
    out = run_fold(panel, (learner, fold, str(tmp_path)))
    assert out.seen_end == fold.train_end < fold.test_start
    assert out.weights.shape == (100, 2)
    assert np.allclose(out.weights.sum(axis=1), 1.0)


@pytest.mark.slow
def test_the_allocator_learns_the_regime_and_beats_the_templates() -> None:
    """A pays when the benchmark is above its 50-day average at the previous close, B otherwise:
    the trend feature the allocator sees tells which template to hold."""
    base, panel = _streams(900, seed=1)
    trend = regime_data(base, panel).features[:, 0]
    a = np.where(np.roll(trend, 1) > 0, 0.004, -0.004)
    rets = np.column_stack([a, -a])
    rets[:WARMUP] = 0.0
    streams = TemplateStreams(base.dates, base.names, rets, base.cost_frac, base.weights)
    learner = AllocatorLearner(regime_data(streams, panel), steps=10_000, episode_bars=128)
    ev = evaluate(learner, panel, n_folds=2, min_train=600, streams=streams, n_random=49)
    table = ev.table
    assert table["allocator"]["total_return"] > table["equal-weight templates"]["total_return"] + 0.5
    assert table["allocator"]["sharpe"] > table["best template"]["sharpe"] + 1.0
    assert ev.p_value < 0.05
