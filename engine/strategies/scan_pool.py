"""Templates of one scan on a small pool of threads, started in their order.

A scan's templates are independent of one another (each reads the panel and writes its own track
record and candidates), and their hot loops are numba kernels that release the GIL (``nogil``),
so two of them overlap on two cores. What must not change is what the caller sees: the results in
the templates' order, and ``progress`` told ``(k, total, name)`` before template ``k`` starts, in
order, on whichever thread starts it, so that a ``progress`` that raises (the engine stopping)
stops any template from starting after it; the ones already running finish, and the error is
raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

R = TypeVar("R")

Progress = Callable[[int, int, str], None]


def run_in_order(
    tasks: Sequence[tuple[str, Callable[[], R]]], progress: Progress | None, workers: int
) -> list[R]:
    """Each ``(name, task)``'s result, in order; ``workers`` threads take the next task in turn
    (1: the caller's thread alone, one after another)."""
    results: dict[int, R] = {}
    lock = threading.Lock()
    state = {"next": 0, "failed": False}

    def take() -> int | None:
        with lock:
            k = state["next"]
            if state["failed"] or k >= len(tasks):
                return None
            state["next"] = k + 1
            try:
                if progress is not None:
                    progress(k, len(tasks), tasks[k][0])
            except BaseException:
                state["failed"] = True
                raise
            return int(k)

    def work() -> None:
        while (k := take()) is not None:
            try:
                results[k] = tasks[k][1]()
            except BaseException:
                with lock:
                    state["failed"] = True
                raise

    if workers <= 1 or len(tasks) <= 1:
        work()
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan") as pool:
            running = [pool.submit(work) for _ in range(min(workers, len(tasks)))]
        for f in running:  # every thread has ended: the first error, in thread order, is raised
            f.result()
    return [results[k] for k in range(len(tasks))]
