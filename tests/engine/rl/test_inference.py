"""A saved model deciding on fresh bars sees what the environment showed it in training."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from engine.rl.agents import predictor
from engine.rl.env import TradingEnv, build_market, synthetic_panel
from engine.rl.inference import Decider
from engine.rl.train import TrainSpec, train


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("models")
    spec = TrainSpec(
        "ppo",
        date(2012, 6, 29),
        steps=256,
        window=4,
        episode_bars=60,
        features=("ret1", "rsi14"),
        validation=0.0,
        overrides={"n_steps": 128, "batch_size": 32, "n_epochs": 1},
    )
    panel = synthetic_panel(700, seed=4, symbols=("AAA", "BBB"))
    rec = train(spec, panel, root, now=lambda: datetime(2026, 12, 7, tzinfo=UTC)).record
    return root, rec.model_id


def test_a_decision_is_the_environments_observation_through_the_policy(saved: tuple[Path, str]) -> None:
    root, model_id = saved
    decider = Decider.load(model_id, root)
    panel = synthetic_panel(800, seed=9, symbols=("AAA", "BBB"))  # newer data than it trained on
    held = np.array([0.3, 0.2])
    decision = decider.decide(panel, held)
    market = build_market(panel, decider.record.features)
    env = TradingEnv(market, decider.config, random_start=False)
    obs = env.observation(len(market) - 1)
    k = len(obs) - 3
    obs[k:] = [0.3, 0.2, 0.5]
    np.testing.assert_array_equal(decider.observation(market, held), obs)
    action, p = predictor(decider.model)(obs)
    np.testing.assert_array_equal(decision.action, action)
    assert decision.probability == p and 0.0 <= p <= 1.0
    np.testing.assert_allclose(decision.target, env.target(action))
    assert decision.symbols == ("AAA", "BBB") and decision.asof == str(market.dates[-1])


def test_a_decision_names_what_is_missing(saved: tuple[Path, str]) -> None:
    root, model_id = saved
    decider = Decider.load(model_id, root)
    with pytest.raises(ValueError, match="trades BBB: no bars"):
        decider.decide({"AAA": synthetic_panel(300, symbols=("AAA",))["AAA"]})
    short = synthetic_panel(17, symbols=("AAA", "BBB"))  # rsi14 from bar 14: the first decision is bar 17
    with pytest.raises(ValueError, match="needs 4 bars after its features warm up"):
        decider.decide(short)


def test_hold_keeps_the_current_weights() -> None:
    # the discrete "hold" action asks for what the book already holds
    from engine.rl.env import EnvConfig, env_config_dict
    from engine.rl.registry import ModelRecord

    rec = ModelRecord(
        "x", "dqn", ("A", "B"), "", "", "", "", ("ret1",), env_config_dict(EnvConfig()), {}, "", "", 0, 0, ""
    )
    decider = Decider.__new__(Decider)
    decider.record, decider.config = rec, EnvConfig()
    for action, want in ((0, [0.2, 0.1]), (1, [0.5, 0.5]), (2, [0.0, 0.0])):
        decider._act = lambda obs, a=action: (a, 0.9)  # type: ignore[misc]
        _, target, p = decider.decide_obs(np.zeros(3, np.float32), np.array([0.2, 0.1]))
        np.testing.assert_allclose(target, want)
        assert p == 0.9
    buckets = replace(EnvConfig(), actions="buckets")
    decider.config = buckets
    decider._act = lambda obs: (3, 0.5)
    np.testing.assert_allclose(decider.decide_obs(np.zeros(3, np.float32))[1], [0.375, 0.375])
