"""A scan's templates on a pool of threads: results and progress in the templates' order, and a
progress that raises stops any later template from starting."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from engine.strategies.scan_pool import run_in_order


class Stop(Exception):
    """Raised by a test job, to show the pool passes a job's own error through."""


def _tasks(n: int, ran: list[int]) -> list[tuple[str, Callable[[], int]]]:
    lock = threading.Lock()

    def task(k: int) -> int:
        with lock:
            ran.append(k)
        return k * k

    return [(f"t{k}", lambda k=k: task(k)) for k in range(n)]  # type: ignore[misc]


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_results_and_progress_come_in_the_tasks_order(workers: int) -> None:
    ran: list[int] = []
    seen: list[tuple[int, int, str]] = []
    out = run_in_order(_tasks(7, ran), lambda k, n, name: seen.append((k, n, name)), workers)
    assert out == [k * k for k in range(7)]
    assert seen == [(k, 7, f"t{k}") for k in range(7)]
    assert sorted(ran) == list(range(7))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_progress_that_raises_stops_later_tasks_from_starting(workers: int) -> None:
    ran: list[int] = []
    seen: list[int] = []

    def progress(k: int, _n: int, _name: str) -> None:
        seen.append(k)
        if k == 2:
            raise Stop

    with pytest.raises(Stop):
        run_in_order(_tasks(7, ran), progress, workers)
    assert seen == [0, 1, 2]
    assert sorted(ran) == [0, 1]  # the ones started finish; none after the refusal starts


def test_a_failing_task_raises_its_error_and_no_task_starts_after_it() -> None:
    ran: list[int] = []

    def boom() -> int:
        raise ValueError("template 1 failed")

    tasks = _tasks(5, ran)
    tasks[1] = ("t1", boom)
    with pytest.raises(ValueError, match="template 1 failed"):
        run_in_order(tasks, None, 1)
    assert ran == [0]
