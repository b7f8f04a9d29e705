"""Agents on stable-baselines3: DQN (the seed's configuration), double DQN, prioritized replay,
a multi-head self-attention feature extractor, and PPO for continuous target weights.

SB3 is the trainer (rollouts, replay, target networks, schedules, saving); what is added here
extends its classes where the paper's rule differs from SB3's:

* ``ExtendedDQN.train`` replaces ``DQN.train`` for two changes. Double DQN (van Hasselt et al.
  2016): the online network picks the next action and the target network values it, instead of
  the target network's own max (which overestimates under noise). Prioritized replay (Schaul
  et al. 2016): with a ``PrioritizedReplayBuffer`` the TD loss is weighted by the samples'
  importance-sampling weights and the sampled transitions' priorities become their new TD errors.
* ``PrioritizedReplayBuffer`` is SB3's ``ReplayBuffer`` sampling in proportion to
  ``priority ** alpha`` (new transitions enter at the highest priority seen), returning the IS
  weights ``(N * P(i)) ** -beta / max`` with ``beta`` annealed to 1 over training.
* ``MarketWindow`` is a ``BaseFeaturesExtractor``: the observation's window of bars as a
  sequence of tokens through multi-head self-attention (the seed's MHA-DQN), pooled with the
  account; ``policy_kwargs`` hands it to DQN or PPO alike.

``make_agent`` builds one by name (``AGENTS``); ``predict`` gives an action and its probability
for one observation without SB3's per-call bookkeeping (tens of microseconds on a CPU).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecNormalize
from torch import nn
from torch.nn import functional as F

SEED_DQN: dict[str, Any] = {
    "learning_rate": 1e-3,
    "gamma": 0.95,
    "exploration_initial_eps": 1.0,
    "exploration_final_eps": 0.01,
    "buffer_size": 10_000,
    "batch_size": 32,
    "target_update_interval": 100,
    # not in the seed: the share of training over which epsilon falls, and when learning starts
    "exploration_fraction": 0.2,
    "learning_starts": 500,
}
"""The seed's DQN configuration (lr 1e-3, gamma 0.95, epsilon 1.0 -> 0.01, buffer 10,000,
batch 32, target update every 100 steps), the default of every DQN agent here."""

SEED_PPO: dict[str, Any] = {
    "learning_rate": 3e-4,
    "n_steps": 512,
    "batch_size": 64,
    "n_epochs": 10,
    "gamma": 0.95,
    "gae_lambda": 0.95,
    "clip_range": 0.2,
    "ent_coef": 0.0,
}
"""PPO with the clipped objective and GAE (SB3's defaults but a shorter rollout and the DQN's
gamma, so a daily-bar agent looks about 20 bars ahead as the seed's DQN does)."""


def device_for(device: str = "auto") -> str:
    """CPU unless a GPU is there (``"auto"``), or what is asked for; a GPU is never required."""
    if device == "auto":
        return "cuda" if th.cuda.is_available() else "cpu"
    return device


def seed_everything(seed: int, device: str = "cpu") -> None:
    """Python, numpy and torch seeded; deterministic kernels on the CPU, where they cost nothing
    for these layer sizes (a CUDA run is seeded but not promised bit-identical)."""
    random.seed(seed)
    np.random.seed(seed)
    set_random_seed(seed, using_cuda=device.startswith("cuda"))
    if device == "cpu":
        th.use_deterministic_algorithms(True, warn_only=True)


# -- prioritized replay ----------------------------------------------------------------------------


class PrioritizedSamples(NamedTuple):
    """SB3's ``ReplayBufferSamples`` fields plus the IS weights and where each sample lives."""

    observations: th.Tensor
    actions: th.Tensor
    next_observations: th.Tensor
    dones: th.Tensor
    rewards: th.Tensor
    discounts: th.Tensor | None
    weights: th.Tensor
    indices: NDArray[np.int64]
    env_indices: NDArray[np.int64]


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016) on SB3's replay storage.

    Priorities live in an array beside the transitions; sampling draws from ``p ** alpha``
    normalised over what is stored (a linear pass: at the seed's 10,000 transitions it is
    ~0.1 ms per batch, well under a gradient step, so a sum tree would buy nothing).
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space[Any],
        action_space: spaces.Space[Any],
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        alpha: float = 0.6,
        beta: float = 0.4,
        epsilon: float = 1e-6,
    ) -> None:
        if optimize_memory_usage:
            raise ValueError(
                "PrioritizedReplayBuffer keeps next observations apart: optimize_memory_usage=False"
            )
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            device,
            n_envs=n_envs,
            optimize_memory_usage=False,
            handle_timeout_termination=handle_timeout_termination,
        )
        if alpha < 0 or not 0 <= beta <= 1:
            raise ValueError(f"alpha must be >= 0 and beta in [0, 1], got alpha={alpha}, beta={beta}")
        self.alpha = alpha
        self.beta = beta
        self.beta0 = beta
        self.epsilon = epsilon
        self.priorities = np.zeros((self.buffer_size, self.n_envs), dtype=np.float64)
        self.max_priority = 1.0

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.priorities[self.pos] = self.max_priority
        super().add(*args, **kwargs)

    def anneal(self, progress_remaining: float) -> None:
        """``beta`` from its start to 1 as training goes (full correction by the end)."""
        self.beta = self.beta0 + (1.0 - self.beta0) * (1.0 - progress_remaining)

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> PrioritizedSamples:  # type: ignore[override]
        upper = self.buffer_size if self.full else self.pos
        p = self.priorities[:upper].ravel() ** self.alpha
        total = p.sum()
        probs = p / total
        flat = np.random.choice(len(probs), size=batch_size, p=probs)
        batch_inds, env_inds = np.divmod(flat, self.n_envs)
        weights = (len(probs) * probs[flat]) ** (-self.beta)
        weights /= weights.max()
        data = (
            self._normalize_obs(self.observations[batch_inds, env_inds, :], env),
            self.actions[batch_inds, env_inds, :],
            self._normalize_obs(self.next_observations[batch_inds, env_inds, :], env),
            (self.dones[batch_inds, env_inds] * (1 - self.timeouts[batch_inds, env_inds])).reshape(-1, 1),
            self._normalize_reward(self.rewards[batch_inds, env_inds].reshape(-1, 1), env),
        )
        obs, actions, next_obs, dones, rewards = (self.to_torch(np.asarray(d)) for d in data)
        return PrioritizedSamples(
            obs,
            actions,
            next_obs,
            dones,
            rewards,
            discounts=None,
            weights=self.to_torch(weights.astype(np.float32).reshape(-1, 1)),
            indices=batch_inds.astype(np.int64),
            env_indices=env_inds.astype(np.int64),
        )

    def update_priorities(
        self, indices: NDArray[np.int64], env_indices: NDArray[np.int64], errors: Any
    ) -> None:
        new = np.abs(np.asarray(errors, dtype=np.float64).reshape(-1)) + self.epsilon
        self.priorities[indices, env_indices] = new
        self.max_priority = max(self.max_priority, float(new.max()))


# -- DQN extensions -------------------------------------------------------------------------------


class ExtendedDQN(DQN):
    """SB3's DQN with ``train`` taking double-DQN targets (``double_q``) and prioritized replay
    (when the buffer is a ``PrioritizedReplayBuffer``); with neither it is SB3's update."""

    double_q: bool = False

    def __init__(self, *args: Any, double_q: bool | None = None, **kwargs: Any) -> None:
        if double_q is not None:
            self.double_q = double_q
        super().__init__(*args, **kwargs)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        buffer = self.replay_buffer
        prioritized = isinstance(buffer, PrioritizedReplayBuffer)
        if isinstance(buffer, PrioritizedReplayBuffer):
            buffer.anneal(self._current_progress_remaining)
        losses = []
        for _ in range(gradient_steps):
            data = buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = data.discounts if data.discounts is not None else self.gamma
            with th.no_grad():
                next_target = self.q_net_target(data.next_observations)
                if self.double_q:
                    choice = self.q_net(data.next_observations).argmax(dim=1, keepdim=True)
                    next_q = th.gather(next_target, dim=1, index=choice)
                else:
                    next_q = next_target.max(dim=1, keepdim=True)[0]
                target_q = data.rewards + (1 - data.dones) * discounts * next_q
            current_q = th.gather(self.q_net(data.observations), dim=1, index=data.actions.long())
            if isinstance(data, PrioritizedSamples):
                per_sample = F.smooth_l1_loss(current_q, target_q, reduction="none")
                loss = (per_sample * data.weights).mean()
                errors = (current_q - target_q).detach().cpu().numpy()
                buffer.update_priorities(data.indices, data.env_indices, errors)  # type: ignore[union-attr]
            else:
                loss = F.smooth_l1_loss(current_q, target_q)
            losses.append(loss.item())
            self.policy.optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))
        if prioritized:
            self.logger.record("train/per_beta", buffer.beta)  # type: ignore[union-attr]


class DoubleDQN(ExtendedDQN):
    """Double DQN: the online network chooses the next action, the target network values it."""

    double_q = True


class PrioritizedDQN(ExtendedDQN):
    """DQN on proportional prioritized replay (the buffer class is set unless one is given)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("replay_buffer_class", PrioritizedReplayBuffer)
        super().__init__(*args, **kwargs)


# -- attention over the window ---------------------------------------------------------------------


class MarketWindow(BaseFeaturesExtractor):
    """Multi-head self-attention over the observation's bars (the seed's MHA-DQN extractor).

    The flat observation is ``window x n_features`` bar features then ``n_account`` account
    numbers (``engine.rl.env``). Each bar becomes a token (a linear embedding plus a learned
    position), one pre-norm transformer block attends across the window, and the current bar's
    token, the mean of all tokens and the account go through a linear layer to ``features_dim``.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        window: int,
        n_account: int,
        d_model: int = 32,
        heads: int = 4,
        features_dim: int = 64,
    ) -> None:
        super().__init__(observation_space, features_dim)
        width = int(np.prod(observation_space.shape))
        bars = width - n_account
        if window < 1 or bars <= 0 or bars % window:
            raise ValueError(
                f"an observation of {width} numbers is not {window} bars of features"
                f" plus {n_account} account numbers"
            )
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of heads ({heads})")
        self.window = window
        self.n_features = bars // window
        self.n_account = n_account
        self.embed = nn.Linear(self.n_features, d_model)
        self.position = nn.Parameter(th.zeros(1, window, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = nn.MultiheadAttention(d_model, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model)
        self.feedforward = nn.Sequential(
            nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model)
        )
        self.head = nn.Sequential(nn.Linear(2 * d_model + n_account, features_dim), nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        k = self.window * self.n_features
        bars = observations[:, :k].reshape(-1, self.window, self.n_features)
        account = observations[:, k:]
        x = self.embed(bars) + self.position
        h = self.norm1(x)
        attended, _ = self.attention(h, h, h, need_weights=False)
        x = x + attended
        x = x + self.feedforward(self.norm2(x))
        pooled = th.cat([x[:, -1], x.mean(dim=1), account], dim=1)
        out: th.Tensor = self.head(pooled)
        return out


def attention_kwargs(window: int, n_account: int, **extra: Any) -> dict[str, Any]:
    """``policy_kwargs`` putting ``MarketWindow`` in front of a DQN or PPO policy."""
    return {
        "features_extractor_class": MarketWindow,
        "features_extractor_kwargs": {"window": window, "n_account": n_account, **extra},
    }


# -- the named agents -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentSpec:
    cls: type[BaseAlgorithm]
    actions: str
    """The environment's action kind the agent is built for (``EnvConfig.actions``)."""
    defaults: dict[str, Any]
    attention: bool = False
    help: str = ""


AGENTS: dict[str, AgentSpec] = {
    "dqn": AgentSpec(ExtendedDQN, "signal", SEED_DQN, help="DQN, the seed configuration (hold/buy/sell)"),
    "double-dqn": AgentSpec(DoubleDQN, "signal", SEED_DQN, help="double DQN"),
    "per-dqn": AgentSpec(PrioritizedDQN, "signal", SEED_DQN, help="DQN on prioritized replay"),
    "mha-dqn": AgentSpec(
        DoubleDQN, "signal", SEED_DQN, attention=True, help="double DQN, attention over the window"
    ),
    "ppo": AgentSpec(PPO, "continuous", SEED_PPO, help="PPO (clipped, GAE), continuous target weights"),
    "mha-ppo": AgentSpec(
        PPO, "continuous", SEED_PPO, attention=True, help="PPO with attention over the window"
    ),
}


def make_agent(
    name: str,
    env: Any,
    *,
    window: int,
    n_account: int,
    seed: int = 0,
    device: str = "auto",
    overrides: dict[str, Any] | None = None,
    threads: int | None = 1,
) -> BaseAlgorithm:
    """Agent ``name`` (a key of ``AGENTS``) on ``env`` (a gymnasium env or an SB3 VecEnv) with
    its defaults, ``overrides`` on top; ``window``/``n_account`` shape the attention extractor.

    ``threads`` sets torch's CPU threads for the process (None: leave them): these networks are
    small, and torch's default of one thread per core was measured 13x slower on a shared
    2-core machine (64 vs 860 DQN steps/s)."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; known: {', '.join(AGENTS)}")
    spec = AGENTS[name]
    dev = device_for(device)
    if threads is not None:
        th.set_num_threads(max(1, threads))
    seed_everything(seed, dev)
    kwargs: dict[str, Any] = {**spec.defaults, **(overrides or {})}
    if spec.attention:
        kwargs["policy_kwargs"] = {**attention_kwargs(window, n_account), **kwargs.get("policy_kwargs", {})}
    return spec.cls("MlpPolicy", env, seed=seed, device=dev, verbose=0, **kwargs)


# -- one decision ----------------------------------------------------------------------------------

BAND = 0.05
"""A continuous action's probability is that of the policy's sample landing within this much of
its mean on every weight (the same bucket, as a trader would read it)."""


def predictor(model: BaseAlgorithm) -> Callable[[NDArray[np.float32]], tuple[Any, float]]:
    """A function of one observation giving ``(action, probability)``: the greedy action and

    * DQN family: its softmax weight over the Q-values (a Boltzmann probability at a temperature
      of one reward unit; uncalibrated, the live template calibrates it);
    * PPO, discrete actions: the policy's probability of it;
    * PPO, continuous weights: the mean weights, and the probability that the stochastic policy
      lands within ``BAND`` of them on every symbol.
    """
    policy = model.policy
    policy.set_training_mode(False)
    device = policy.device
    if isinstance(model, DQN):
        q_net = model.q_net

        def dqn(obs: NDArray[np.float32]) -> tuple[Any, float]:
            with th.inference_mode():  # no autograd bookkeeping: ~8 % faster than no_grad
                q = q_net(th.as_tensor(obs, device=device).reshape(1, -1))[0]
                p = th.softmax(q, dim=0)
                a = int(th.argmax(q))
            return a, float(p[a])

        return dqn
    continuous = isinstance(model.action_space, spaces.Box)
    low = high = None
    if isinstance(model.action_space, spaces.Box):
        low, high = model.action_space.low, model.action_space.high

    def actor(obs: NDArray[np.float32]) -> tuple[Any, float]:
        with th.inference_mode():  # no autograd bookkeeping: ~8 % faster than no_grad
            dist = policy.get_distribution(th.as_tensor(obs, device=device).reshape(1, -1))  # type: ignore[operator]
            if not continuous:
                probs = dist.distribution.probs[0]
                a = int(th.argmax(probs))
                return a, float(probs[a])
            mean = dist.distribution.mean[0]
            std = dist.distribution.stddev[0]
        inside = th.erf(BAND / (std * math.sqrt(2.0)))
        action = np.clip(mean.cpu().numpy(), low, high)
        return action, float(th.prod(inside))

    return actor


def predict(model: BaseAlgorithm, obs: NDArray[np.float32]) -> tuple[Any, float]:
    """``(action, probability)`` for one observation (see ``predictor``; keep a ``predictor`` for
    repeated calls, it skips the set-up)."""
    return predictor(model)(obs)
