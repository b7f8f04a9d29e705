"""Monte Carlo simulation of a strategy's daily returns.

A backtest gives one path; what the operator needs to size risk is the spread of paths the same
strategy could plausibly have produced. Three generators resample the historical daily returns into
``n_paths`` x ``horizon`` arrays of returns, and :func:`summarize` turns them into percentiles of final
equity and of maximum drawdown plus the probability of ending below the start.

* :func:`bootstrap` draws days independently with replacement (iid): keeps the return distribution,
  fat tails included, but destroys any serial dependence (volatility clustering, trends).
* :func:`block_bootstrap` is a *circular* block bootstrap with a fixed block length (Politis & Romano):
  it strings together contiguous blocks of ``block`` days, wrapping around the end of the history, so
  dependence shorter than a block survives. Fixed blocks (not the stationary bootstrap's geometric
  lengths) keep it simple and fully vectorized.
* :func:`parametric` draws from a normal distribution with the sample mean and (ddof=1) standard
  deviation: a thin-tailed baseline to compare the resampling methods against.

Returns are *simple* daily returns (0.01 = +1%); equity compounds as ``prod(1 + r)``. All randomness
comes from a :class:`numpy.random.Generator` built from the ``seed`` argument, never from global state,
so a result can be reproduced exactly from its seed. Everything is vectorized numpy: the default
10,000 paths x 252 days is a few tens of milliseconds.

:func:`simulate` fans large runs out over an ``Executor`` in chunks of :data:`CHUNK_PATHS` paths
(a cluster can then hold millions of paths): chunk 0 draws from ``seed`` itself and chunk ``i`` from
``SeedSequence(seed, spawn_key=(i,))``, so the chunks are independent streams fixed by their index,
the result is the same on every backend and worker count, and a run of at most one chunk equals the
unchunked generators above draw for draw. Workers return each path's final equity and drawdown only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from engine.research.executor import Executor

FloatArray = npt.NDArray[np.float64]

DEFAULT_N_PATHS = 10_000
DEFAULT_HORIZON = 252
DEFAULT_BLOCK = 20
CHUNK_PATHS = 2_500
"""Paths per executor task in :func:`simulate` (about 5 MB of returns at 252 sessions)."""
METHODS: tuple[str, ...] = ("bootstrap", "block", "parametric")
PERCENTILES: tuple[int, ...] = (5, 25, 50, 75, 95)


@dataclass(frozen=True, slots=True)
class Percentiles:
    """The 5th, 25th, 50th, 75th and 95th percentiles of a simulated quantity."""

    p5: float
    p25: float
    p50: float
    p75: float
    p95: float

    @classmethod
    def of(cls, values: FloatArray) -> Self:
        """Percentiles of ``values`` (linear interpolation, numpy's default)."""
        p5, p25, p50, p75, p95 = (float(v) for v in np.percentile(values, PERCENTILES))
        return cls(p5=p5, p25=p25, p50=p50, p75=p75, p95=p95)


@dataclass(frozen=True, slots=True)
class MonteCarloSummary:
    """What a set of simulated paths says about risk.

    ``max_drawdown`` is a positive fraction of the running peak (0.25 = 25% below the peak), measured
    from ``start_equity`` so a path that only falls still shows its drawdown. ``prob_loss`` is the
    fraction of paths whose final equity is strictly below ``start_equity``.
    """

    n_paths: int
    horizon: int
    start_equity: float
    final_equity: Percentiles
    max_drawdown: Percentiles
    mean_final_equity: float
    prob_loss: float


def _generator(seed: int | np.random.SeedSequence) -> np.random.Generator:
    return np.random.default_rng(seed)


def _validate_returns(returns: npt.ArrayLike) -> FloatArray:
    """Historical returns as a clean 1-D float array; fail loudly rather than simulate garbage."""
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"returns must be 1-D daily returns, got shape {arr.shape}")
    if arr.size < 2:
        raise ValueError("returns needs at least 2 observations")
    if not np.all(np.isfinite(arr)):
        raise ValueError("returns contains NaN or infinite values")
    if np.any(arr <= -1.0):
        raise ValueError("returns are simple returns and must be > -1 (a -100% day ends the path)")
    return arr


def _validate_shape(n_paths: int, horizon: int) -> None:
    if n_paths < 1:
        raise ValueError(f"n_paths must be >= 1, got {n_paths}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")


def bootstrap(
    returns: npt.ArrayLike,
    n_paths: int = DEFAULT_N_PATHS,
    horizon: int = DEFAULT_HORIZON,
    *,
    seed: int | np.random.SeedSequence,
) -> FloatArray:
    """IID bootstrap: ``[n_paths, horizon]`` returns, each day drawn with replacement from history."""
    arr = _validate_returns(returns)
    _validate_shape(n_paths, horizon)
    rng = _generator(seed)
    idx = rng.integers(0, arr.size, size=(n_paths, horizon))
    return arr[idx]


def block_bootstrap(
    returns: npt.ArrayLike,
    n_paths: int = DEFAULT_N_PATHS,
    horizon: int = DEFAULT_HORIZON,
    block: int = DEFAULT_BLOCK,
    *,
    seed: int | np.random.SeedSequence,
) -> FloatArray:
    """Circular block bootstrap with fixed blocks of ``block`` days: ``[n_paths, horizon]`` returns.

    Each path is a chain of blocks starting at uniformly random days; a block running past the last
    day wraps to the first (circular), so every day is equally likely to be drawn. The last block is
    truncated to fit ``horizon``. ``block=1`` is the iid bootstrap.
    """
    arr = _validate_returns(returns)
    _validate_shape(n_paths, horizon)
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    rng = _generator(seed)
    n_blocks = -(-horizon // block)
    starts = rng.integers(0, arr.size, size=(n_paths, n_blocks, 1))
    idx = (starts + np.arange(block)) % arr.size
    paths: FloatArray = arr[idx.reshape(n_paths, n_blocks * block)[:, :horizon]]
    return paths


def parametric(
    returns: npt.ArrayLike,
    n_paths: int = DEFAULT_N_PATHS,
    horizon: int = DEFAULT_HORIZON,
    *,
    seed: int | np.random.SeedSequence,
) -> FloatArray:
    """Normal returns with the sample mean and sample std (ddof=1): ``[n_paths, horizon]``.

    Thin-tailed by construction, so it understates crash risk next to the bootstraps; useful as the
    baseline that shows how much the real distribution's tails matter. Draws are not clipped, so a
    series with absurd volatility can produce a return at or below -100%.
    """
    arr = _validate_returns(returns)
    _validate_shape(n_paths, horizon)
    rng = _generator(seed)
    return rng.normal(float(arr.mean()), float(arr.std(ddof=1)), size=(n_paths, horizon))


def equity_paths(paths: npt.ArrayLike, start_equity: float = 1.0) -> FloatArray:
    """Compounded equity after each day of each path: ``start_equity * cumprod(1 + r)``."""
    arr = np.asarray(paths, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"paths must be [n_paths, horizon], got shape {arr.shape}")
    equity: FloatArray = start_equity * np.cumprod(1.0 + arr, axis=1, dtype=np.float64)
    return equity


def max_drawdowns(equity: FloatArray, start_equity: float = 1.0) -> FloatArray:
    """Largest peak-to-trough fall of each equity path, as a positive fraction of the peak.

    The start equity counts as the first peak, so a path that falls from day one is not reported as
    drawdown-free.
    """
    peaks = np.maximum(np.maximum.accumulate(equity, axis=1), start_equity)
    drawdowns: FloatArray = np.max(1.0 - equity / peaks, axis=1)
    return drawdowns


def summarize(paths: npt.ArrayLike, start_equity: float = 1.0) -> MonteCarloSummary:
    """Percentiles of final equity and max drawdown, and the probability of a loss, over all paths."""
    if start_equity <= 0:
        raise ValueError(f"start_equity must be > 0, got {start_equity}")
    equity = equity_paths(paths, start_equity)
    final = equity[:, -1]
    drawdowns = max_drawdowns(equity, start_equity)
    return MonteCarloSummary(
        n_paths=int(equity.shape[0]),
        horizon=int(equity.shape[1]),
        start_equity=float(start_equity),
        final_equity=Percentiles.of(final),
        max_drawdown=Percentiles.of(drawdowns),
        mean_final_equity=float(final.mean()),
        prob_loss=float(np.mean(final < start_equity)),
    )


@dataclass(frozen=True, slots=True)
class _Chunk:
    """One executor task of :func:`simulate`: how many paths, and the chunk's own seed."""

    paths: int
    seed: int | np.random.SeedSequence


@dataclass(frozen=True, slots=True)
class _Spec:
    """What every chunk shares (sent to each worker once): the history and the generator."""

    returns: FloatArray
    method: str
    horizon: int
    block: int
    start_equity: float


def _run_chunk(spec: _Spec, chunk: _Chunk) -> tuple[FloatArray, FloatArray]:
    """Each path's final equity and max drawdown (module level, so workers import it by name)."""
    if spec.method == "bootstrap":
        sims = bootstrap(spec.returns, chunk.paths, spec.horizon, seed=chunk.seed)
    elif spec.method == "block":
        sims = block_bootstrap(spec.returns, chunk.paths, spec.horizon, spec.block, seed=chunk.seed)
    else:
        sims = parametric(spec.returns, chunk.paths, spec.horizon, seed=chunk.seed)
    equity = equity_paths(sims, spec.start_equity)
    final: FloatArray = equity[:, -1].copy()
    return final, max_drawdowns(equity, spec.start_equity)


def chunk_seeds(seed: int, n_chunks: int) -> list[int | np.random.SeedSequence]:
    """Chunk 0 draws from ``seed`` (as the single-shot generators do); chunk i from its own
    spawned sequence, fixed by the index alone."""
    return [seed if i == 0 else np.random.SeedSequence(seed, spawn_key=(i,)) for i in range(n_chunks)]


def simulate(
    returns: npt.ArrayLike,
    method: str = "bootstrap",
    n_paths: int = DEFAULT_N_PATHS,
    horizon: int = DEFAULT_HORIZON,
    block: int = DEFAULT_BLOCK,
    *,
    seed: int,
    start_equity: float = 1.0,
    executor: Executor | None = None,
) -> MonteCarloSummary:
    """``n_paths`` simulated paths by ``method`` (bootstrap, block or parametric), summarized; the
    paths are drawn in chunks of :data:`CHUNK_PATHS` on ``executor`` (serially without one)."""
    from engine.research.executor import SerialExecutor

    if method not in METHODS:
        raise ValueError(f"unknown Monte Carlo method {method!r}; expected one of {', '.join(METHODS)}")
    arr = _validate_returns(returns)
    _validate_shape(n_paths, horizon)
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    if start_equity <= 0:
        raise ValueError(f"start_equity must be > 0, got {start_equity}")
    sizes = [min(CHUNK_PATHS, n_paths - i) for i in range(0, n_paths, CHUNK_PATHS)]
    chunks = [_Chunk(n, s) for n, s in zip(sizes, chunk_seeds(seed, len(sizes)), strict=True)]
    runner = executor if executor is not None else SerialExecutor()
    parts = runner.map_shared(_run_chunk, _Spec(arr, method, horizon, block, float(start_equity)), chunks)
    final = np.concatenate([p[0] for p in parts])
    drawdowns = np.concatenate([p[1] for p in parts])
    return MonteCarloSummary(
        n_paths=n_paths,
        horizon=horizon,
        start_equity=float(start_equity),
        final_equity=Percentiles.of(final),
        max_drawdown=Percentiles.of(drawdowns),
        mean_final_equity=float(final.mean()),
        prob_loss=float(np.mean(final < start_equity)),
    )
