"""Time from an entry's fill to its protection acknowledged, at the paper broker and at the TWS simulator.

Each run: a market entry (buy 10), and as soon as its fill is reported, a protective stop and a
target in one OCA group (GTC) sent through the broker API directly, as the engine's protection
manager sends them; timed from the fill report to the second acknowledgement. Then the
protection is cancelled and the position sold, so every run starts flat.

* Paper: the paper broker with its journal on disk (every accept is an fsynced line, as in
  the product); the entry fills on the next quote.
* TWS simulator: the IBKR adapter over loopback (the real ib_insync client, its client-side
  throttle off: the figure measures the adapter and the wire), the simulator on its own thread.

Run with ``python -m tests.bench.protection [N]`` (N runs each, 200 by default). Figures are
printed, not asserted (machines here are noisy). The engine's own work around it (write-ahead
rows, audit) is the order path's, measured by ``tests.bench.order_path``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median, quantiles

from engine.brokers.base import BrokerReport, OrderAcknowledged, OrderCancelled, OrderFilled
from engine.brokers.ibkr.broker import IbkrBroker
from engine.brokers.paper import PaperBroker
from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator, run_in_thread
from engine.clock import FixedClock, SimulatedClock
from engine.config import IbkrSettings
from engine.data.shipped import load_shipped
from engine.model import Order, OrderType, Quote, Side, TimeInForce
from tests.defaults import paper_broker

T0 = datetime(2012, 6, 1, 15, 0, tzinfo=UTC)


def _p99(values: list[float]) -> float:
    return quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


class Reports:
    """When each report arrived (perf_counter), and an event set on every one."""

    def __init__(self) -> None:
        self.acked: dict[str, float] = {}
        self.filled: dict[str, float] = {}
        self.cancelled: set[str] = set()
        self.event = asyncio.Event()

    def __call__(self, report: BrokerReport) -> None:
        now = time.perf_counter()
        if isinstance(report, OrderAcknowledged):
            self.acked.setdefault(report.client_order_id, now)
        elif isinstance(report, OrderFilled):
            self.filled.setdefault(report.fill.client_order_id, now)
        elif isinstance(report, OrderCancelled):
            self.cancelled.add(report.client_order_id)
        self.event.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        while not predicate():
            self.event.clear()
            await asyncio.wait_for(self.event.wait(), timeout)


def protection(i: int, qty: float) -> tuple[Order, Order]:
    group = f"OCA-E{i}"
    stop = Order(f"S{i}", "AAPL", Side.SELL, qty, OrderType.STP, stop_price=50.0, tif=TimeInForce.GTC,
                 oca_group=group, protects=f"E{i}")  # fmt: skip
    target = Order(f"T{i}", "AAPL", Side.SELL, qty, OrderType.LMT, limit_price=200.0, tif=TimeInForce.GTC,
                   oca_group=group, protects=f"E{i}")  # fmt: skip
    return stop, target


async def paper_runs(n: int, folder: Path) -> list[float]:
    clock = FixedClock(T0)
    broker: PaperBroker = paper_broker(clock, journal=folder / "paper.jsonl", starting_cash=1e7)
    reports = Reports()
    broker.set_reporter(reports)
    await broker.connect()

    def quote() -> None:
        clock.advance(timedelta(seconds=1))
        broker.on_quote(Quote("AAPL", clock.now(), 99.99, 100.01, 100.0, 1e6, 1e6, 1e6, 1e7))

    quote()
    out: list[float] = []
    for i in range(n):
        await broker.submit(Order(f"E{i}", "AAPL", Side.BUY, 10.0))
        quote()
        await reports.until(lambda i=i: f"E{i}" in reports.filled)  # type: ignore[misc]
        stop, target = protection(i, 10.0)
        await broker.submit(stop)
        await broker.submit(target)
        out.append((reports.acked[target.client_order_id] - reports.filled[f"E{i}"]) * 1000)
        await broker.cancel(stop.client_order_id)
        await broker.cancel(target.client_order_id)
        await broker.submit(Order(f"X{i}", "AAPL", Side.SELL, 10.0))
        quote()
    broker.close()
    return out


async def ibkr_runs(n: int, port: int) -> list[float]:
    broker = IbkrBroker(IbkrSettings.model_validate({"port": port, "client_id": 33, "nightly_reset": ""}))
    reports = Reports()
    broker.set_reporter(reports)
    await broker.connect()
    broker.ib.client.MaxRequests = 0
    out: list[float] = []
    try:
        for i in range(n):
            await broker.submit(Order(f"E{i}", "AAPL", Side.BUY, 10.0))
            await reports.until(lambda i=i: f"E{i}" in reports.filled)  # type: ignore[misc]
            stop, target = protection(i, 10.0)
            await broker.submit(stop)
            await broker.submit(target)
            await reports.until(
                lambda t=target, s=stop: {s.client_order_id, t.client_order_id} <= set(reports.acked)
            )  # type: ignore[misc]
            acked = max(reports.acked[stop.client_order_id], reports.acked[target.client_order_id])
            out.append((acked - reports.filled[f"E{i}"]) * 1000)
            await broker.cancel(stop.client_order_id)
            await broker.cancel(target.client_order_id)
            await reports.until(
                lambda s=stop, t=target: {s.client_order_id, t.client_order_id} <= reports.cancelled
            )  # type: ignore[misc]
            await broker.submit(Order(f"X{i}", "AAPL", Side.SELL, 10.0))
            await reports.until(lambda i=i: f"X{i}" in reports.filled)  # type: ignore[misc]
    finally:
        await broker.disconnect()
    return out


def show(label: str, values: list[float]) -> None:
    figures = f"median {median(values):.3f} ms, p99 {_p99(values):.3f} ms, max {max(values):.3f} ms"
    print(f"{label}: n={len(values)} {figures}")


async def main_async(n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        show(
            "paper: entry fill -> stop+target OCO acknowledged (journal fsynced)",
            await paper_runs(n, Path(d)),
        )
    clock = SimulatedClock(T0)
    sim = TwsSimulator(
        SimulatorConfig(accounts=("DU1234567",), cash=10_000_000.0), bars=load_shipped().bars, clock=clock.now
    )
    with run_in_thread(sim) as port:
        sim.set_quote("AAPL", 99.99, 100.01, 100.0, bid_size=1e6, ask_size=1e6)
        show(
            "TWS simulator via IBKR adapter: entry fill -> stop+target OCO acknowledged",
            await ibkr_runs(n, port),
        )


def main(n: int = 200) -> None:
    asyncio.run(main_async(n))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
