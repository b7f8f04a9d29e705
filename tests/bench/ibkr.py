"""The IBKR path on loopback: the real ib_insync client, the adapter, and the TWS simulator.

1. Order round trip through ``IbkrBroker`` (ib_insync on this loop, the simulator on its own
   thread): 1,000 one-share market orders, one at a time, alternating buy and sell; place ->
   acknowledged and place -> filled (the fill report, commission included). ib_insync's own
   client-side throttle (45 requests a second, as real TWS demands) is switched off for this
   figure, which measures the adapter and the wire; the same is then shown for 100 orders with
   the throttle on, which is what a trader sees when sending bursts to real TWS.
2. Quote throughput: the simulator pushes a burst of quote updates for five symbols; counted are
   the quotes reaching the engine's bus and the quotes an attached console receives over the
   engine's socket (events, as the console gets them).
3. Reconnect and reconcile with 100 working orders: the simulator drops the connection; timed
   from the drop to the link up again and to the reconciliation summary published.

Run with ``python -m tests.bench.ibkr``. Figures are printed, not asserted (machines are noisy).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from statistics import median, quantiles

from engine.api.socket_server import serve
from engine.brokers.base import BrokerReport, OrderAcknowledged, OrderFilled
from engine.brokers.ibkr.broker import IbkrBroker
from engine.brokers.ibkr.connection import Backoff
from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator, run_in_thread
from engine.brokers.tws_sim.events import Quote as SimQuote
from engine.clock import SimulatedClock
from engine.config import IbkrSettings, load_settings
from engine.data.shipped import load_shipped
from engine.kernel import Engine
from engine.model import Order, OrderRequest, OrderType, Side, TimeInForce
from engine.model.events import MarketEvent, ReconciliationSummary, StatusEvent

T0 = datetime(2012, 6, 1, 15, 0, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "GOOG", "IBM", "AMZN")
ACK_AIM_MS, FILL_AIM_MS, LOOPBACK_AIM_MS = 200.0, 500.0, 5.0


def _p99(values: list[float]) -> float:
    return quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


async def _until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0)


async def round_trips(port: int, n: int, *, throttle: bool) -> tuple[list[float], list[float]]:
    """Each order waits on its own fill (an event the reporter sets): no polling that would steal
    the loop (and the GIL, from the simulator's thread) from the path being measured."""
    settings = IbkrSettings.model_validate(
        {"port": port, "client_id": 31 if throttle else 30, "nightly_reset": ""}
    )
    acked: dict[str, float] = {}
    filled: dict[str, float] = {}
    done = asyncio.Event()

    def report(r: BrokerReport) -> None:
        now = time.perf_counter()
        if isinstance(r, OrderAcknowledged):
            acked.setdefault(r.client_order_id, now)
        elif isinstance(r, OrderFilled):
            filled.setdefault(r.fill.client_order_id, now)
            done.set()

    broker = IbkrBroker(settings)
    broker.set_reporter(report)
    await broker.connect()
    if not throttle:
        broker.ib.client.MaxRequests = 0
    acks, fills = [], []
    try:
        for i in range(n):
            coid = f"B{int(throttle)}-{i}"
            side = Side.BUY if i % 2 == 0 else Side.SELL
            done.clear()
            start = time.perf_counter()
            await broker.submit(Order(client_order_id=coid, symbol="AAPL", side=side, quantity=1.0))
            while coid not in filled:
                await asyncio.wait_for(done.wait(), 30)
                done.clear()
            acks.append((acked[coid] - start) * 1000)
            fills.append((filled[coid] - start) * 1000)
    finally:
        await broker.disconnect()
    return acks, fills


async def quote_throughput(port: int, sim: TwsSimulator, tmp: Path, updates: int) -> dict[str, float]:
    env = {
        "ONETAP_BROKER__KIND": "ibkr",
        "ONETAP_IBKR__PORT": str(port),
        "ONETAP_IBKR__CLIENT_ID": "40",
        "ONETAP_IBKR__HISTORY": "1 Y",
        "ONETAP_IBKR__HISTORY_CACHE": str(tmp / "bars"),
        "ONETAP_IBKR__NIGHTLY_RESET": "",
    }
    engine = Engine(load_settings(environ=env), database=tmp / "quotes.db")
    await engine.start()
    server = await serve(engine, tmp / "engine.sock")
    from console.client import SocketClient

    bus_quotes = 0
    console_quotes = 0

    def on_bus(event: MarketEvent) -> None:
        nonlocal bus_quotes
        bus_quotes += len(event.quotes)

    def on_console(event: object) -> None:
        nonlocal console_quotes
        if isinstance(event, MarketEvent):
            console_quotes += len(event.quotes)

    engine.bus.on((MarketEvent,), on_bus)
    client = SocketClient(tmp / "engine.sock")
    await client.connect(on_console)
    await asyncio.sleep(1.0)  # subscriptions in place
    bus_quotes = console_quotes = 0

    async def pump() -> float:
        """Quote updates in rounds of one per symbol, yielding between rounds as a feed would."""
        began = time.perf_counter()
        for k in range(updates // len(SYMBOLS)):
            for j, sym in enumerate(SYMBOLS):
                spec = sim.universe.by_key(sym)
                assert spec is not None
                sim.exchange.set_quote(spec.key, _sim_quote(100.0 + ((k + j) % 50) * 0.01))
            await asyncio.sleep(0)
        return time.perf_counter() - began

    start = time.perf_counter()
    send_s = await asyncio.wrap_future(sim.schedule(pump()))
    last_bus, last_change = bus_quotes, time.perf_counter()
    while time.perf_counter() - last_change < 0.5:  # until nothing more arrives for half a second
        await asyncio.sleep(0.01)
        if bus_quotes != last_bus:
            last_bus, last_change = bus_quotes, time.perf_counter()
    elapsed = last_change - start
    await client.close()
    server.close()
    await engine.stop()
    return {
        "ticks_sent": float(updates),
        "sim_send_s": send_s,
        "bus_quotes": float(bus_quotes),
        "console_quotes": float(console_quotes),
        "elapsed_s": elapsed,
    }


def _sim_quote(px: float) -> SimQuote:
    return SimQuote(px - 0.01, px + 0.01, px, 100.0, 100.0, 10.0, 1000.0)


async def reconnect_with_working_orders(
    port: int, sim: TwsSimulator, tmp: Path, working: int
) -> dict[str, float]:
    env = {
        "ONETAP_BROKER__KIND": "ibkr",
        "ONETAP_IBKR__PORT": str(port),
        "ONETAP_IBKR__CLIENT_ID": "41",
        "ONETAP_IBKR__HISTORY": "1 Y",
        "ONETAP_IBKR__HISTORY_CACHE": str(tmp / "bars"),
        "ONETAP_IBKR__NIGHTLY_RESET": "",
        "ONETAP_RISK__MAX_ORDERS_PER_DAY": "1000000",
        "ONETAP_RISK__MAX_ORDERS_PER_SECOND": "10000",
        "ONETAP_RISK__DUPLICATE_WINDOW_S": "0",
    }
    engine = Engine(load_settings(environ=env), database=tmp / "reconnect.db")
    await engine.start()
    broker = engine.broker
    assert isinstance(broker, IbkrBroker)
    broker.ib.client.MaxRequests = 0
    for i in range(working):
        await engine.orders.submit(
            OrderRequest(
                "MSFT",
                Side.BUY,
                1.0,
                OrderType.LMT,
                limit_price=round(10.0 + i * 0.01, 2),
                tif=TimeInForce.GTC,
            )
        )
    await _until(lambda: sim.call(lambda: len(sim.exchange.open_orders())) == working)
    marks: dict[str, float] = {}

    def on_status(event: StatusEvent) -> None:
        if event.link == "connected":
            marks.setdefault("link", time.perf_counter())

    def on_summary(event: ReconciliationSummary) -> None:
        marks.setdefault("reconciled", time.perf_counter())

    engine.bus.on((StatusEvent,), on_status)
    engine.bus.on((ReconciliationSummary,), on_summary)
    dropped = time.perf_counter()
    sim.faults.drop_connections()
    await _until(lambda: "reconciled" in marks, timeout=60)
    orders_after = sim.call(lambda: len(sim.exchange.open_orders()))
    waited = Backoff(cap=broker.settings.reconnect_max_s).base  # the broker's first delay, before jitter
    await engine.stop()
    return {
        "to_link_s": marks["link"] - dropped,
        "to_reconciled_s": marks["reconciled"] - dropped,
        "reconcile_s": marks["reconciled"] - marks["link"],
        "first_backoff_s": waited,
        "working_after": float(orders_after),
    }


async def main_async() -> None:
    bars = load_shipped().bars
    clock = SimulatedClock(T0)
    sim = TwsSimulator(
        SimulatorConfig(accounts=("DU1234567",), cash=10_000_000.0), bars=bars, clock=clock.now
    )
    with run_in_thread(sim) as port, tempfile.TemporaryDirectory() as d:
        for symbol in SYMBOLS:
            sim.set_quote(symbol, 99.99, 100.01, 100.0, bid_size=1e6, ask_size=1e6)
        acks, fills = await round_trips(port, 1000, throttle=False)
        print("IBKR adapter order round trip, loopback, 1,000 sequential MKT orders (ib_insync throttle off)")
        _print_times(
            "place -> acknowledged", acks, f"aim < {ACK_AIM_MS:g} ms; loopback p99 < {LOOPBACK_AIM_MS:g}"
        )
        _print_times("place -> filled", fills, f"aim < {FILL_AIM_MS:g} ms")
        acks_t, fills_t = await round_trips(port, 100, throttle=True)
        print("  with ib_insync's default throttle (45 requests/s, as against real TWS), 100 orders:")
        _print_times("place -> acknowledged", acks_t, "")
        _print_times("place -> filled", fills_t, "")
        q = await quote_throughput(port, sim, Path(d), 20_000)
        rate = q["bus_quotes"] / q["elapsed_s"]
        print("Quote throughput: simulator -> engine bus -> attached console, 20,000 updates, 5 symbols")
        print(f"  bus: {q['bus_quotes']:,.0f} quotes in {q['elapsed_s']:.2f} s = {rate:,.0f}/s")
        print(f"  attached console received {q['console_quotes']:,.0f}")
        print(f"  the simulator took {q['sim_send_s']:.2f} s to send its 20,000 updates (its own ceiling)")
        print("  (one process: the simulator's thread and the engine share the GIL, so this is a floor)")
        r = await reconnect_with_working_orders(port, sim, Path(d), 100)
        print("Reconnect and reconcile after a dropped connection, 100 working orders")
        print(
            f"  drop -> link up       {r['to_link_s'] * 1000:7.0f} ms"
            f" (first backoff ~{r['first_backoff_s'] * 1000:.0f} ms)"
        )
        print(f"  link up -> reconciled {r['reconcile_s'] * 1000:7.0f} ms")
        print(
            f"  drop -> reconciled    {r['to_reconciled_s'] * 1000:7.0f} ms; still working at the simulator: "
            f"{r['working_after']:.0f}"
        )


def _print_times(label: str, values: list[float], aim: str) -> None:
    suffix = f"  ({aim})" if aim else ""
    print(f"  {label:<22} median {median(values):7.2f} ms  p99 {_p99(values):7.2f} ms{suffix}")


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
