"""One pass of a policy over a period, bar by bar, and what it earned.

Validation during training (early stopping) and out-of-sample evaluation run the same function:
a policy (any ``observation -> (action, probability)``, e.g. ``agents.predictor(model)``) over a
``TradingEnv`` whose range is the period, from its first decision to its last bar. The numbers
come from the research metrics (``engine.research.metrics``), so an agent's Sharpe is computed
as a template's is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.research import metrics as rm
from engine.rl.env import TradingEnv
from engine.strategies.templates.base import Array

Policy = Callable[[NDArray[np.float32]], tuple[Any, float]]


@dataclass(frozen=True, slots=True)
class Rollout:
    """Row ``i`` is bar ``bars[i]``: the equity at its close after trading the target decided
    at the previous close (row 0: the start, before any trade)."""

    bars: NDArray[np.int64]
    dates: NDArray[np.datetime64]
    equity: Array
    costs: Array
    targets: Array
    """``[T, N]``: the weights traded toward at each bar (row 0: zeros)."""
    actions: list[Any]
    probabilities: Array
    rewards: Array

    @property
    def returns(self) -> Array:
        out: Array = self.equity[1:] / self.equity[:-1] - 1.0
        return out

    def metrics(self) -> dict[str, float]:
        """Return, Sharpe, Sortino, max drawdown, turnover (annualised) and costs paid."""
        r = self.returns
        if not r.size:
            return {}
        nan = math.nan

        def safe(fn: Callable[[], float]) -> float:
            try:
                return float(fn())
            except (ValueError, ZeroDivisionError):
                return nan

        return {
            "total_return": float(self.equity[-1] / self.equity[0] - 1.0),
            "sharpe": safe(lambda: rm.sharpe_ratio(r)),
            "sortino": safe(lambda: rm.sortino_ratio(r)),
            "max_drawdown": safe(lambda: rm.max_drawdown(r)),
            "turnover": safe(lambda: rm.turnover(self.targets[1:])),
            "exposure": safe(lambda: rm.exposure(self.targets[1:])),
            "cost_paid": float(self.costs.sum()),
            "cost_share": float(self.costs.sum() / self.equity[0]),
            "reward": float(self.rewards.sum()),
            "bars": float(r.size),
        }


def rollout(policy: Policy, env: TradingEnv) -> Rollout:
    """``policy`` over ``env``'s whole range (``env.random_start`` must be False)."""
    if env.random_start:
        raise ValueError("a rollout runs the whole range: build the environment with random_start=False")
    obs, info = env.reset()
    bars = [int(info["bar"])]
    equity = [env.account.equity]
    costs = [0.0]
    targets = [np.zeros(env.n_symbols)]
    actions: list[Any] = []
    probs: list[float] = []
    rewards: list[float] = []
    done = False
    while not done:
        action, p = policy(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        actions.append(action)
        probs.append(p)
        rewards.append(reward)
        bars.append(int(info["bar"]))
        equity.append(float(info["equity"]))
        costs.append(float(info["cost"]))
        targets.append(np.asarray(info["target"], dtype=np.float64))
        if terminated:
            break
    idx = np.asarray(bars, dtype=np.int64)
    return Rollout(
        idx,
        env.market.dates[idx],
        np.asarray(equity),
        np.asarray(costs),
        np.vstack(targets),
        actions,
        np.asarray(probs),
        np.asarray(rewards),
    )
