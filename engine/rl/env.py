"""A gymnasium trading environment over the research backtester's own account.

One code path: every step trades through ``engine.research.backtest.Account``, the bar kernel
``simulate`` loops over, so an agent gets the fills and pays the costs a backtest of the same
targets would (tested: the environment's equity equals ``simulate``'s on a fixed action
sequence). The timing is the backtester's too: the agent decides at the close of bar ``t``
from features known then, the target is traded at bar ``t+1``'s fill price (the open by
default), and the account is marked at ``t+1``'s close; the reward is earned over that step.

Observation (a flat ``float32`` Box, so replay buffers and every SB3 policy take it as is):
the last ``window`` bars of ``features`` from ``engine.signals`` (``window x n_features``,
oldest first, row-major) followed by the account: each symbol's weight at the close and the
cash share. ``MarketWindow`` in ``engine.rl.agents`` reshapes it back for attention.

Actions (``EnvConfig.actions``):

* ``"signal"``: Discrete(3): 0 hold the current target, 1 buy (fully invested, equal weights),
  2 sell (flat). The seed's hold/buy/sell.
* ``"buckets"``: Discrete(len(buckets)): a target exposure (0, 25 %, ... 100 %) of an equal-weight
  basket of the symbols.
* ``"continuous"``: Box([0, 1]^N): target weights per symbol; a sum above 1 is scaled to 1
  (the account never borrows).

Rewards (``EnvConfig.reward``), each times ``reward_scale``:

* ``"log_return"``: ``log(equity_{t+1} / equity_t)``: net of costs, since costs leave equity.
* ``"sharpe"``: Moody and Saffell's differential Sharpe ratio with adaptation rate ``eta``
  (the marginal effect of this step's return on an exponential moving Sharpe ratio).
* ``"drawdown"``: the log return minus ``drawdown_penalty`` times the increase of the drawdown
  from the running peak (so a path's total penalty is its drawdowns as they deepen).

Episodes: ``episode_bars`` decisions starting at a random bar of ``[start, end)`` (the training
period; ``random_start=False`` runs the whole range once, for validation and evaluation). The
environment never reads a bar after ``end``: the last step trades at ``end``'s fill.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from engine.research.backtest import (
    DEFAULT_CONFIG,
    Account,
    BacktestConfig,
    price_matrix,
    sessions_and_symbols,
)
from engine.signals import indicators as ind
from engine.strategies.templates.base import Array, Panel

ACTIONS = ("signal", "buckets", "continuous")
REWARDS = ("log_return", "sharpe", "drawdown")
CLIP = 10.0
"""Features are clipped to +/- this (a split or a bad print must not blow up a network)."""


def _f_ret1(o: Array, h: Array, lo: Array, c: Array, v: Array) -> Array:
    return ind.returns(c) * 100.0


def _f_roc5(o: Array, h: Array, lo: Array, c: Array, v: Array) -> Array:
    return ind.roc(c, 5) * 40.0


def _f_roc20(o: Array, h: Array, lo: Array, c: Array, v: Array) -> Array:
    return ind.roc(c, 20) * 20.0


def _f_rsi14(o: Array, h: Array, lo: Array, c: Array, v: Array) -> Array:
    return (ind.rsi(c, 14) - 50.0) / 25.0


def _f_vol20(o: Array, h: Array, lo: Array, c: Array, v: Array) -> Array:
    return ind.rolling_volatility(c, 20) * 5.0


def _f_z20(o: Array, h: Array, lo: Array, c: Array, v: Array) -> Array:
    return ind.zscore(c, 20)


def _f_macd(o: Array, h: Array, lo: Array, c: Array, v: Array) -> Array:
    return ind.macd(c)[2] / c * 200.0


def _f_atr14(o: Array, h: Array, lo: Array, c: Array, v: Array) -> Array:
    return ind.atr(h, lo, c, 14) / c * 50.0


Feature = Callable[[Array, Array, Array, Array, Array], Array]
FEATURES: dict[str, Feature] = {
    "ret1": _f_ret1,
    "roc5": _f_roc5,
    "roc20": _f_roc20,
    "rsi14": _f_rsi14,
    "vol20": _f_vol20,
    "z20": _f_z20,
    "macd": _f_macd,
    "atr14": _f_atr14,
}
"""Each a causal indicator from ``engine.signals`` scaled to about unit size (a fixed scale, not
a z-score fitted on the data: that would leak the future's moments into the past)."""
DEFAULT_FEATURES: tuple[str, ...] = tuple(FEATURES)


@dataclass(frozen=True, slots=True)
class Market:
    """Aligned arrays the environment steps over: ``[T, N]`` prices, ``[T, N*F]`` features."""

    dates: NDArray[np.datetime64]
    symbols: tuple[str, ...]
    fill: Array
    close: Array
    features: NDArray[np.float32]
    feature_names: tuple[str, ...]
    first: int
    """The first bar whose features are all defined (the indicators' warm-up before it)."""

    def __len__(self) -> int:
        return len(self.dates)

    def index(self, day: date | str | np.datetime64, side: str = "right") -> int:
        """Bars up to and including ``day`` (``side="right"``) or before it (``"left"``)."""
        return int(np.searchsorted(self.dates, np.datetime64(day, "D"), side=side))  # type: ignore[call-overload]

    def date_at(self, i: int) -> date:
        return date.fromisoformat(str(self.dates[i])[:10])


def build_market(
    panel: Panel,
    features: Sequence[str] = DEFAULT_FEATURES,
    fill: str = DEFAULT_CONFIG.fill,
) -> Market:
    """The panel on the union of its sessions (as the backtester aligns it), with features.

    Features are computed per symbol on its aligned bars; a missing bar after the warm-up (a
    halt) gives 0 there rather than NaN, so the network always gets finite numbers.
    """
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(unknown)}; known: {', '.join(FEATURES)}")
    if not features:
        raise ValueError("at least one feature is needed")
    if not panel:
        raise ValueError("the panel has no symbols")
    if fill not in ("open", "close"):
        raise ValueError(f"fill must be 'open' or 'close', got {fill!r}")
    dates, symbols = sessions_and_symbols(panel)
    columns = {f: price_matrix(panel, dates, symbols, f) for f in ("open", "high", "low", "close", "volume")}
    cols: list[Array] = []
    for j in range(len(symbols)):
        o, h, lo, c, v = (columns[f][:, j] for f in ("open", "high", "low", "close", "volume"))
        with np.errstate(divide="ignore", invalid="ignore"):
            cols.extend(FEATURES[name](o, h, lo, c, v) for name in features)
    raw = np.column_stack(cols)
    finite = np.isfinite(raw).all(axis=1)
    first = int(np.argmax(finite)) if finite.any() else len(dates)
    clean = np.clip(np.nan_to_num(raw, nan=0.0, posinf=CLIP, neginf=-CLIP), -CLIP, CLIP).astype(np.float32)
    px = columns["open" if fill == "open" else "close"]
    return Market(
        dates,
        symbols,
        np.nan_to_num(px),
        np.nan_to_num(columns["close"]),
        clean,
        tuple(features),
        first,
    )


@dataclass(frozen=True, slots=True)
class EnvConfig:
    window: int = 32
    """Bars of features in an observation."""
    episode_bars: int = 252
    """Decisions per episode (a trading year); a shorter range runs whole."""
    actions: str = "signal"
    buckets: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    reward: str = "log_return"
    reward_scale: float = 100.0
    """Rewards in percent: a daily log return of 1e-3 is a poor gradient signal."""
    drawdown_penalty: float = 0.5
    sharpe_eta: float = 0.01
    backtest: BacktestConfig = field(default_factory=lambda: DEFAULT_CONFIG)
    """Costs, fill price and the drift threshold: the research backtester's own settings."""

    def __post_init__(self) -> None:
        if self.actions not in ACTIONS:
            raise ValueError(f"actions must be one of {', '.join(ACTIONS)}, got {self.actions!r}")
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {', '.join(REWARDS)}, got {self.reward!r}")
        if self.window < 1:
            raise ValueError(f"window must be at least 1 bar, got {self.window}")
        if self.episode_bars < 1:
            raise ValueError(f"episode_bars must be at least 1, got {self.episode_bars}")
        if not self.buckets or any(not 0.0 <= b <= 1.0 for b in self.buckets):
            raise ValueError(f"buckets must be exposures in [0, 1], got {self.buckets}")
        if not 0.0 < self.sharpe_eta < 1.0:
            raise ValueError(f"sharpe_eta must be in (0, 1), got {self.sharpe_eta}")


def first_decision(market: Market, window: int) -> int:
    """The first bar an agent can decide at: features warmed up and a full window behind it."""
    return market.first + window - 1


def observe(market: Market, window: int, t: int, weights: Array, cash_share: float) -> NDArray[np.float32]:
    """The observation at the close of bar ``t`` (see the module docstring): the one definition
    the environment, evaluation and live decisions share."""
    if t < first_decision(market, window) or t >= len(market):
        raise ValueError(f"bar {t} has no full {window}-bar window of defined features")
    k = window * market.features.shape[1]
    obs = np.empty(k + len(weights) + 1, dtype=np.float32)
    obs[:k] = market.features[t - window + 1 : t + 1].ravel()
    obs[k:-1] = weights
    obs[-1] = cash_share
    return obs


class TradingEnv(gym.Env[NDArray[np.float32], Any]):
    """See the module docstring. ``start``/``end`` are bar indexes of ``market``: decisions are
    taken at the closes of ``start .. end - 1`` and traded up to ``end``'s fill."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        market: Market,
        config: EnvConfig | None = None,
        start: int | None = None,
        end: int | None = None,
        random_start: bool = True,
    ) -> None:
        super().__init__()
        self.market = market
        self.config = cfg = config or EnvConfig()
        n = len(market.symbols)
        lo = first_decision(market, cfg.window)
        self.start = max(lo, 0 if start is None else int(start))
        self.end = len(market) - 1 if end is None else min(int(end), len(market) - 1)
        if self.end <= self.start:
            first_ok = market.date_at(min(lo, len(market) - 1)) if len(market) else "-"
            raise ValueError(
                f"no bar to trade: the range ends at bar {self.end} but the first decision needs bar "
                f"{self.start} (features warm up and a {cfg.window}-bar window fills by {first_ok})"
            )
        self.random_start = random_start
        self.n_symbols = n
        self.n_features = market.features.shape[1]
        width = cfg.window * self.n_features + n + 1
        self.observation_space = spaces.Box(-CLIP, CLIP, shape=(width,), dtype=np.float32)
        if cfg.actions == "signal":
            self.action_space: spaces.Space[Any] = spaces.Discrete(3)
        elif cfg.actions == "buckets":
            self.action_space = spaces.Discrete(len(cfg.buckets))
        else:
            self.action_space = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
        self.account = Account(n, cfg.backtest)
        self._target = np.zeros(n)
        self._t = self.start
        self._stop = self.end
        self._peak = 0.0
        self._a = 0.0
        self._b = 0.0

    # -- the agent's view ------------------------------------------------------------------------

    def observation(self, t: int) -> NDArray[np.float32]:
        """Features of bars ``t - window + 1 .. t`` and the account at ``t``'s close."""
        equity = self.account.equity
        if equity > 0:
            weights = self.account.held * self.market.close[t] / equity
            cash = self.account.cash / equity
        else:
            weights, cash = np.zeros(self.n_symbols), 0.0
        return observe(self.market, self.config.window, t, weights, cash)

    def target(self, action: Any) -> Array:
        """The weights an action asks for (the equal-weight basket for the discrete kinds)."""
        cfg = self.config
        n = self.n_symbols
        if cfg.actions == "continuous":
            w = np.clip(np.asarray(action, dtype=np.float64).reshape(n), 0.0, 1.0)
            gross = float(w.sum())
            return w / gross if gross > 1.0 else w
        a = int(np.asarray(action).reshape(()))
        if not self.action_space.contains(a):
            raise ValueError(f"action {a} is outside {self.action_space}")
        if cfg.actions == "signal":
            if a == 0:
                return self._target.copy()
            return np.full(n, 1.0 / n) if a == 1 else np.zeros(n)
        return np.full(n, cfg.buckets[a] / n)

    # -- gymnasium -------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        cfg = self.config
        span = self.end - self.start
        if self.random_start and span > cfg.episode_bars:
            t0 = self.start + int(self.np_random.integers(0, span - cfg.episode_bars + 1))
            self._stop = t0 + cfg.episode_bars
        else:
            t0, self._stop = self.start, self.end
        self._t = t0
        self.account.reset()
        self._target = np.zeros(self.n_symbols)
        self._peak = self.account.equity
        self._a = self._b = 0.0
        return self.observation(t0), {"bar": t0}

    def step(self, action: Any) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        if self._t >= self._stop:
            raise RuntimeError("step() after the episode ended: call reset()")
        target = self.target(action)
        before = self.account.equity
        t = self._t + 1
        equity, cost = self.account.step(self.market.fill[t], self.market.close[t], target)
        self._target = target
        self._t = t
        reward = self._reward(before, equity)
        terminated = equity <= 0.0
        truncated = t >= self._stop and not terminated
        info = {"bar": t, "equity": equity, "cost": cost, "target": target}
        return self.observation(t), reward, terminated, truncated, info

    def _reward(self, before: float, after: float) -> float:
        cfg = self.config
        if after <= 0.0 or before <= 0.0:
            return -cfg.reward_scale
        log_r = math.log(after / before)
        if cfg.reward == "log_return":
            return cfg.reward_scale * log_r
        if cfg.reward == "drawdown":
            dd_before = 1.0 - before / self._peak
            self._peak = max(self._peak, after)
            dd_after = 1.0 - after / self._peak
            return cfg.reward_scale * (log_r - cfg.drawdown_penalty * max(dd_after - dd_before, 0.0))
        r = after / before - 1.0
        return differential_sharpe(self, r)


def differential_sharpe(env: TradingEnv, r: float) -> float:
    """Moody and Saffell (1998): ``D = (B dA - A dB / 2) / (B - A^2)^1.5`` from exponential
    moments ``A`` (mean) and ``B`` (second moment) of the returns, updated here with ``eta``."""
    eta = env.config.sharpe_eta
    a, b = env._a, env._b
    da, db = r - a, r * r - b
    var = b - a * a
    d = (b * da - 0.5 * a * db) / var**1.5 if var > 1e-12 else 0.0
    env._a = a + eta * da
    env._b = b + eta * db
    return float(np.clip(d, -CLIP, CLIP))


# -- ranges and vectorized forms ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Split:
    """Bar ranges: training episodes from ``[train_start, val_start)``, validation over
    ``[val_start, train_end]``; nothing after ``train_end`` is read while training."""

    train_start: int
    val_start: int
    train_end: int


def split(market: Market, train_end: date | str, validation: float = 0.2) -> Split:
    """The training and validation ranges for data up to ``train_end`` (inclusive)."""
    if not 0.0 <= validation < 1.0:
        raise ValueError(f"validation must be a share in [0, 1), got {validation}")
    end = market.index(train_end) - 1
    if end < market.first + 2:
        raise ValueError(
            f"no data to train on up to {train_end}: the data starts {market.date_at(0)} "
            f"and its features are defined from {market.date_at(min(market.first, len(market) - 1))}"
        )
    span = end - market.first
    val_start = end - int(span * validation) if validation > 0 else end
    return Split(market.first, val_start, end)


def make_env_fn(
    market: Market, config: EnvConfig, start: int, end: int, random_start: bool = True
) -> Callable[[], TradingEnv]:
    def make() -> TradingEnv:
        return TradingEnv(market, config, start, end, random_start)

    return make


def make_vec_env(
    market: Market,
    config: EnvConfig,
    start: int,
    end: int,
    n_envs: int = 4,
    seed: int = 0,
    processes: bool = False,
) -> Any:
    """``n_envs`` environments stepped together (an SB3 VecEnv): in this process (the default:
    a step is microseconds, so worker processes cost more in pickling than they save) or one
    process each (``processes=True``, for slow rewards or many symbols)."""
    from stable_baselines3.common.vec_env import SubprocVecEnv

    fns = [make_env_fn(market, config, start, end) for _ in range(n_envs)]
    vec = SubprocVecEnv(fns) if processes else _in_process_vec_env(fns)  # type: ignore[arg-type]
    vec.seed(seed)
    return vec


def _in_process_vec_env(fns: list[Callable[[], TradingEnv]]) -> Any:
    """SB3's ``DummyVecEnv`` without its per-step deep copy of every info (each holds the target
    array): the infos are new dicts each step here, so nothing is shared to copy. Measured 1.3x
    the env steps per second of ``DummyVecEnv`` at 8 and 32 environments."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    class TradingVecEnv(DummyVecEnv):
        def step_wait(self) -> Any:
            envs = self.envs
            obs = np.empty((self.num_envs, *self.observation_space.shape), dtype=np.float32)  # type: ignore[misc]
            infos: list[dict[str, Any]] = []
            for i in range(self.num_envs):
                o, reward, terminated, truncated, info = envs[i].step(self.actions[i])
                done = terminated or truncated
                self.buf_rews[i] = reward
                self.buf_dones[i] = done
                info["TimeLimit.truncated"] = truncated and not terminated
                if done:
                    info["terminal_observation"] = o
                    o, self.reset_infos[i] = envs[i].reset()
                obs[i] = o
                infos.append(info)
            self.buf_infos = infos
            return obs, self.buf_rews.copy(), self.buf_dones.copy(), infos

    return TradingVecEnv(fns)  # type: ignore[arg-type]


# -- synthetic markets (tests, benchmarks) ---------------------------------------------------------


def synthetic_panel(
    n_bars: int = 800,
    seed: int = 0,
    drift: float = 0.01,
    noise: float = 0.002,
    stay: float = 0.95,
    symbols: Sequence[str] = ("SYN",),
) -> Panel:
    """Symbols whose daily return is ``+drift`` or ``-drift`` by a persistent hidden regime
    (kept with probability ``stay``) plus small noise, each opening at its previous close.

    The regime shows in the last return, so the optimal policy is known: long after an up day,
    flat after a down day. It earns about ``drift`` on every day but the regime changes."""
    from engine.strategies.templates.base import Bars

    rng = np.random.default_rng(seed)
    dates = np.busday_offset("2010-01-04", np.arange(n_bars), roll="forward").astype("datetime64[D]")
    out = {}
    for sym in symbols:
        flips = rng.random(n_bars) > stay
        regime = np.where(np.cumsum(flips) % 2 == 0, 1.0, -1.0)
        r = drift * regime + noise * rng.standard_normal(n_bars)
        close = 100.0 * np.exp(np.cumsum(r))
        open_ = np.concatenate([[100.0], close[:-1]])
        high = np.maximum(open_, close) * 1.001
        low = np.minimum(open_, close) * 0.999
        out[sym] = Bars(sym, dates, open_, high, low, close, np.full(n_bars, 1e6))
    return out


def env_config_dict(config: EnvConfig) -> dict[str, Any]:
    """``config`` as plain JSON-able data (a model's meta.json keeps it to rebuild the env)."""
    from dataclasses import asdict

    out = asdict(config)
    out["buckets"] = list(config.buckets)
    return out


def env_config(data: dict[str, Any]) -> EnvConfig:
    """The ``EnvConfig`` written by ``env_config_dict`` (unknown keys are an error, not ignored)."""
    from engine.research.backtest import Costs

    raw = dict(data)
    bt = dict(raw.pop("backtest", {}))
    costs = Costs(**bt.pop("costs", {}))
    raw["buckets"] = tuple(raw.get("buckets", EnvConfig().buckets))
    try:
        return EnvConfig(**raw, backtest=BacktestConfig(**bt, costs=costs))
    except TypeError as exc:
        raise ValueError(f"not an environment configuration: {exc}") from None


def cut_panel(panel: Panel, train_end: date) -> Panel:
    """The panel without any bar after ``train_end`` (so nothing later can leak in): what training,
    and each walk-forward fold's learner (``engine.rl.evaluate``), is allowed to see."""
    end = np.datetime64(train_end, "D")
    out = {}
    for sym, bars in panel.items():
        n = int(np.searchsorted(bars.dates, end, side="right"))
        if n:
            out[sym] = replace(
                bars,
                dates=bars.dates[:n],
                open=bars.open[:n],
                high=bars.high[:n],
                low=bars.low[:n],
                close=bars.close[:n],
                volume=bars.volume[:n],
            )
    if not out:
        raise ValueError(f"no bars on or before {train_end}")
    return out
