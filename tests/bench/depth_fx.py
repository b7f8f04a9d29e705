"""IBKR market depth into the engine, and the TWS simulator's forex history.

1. Depth on loopback: the simulator (own thread) changes AAPL's top of book 1,000 times; each
   change reaches ib_insync as depth operations (5 rows a side), the adapter hands a snapshot to
   the engine's ``OrderFlowBook``. Timed from each ``set_quote`` to its snapshot arriving.
2. The order-flow book's cost per depth snapshot (5 rows a side), in process.
3. Forex history from the whole shipped EURUSD hourly ask series (6,225 bars, about a year),
   played to its end: the simulator's answer to a 1 Y request, hourly and daily, in process, and
   through ib_insync (``reqHistoricalData`` MIDPOINT, 1 day and 1 hour).

Run with ``python -m tests.bench.depth_fx``. Figures are printed, not asserted (machines are noisy).
"""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median, quantiles

from ib_insync import Forex

from engine.brokers.base import DepthSnapshot
from engine.brokers.ibkr.broker import IbkrBroker
from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator, run_in_thread
from engine.brokers.tws_sim.fx import FxDriver, read_ask_series
from engine.clock import SimulatedClock
from engine.config import IbkrSettings
from engine.model import Quote
from engine.runtime.order_flow import OrderFlowBook

T0 = datetime(2012, 6, 1, 15, 0, tzinfo=UTC)
ROOT = Path(__file__).parents[2]
EURUSD = [
    up / "shared" / "data" / "gym_anytrading_FOREX_EURUSD_1H_ASK.csv"
    for up in (ROOT, ROOT.parent, ROOT.parent.parent)
]
"""Where the shipped series may lie: in the checkout, or ``../shared/data`` beside it."""


async def depth_latency(port: int, sim: TwsSimulator, n: int) -> list[float]:
    settings = IbkrSettings.model_validate(
        {"port": port, "client_id": 9, "heartbeat_s": 5.0, "nightly_reset": "", "depth_symbols": ["AAPL"]}
    )
    broker = IbkrBroker(settings, seed=1)
    book = OrderFlowBook(sizes_invented=True)
    arrived = asyncio.Event()
    got: list[DepthSnapshot] = []

    def sink(snapshot: DepthSnapshot) -> None:
        book.on_depth_snapshot(snapshot)
        got.append(snapshot)
        arrived.set()

    broker.set_depth_sink(sink)
    await broker.connect()
    await asyncio.wait_for(arrived.wait(), 10)
    out = []
    loop = asyncio.get_running_loop()
    for i in range(n):
        arrived.clear()
        size = 100.0 + (i % 50)
        started = time.perf_counter()
        quote = functools.partial(sim.set_quote, "AAPL", 190.00, 190.02, 190.01, bid_size=size, ask_size=200)
        await loop.run_in_executor(None, quote)
        while not (got and got[-1].bid_sizes[0] == size):
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 10)
        out.append((time.perf_counter() - started) * 1e3)
    await broker.disconnect()
    return out


def book_rate(n: int) -> float:
    book = OrderFlowBook(sizes_invented=True)
    book.update([Quote("AAPL", T0, 190.0, 190.02, 190.01, 300.0, 200.0, 0.0, 0.0)])
    snaps = [
        DepthSnapshot(
            "AAPL", (300.0 + i % 7, 600.0, 900.0, 1200.0, 1500.0), (200.0, 400.0, 600.0, 800.0, 1000.0)
        )
        for i in range(n)
    ]
    started = time.perf_counter()
    for s in snaps:
        book.on_depth_snapshot(s)
    return n / (time.perf_counter() - started)


def main() -> None:
    print("market depth and forex history")
    sim = TwsSimulator(SimulatorConfig(accounts=("DU1234567",), cash=100_000.0), clock=SimulatedClock(T0).now)
    sim.set_quote("AAPL", 190.00, 190.02, 190.01, bid_size=300, ask_size=200)
    path = next((p for p in EURUSD if p.is_file()), None)
    if path is None:
        print("  (the EURUSD hourly series is not beside this checkout: shared/data/; fx figures skipped)")
        path = ROOT / "tests" / "engine" / "brokers" / "tws_sim" / "data" / "eurusd_1h_ask_head.csv"
    series = read_ask_series(path)
    with run_in_thread(sim) as port:
        lat = asyncio.run(depth_latency(port, sim, 1_000))
        p99 = quantiles(lat, n=100)[98]
        print(
            f"  depth: set_quote -> snapshot in the engine    median {median(lat):.2f} ms, "
            f"p99 {p99:.2f} ms (1,000)"
        )
        driver = FxDriver(sim, "EURUSD", series)
        started = time.perf_counter()
        while driver.step() is not None:
            pass
        print(
            f"  fx: {driver.sent:,} quotes played from {len(series):,} bars "
            f"in {time.perf_counter() - started:.1f} s"
        )
        tape = sim.fx_tapes["EUR.USD"]
        for size in ("1 hour", "1 day"):
            started = time.perf_counter()
            answer = tape.answer("MIDPOINT", "", "1 Y", size, 2)
            ms = (time.perf_counter() - started) * 1e3
            print(f"  fx history in process, 1 Y of {size:<7}      {ms:8.1f} ms ({len(answer.bars):,} bars)")
        from ib_insync import IB

        async def over_wire() -> None:
            ib = IB()  # type: ignore[no-untyped-call]
            await ib.connectAsync("127.0.0.1", port, clientId=11)
            pair = Forex("EURUSD")
            await ib.qualifyContractsAsync(pair)
            for size in ("1 day", "1 hour"):
                started = time.perf_counter()
                bars = await ib.reqHistoricalDataAsync(pair, "", "1 Y", size, "MIDPOINT", False, 2)
                ms = (time.perf_counter() - started) * 1e3
                print(f"  fx history through ib_insync, 1 Y of {size:<7} {ms:8.1f} ms ({len(bars):,} bars)")
            ib.disconnect()  # type: ignore[no-untyped-call]

        asyncio.run(over_wire())
    print(f"  order-flow book, per depth snapshot           {book_rate(200_000):>12,.0f} snapshots/s")


if __name__ == "__main__":
    main()
