"""Research fan-out on a Dask cluster (``distributed``): one more :class:`~engine.research.executor.Executor`.

Why Dask: a trader with a few machines (or one large one) gets a permutation test of thousands of
runs, or a walk-forward over a large grid, spread over every core they have, with the same answer a
laptop gives serially. The research code does not change: it calls ``map`` and ``map_shared``.

* ``scheduler="local"`` starts a ``LocalCluster`` of ``workers`` processes (one thread each: the
  backtests are numba/numpy and hold the GIL between kernels) on this machine and stops it on
  :meth:`DaskExecutor.close`.
* ``scheduler="tcp://HOST:PORT"`` (or ``tls://``) attaches to a running ``dask scheduler``; its
  workers must have onetap installed at the same version (they import the research functions by
  name, as a process pool does). An address that does not answer within ``timeout_s`` raises
  :class:`SchedulerUnreachable` naming the address, instead of Dask's retry loop and traceback.

Data every task reads is scattered once (``client.scatter(..., broadcast=True)``) and the tasks
take its future, so a 1,000-run permutation ships the returns matrix to each worker once rather than
with each of its 40 batches. The scattered future is kept for later calls with the same object (the
permutation test's progress waves call ``map_shared`` several times with one matrix).

``distributed`` is imported here only, and this module only from ``make_executor``, so the console
and the engine never import Dask unless a research command asks for it.

Security: Dask's ``tcp://`` is unauthenticated and unencrypted; anyone who reaches the scheduler's
port can run code on the workers. Run it inside a private network, or use ``tls://`` with Dask's
security settings (README, "Research on a Dask cluster").
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from engine.config import scheduler_address

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")

_KEEP_SHARED = 4
"""Scattered objects kept on the workers at once; older ones are released first."""


@contextmanager
def _stderr_with_a_descriptor() -> Iterator[None]:
    """Starting worker processes, multiprocessing's resource tracker hands its child
    ``sys.stderr.fileno()``; inside a Textual app (the console's research screen) that is -1,
    Textual's print capture, and the start fails ("bad value(s) in fds_to_keep"). Where stderr
    has no descriptor the cluster starts with it on the null device (the workers' stderr
    would only have drawn over the screen)."""
    try:
        usable = sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):  # no fileno at all: multiprocessing skips it
        usable = True
    if usable:
        yield
        return
    saved = sys.stderr
    with Path(os.devnull).open("w") as null:
        sys.stderr = null
        try:
            yield
        finally:
            sys.stderr = saved


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answered at the configured address within the timeout."""


class DaskExecutor:
    """Runs tasks on a Dask cluster; results come back in the order of the items.

    The client (and, for ``"local"``, the cluster) is started lazily on the first call, so building
    the executor costs nothing and a bad address fails where the work starts, with its name.
    """

    def __init__(self, scheduler: str = "local", *, workers: int = 2, timeout_s: float = 10.0) -> None:
        self.scheduler = scheduler_address(scheduler)
        if not self.scheduler:
            raise ValueError('a Dask executor needs a scheduler: "local" or tcp://HOST:PORT')
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.workers = workers
        self.timeout_s = timeout_s
        self.scatters = 0
        """How many objects were scattered to the workers (each once, broadcast to all)."""
        # distributed ships no complete type information: its objects are held as Any
        self._client: Any = None
        self._cluster: Any = None
        self._shared: list[tuple[object, Any]] = []

    # ------------------------------------------------------------------ connection
    @property
    def client(self) -> Any:
        """The connected client, started on first use."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        distributed: Any = importlib.import_module("distributed")  # lazily: see the module docstring

        if self.scheduler == "local":
            with _stderr_with_a_descriptor():
                self._cluster = distributed.LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=40,  # logging.ERROR: a research command's output stays the tables
                )
                return distributed.Client(self._cluster)
        try:
            return distributed.Client(self.scheduler, timeout=self.timeout_s)
        except (OSError, TimeoutError) as exc:
            raise SchedulerUnreachable(
                f"no Dask scheduler answered at {self.scheduler} within {self.timeout_s:g} s "
                f"(is `dask scheduler` running there, and its port open to this machine?): {exc}"
            ) from None

    def worker_count(self) -> int:
        """Workers the scheduler knows now (for reports)."""
        return len(self.client.scheduler_info().get("workers", {}))

    # ------------------------------------------------------------------ work
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Apply ``fn`` to every item on the cluster; a task's exception is re-raised here."""
        materialized = list(items)
        if not materialized:
            return []
        futures = self.client.map(fn, materialized, pure=False)
        return list(self.client.gather(futures))

    def map_shared(self, fn: Callable[[S, T], R], shared: S, items: Iterable[T]) -> list[R]:
        """``fn(shared, item)`` for every item, ``shared`` scattered to every worker once."""
        materialized = list(items)
        if not materialized:
            return []
        handle = self._scattered(shared)
        futures = self.client.map(fn, [handle] * len(materialized), materialized, pure=False)
        return list(self.client.gather(futures))

    def _scattered(self, shared: object) -> Any:
        for obj, future in self._shared:
            if obj is shared:
                return future
        [future] = self.client.scatter([shared], broadcast=True, hash=False)
        self.scatters += 1
        self._shared.append((shared, future))
        while len(self._shared) > _KEEP_SHARED:
            _obj, old = self._shared.pop(0)
            old.release()
        return future

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release scattered data, disconnect, and stop a local cluster; safe to call twice."""
        for _obj, future in self._shared:
            future.release()
        self._shared.clear()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
