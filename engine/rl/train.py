"""Training an agent: SB3's ``learn`` with a progress bar, checkpoints and early stopping on a
validation period, saved to the registry with what it is and how it learned.

The data is cut at ``train_end`` before anything else: the environment, the features and the
validation never see a later bar. Of the bars up to ``train_end``, the last ``validation`` share
is the validation period: training episodes are drawn from the bars before it, and every
``eval_every`` steps the greedy policy trades it once (``rollout``). The model saved is the one
with the best validation reward; ``patience`` evaluations without improvement stop training
early. The training curve (steps, mean episode reward, loss, exploration, validation reward and
return) goes into meta.json and curve.csv.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecMonitor

from engine.rl import registry
from engine.rl.agents import AGENTS, make_agent, predictor
from engine.rl.env import (
    DEFAULT_FEATURES,
    EnvConfig,
    Market,
    TradingEnv,
    build_market,
    cut_panel,
    env_config_dict,
    make_vec_env,
    split,
)
from engine.rl.rollout import rollout
from engine.strategies.templates.base import Panel

if TYPE_CHECKING:
    from engine.config import Settings


@dataclass(frozen=True, slots=True)
class TrainSpec:
    agent: str
    train_end: date
    steps: int = 20_000
    seed: int = 0
    reward: str = "log_return"
    window: int = 32
    episode_bars: int = 252
    features: tuple[str, ...] = DEFAULT_FEATURES
    n_envs: int = 1
    validation: float = 0.2
    """Share of the bars up to ``train_end`` kept for validation (0: no early stopping)."""
    eval_every: int = 2_000
    patience: int = 5
    checkpoint_every: int = 10_000
    """Environment steps between checkpoints (0: none)."""
    device: str = "auto"
    threads: int = 1
    """CPU threads for torch (``make_agent``)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    env_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.agent not in AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; known: {', '.join(AGENTS)}")
        if self.steps < 1:
            raise ValueError(f"steps must be positive, got {self.steps}")
        if self.n_envs < 1:
            raise ValueError(f"n_envs must be positive, got {self.n_envs}")

    def env_config(self) -> EnvConfig:
        return EnvConfig(
            window=self.window,
            episode_bars=self.episode_bars,
            actions=AGENTS[self.agent].actions,
            reward=self.reward,
            **self.env_overrides,
        )


@dataclass(slots=True)
class Progress:
    """What the progress display shows, updated by the callback."""

    step: int = 0
    total: int = 0
    episode_reward: float = math.nan
    loss: float = math.nan
    val_reward: float = math.nan
    best_val: float = math.nan
    stopped_early: bool = False


class Monitor(BaseCallback):
    """Episode rewards, loss, validation with early stopping, checkpoints and the curve."""

    def __init__(
        self,
        spec: TrainSpec,
        validate: Callable[[BaseAlgorithm], dict[str, float]] | None,
        folder: Path,
        on_progress: Callable[[Progress], None] | None = None,
        log_every: int = 250,
    ) -> None:
        super().__init__(verbose=0)
        self.spec = spec
        self.validate = validate
        self.folder = folder
        self.on_progress = on_progress
        self.log_every = log_every
        self.progress = Progress(total=spec.steps)
        self.episodes: deque[float] = deque(maxlen=20)
        self.curve: list[dict[str, float]] = []
        self.best: dict[str, float] = {}
        self.best_file = folder / "best.zip"
        self.best_step = 0
        self._since_best = 0
        self._last_eval = 0
        self._last_checkpoint = 0
        self._last_log = 0

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            episode = info.get("episode")
            if episode is not None:
                self.episodes.append(float(episode["r"]))
        p = self.progress
        p.step = self.num_timesteps
        if self.episodes:
            p.episode_reward = float(np.mean(self.episodes))
        loss = self.model.logger.name_to_value.get("train/loss")
        if loss is not None:
            p.loss = float(loss)
        if (
            self.spec.checkpoint_every
            and self.num_timesteps - self._last_checkpoint >= self.spec.checkpoint_every
        ):
            self._last_checkpoint = self.num_timesteps
            self.model.save(self.folder / "checkpoints" / f"step_{self.num_timesteps}.zip")
        keep_going = True
        if self.validate is not None and self.num_timesteps - self._last_eval >= self.spec.eval_every:
            self._last_eval = self.num_timesteps
            keep_going = self._evaluate()
        if self.num_timesteps - self._last_log >= self.log_every or not keep_going:
            self._last_log = self.num_timesteps
            self._record()
            if self.on_progress is not None:
                self.on_progress(p)
        return keep_going

    def _record(self, val: dict[str, float] | None = None) -> None:
        p = self.progress
        row = {
            "step": float(p.step),
            "episode_reward": p.episode_reward,
            "loss": p.loss,
            "exploration": float(getattr(self.model, "exploration_rate", math.nan)),
        }
        if val is not None:
            row["val_reward"] = val.get("reward", math.nan)
            row["val_return"] = val.get("total_return", math.nan)
        self.curve.append(row)

    def _evaluate(self) -> bool:
        assert self.validate is not None
        val = self.validate(self.model)
        self._record(val)
        p = self.progress
        p.val_reward = val.get("reward", math.nan)
        if not self.best or p.val_reward > self.best.get("reward", -math.inf):
            self.best = val
            self.best_step = self.num_timesteps
            p.best_val = p.val_reward
            self._since_best = 0
            self.model.save(self.best_file)
            return True
        self._since_best += 1
        if self._since_best >= self.spec.patience and self.num_timesteps < self.spec.steps:
            p.stopped_early = True
            return False
        return True


@dataclass(frozen=True, slots=True)
class Trained:
    model: BaseAlgorithm
    record: registry.ModelRecord
    seconds: float
    steps_per_second: float


def train(
    spec: TrainSpec,
    panel: Panel,
    root: Path | None = None,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    model_id: str | None = None,
) -> Trained:
    """Train ``spec.agent`` on ``panel`` up to ``spec.train_end`` and save it to the registry."""
    cut = cut_panel(panel, spec.train_end)
    market = build_market(cut, spec.features, EnvConfig().backtest.fill)
    cfg = spec.env_config()
    ranges = split(market, spec.train_end, spec.validation)
    train_env = VecMonitor(
        make_vec_env(market, cfg, ranges.train_start, ranges.val_start, spec.n_envs, spec.seed)
    )
    validate = _validator(market, cfg, ranges.val_start, ranges.train_end) if spec.validation > 0 else None
    model = make_agent(
        spec.agent,
        train_env,
        window=cfg.window,
        n_account=len(market.symbols) + 1,
        seed=spec.seed,
        device=spec.device,
        overrides=spec.overrides,
        threads=spec.threads,
    )
    created = now()
    mid = registry.check_id(model_id or registry.new_model_id(spec.agent, market.symbols, created))
    where = registry.models_root() if root is None else root
    folder = where / mid
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    monitor = Monitor(spec, validate, folder, on_progress)
    began = time.perf_counter()
    model.learn(total_timesteps=spec.steps, callback=monitor)
    seconds = time.perf_counter() - began
    trained_steps = int(model.num_timesteps)
    best_step = monitor.best_step
    if monitor.best_file.exists():
        model = AGENTS[spec.agent].cls.load(monitor.best_file, device=model.device)
        monitor.best_file.unlink()
    metrics = dict(monitor.best) if monitor.best else (validate(model) if validate is not None else {})
    metrics["train_seconds"] = seconds
    metrics["stopped_early"] = float(monitor.progress.stopped_early)
    metrics["best_step"] = float(best_step if monitor.best else trained_steps)
    hyper = {**AGENTS[spec.agent].defaults, **spec.overrides}
    identity = {
        "agent": spec.agent,
        "symbols": market.symbols,
        "train_end": spec.train_end.isoformat(),
        "features": spec.features,
        "env": env_config_dict(cfg),
        "config": hyper,
        "seed": spec.seed,
        "steps": spec.steps,
        "validation": spec.validation,
    }
    record = registry.ModelRecord(
        model_id=mid,
        agent=spec.agent,
        symbols=market.symbols,
        data_start=str(market.dates[0])[:10],
        data_end=str(market.dates[ranges.train_end])[:10],
        train_end=spec.train_end.isoformat(),
        val_start=str(market.dates[ranges.val_start])[:10],
        features=spec.features,
        env=env_config_dict(cfg),
        config=_jsonable(hyper),
        config_hash=registry.config_hash(identity),
        code_version=registry.code_version(),
        seed=spec.seed,
        steps=trained_steps,
        created=created.isoformat(timespec="seconds"),
        metrics={k: float(v) for k, v in metrics.items()},
        curve=monitor.curve,
    )
    saved = registry.save_model(model, record, where)
    return Trained(model, saved, seconds, trained_steps / seconds if seconds > 0 else math.inf)


def _validator(
    market: Market, cfg: EnvConfig, start: int, end: int
) -> Callable[[BaseAlgorithm], dict[str, float]]:
    env = TradingEnv(market, replace(cfg, episode_bars=max(end - start, 1)), start, end, random_start=False)

    def validate(model: BaseAlgorithm) -> dict[str, float]:
        return rollout(predictor(model), env).metrics()

    return validate


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        out[k] = v if isinstance(v, int | float | str | bool | type(None) | list | tuple) else repr(v)
    return out


def load_panel(settings: Settings, symbols: Sequence[str], start: date | None, train_end: date) -> Panel:
    """The configured data's bars for ``symbols`` from ``start`` up to ``train_end`` only."""
    from engine.research.runs import load_panel as research_panel

    return research_panel(settings, symbols, start, train_end)


def symbols_of(text: str | Sequence[str]) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    out = tuple(s.strip().upper() for s in items if s.strip())
    if not out:
        raise ValueError("--symbols names no symbol")
    return out
