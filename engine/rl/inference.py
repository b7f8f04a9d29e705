"""A saved agent deciding on today's data: the live side of a trained model.

``Decider.load`` reads a model from the registry with its record and rebuilds what it was trained
on (features, window, action kind); ``decide`` takes the bars up to the as-of session and the
book's current weights in the model's symbols, builds the observation exactly as the training
environment does (``TradingEnv.observation``: same features, same window, same account part),
and returns the target weights the action asks for with the action's probability. The learning
libraries load here, so only an enabled RL template pays for them.

The observation comes from ``env.observe``, the function the environment itself calls, so there
is one definition of what the agent sees in training, evaluation and live use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from stable_baselines3.common.base_class import BaseAlgorithm

from engine.rl import registry
from engine.rl.agents import predictor
from engine.rl.env import EnvConfig, Market, build_market, env_config, first_decision, observe
from engine.strategies.templates.base import Array, Panel


@dataclass(frozen=True, slots=True)
class Decision:
    action: Any
    """The raw action (an int for the discrete kinds, weights for continuous)."""
    target: Array
    """Target weights per symbol of ``symbols`` (what the action asks the book to hold)."""
    probability: float
    symbols: tuple[str, ...]
    asof: str


class Decider:
    """A loaded model and what it needs to decide (see the module docstring)."""

    def __init__(self, model: BaseAlgorithm, record: registry.ModelRecord) -> None:
        self.model = model
        self.record = record
        self.config: EnvConfig = env_config(record.env)
        self._act = predictor(model)

    @classmethod
    def load(cls, name: str, root: Path | None = None, device: str = "cpu") -> Decider:
        model, record = registry.load_model(name, root, device)
        return cls(model, record)

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.record.symbols

    def market(self, panel: Panel) -> Market:
        missing = [s for s in self.symbols if s not in panel]
        if missing:
            raise ValueError(
                f"model {self.record.model_id} trades {', '.join(missing)}: no bars given for it"
            )
        return build_market(
            {s: panel[s] for s in self.symbols}, self.record.features, self.config.backtest.fill
        )

    def observation(
        self, market: Market, weights: Array | None = None, cash_share: float | None = None, at: int = -1
    ) -> NDArray[np.float32]:
        """What the agent sees at the close of bar ``at`` holding ``weights`` (default flat) with
        ``cash_share`` of equity in cash (default: what the weights leave)."""
        t = at % len(market)
        first = first_decision(market, self.config.window)
        if t < first:
            reach = market.date_at(min(first, len(market) - 1))
            raise ValueError(
                f"model {self.record.model_id} needs {self.config.window} bars after its features warm up "
                f"(first decision {reach}); the data ends {market.date_at(t)}"
            )
        w = np.zeros(len(market.symbols)) if weights is None else np.asarray(weights, dtype=np.float64)
        cash = 1.0 - float(w.sum()) if cash_share is None else cash_share
        return observe(market, self.config.window, t, w, cash)

    def decide_obs(self, obs: NDArray[np.float32], current: Array | None = None) -> tuple[Any, Array, float]:
        """Action, target weights and probability for one observation (the hot path: ~50 us)."""
        action, p = self._act(obs)
        n = len(self.symbols)
        cfg = self.config
        if cfg.actions == "continuous":
            w = np.clip(np.asarray(action, dtype=np.float64).reshape(n), 0.0, 1.0)
            target = w / w.sum() if w.sum() > 1.0 else w
        elif cfg.actions == "buckets":
            target = np.full(n, cfg.buckets[int(action)] / n)
        elif int(action) == 0:
            target = np.zeros(n) if current is None else np.asarray(current, dtype=np.float64)
        else:
            target = np.full(n, 1.0 / n) if int(action) == 1 else np.zeros(n)
        return action, target, p

    def decide(self, panel: Panel, weights: Array | None = None, cash_share: float | None = None) -> Decision:
        """The decision at the close of the panel's last session."""
        market = self.market(panel)
        obs = self.observation(market, weights, cash_share)
        action, target, p = self.decide_obs(obs, weights)
        return Decision(action, target, p, self.symbols, str(market.dates[-1])[:10])
