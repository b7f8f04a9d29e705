"""Permutation (1,000 runs) on serial, a process pool and a Dask LocalCluster of 1 and 2 workers.

Run with ``python -m tests.bench.dask_research``. For each backend: the wall time of a 1,000-run
permutation test of ``trend`` on the shipped universe (40 tasks of 25 runs), and the per-task
overhead measured on 1,000 no-op tasks that each read the same shared returns matrix (what the
backend costs per task, whatever the task does). Every backend is started and warmed first (one
small permutation: worker imports and numba's cached kernels), as a session would be; the start
itself is printed apart. Every backend's null distribution is checked equal to the serial one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from engine.config import load_settings
from engine.research.executor import Executor, make_executor
from engine.research.runs import load_panel, run_permutation

RUNS = 1_000
NOOP_TASKS = 1_000


def _noop(shared: object, i: int) -> int:
    """A task that does nothing but reach the shared data: the backend's cost per task."""
    return i if shared is not None else -1


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    panel = load_panel(load_settings())
    print(
        f"dask research: permutation of trend, {RUNS} runs, on the shipped universe "
        f"({', '.join(sorted(panel))})"
    )
    backends: list[tuple[str, Callable[[], Executor]]] = [
        ("serial", lambda: make_executor("serial")),
        ("process pool, 2", lambda: make_executor("process", 2)),
        ("LocalCluster, 1 worker", lambda: make_executor("dask", 1, scheduler="local")),
        ("LocalCluster, 2 workers", lambda: make_executor("dask", 2, scheduler="local")),
    ]
    reference: np.ndarray | None = None
    shared = np.zeros((2_147, 25))  # the shape of the shipped universe's day matrix
    for label, build in backends:
        start, executor = _timed(build)
        try:
            warm, _ = _timed(lambda e=executor: run_permutation("trend", panel, runs=4, seed=1, executor=e))
            wall, result = _timed(
                lambda e=executor: run_permutation("trend", panel, runs=RUNS, seed=7, executor=e)
            )
            noop, _ = _timed(lambda e=executor: e.map_shared(_noop, shared, range(NOOP_TASKS)))
        finally:
            executor.close()
        null = result.null  # type: ignore[attr-defined]
        if reference is None:
            reference = null
        same = np.array_equal(null, reference, equal_nan=True)
        print(
            f"  {label:<24} {wall:6.2f} s ({wall / RUNS * 1e3:5.2f} ms/run)  "
            f"per-task overhead {noop / NOOP_TASKS * 1e3:6.3f} ms  "
            f"start+warm {start + warm:5.2f} s  same as serial: {same}"
        )


if __name__ == "__main__":
    main()
