"""Out-of-sample evaluation: folds that never train on their test, baselines, p-values, DSR."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from engine.research import metrics as rm
from engine.rl.env import EnvConfig, build_market, synthetic_panel
from engine.rl.evaluate import (
    Fold,
    FoldOutcome,
    TemplateStreams,
    best_template,
    deflated_sharpe,
    evaluate,
    format_table,
    make_folds,
    p_value,
    random_agents,
    read_trials,
    run_fold,
    shifted,
    target_pricer,
    trade_policy,
)
from engine.strategies.templates.base import Array, Panel

CFG = EnvConfig(window=4, actions="signal")
FEATURES = ("ret1",)


@dataclass(frozen=True, slots=True)
class Trend:
    """Knows the regime: long after an up day, flat after a down day (module level: picklable)."""

    name: str = "trend-follower"

    def run(self, panel: Panel, fold: Fold, root: Path) -> FoldOutcome:
        seen = max(date.fromisoformat(str(b.dates[-1])[:10]) for b in panel.values())
        assert seen <= fold.test_end  # run_fold cut the panel at the test end

        def policy(obs: Any) -> tuple[int, float]:
            return (1 if obs[CFG.window - 1] > 0 else 2), 1.0

        return trade_policy(policy, panel, fold, CFG, FEATURES, seen_end=fold.train_end)

    def pricer(self, panel: Panel, fold: Fold) -> Callable[[Array], tuple[Array, Array]]:
        return target_pricer(panel, fold, CFG, FEATURES)

    def identity(self) -> dict[str, Any]:
        return {"agent": self.name}


@dataclass(frozen=True, slots=True)
class Peeker(Trend):
    """A learner that reports having seen its test block: the evaluation must refuse it."""

    def run(self, panel: Panel, fold: Fold, root: Path) -> FoldOutcome:
        out = Trend.run(self, panel, fold, root)
        from dataclasses import replace

        return replace(out, seen_end=fold.test_start)


def test_folds_never_train_on_their_test_period() -> None:
    dates = np.busday_offset("2010-01-04", np.arange(500), roll="forward").astype("datetime64[D]")
    folds = make_folds(dates, 200, 3)
    assert len(folds) == 3
    for f in folds:
        assert f.train_end < f.test_start <= f.test_end
    assert [f.test_start for f in folds[1:]] > [f.test_end for f in folds[:-1]]
    assert str(folds[0].test_start) == str(dates[200]) and str(folds[-1].test_end) == str(dates[-1])
    with pytest.raises(ValueError, match="cannot cut"):
        make_folds(dates, 499, 3)


def test_a_fold_that_saw_its_test_period_is_refused() -> None:
    panel = synthetic_panel(300, seed=1)
    dates = build_market(panel, FEATURES).dates
    fold = make_folds(dates, 200, 2)[0]
    ok = run_fold((Trend(), panel, fold, "/nonexistent"))
    assert ok.seen_end < fold.test_start
    assert str(ok.dates[0]) == str(fold.test_start) and str(ok.dates[-1]) == str(fold.test_end)
    with pytest.raises(RuntimeError, match="inside its test block"):
        run_fold((Peeker(), panel, fold, "/nonexistent"))


def test_an_agent_that_knows_the_trend_beats_buy_and_hold_with_a_small_p_value(tmp_path: Path) -> None:
    panel = synthetic_panel(700, seed=2, drift=0.01, noise=0.002, stay=0.95)
    ev = evaluate(Trend(), panel, n_folds=3, min_train=300, templates=(), n_random=99, registry_root=tmp_path)
    for f, o in zip(ev.folds, ev.outcomes, strict=True):
        assert o.seen_end <= f.train_end < f.test_start
    agent, bh = ev.table["trend-follower"], ev.table["buy-and-hold"]
    assert agent["sharpe"] > bh["sharpe"] + 1.0
    assert agent["total_return"] > bh["total_return"]
    assert agent["cost_paid"] > 0.0
    assert ev.p_value <= 0.02
    assert ev.trials == 1 and read_trials(tmp_path)[ev.config_hash]["label"] == "trend-follower"
    assert "permutation p-value" in format_table(ev)


def test_on_a_random_walk_the_p_value_is_not_small() -> None:
    panel = synthetic_panel(700, seed=5, drift=0.0, noise=0.01)
    ev = evaluate(Trend(), panel, n_folds=3, min_train=300, templates=(), n_random=99)
    assert ev.random_sharpes.size == 99
    assert ev.p_value > 0.05  # not significant at 5 %


def test_the_random_agents_keep_the_agents_turnover() -> None:
    panel = synthetic_panel(700, seed=2)
    dates = build_market(panel, FEATURES).dates
    folds = make_folds(dates, 300, 3)
    outcomes = [run_fold((Trend(), panel, f, "")) for f in folds]
    w = outcomes[0].weights
    s = shifted(w, np.random.default_rng(0))
    assert not np.array_equal(s, w)
    assert np.array_equal(np.sort(s, axis=0), np.sort(w, axis=0))  # the same targets, other times
    paths = [np.vstack([np.zeros((1, 1)), o.weights]) for o in outcomes]
    agent = sum(np.abs(np.diff(p, axis=0)).sum() for p in paths) / sum(len(p) - 1 for p in paths) * 252
    _, turnovers = random_agents(Trend(), panel, outcomes, 50, seed=1)
    assert agent > 5.0  # the agent trades: the check below is not 0 == 0
    # each fold's shift adds or removes at most one change (the junction): 2 units per fold
    bound = 2 * len(folds) / sum(len(p) - 1 for p in paths) * 252
    assert np.all(np.abs(turnovers - agent) <= bound + 1e-9)


def test_deflated_sharpe_against_hand_computed_values() -> None:
    r = np.random.default_rng(7).normal(0.001, 0.01, 500)
    trials = [0.5, 1.0, 1.5, 0.2]
    # by hand: per-period Sharpe, skew, raw kurtosis; V from the annualised trial Sharpes
    sr = r.mean() / r.std(ddof=1)
    skew = stats.skew(r, bias=False)
    kurt = stats.kurtosis(r, fisher=False, bias=False)
    v = np.var(trials, ddof=1) / 252
    g = 0.5772156649015329
    n = 4
    sr0 = math.sqrt(v) * ((1 - g) * stats.norm.ppf(1 - 1 / n) + g * stats.norm.ppf(1 - 1 / (n * math.e)))
    z = (sr - sr0) * math.sqrt(len(r) - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert deflated_sharpe(r, trials) == pytest.approx(stats.norm.cdf(z), rel=1e-9)
    # one trial: nothing deflated, the PSR against 0
    z1 = sr * math.sqrt(len(r) - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert deflated_sharpe(r, [1.0]) == pytest.approx(stats.norm.cdf(z1), rel=1e-9)
    assert deflated_sharpe(r, trials) < deflated_sharpe(r, [1.0])


def test_every_configuration_tried_counts_in_the_deflated_sharpe(tmp_path: Path) -> None:
    panel = synthetic_panel(600, seed=2)
    first = evaluate(
        Trend(), panel, n_folds=2, min_train=300, templates=(), n_random=9, registry_root=tmp_path
    )
    again = evaluate(
        Trend(), panel, n_folds=2, min_train=300, templates=(), n_random=9, registry_root=tmp_path
    )
    other = evaluate(
        Trend(), panel, n_folds=3, min_train=300, templates=(), n_random=9, registry_root=tmp_path
    )
    assert (first.trials, again.trials, other.trials) == (1, 1, 2)  # the same configuration counts once
    assert other.dsr <= rm.probabilistic_sharpe_ratio(np.concatenate([o.returns for o in other.outcomes]))


def test_the_best_template_is_chosen_on_the_training_period_only() -> None:
    dates = np.busday_offset("2010-01-04", np.arange(200), roll="forward").astype("datetime64[D]")
    rets = np.zeros((200, 2))
    rets[:100, 0] = np.where(np.arange(100) % 2, 0.01, -0.005)  # A good in training
    rets[100:, 1] = np.where(np.arange(100) % 2, 0.01, -0.005)  # B good out of sample
    rets[:100, 1] = np.where(np.arange(100) % 2, 0.001, -0.002)
    streams = TemplateStreams(
        dates, ("A", "B"), rets, np.zeros_like(rets), (np.ones((200, 1)), np.ones((200, 1)))
    )
    folds = make_folds(dates, 100, 1)
    stream, chosen = best_template(streams, folds, dates[100:])
    assert chosen == ["A"]
    assert np.array_equal(stream.returns, rets[100:, 0])


def test_p_value_counts_ties_and_is_never_zero() -> None:
    assert p_value(1.0, np.array([0.0, 0.5, 2.0])) == pytest.approx(2 / 4)
    assert p_value(5.0, np.zeros(99)) == pytest.approx(0.01)
    assert math.isnan(p_value(math.nan, np.zeros(3)))
