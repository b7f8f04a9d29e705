"""The executor contract: same answers, same order, same errors, whichever backend runs the work."""

from __future__ import annotations

import pytest

from engine.research.executor import (
    Executor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)


# Module-level so a process pool (spawn included) can import them by name.
def _square_plus(x: int) -> int:
    return x * x + 1


def _fail_on_seven(x: int) -> int:
    if x == 7:
        raise ValueError(f"task {x} failed on purpose")
    return x


def test_make_executor_kinds() -> None:
    serial = make_executor("serial", 4)
    process = make_executor("process", 2)
    assert isinstance(serial, SerialExecutor)
    assert isinstance(process, ProcessExecutor)
    assert process.workers == 2
    assert isinstance(serial, Executor)
    assert isinstance(process, Executor)
    serial.close()
    process.close()


def test_unknown_kind_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'ray'.*serial, process, dask"):
        make_executor("ray", 2)


def test_invalid_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        ProcessExecutor(0)


def test_serial_and_process_agree_in_order() -> None:
    items = list(range(50, 0, -1))
    expected = [_square_plus(i) for i in items]
    with SerialExecutor() as serial, ProcessExecutor(2) as process:
        assert serial.map(_square_plus, items) == expected
        assert process.map(_square_plus, items) == expected
        # The pool is reused across calls and still keeps order.
        assert process.map(_square_plus, iter(items[:7])) == expected[:7]
        assert process.map(_square_plus, []) == []


def test_process_executor_under_spawn() -> None:
    with ProcessExecutor(2, start_method="spawn") as process:
        assert process.map(_square_plus, [3, 1, 2]) == [10, 2, 5]


@pytest.mark.parametrize("kind", ["serial", "process"])
def test_task_error_propagates_with_its_message(kind: str) -> None:
    executor = make_executor(kind, 2)
    try:
        with pytest.raises(ValueError, match="task 7 failed on purpose"):
            executor.map(_fail_on_seven, range(10))
    finally:
        executor.close()


def test_close_is_idempotent_and_pool_restarts() -> None:
    process = ProcessExecutor(1)
    assert process.map(_square_plus, [2]) == [5]
    process.close()
    process.close()
    assert process.map(_square_plus, [3]) == [10]
    process.close()
