"""The IBKR adapter against the project's TWS simulator: the real ib_insync client over loopback.

The simulator runs on its own thread and loop (as TWS runs in its own process); the adapter runs
on the test's event loop, exactly as it runs on the engine's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TypeVar

import pandas as pd
import pytest

from engine.brokers.base import BrokerLink, BrokerReport
from engine.brokers.ibkr.broker import IbkrBroker
from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator, run_in_thread
from engine.clock import SimulatedClock
from engine.config import IbkrSettings

R = TypeVar("R")
T0 = datetime(2012, 6, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def sim_clock() -> SimulatedClock:
    return SimulatedClock(T0)


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(accounts=("DU1234567",), cash=100_000.0)


@pytest.fixture
def sim(
    sim_config: SimulatorConfig, shipped_bars: Mapping[str, pd.DataFrame], sim_clock: SimulatedClock
) -> TwsSimulator:
    return TwsSimulator(sim_config, bars=shipped_bars, clock=sim_clock.now)


@pytest.fixture
def port(sim: TwsSimulator) -> Iterator[int]:
    with run_in_thread(sim) as bound:
        yield bound


def ibkr_settings(port: int, **changes: object) -> IbkrSettings:
    base: dict[str, object] = {
        "port": port,
        "client_id": 7,
        "connect_timeout_s": 3.0,
        "heartbeat_s": 0.2,
        "reconnect_max_s": 0.5,
        "nightly_reset": "",
    }
    return IbkrSettings.model_validate({**base, **changes})


class Recorder:
    """What the adapter told the engine: reports, link changes and notices, in order."""

    def __init__(self) -> None:
        self.reports: list[BrokerReport] = []
        self.links: list[BrokerLink] = []
        self.notices: list[tuple[str, str]] = []

    def of(self, kind: type[R]) -> list[R]:
        return [r for r in self.reports if isinstance(r, kind)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; reports so far: {self.reports}; notices: {self.notices}")
            await asyncio.sleep(0.01)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


MakeBroker = Callable[..., IbkrBroker]


@pytest.fixture
async def make_broker(port: int, recorder: Recorder) -> AsyncIterator[MakeBroker]:
    made: list[IbkrBroker] = []

    def make(
        floor: int = 0, on_reconnected: Callable[[], Awaitable[None]] | None = None, **changes: object
    ) -> IbkrBroker:
        broker = IbkrBroker(
            ibkr_settings(port, **changes),
            order_id_floor=lambda: floor,
            on_reconnected=on_reconnected,
            on_link=recorder.links.append,
            on_notice=lambda level, text: recorder.notices.append((level, text)),
            seed=1,
        )
        broker.set_reporter(recorder.reports.append)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.disconnect()
