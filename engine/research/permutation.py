"""Permutation test of a strategy against luck.

Question answered: could a statistic this good (Sharpe, total P&L, hit rate...) have come from the
same daily returns in a random order? Shuffling the days destroys every time structure a strategy
could exploit (trends, mean reversion, lead-lag) while keeping each day's returns, so the statistic
computed on many shuffles is its distribution under "no exploitable time structure". The days are
permuted *jointly*: all assets of day ``t`` move together to the same new position, so the
cross-section of each day (correlations, dispersion) is intact and only the time order is lost.

The p-value is ``(1 + #{null >= observed}) / (1 + n_runs)``: the observed ordering counts as one of
the equally likely orderings under the null (Phipson & Smyth 2010), which makes the test exact-valid
and keeps p above zero; the smallest reachable p is ``1 / (1 + n_runs)``. It is one-sided: larger
statistics are better.

Reproducibility does not depend on where the runs execute: run ``i`` uses its own generator spawned
from ``SeedSequence(seed)``, so :func:`joint_permutations` and :func:`permutation_test` produce the
same shuffles serially, on a process pool, or with any number of workers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.research.executor import Executor, SerialExecutor

FloatArray = npt.NDArray[np.float64]
StatisticFn = Callable[[FloatArray], float]

DEFAULT_N_RUNS = 200
# Runs per task sent to an executor: each task costs a round trip (and, on a local pool, a copy of
# the returns matrix), so batching keeps shipping costs small while several batches per worker still
# balance the load. A cluster gets the matrix once (``map_shared`` scatters it).
_BATCH_SIZE = 25


@dataclass(frozen=True, slots=True, eq=False)
class PermutationResult:
    """The observed statistic, its null distribution over permutations, and the one-sided p-value.

    ``null`` is a read-only array of the statistic on each permutation, in run order. Equality is
    identity (``eq=False``) because element-wise array comparison has no single truth value: compare
    ``null`` with ``numpy.array_equal`` instead.
    """

    observed: float
    null: FloatArray
    p_value: float


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every task reads: the statistic and the data (sent to each worker once)."""

    statistic_fn: StatisticFn
    returns: FloatArray


def _validate_matrix(returns_matrix: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(returns_matrix, dtype=np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(f"returns_matrix must be [T] or [T, assets], got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError("returns_matrix needs at least 2 days")
    return arr


def _run_seeds(seed: int, n: int) -> list[np.random.SeedSequence]:
    """One independent seed per run, identical whichever executor runs them."""
    return np.random.SeedSequence(seed).spawn(n)


def _permute(returns: FloatArray, seed: np.random.SeedSequence) -> FloatArray:
    """The rows (days) of ``returns`` in a random order; each row kept whole."""
    order = np.random.default_rng(seed).permutation(returns.shape[0])
    permuted: FloatArray = returns[order]
    return permuted


def _run_batch(shared: _Shared, seeds: tuple[np.random.SeedSequence, ...]) -> list[float]:
    """Module-level so process pools and Dask workers can import it by name (spawn-safe). The
    seeds are the runs' own (spawned by run index), so no worker state enters the result."""
    return [float(shared.statistic_fn(_permute(shared.returns, s))) for s in seeds]


def joint_permutations(returns_matrix: npt.ArrayLike, n: int, seed: int) -> FloatArray:
    """``n`` copies of ``returns_matrix`` with its rows (days) jointly permuted: shape ``[n, T, ...]``.

    Materializes all copies (``n * T * assets`` floats), which is meant for inspection and tests;
    :func:`permutation_test` generates the same permutations one at a time instead.
    """
    arr = _validate_matrix(returns_matrix)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return np.stack([_permute(arr, s) for s in _run_seeds(seed, n)])


def p_value(observed: float, null: FloatArray) -> float:
    """One-sided permutation p-value ``(1 + #{null >= observed}) / (1 + len(null))``.

    NaNs are resolved conservatively: a NaN null value counts as beating the observed one, and a NaN
    observed statistic gets p = 1, so an undefined statistic can never look significant.
    """
    if np.isnan(observed):
        return 1.0
    exceed = np.count_nonzero((null >= observed) | np.isnan(null))
    return float((1 + exceed) / (1 + null.size))


_PROGRESS_WAVE = 2
"""Batches per wave when progress is reported: enough to keep two workers busy."""


def permutation_test(
    statistic_fn: StatisticFn,
    returns_matrix: npt.ArrayLike,
    n_runs: int = DEFAULT_N_RUNS,
    *,
    seed: int,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PermutationResult:
    """Test ``statistic_fn`` on the real day order against ``n_runs`` joint permutations of the days.

    ``statistic_fn`` maps a returns matrix of the input's shape to a float, larger meaning better (for
    example the Sharpe ratio of a momentum rule applied to it). With an ``executor`` the runs fan out
    in batches through ``executor.map``; for a process or Dask executor the function
    must then be picklable: a module-level function, a ``functools.partial`` of one, or an instance
    of a module-level class, never a lambda or closure. Without one the runs execute serially in
    process. The result is identical either way for the same ``seed``. ``progress(done, n_runs)``
    is called as waves of batches finish (the waves change nothing in the result).
    """
    arr = _validate_matrix(returns_matrix)
    if n_runs < 1:
        raise ValueError(f"n_runs must be >= 1, got {n_runs}")
    observed = float(statistic_fn(arr))
    seeds = _run_seeds(seed, n_runs)
    shared = _Shared(statistic_fn, arr)
    batches = [tuple(seeds[i : i + _BATCH_SIZE]) for i in range(0, n_runs, _BATCH_SIZE)]
    runner: Executor = executor if executor is not None else SerialExecutor()
    wave = len(batches) if progress is None else _PROGRESS_WAVE
    values: list[float] = []
    for start in range(0, len(batches), wave):
        values.extend(
            v for batch in runner.map_shared(_run_batch, shared, batches[start : start + wave]) for v in batch
        )
        if progress is not None:
            progress(len(values), n_runs)
    null = np.array(values, dtype=np.float64)
    null.flags.writeable = False
    return PermutationResult(observed=observed, null=null, p_value=p_value(observed, null))
