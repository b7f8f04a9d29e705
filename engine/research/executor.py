"""One small executor interface for research fan-out.

Research code (permutation tests, parameter sweeps, Monte Carlo batches) calls ``executor.map(fn, items)``
or ``executor.map_shared(fn, shared, items)`` and never learns where the work runs: in-process
(:class:`SerialExecutor`), a local process pool (:class:`ProcessExecutor`), or a Dask cluster
(``engine.research.dask_executor.DaskExecutor``: a scheduler on other machines, or a ``LocalCluster``),
chosen by configuration in :func:`make_executor`, without touching any research code.

``map_shared`` exists for the data every task reads (the returns matrix of a permutation test, the
panel of a walk-forward): a cluster sends it to each worker once and the tasks reference it there,
instead of shipping a copy with every task. The same seeds give the same results on every backend
because each task's seed is derived from its index by the caller, never from worker state.

Spawn safety: :class:`ProcessExecutor` ships ``fn`` and every item to worker processes by pickling.
Under the ``spawn`` start method (the default on macOS and Windows, and what Dask/Ray effectively
require too) workers re-import ``fn`` by its qualified name, so ``fn`` must be a module-level function
(or a ``functools.partial`` of one, or an instance of a module-level class): no lambdas, no closures,
no functions defined inside a test body. Items and results must be picklable as well. The serial
executor accepts anything, which is why code that works serially may still fail on a pool: test the
real path with :class:`ProcessExecutor` when you rely on it.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from engine.config import ResearchSettings

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")

EXECUTOR_KINDS: tuple[str, ...] = ("serial", "process", "dask")


@runtime_checkable
class Executor(Protocol):
    """Maps a function over items, somewhere; results come back in the order of the items.

    Order is part of the contract so callers can zip results with inputs (seeds, parameters) and get
    the same answer whatever the backend and however many workers. An exception raised by a task is
    re-raised by ``map`` in the caller, with its original type and message.
    """

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Apply ``fn`` to every item; return the results in the order of ``items``."""
        ...

    def map_shared(self, fn: Callable[[S, T], R], shared: S, items: Iterable[T]) -> list[R]:
        """``[fn(shared, item) for item in items]``, with ``shared`` sent to each worker at most once
        per executor (a cluster keeps it there for later calls with the same object)."""
        ...

    def close(self) -> None:
        """Release workers; safe to call more than once."""
        ...


class SerialExecutor:
    """Runs every task in the calling process, one after the other.

    The reference backend: no pickling, no start-up cost, exact tracebacks. The right choice for small
    jobs, for debugging, and for CI machines with one or two cores.
    """

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Apply ``fn`` to every item in order."""
        return [fn(item) for item in items]

    def map_shared(self, fn: Callable[[S, T], R], shared: S, items: Iterable[T]) -> list[R]:
        """Apply ``fn(shared, item)`` to every item in order; nothing is copied."""
        return [fn(shared, item) for item in items]

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ProcessExecutor:
    """Runs tasks on a local :class:`concurrent.futures.ProcessPoolExecutor`.

    ``fn`` must be a module-level (importable, picklable) callable and items and results picklable:
    see the module docstring. The pool is created lazily on the first ``map`` and reused by later
    calls, because starting worker processes (especially with ``spawn``) costs far more than a small
    task; call :meth:`close` (or use the executor as a context manager) to stop the workers.

    ``chunksize`` batches items per round trip; the default picks about four chunks per worker so
    many tiny tasks do not drown in inter-process overhead while the load still balances.
    ``start_method`` (``"spawn"``, ``"fork"``, ``"forkserver"``) overrides the platform default; tests
    use ``"spawn"`` to prove the code would also run where fork is unavailable.
    """

    def __init__(self, workers: int, chunksize: int | None = None, start_method: str | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if chunksize is not None and chunksize < 1:
            raise ValueError(f"chunksize must be >= 1, got {chunksize}")
        self.workers = workers
        self.chunksize = chunksize
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Apply ``fn`` to every item on the pool; results in the order of ``items``.

        ``ProcessPoolExecutor.map`` already yields in input order and re-raises a task's exception
        (pickled back with its type and message) when its result is reached.
        """
        materialized = list(items)
        if not materialized:
            return []
        if self._pool is None:
            context = multiprocessing.get_context(self.start_method)
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        chunksize = self.chunksize or max(1, len(materialized) // (self.workers * 4))
        return list(self._pool.map(fn, materialized, chunksize=chunksize))

    def map_shared(self, fn: Callable[[S, T], R], shared: S, items: Iterable[T]) -> list[R]:
        """``fn(shared, item)`` on the pool. A local pool pickles ``shared`` with each chunk (a few
        per worker, see ``chunksize``), which is cheap on one machine; a cluster scatters it once."""
        return self.map(partial(fn, shared), items)

    def close(self) -> None:
        """Shut the pool down and wait for its workers; a later ``map`` starts a fresh pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def make_executor(
    kind: str, workers: int = 1, *, scheduler: str = "local", timeout_s: float = 10.0
) -> Executor:
    """Build an executor from configuration: ``"serial"``, ``"process"`` or ``"dask"``.

    This is the single place that knows the backends. ``workers`` is ignored by the serial executor
    and by a Dask executor attached to a remote ``scheduler`` (``tcp://HOST:PORT``: the cluster has
    the workers it has); with ``scheduler="local"`` it is the number of ``LocalCluster`` worker
    processes. Dask is imported only here, lazily, so nothing else pays for it.
    """
    if kind == "serial":
        return SerialExecutor()
    if kind == "process":
        return ProcessExecutor(workers)
    if kind == "dask":
        from engine.research.dask_executor import DaskExecutor

        return DaskExecutor(scheduler, workers=workers, timeout_s=timeout_s)
    raise ValueError(f"unknown executor kind {kind!r}; choose one of {', '.join(EXECUTOR_KINDS)}")


def configured_executor(
    research: ResearchSettings, *, workers: int | None = None, scheduler: str | None = None
) -> tuple[Executor, str]:
    """The executor a research run fans out on, and where that is in words: Dask when a scheduler
    is given (``scheduler``, else ``[research] scheduler``; ``research.workers`` processes for a
    local cluster unless ``workers`` says), else a process pool of ``workers`` (more than one),
    else this process. The one rule for the CLI and the console's research screen."""
    from engine.config import scheduler_address

    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    chosen = research.scheduler if scheduler is None else scheduler_address(scheduler)
    if chosen:
        n = workers or research.workers
        where = f"a local Dask cluster of {n} workers" if chosen == "local" else f"Dask at {chosen}"
        return make_executor("dask", n, scheduler=chosen, timeout_s=research.connect_timeout_s), where
    n = workers or 1
    if n > 1:
        return make_executor("process", n), f"a process pool of {n}"
    return make_executor("serial"), "this process"
