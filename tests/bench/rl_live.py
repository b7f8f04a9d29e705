"""The rl template live: a saved model loaded from the registry deciding the way the template
decides (``engine.rl.live``: the observation from ``env.observe``, then ``Decider.decide_obs``),
per decision p50/p99 in microseconds on the CPU; the template's whole build over 2,000 bars (a
session's scan of it); and the first scan's one-off cost (torch imported, the model loaded).

Agents: DQN and the attention DQN (MHA-DQN) with the default 32-bar window of the 8 default
features, and PPO with continuous weights over 5 symbols; trained for a few hundred steps (the
network's size, not its skill, sets the time). Target: under 1 ms per decision.

Run with ``python -m tests.bench.rl_live``.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

CALLS = 2_000


def main() -> None:
    t0 = time.perf_counter()
    from engine.rl.env import first_decision, observe, synthetic_panel
    from engine.rl.inference import Decider
    from engine.rl.live import forget_loaded, rl_setup
    from engine.rl.train import TrainSpec, train

    imported = time.perf_counter() - t0
    print("RL template live (saved model from the registry; observation + decision), microseconds")
    print(f"  torch, stable-baselines3, gymnasium and engine.rl imported in {imported * 1e3:,.0f} ms")
    root = Path(tempfile.mkdtemp(prefix="onetap-bench-rl-live-"))
    one = synthetic_panel(2000, seed=0)
    five = synthetic_panel(2000, seed=0, symbols=("A", "B", "C", "D", "E"))
    for agent, panel in (("dqn", one), ("mha-dqn", one), ("ppo", five)):
        spec = TrainSpec(
            agent=agent,
            train_end=date(2015, 1, 1),
            steps=700,
            seed=0,
            eval_every=10_000,
            checkpoint_every=0,
            validation=0.0,
            overrides={"learning_starts": 100} if "dqn" in agent else {"n_steps": 256},
        )
        rec = train(spec, panel, root).record
        forget_loaded()
        t0 = time.perf_counter()
        decider = Decider.load(str(rec.path))
        loaded = time.perf_counter() - t0
        market = decider.market(panel)
        start = first_decision(market, decider.config.window)
        flat = np.zeros(len(market.symbols))
        bars = list(range(start, len(market)))[:CALLS]
        for t in bars[:50]:
            decider.decide_obs(observe(market, decider.config.window, t, flat, 1.0), flat)
        wall, cpu = [], []
        for t in bars:
            c0 = time.thread_time_ns()
            w0 = time.perf_counter_ns()
            decider.decide_obs(observe(market, decider.config.window, t, flat, 1.0), flat)
            wall.append((time.perf_counter_ns() - w0) / 1e3)
            cpu.append((time.thread_time_ns() - c0) / 1e3)
        w50, w99 = np.percentile(wall, [50, 99])
        c50, c99 = np.percentile(cpu, [50, 99])
        p = {"horizon": 5.0, "stop_pct": 0.08, "min_exposure": 0.05}
        t0 = time.perf_counter()
        setup = rl_setup(decider, panel, p)
        built = time.perf_counter() - t0
        print(
            f"  {agent:<8} ({len(market.symbols)} sym) per decision wall {w50:>4.0f} / {w99:>5.0f}  "
            f"cpu {c50:>4.0f} / {c99:>5.0f}   load {loaded * 1e3:>4.0f} ms   "
            f"template build over {len(setup)} bars {built * 1e3:>5.0f} ms"
        )


if __name__ == "__main__":
    main()
