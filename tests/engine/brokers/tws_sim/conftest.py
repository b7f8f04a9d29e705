"""A simulator on its own thread and loop, and real ib_insync clients connected to it over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import pandas as pd
import pytest
from ib_insync import IB

from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator, run_in_thread
from engine.clock import FixedClock

T0 = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
Connect = Callable[..., IB]


@pytest.fixture(autouse=True)
def main_thread_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop for ib_insync's blocking API on the main thread.

    ib_insync asks asyncio for the thread's current loop; after an async test (pytest-asyncio
    closes its loop and leaves none set) there is none, and every blocking call would fail.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Override with ``@pytest.mark.parametrize("sim_config", [...])``."""
    return SimulatorConfig()


@pytest.fixture
def sim(
    sim_config: SimulatorConfig, shipped_bars: Mapping[str, pd.DataFrame], clock: FixedClock
) -> TwsSimulator:
    return TwsSimulator(sim_config, bars=shipped_bars, clock=clock.now)


@pytest.fixture
def port(sim: TwsSimulator) -> Iterator[int]:
    with run_in_thread(sim) as bound:
        yield bound


@pytest.fixture
def connect(port: int) -> Iterator[Connect]:
    """``connect(client_id=1)`` -> a connected IB; every one is disconnected after the test."""
    made: list[IB] = []

    def make(client_id: int = 1, timeout: float = 2.0) -> IB:
        ib = IB()  # type: ignore[no-untyped-call]
        ib.client.MaxRequests = 0
        made.append(ib)
        ib.connect("127.0.0.1", port, clientId=client_id, timeout=timeout)
        return ib

    yield make
    for ib in made:
        ib.disconnect()  # type: ignore[no-untyped-call]


@pytest.fixture
def ib(connect: Connect) -> IB:
    return connect(1)


def wait_for(ib: IB, predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Let ib_insync process messages until ``predicate()`` holds; False after ``timeout``.

    A blocking ib_insync call that is running when the socket drops raises ConnectionError
    (notes gotcha 8); that is expected around fault tests, so it only ends one sleep.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        with contextlib.suppress(ConnectionError):
            ib.sleep(0.01)
    return True


def barrier(ib: IB) -> None:
    """A round trip through the simulator: when it returns, ``ib`` has handled every message the
    simulator sent before answering, and the simulator has handled every request sent before it.

    The simulator answers requests in order on one connection and writes the ticks and order
    updates a quote change causes before it returns from ``set_quote``; so after this, "nothing
    happened" means nothing will, not "nothing has arrived yet".
    """
    ib.reqCurrentTime()
