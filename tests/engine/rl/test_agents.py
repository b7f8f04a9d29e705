"""The agents learn a market with a known optimal policy; the extensions do what their papers say;
saved, loaded and re-seeded models give the same actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from engine.rl import registry
from engine.rl.agents import (
    AGENTS,
    SEED_DQN,
    DoubleDQN,
    ExtendedDQN,
    MarketWindow,
    PrioritizedReplayBuffer,
    make_agent,
    predict,
    predictor,
)
from engine.rl.env import EnvConfig, Market, TradingEnv, build_market, synthetic_panel
from engine.rl.rollout import rollout

WINDOW = 4
FEATURES = ("ret1", "rsi14")


@pytest.fixture(scope="module")
def market() -> Market:
    return build_market(synthetic_panel(900, seed=0), features=FEATURES)


def _env(market: Market, actions: str, **kw: Any) -> TradingEnv:
    return TradingEnv(market, EnvConfig(window=WINDOW, episode_bars=100, actions=actions), **kw)


def _agreement(model: Any, market: Market, actions: str) -> float:
    """Share of held-out decisions that match the known optimal policy (long after an up day)."""
    env = _env(market, actions, start=650, random_start=False)
    obs, _ = env.reset()
    act = predictor(model)
    agree = n = 0
    done = False
    while not done:
        a, p = act(obs)
        assert 0.0 <= p <= 1.0
        up = market.features[env._t, 0] > 0
        if actions == "signal":
            long = a == 1 or (a == 0 and env._target.sum() > 0)
        else:
            long = float(np.asarray(a)[0]) > 0.5
        agree += long == up
        n += 1
        obs, _, term, trunc, _ = env.step(a)
        done = term or trunc
    return agree / n


def test_the_seed_configuration_is_the_default() -> None:
    assert {k: SEED_DQN[k] for k in ("learning_rate", "gamma", "buffer_size", "batch_size")} == {
        "learning_rate": 1e-3,
        "gamma": 0.95,
        "buffer_size": 10_000,
        "batch_size": 32,
    }
    assert SEED_DQN["exploration_initial_eps"] == 1.0 and SEED_DQN["exploration_final_eps"] == 0.01
    assert SEED_DQN["target_update_interval"] == 100


@pytest.mark.slow  # ~5 s of CPU; the variants below are its quick sibling
def test_dqn_learns_the_known_optimal_policy(market: Market) -> None:
    model = make_agent(
        "dqn", _env(market, "signal", end=650), window=WINDOW, n_account=2, seed=1, device="cpu"
    )
    untrained = _agreement(model, market, "signal")
    model.learn(2500)
    learned = _agreement(model, market, "signal")
    assert learned > 0.9 and learned > untrained + 0.2
    record = rollout(predictor(model), _env(market, "signal", start=650, random_start=False)).metrics()
    assert record["total_return"] > 1.0  # the regime is worth ~1 %/day; buy-and-hold earns far less here


@pytest.mark.slow  # ~5 s of CPU; the variants below are its quick sibling
def test_ppo_learns_the_known_optimal_weights(market: Market) -> None:
    model = make_agent(
        "ppo", _env(market, "continuous", end=650), window=WINDOW, n_account=2, seed=1, device="cpu"
    )
    model.learn(4096)
    assert _agreement(model, market, "continuous") > 0.85


@pytest.mark.parametrize("name", ["double-dqn", "per-dqn", "mha-dqn", "mha-ppo"])
def test_every_variant_trains_and_decides(market: Market, name: str) -> None:
    spec = AGENTS[name]
    small = {"learning_starts": 64} if "dqn" in name else {"n_steps": 128, "batch_size": 32, "n_epochs": 2}
    env = _env(market, spec.actions, end=650)
    model = make_agent(name, env, window=WINDOW, n_account=2, seed=0, device="cpu", overrides=small)
    model.learn(300 if "dqn" in name else 256)
    assert model.num_timesteps >= 256
    obs, _ = env.reset(seed=0)
    action, p = predict(model, obs)
    assert env.action_space.contains(
        np.asarray(action, dtype=env.action_space.dtype) if spec.actions == "continuous" else action
    )
    assert 0.0 < p <= 1.0
    if spec.attention:
        assert any(isinstance(m, MarketWindow) for m in model.policy.modules())
    if name == "per-dqn":
        buffer = model.replay_buffer  # type: ignore[attr-defined]
        assert isinstance(buffer, PrioritizedReplayBuffer) and buffer.beta > buffer.beta0
        assert len(np.unique(buffer.priorities[: buffer.pos])) > 10  # TD errors replaced the initial ones


def test_double_dqn_values_the_online_choice_with_the_target_network(market: Market) -> None:
    env = _env(market, "signal", end=650)
    runs = {}
    for double in (False, True):
        model = ExtendedDQN("MlpPolicy", env, seed=0, device="cpu", learning_starts=10, double_q=double)
        model.learn(10)  # fills the buffer, no update yet
        with th.no_grad():  # make the two networks disagree on the best next action
            for p in model.q_net_target.parameters():
                p.add_(th.randn_like(p))
        runs[double] = model
    assert isinstance(DoubleDQN("MlpPolicy", env, device="cpu"), ExtendedDQN) and DoubleDQN.double_q
    obs = th.as_tensor(np.stack([env.reset(seed=i)[0] for i in range(64)]))
    online, target = runs[True].q_net(obs), runs[True].q_net_target(obs)
    chosen = target.gather(1, online.argmax(1, keepdim=True))
    assert (chosen <= target.max(1, keepdim=True)[0]).all() and (
        chosen < target.max(1, keepdim=True)[0]
    ).any()


def test_prioritized_replay_samples_by_priority_with_importance_weights() -> None:
    obs_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    buf = PrioritizedReplayBuffer(100, obs_space, spaces.Discrete(3), device="cpu", alpha=1.0, beta=1.0)
    for i in range(100):
        o = np.full((1, 2), i / 100, np.float32)
        buf.add(o, o, np.array([0]), np.array([0.0]), np.array([False]), [{}])
    errors = np.ones(100)
    errors[7] = 99.0  # one transition with a large TD error
    buf.update_priorities(np.arange(100), np.zeros(100, dtype=np.int64), errors)
    np.random.seed(0)
    batch = buf.sample(2000)
    share = float(np.mean(batch.indices == 7))
    assert 0.45 < share < 0.55  # 99 / (99 + 99) of the draws
    w = batch.weights.numpy().ravel()
    assert w.max() == pytest.approx(1.0)
    assert w[batch.indices == 7].max() == pytest.approx(1.0 / 99.0, rel=1e-4)  # over-drawn, weighted down
    with pytest.raises(ValueError, match="optimize_memory_usage"):
        PrioritizedReplayBuffer(
            10, obs_space, spaces.Discrete(3), optimize_memory_usage=True, handle_timeout_termination=False
        )


def test_attention_extractor_checks_the_observation_shape() -> None:
    space = spaces.Box(-1.0, 1.0, (4 * 3 + 2,), np.float32)
    extractor = MarketWindow(space, window=4, n_account=2, features_dim=16)
    assert extractor(th.zeros(5, 14)).shape == (5, 16)
    with pytest.raises(ValueError, match="not 5 bars of features"):
        MarketWindow(space, window=5, n_account=2)


@pytest.mark.parametrize("name", ["double-dqn", "ppo"])
def test_same_seed_same_actions(market: Market, name: str) -> None:
    actions = AGENTS[name].actions
    small = {"learning_starts": 50} if "dqn" in name else {"n_steps": 128, "batch_size": 32, "n_epochs": 2}
    models = []
    for seed in (4, 4, 5):
        model = make_agent(
            name,
            _env(market, actions, end=650),
            window=WINDOW,
            n_account=2,
            seed=seed,
            device="cpu",
            overrides=small,
        )
        model.learn(384)
        models.append(model)
    pa, pb, pc = (list(x.policy.parameters()) for x in models)
    assert all(th.equal(x, y) for x, y in zip(pa, pb, strict=True))
    assert not all(th.equal(x, y) for x, y in zip(pa, pc, strict=True))
    env = _env(market, actions, start=650, random_start=False)
    obs, _ = env.reset()
    first, second = predictor(models[0]), predictor(models[1])
    for _ in range(40):
        (a1, p1), (a2, p2) = first(obs), second(obs)
        np.testing.assert_array_equal(a1, a2)
        assert p1 == p2
        obs, *_ = env.step(a1)


@pytest.mark.parametrize("name", ["dqn", "per-dqn", "mha-dqn", "ppo"])
def test_save_load_and_infer_give_the_same_actions(market: Market, tmp_path: Path, name: str) -> None:
    actions = AGENTS[name].actions
    env = _env(market, actions, end=650)
    small = {"learning_starts": 50} if "dqn" in name else {"n_steps": 128, "batch_size": 32, "n_epochs": 1}
    model = make_agent(name, env, window=WINDOW, n_account=2, seed=0, device="cpu", overrides=small)
    model.learn(256)
    record = registry.ModelRecord(
        "m1",
        name,
        ("SYN",),
        "2010-01-04",
        "2012-06-01",
        "2012-06-01",
        "2012-01-02",
        FEATURES,
        {},
        {},
        "h",
        "v",
        0,
        256,
        "t",
    )
    registry.save_model(model, record, tmp_path)
    loaded, rec = registry.load_model("m1", tmp_path)
    assert rec.agent == name and type(loaded) is type(model)
    before, after = predictor(model), predictor(loaded)
    obs, _ = env.reset(seed=3)
    for _ in range(50):
        (a1, p1), (a2, p2) = before(obs), after(obs)
        np.testing.assert_array_equal(a1, a2)
        assert p1 == p2
        sb3_action, _ = model.predict(obs, deterministic=True)
        np.testing.assert_allclose(
            np.asarray(a1, dtype=np.float64), np.asarray(sb3_action, dtype=np.float64), atol=1e-6
        )
        obs, *_ = env.step(a1)
