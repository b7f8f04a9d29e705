"""RL: environment steps per second (single and vectorized), training steps per second on the
CPU (DQN, PPO and the attention variants), and inference latency per decision (p50/p99).

The environment is the default one (32-bar window of the 8 default features, hold/buy/sell or
continuous weights) over a seeded synthetic market of 2,000 bars; torch runs on one CPU thread
(``make_agent``'s default, measured faster than torch's own default on a shared machine).
Inference is ``engine.rl.agents.predictor`` (one observation -> action and probability), next to
SB3's own ``model.predict`` for reference; the target is under 1 ms per decision.

Run with ``python -m tests.bench.rl`` (``--quick`` for fewer steps).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

STEPS_ENV = 20_000
TRAIN_DQN = 3_000
TRAIN_PPO = 2_048
CALLS = 2_000


def _env_rate(env: Any, steps: int) -> float:
    env.reset(seed=0)
    space = env.action_space
    space.seed(0)
    actions = [space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def _vec_rate(vec: Any, steps: int) -> float:
    vec.reset()
    n = vec.num_envs
    rng = np.random.default_rng(0)
    batches = steps // n
    if hasattr(vec.action_space, "n"):
        moves = [rng.integers(0, vec.action_space.n, n) for _ in range(batches)]
    else:
        moves = [rng.random((n, *vec.action_space.shape)).astype(np.float32) for _ in range(batches)]
    t0 = time.perf_counter()
    for m in moves:
        vec.step(m)
    rate = batches * n / (time.perf_counter() - t0)
    vec.close()
    return float(rate)


def _latency(fn: Any, observations: list[np.ndarray]) -> tuple[float, float, float, float]:
    """Wall-clock and CPU-time p50/p99 in microseconds: on a shared machine a call preempted by
    another process takes a whole scheduler slice of wall time (milliseconds) that is not the
    model's; its CPU time is."""
    for o in observations[:50]:
        fn(o)
    wall, cpu = [], []
    for o in observations:
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        fn(o)
        wall.append((time.perf_counter_ns() - t0) / 1e3)
        cpu.append((time.thread_time_ns() - c0) / 1e3)
    w50, w99 = np.percentile(wall, [50, 99])
    c50, c99 = np.percentile(cpu, [50, 99])
    return float(w50), float(w99), float(c50), float(c99)


def main(quick: bool = False) -> None:
    from engine.rl.agents import make_agent, predictor
    from engine.rl.env import EnvConfig, TradingEnv, build_market, make_vec_env, synthetic_panel

    scale = 0.25 if quick else 1.0
    one = build_market(synthetic_panel(2000, seed=0))
    five = build_market(synthetic_panel(2000, seed=0, symbols=("A", "B", "C", "D", "E")))
    signal = EnvConfig()
    weights = EnvConfig(actions="continuous")
    print("RL environment (32-bar window x 8 features, synthetic 2,000 bars; env steps per second)")
    steps = int(STEPS_ENV * scale)
    print(f"  single, 1 symbol, hold/buy/sell:      {_env_rate(TradingEnv(one, signal), steps):>10,.0f}")
    print(f"  single, 5 symbols, continuous:        {_env_rate(TradingEnv(five, weights), steps):>10,.0f}")
    for n in (8, 32):
        vec = make_vec_env(one, signal, 0, len(one) - 1, n_envs=n, seed=0)
        print(f"  vectorized (in-process x{n:<2}):          {_vec_rate(vec, steps):>10,.0f}")
    vec = make_vec_env(one, signal, 0, len(one) - 1, n_envs=2, seed=0, processes=True)
    print(f"  vectorized (SubprocVecEnv x2):        {_vec_rate(vec, steps // 4):>10,.0f}")

    print("RL training on the CPU (env steps per second, learning included; 1 torch thread)")
    models: dict[str, Any] = {}
    for name, total in (
        ("dqn", TRAIN_DQN),
        ("double-dqn", TRAIN_DQN),
        ("per-dqn", TRAIN_DQN),
        ("mha-dqn", TRAIN_DQN),
        ("ppo", TRAIN_PPO),
        ("mha-ppo", TRAIN_PPO),
    ):
        cfg = weights if "ppo" in name else signal
        env = TradingEnv(one, cfg, end=1500)
        model = make_agent(name, env, window=cfg.window, n_account=2, seed=0, device="cpu")
        n = max(int(total * scale), 600)
        t0 = time.perf_counter()
        model.learn(n)
        rate = n / (time.perf_counter() - t0)
        models[name] = (model, env)
        starts = getattr(model, "learning_starts", 0)
        print(f"  {name:<12} {rate:>8,.0f} steps/s  ({n} steps, learning from step {starts})")

    print("RL training, vectorized (8 environments in one process; env steps per second)")
    for name, extra in (("dqn", {"train_freq": 1, "gradient_steps": 2}), ("ppo", {"n_steps": 64})):
        cfg = weights if name == "ppo" else signal
        vec = make_vec_env(one, cfg, 0, 1500, n_envs=8, seed=0)
        model = make_agent(name, vec, window=cfg.window, n_account=2, seed=0, device="cpu", overrides=extra)
        n = max(int(4096 * scale), 1024)
        t0 = time.perf_counter()
        model.learn(n)
        rate = n / (time.perf_counter() - t0)
        print(f"  {name:<12} {rate:>8,.0f} steps/s  (same updates per env step as x1)")
        vec.close()

    print("RL inference, one decision (observation -> action, probability), microseconds p50 / p99")
    print("  (wall clock, then CPU time of the calling thread; SB3's own model.predict for reference)")
    for name in ("dqn", "mha-dqn", "ppo", "mha-ppo"):
        model, env = models[name]
        obs0, _ = env.reset(seed=1)
        observations = [obs0]
        for _ in range(int(CALLS * scale) - 1):
            o, _, term, trunc, _ = env.step(env.action_space.sample())
            observations.append(env.reset()[0] if term or trunc else o)
        w50, w99, c50, c99 = _latency(predictor(model), observations)
        s50, s99, _, _ = _latency(lambda o, m=model: m.predict(o, deterministic=True), observations)
        print(
            f"  {name:<8} wall {w50:>5.0f} / {w99:>6.0f}   cpu {c50:>5.0f} / {c99:>5.0f}"
            f"   (model.predict wall {s50:>5.0f} / {s99:>6.0f})"
        )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
