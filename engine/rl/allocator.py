"""The strategy allocator: an agent whose action is the weights across the templates, by regime.

The seed's "RL strategy weights". Each template is run once by the research backtester
(``engine.rl.evaluate.template_streams``: its own fills and costs) into a daily return stream;
the allocator decides at the close of bar ``t`` how to split equity across the templates for
bar ``t+1`` and earns ``w . r_{t+1}`` minus what moving between the sleeves costs.

Observation at ``t`` (all causal, from ``engine.signals``): the benchmark's trend regime (its
close against its 50-day average, the 20- against the 100-day average), its volatility regime
(20-day against 100-day volatility, and the 20-day level), each template's return over the last
5 and 20 sessions, and the weights held. The benchmark is the panel's equal-weight index
(the geometric mean of the symbols' closes, each from 1).

Action: ``Box(-1, 1)^K`` (gymnasium's advice for Box actions), times ``LOGIT`` as logits; the
weights are their softmax (a simplex point, so fully
allocated across the templates; each template keeps its own cash when it has no trade). PPO
learns it (the Gaussian policy's mean is the deterministic action).

Costs of re-allocating: the templates' streams are already net of their own trading costs; moving
weight between sleeves is charged ``sum |w - w_prev|`` times the backtester's per-value cost plus
its slippage (``Costs.per_value + slippage_bps``), an approximation of selling one sleeve's
holdings and buying another's (per-share commissions are not modelled there).

Live: ``Allocator.targets(day, template_targets)`` turns the weights into combined symbol
targets that ``engine.portfolio.rebalance.plan_rebalance`` trades like any portfolio target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from engine.research.backtest import DEFAULT_CONFIG, BacktestConfig, price_matrix, sessions_and_symbols
from engine.rl.evaluate import (
    DEFAULT_TEMPLATES,
    Fold,
    FoldOutcome,
    TemplateStreams,
    template_streams,
)
from engine.signals import indicators as ind
from engine.strategies.templates.base import Array, Panel

LOGIT = 3.0
"""The action times this is the logits: weights from about 0.25 % to 99.5 % between two templates."""
WARMUP = 100
"""Bars before the first observation (the 100-day averages)."""
REWARD_SCALE = 100.0


def softmax(logits: Array) -> Array:
    z = np.asarray(logits, dtype=np.float64).ravel()
    e = np.exp(z - z.max())
    out: Array = e / e.sum()
    return out


def weights_of(action: Array | NDArray[np.float32]) -> Array:
    """The template weights an action asks for: ``softmax(LOGIT * clip(action, -1, 1))``."""
    return softmax(LOGIT * np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0))


def benchmark_index(panel: Panel) -> tuple[NDArray[np.datetime64], Array]:
    """The panel's equal-weight index on its sessions: ``exp(mean_j log(close_j / close_j[0]))``."""
    dates, symbols = sessions_and_symbols(panel)
    close = price_matrix(panel, dates, symbols, "close")
    first = np.array([close[np.flatnonzero(np.isfinite(close[:, j]))[0], j] for j in range(len(symbols))])
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log(close / first)
    level = np.exp(np.nanmean(np.where(np.isfinite(logs), logs, np.nan), axis=1))
    return dates, np.nan_to_num(level, nan=1.0)


@dataclass(frozen=True, slots=True)
class RegimeData:
    """Aligned ``[T, F]`` regime features and ``[T, K]`` template returns and cost shares."""

    dates: NDArray[np.datetime64]
    names: tuple[str, ...]
    features: NDArray[np.float32]
    returns: Array
    cost_frac: Array

    def index(self, day: date | str | np.datetime64, side: str = "right") -> int:
        return int(np.searchsorted(self.dates, np.datetime64(day, "D"), side=side))  # type: ignore[call-overload]


def regime_data(streams: TemplateStreams, panel: Panel) -> RegimeData:
    """The allocator's features from the benchmark and the template streams (all causal)."""
    dates, level = benchmark_index(panel)
    if len(dates) != len(streams.dates) or (dates != streams.dates).any():
        raise ValueError("the template streams and the panel have different sessions")
    with np.errstate(invalid="ignore", divide="ignore"):
        trend = level / ind.sma(level, 50) - 1.0
        cross = ind.sma(level, 20) / ind.sma(level, 100) - 1.0
        vol20 = ind.rolling_volatility(level, 20)
        vol100 = ind.rolling_volatility(level, 100)
        vol_ratio = vol20 / vol100 - 1.0
    r = streams.returns
    cum = np.vstack([np.zeros(r.shape[1]), np.cumsum(r, axis=0)])
    t = np.arange(len(r))
    r5 = cum[t + 1] - cum[np.maximum(t - 4, 0)]
    r20 = cum[t + 1] - cum[np.maximum(t - 19, 0)]
    cols = [trend * 10.0, cross * 10.0, vol_ratio, vol20 * 5.0]
    raw = np.column_stack([*cols, r5 * 20.0, r20 * 10.0])
    feats = np.clip(np.nan_to_num(raw, nan=0.0, posinf=5.0, neginf=-5.0), -5.0, 5.0).astype(np.float32)
    return RegimeData(dates, streams.names, feats, streams.returns, streams.cost_frac)


def switch_cost_rate(config: BacktestConfig = DEFAULT_CONFIG) -> float:
    """The cost of moving one unit of weight between sleeves (see the module docstring)."""
    return float(config.costs.per_value + config.costs.slippage_bps * 1e-4)


class AllocatorEnv(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """Weights across templates by regime; decisions at closes ``start .. end - 1``."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        data: RegimeData,
        start: int | None = None,
        end: int | None = None,
        *,
        episode_bars: int = 252,
        random_start: bool = True,
        cost_rate: float | None = None,
    ) -> None:
        super().__init__()
        self.data = data
        self.k = len(data.names)
        self.start = max(WARMUP, 0 if start is None else int(start))
        self.end = len(data.dates) - 1 if end is None else min(int(end), len(data.dates) - 1)
        if self.end <= self.start:
            raise ValueError(
                f"no bar to allocate: bars {self.start}..{self.end} (the regime features need {WARMUP} bars)"
            )
        self.episode_bars = episode_bars
        self.random_start = random_start
        self.cost_rate = switch_cost_rate() if cost_rate is None else cost_rate
        width = data.features.shape[1] + self.k
        self.observation_space = spaces.Box(-5.0, 5.0, shape=(width,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.k,), dtype=np.float32)
        self.weights = np.zeros(self.k)
        self._t = self.start
        self._stop = self.end

    def observation(self, t: int) -> NDArray[np.float32]:
        return np.concatenate([self.data.features[t], self.weights.astype(np.float32)])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        span = self.end - self.start
        if self.random_start and span > self.episode_bars:
            t0 = self.start + int(self.np_random.integers(0, span - self.episode_bars + 1))
            self._stop = t0 + self.episode_bars
        else:
            t0, self._stop = self.start, self.end
        self._t = t0
        self.weights = np.zeros(self.k)
        return self.observation(t0), {"bar": t0}

    def step(
        self, action: NDArray[np.float32]
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        if self._t >= self._stop:
            raise RuntimeError("step() after the episode ended: call reset()")
        w = weights_of(action)
        t = self._t + 1
        switch = self.cost_rate * float(np.abs(w - self.weights).sum())
        r = float(w @ self.data.returns[t]) - switch
        cost = switch + float(w @ self.data.cost_frac[t])
        self.weights = w
        self._t = t
        reward = REWARD_SCALE * math.log(max(1.0 + r, 1e-6))
        truncated = t >= self._stop
        return (
            self.observation(t),
            reward,
            False,
            truncated,
            {"bar": t, "return": r, "cost": cost, "weights": w},
        )


def price_weights(data: RegimeData, start: int, weights: Array, cost_rate: float) -> tuple[Array, Array]:
    """Returns and cost shares of a template-weights path held over bars ``start+1 ..``."""
    n = len(weights)
    prev = np.vstack([np.zeros(data.returns.shape[1]), weights[:-1]])
    switch = cost_rate * np.abs(weights - prev).sum(axis=1)
    rows = slice(start + 1, start + 1 + n)
    r = (weights * data.returns[rows]).sum(axis=1) - switch
    c = switch + (weights * data.cost_frac[rows]).sum(axis=1)
    return r, c


@dataclass(frozen=True, slots=True)
class AllocatorLearner:
    """PPO on ``AllocatorEnv`` per fold (``engine.rl.evaluate``'s learner protocol)."""

    data: RegimeData
    steps: int = 5_000
    seed: int = 0
    episode_bars: int = 252
    device: str = "cpu"
    name: str = "allocator"

    @classmethod
    def from_panel(
        cls,
        panel: Panel,
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        streams: TemplateStreams | None = None,
        **kw: Any,
    ) -> AllocatorLearner:
        s = streams or template_streams(panel, templates)
        return cls(regime_data(s, panel), **kw)

    def _range(self, fold: Fold) -> tuple[int, int]:
        start = self.data.index(fold.test_start, "left") - 1
        end = self.data.index(fold.test_end) - 1
        if start < WARMUP + 2:
            raise ValueError(
                f"fold {fold.index}: the allocator needs {WARMUP} bars before its first test bar"
            )
        return start, end

    def run(self, panel: Panel, fold: Fold, root: Path) -> FoldOutcome:
        import torch as th
        from stable_baselines3 import PPO

        from engine.rl.agents import SEED_PPO, seed_everything

        start, end = self._range(fold)
        train_end = start  # the last bar the training episodes may reach: the fold's train_end
        th.set_num_threads(1)  # small networks: one thread (make_agent's measured choice)
        seed_everything(self.seed, "cpu")
        env = AllocatorEnv(self.data, WARMUP, train_end, episode_bars=self.episode_bars)
        model = PPO("MlpPolicy", env, seed=self.seed, device=self.device, verbose=0, **SEED_PPO)
        model.learn(total_timesteps=self.steps)
        test = AllocatorEnv(self.data, start, end, random_start=False)
        obs, _ = test.reset()
        ws, rs, cs = [], [], []
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, term, trunc, info = test.step(action)
            done = term or trunc
            ws.append(info["weights"])
            rs.append(info["return"])
            cs.append(info["cost"])
        seen = date.fromisoformat(str(self.data.dates[train_end])[:10])
        return FoldOutcome(
            fold,
            self.data.dates[start + 1 : end + 1],
            np.asarray(rs),
            np.vstack(ws),
            np.asarray(cs),
            seen,
            {"steps": float(self.steps)},
        )

    def pricer(self, panel: Panel, fold: Fold) -> Callable[[Array], tuple[Array, Array]]:
        start, _ = self._range(fold)
        rate = switch_cost_rate()

        def price(weights: Array) -> tuple[Array, Array]:
            return price_weights(self.data, start, weights, rate)

        return price

    def identity(self) -> dict[str, Any]:
        return {
            "agent": self.name,
            "templates": list(self.data.names),
            "steps": self.steps,
            "seed": self.seed,
            "episode_bars": self.episode_bars,
        }


# -- live: the allocator's weights as portfolio targets --------------------------------------------


def combine_targets(
    weights: Mapping[str, float], template_targets: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """Symbol target weights: ``sum_k w_k * target_k`` over the templates (scaled to a gross of 1
    if above it, so the rebalancer never borrows). A weight for a template without targets is an
    error (its share would be silently left in cash)."""
    missing = [k for k, w in weights.items() if w > 0 and k not in template_targets]
    if missing:
        raise ValueError(f"no targets for template(s) {', '.join(sorted(missing))}")
    bad = {k: w for k, w in weights.items() if not (math.isfinite(w) and w >= 0)}
    if bad:
        raise ValueError(f"template weights must be finite and >= 0, got {bad}")
    out: dict[str, float] = {}
    for name, w in weights.items():
        for sym, x in template_targets.get(name, {}).items():
            out[sym] = out.get(sym, 0.0) + w * x
    gross = sum(abs(x) for x in out.values())
    if gross > 1.0:
        out = {s: x / gross for s, x in out.items()}
    return {s: x for s, x in out.items() if x != 0.0}


class Allocator:
    """A trained allocator deciding the template weights on a date from the data up to it."""

    def __init__(
        self, policy: Callable[[NDArray[np.float32]], NDArray[np.float32]], data: RegimeData
    ) -> None:
        self.policy = policy
        self.data = data
        self.held = np.zeros(len(data.names))

    def weights(self, day: date | str) -> dict[str, float]:
        """The weights decided at ``day``'s close (the last session on or before it)."""
        t = self.data.index(day) - 1
        if t < WARMUP:
            raise ValueError(f"{day}: the allocator needs {WARMUP} sessions of history before it decides")
        obs = np.concatenate([self.data.features[t], self.held.astype(np.float32)])
        w = weights_of(self.policy(obs))
        self.held = w
        return dict(zip(self.data.names, (float(x) for x in w), strict=True))

    def targets(
        self, day: date | str, template_targets: Mapping[str, Mapping[str, float]]
    ) -> dict[str, float]:
        """The combined symbol targets for the rebalancer on ``day``."""
        return combine_targets(self.weights(day), template_targets)
