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
    ok = run_fold(panel, (Trend(), fold, "/nonexistent"))
    assert ok.seen_end < fold.test_start
    assert str(ok.dates[0]) == str(fold.test_start) and str(ok.dates[-1]) == str(fold.test_end)
    with pytest.raises(RuntimeError, match="inside its test block"):
        run_fold(panel, (Peeker(), fold, "/nonexistent"))


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
    outcomes = [run_fold(panel, (Trend(), f, "")) for f in folds]
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


def test_the_evaluation_is_written_into_the_models_meta_json(tmp_path: Path) -> None:
    import json

    from engine.rl import registry
    from engine.rl.evaluate import write_to_record
    from engine.rl.train import TrainSpec, train

    spec = TrainSpec(
        agent="dqn",
        train_end=date(2011, 6, 30),
        steps=200,
        window=4,
        episode_bars=60,
        features=FEATURES,
        validation=0.0,
        checkpoint_every=0,
        overrides={"learning_starts": 100},
    )
    trained = train(spec, synthetic_panel(700, seed=2), tmp_path, model_id="m1")
    ev = evaluate(Trend(), synthetic_panel(700, seed=2), n_folds=2, min_train=300, templates=(), n_random=9)
    assert trained.record.path is not None
    write_to_record(trained.record.path, ev)
    rec = registry.find_model("m1", tmp_path)
    assert rec.metrics["oos_sharpe"] == pytest.approx(ev.table["trend-follower"]["sharpe"])
    assert rec.metrics["oos_p_value"] == pytest.approx(ev.p_value)
    assert rec.metrics["oos_trials"] == 1.0 and "oos_bh_sharpe" in rec.metrics
    saved = json.loads((tmp_path / "m1" / "evaluation.json").read_text())
    assert [f["test"] for f in saved["folds"]] == [[str(f.test_start), str(f.test_end)] for f in ev.folds]


def test_rl_evaluate_refuses_bad_input_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from console import rl_cmd
    from console.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["rl", "evaluate", "dqn", "--models", str(tmp_path)])
    assert args.runner(args, None) == rl_cmd.EXIT_USAGE
    assert "is an agent name: give --symbols" in capsys.readouterr().err
    args = parser.parse_args(["rl", "evaluate", "no-such-model", "--models", str(tmp_path)])
    assert args.runner(args, None) == rl_cmd.EXIT_USAGE
    assert "no model 'no-such-model'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["rl", "evaluate", "dqn", "--folds", "0"])
    assert "0 must be at least 1" in capsys.readouterr().err


def test_folds_fan_out_on_a_process_pool_with_the_same_result() -> None:
    from engine.research.executor import ProcessExecutor

    panel = synthetic_panel(600, seed=2)
    serial = evaluate(Trend(), panel, n_folds=2, min_train=300, templates=(), n_random=9)
    with ProcessExecutor(2, start_method="fork") as pool:
        fanned = evaluate(Trend(), panel, n_folds=2, min_train=300, templates=(), n_random=9, executor=pool)
    assert len(fanned.outcomes) == 2
    for a, b in zip(serial.outcomes, fanned.outcomes, strict=True):
        assert np.array_equal(a.returns, b.returns)
    assert fanned.p_value == serial.p_value
