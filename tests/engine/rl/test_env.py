"""The trading environment: gymnasium's API, the backtester's own fills and costs, no look-ahead."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from engine.research.backtest import BacktestConfig, Costs, simulate
from engine.rl.env import (
    ACTIONS,
    REWARDS,
    EnvConfig,
    TradingEnv,
    build_market,
    env_config,
    env_config_dict,
    make_vec_env,
    split,
    synthetic_panel,
)
from engine.strategies.templates.base import Bars

COSTLY = BacktestConfig(
    costs=Costs(per_share=0.01, per_value=0.0005, slippage_bps=5.0), rebalance_threshold=0.05
)


@pytest.fixture(scope="module")
def market():  # type: ignore[no-untyped-def]
    return build_market(synthetic_panel(400, seed=3, symbols=("AAA", "BBB")))


@pytest.mark.parametrize("actions", ACTIONS)
@pytest.mark.parametrize("reward", REWARDS)
def test_gymnasium_check_env(market, actions: str, reward: str) -> None:  # type: ignore[no-untyped-def]
    env = TradingEnv(market, EnvConfig(window=8, episode_bars=50, actions=actions, reward=reward))
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (8 * len(market.feature_names) * 2 + 3,)


def _play(
    env: TradingEnv, actions: list[object]
) -> tuple[list[float], list[float], list[float], list[np.ndarray]]:
    env.reset(seed=0)
    rewards, equity, costs, targets = [], [env.account.equity], [], []
    for a in actions:
        _, r, term, trunc, info = env.step(a)
        rewards.append(r)
        equity.append(info["equity"])
        costs.append(info["cost"])
        targets.append(info["target"])
        if term or trunc:
            break
    return rewards, equity, costs, targets


@pytest.mark.parametrize("actions", ["signal", "continuous"])
def test_equity_and_costs_are_the_backtesters_on_a_fixed_action_sequence(market, actions: str) -> None:  # type: ignore[no-untyped-def]
    cfg = EnvConfig(window=5, episode_bars=120, actions=actions, backtest=COSTLY)
    env = TradingEnv(market, cfg, random_start=False, start=100, end=220)
    rng = np.random.default_rng(1)
    if actions == "signal":
        seq: list[object] = [int(a) for a in rng.integers(0, 3, 120)]
    else:
        seq = [rng.random(2).astype(np.float32) * rng.choice([0.5, 1.0, 2.0]) for _ in range(120)]
    rewards, equity, costs, targets = _play(env, seq)
    assert len(rewards) == 120
    rows = slice(101, 221)  # decided at the closes of 100..219, traded at 101..220
    bt = simulate(
        market.dates[rows], market.symbols, market.fill[rows], market.close[rows], np.vstack(targets), COSTLY
    )
    assert bt.costs.sum() > 0  # the sequence traded, and paid for it
    np.testing.assert_allclose(equity[1:], bt.equity, rtol=1e-12)
    np.testing.assert_allclose(costs, bt.costs, rtol=1e-12, atol=1e-12)
    expected = 100.0 * np.log(bt.equity / np.concatenate([[COSTLY.start_equity], bt.equity[:-1]]))
    np.testing.assert_allclose(rewards, expected, rtol=1e-10, atol=1e-12)


def test_observation_at_t_ignores_every_later_bar() -> None:
    panel = synthetic_panel(300, seed=5, symbols=("AAA", "BBB"))
    t = 200
    moved = {}
    rng = np.random.default_rng(9)
    for sym, bars in panel.items():
        s = np.ones(len(bars))
        s[t + 1 :] = rng.uniform(0.5, 2.0, len(bars) - t - 1)
        moved[sym] = Bars(
            sym, bars.dates, bars.open * s, bars.high * s, bars.low * s, bars.close * s, bars.volume * s
        )
    a, b = build_market(panel), build_market(moved)
    assert not np.allclose(a.features[t + 1 :], b.features[t + 1 :])  # the future did change
    cfg = EnvConfig(window=10, episode_bars=1000)
    ea, eb = (TradingEnv(m, cfg, random_start=False, start=150) for m in (a, b))
    oa, _ = ea.reset()
    ob, _ = eb.reset()
    for i in range(150, t):
        action = i % 3
        oa = ea.step(action)[0]
        ob = eb.step(action)[0]
    assert ea._t == t
    np.testing.assert_array_equal(oa, ob)
    np.testing.assert_array_equal(a.features[: t + 1], b.features[: t + 1])


def test_episodes_stay_inside_their_range(market) -> None:  # type: ignore[no-untyped-def]
    env = TradingEnv(market, EnvConfig(window=4, episode_bars=20), start=100, end=160)
    seen = set()
    for seed in range(30):
        _, info = env.reset(seed=seed)
        seen.add(info["bar"])
        done = False
        while not done:
            _, _, term, trunc, info = env.step(0)
            done = term or trunc
        assert info["bar"] <= 160
    assert min(seen) >= 100 and max(seen) <= 140 and len(seen) > 5
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_split_reads_nothing_after_train_end(market) -> None:  # type: ignore[no-untyped-def]
    s = split(market, market.date_at(300), validation=0.25)
    assert s.train_end == 300 and market.first == s.train_start < s.val_start < s.train_end
    assert s.train_end - s.val_start == int((300 - market.first) * 0.25)
    with pytest.raises(ValueError, match="no data to train on"):
        split(market, market.date_at(0))


def test_rewards_differ_as_documented(market) -> None:  # type: ignore[no-untyped-def]
    seq = [1] * 40 + [2] * 10 + [1] * 40
    by = {}
    for reward in REWARDS:
        env = TradingEnv(market, EnvConfig(window=4, reward=reward), random_start=False, start=100, end=190)
        by[reward] = _play(env, list(seq))
    log_r = np.asarray(by["log_return"][0])
    dd = np.asarray(by["drawdown"][0])
    assert (dd <= log_r + 1e-12).all() and (dd < log_r - 1e-9).any()  # the penalty bites on new drawdowns
    sharpe = np.asarray(by["sharpe"][0])
    assert np.isfinite(sharpe).all() and not np.allclose(sharpe, log_r)
    np.testing.assert_allclose(by["sharpe"][1], by["log_return"][1])  # same trades, other reward


def test_continuous_weights_never_lever_and_bad_actions_are_named(market) -> None:  # type: ignore[no-untyped-def]
    env = TradingEnv(market, EnvConfig(window=4, actions="continuous"))
    np.testing.assert_allclose(env.target(np.array([0.9, 0.9])), [0.5, 0.5])
    np.testing.assert_allclose(env.target(np.array([0.3, 0.2])), [0.3, 0.2])
    signal = TradingEnv(market, EnvConfig(window=4))
    with pytest.raises(ValueError, match="action 7 is outside"):
        signal.target(7)
    with pytest.raises(ValueError, match="reward must be one of"):
        EnvConfig(reward="alpha")
    with pytest.raises(ValueError, match="unknown feature"):
        build_market(synthetic_panel(100), features=("ret1", "moon"))
    with pytest.raises(ValueError, match="no bar to trade"):
        TradingEnv(market, EnvConfig(window=4), start=300, end=300)


def test_env_config_round_trips_through_json_data() -> None:
    cfg = EnvConfig(window=7, actions="buckets", buckets=(0.0, 0.5, 1.0), backtest=COSTLY)
    assert env_config(env_config_dict(cfg)) == cfg
    with pytest.raises(ValueError, match="not an environment configuration"):
        env_config({**env_config_dict(cfg), "colour": "red"})


def test_vectorized_envs_step_together(market) -> None:  # type: ignore[no-untyped-def]
    vec = make_vec_env(market, EnvConfig(window=4, episode_bars=30), 40, 300, n_envs=3, seed=2)
    obs = vec.reset()
    assert obs.shape[0] == 3
    starts = {float(o.sum()) for o in obs}
    assert len(starts) > 1  # each env drew its own episode
    obs, rewards, _dones, infos = vec.step(np.array([1, 2, 0]))
    assert rewards.shape == (3,) and all(math.isfinite(r) for r in rewards)
    assert infos[0]["target"].sum() == pytest.approx(1.0) and infos[1]["target"].sum() == 0.0
    vec.close()


def test_vectorized_envs_reset_at_the_episode_end_as_sb3_expects(market) -> None:  # type: ignore[no-untyped-def]
    vec = make_vec_env(market, EnvConfig(window=4, episode_bars=3), 40, 300, n_envs=2, seed=2)
    vec.reset()
    for _ in range(2):
        _, _, dones, infos = vec.step(np.array([1, 1]))
        assert not dones.any()
    obs, _, dones, infos = vec.step(np.array([1, 1]))
    assert dones.all() and all(i["TimeLimit.truncated"] for i in infos)
    held = [i["terminal_observation"][-3:-1].sum() for i in infos]  # the two weights at the end
    assert all(h > 0.9 for h in held) and (obs[:, -3:-1] == 0.0).all()  # and flat after the reset
    vec.close()


def test_bucket_actions_set_exposure(market) -> None:  # type: ignore[no-untyped-def]
    env = TradingEnv(market, replace(EnvConfig(window=4), actions="buckets"))
    assert env.action_space.n == 5  # type: ignore[attr-defined]
    np.testing.assert_allclose(env.target(2), [0.25, 0.25])
