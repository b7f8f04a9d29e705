"""Order-flow features: how fast they are computed, live and in research, and the depth book's cost.

* the pure functions (``engine.signals.orderflow``) over 1,000,000 synthetic top-of-book quotes;
* the live tracker, one quote at a time (what the engine pays per quote and symbol);
* the engine's ``OrderFlowBook`` over a replayed session of the shipped universe (390 steps);
* the TWS simulator's synthetic depth: rows and diff operations per quote (10 rows a side).

Run with ``python -m tests.bench.orderflow``. Figures are printed, not asserted.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import numpy as np

from engine.brokers.tws_sim.depth import DepthSubscription
from engine.brokers.tws_sim.events import Quote as SimQuote
from engine.clock import SimulatedClock
from engine.runtime.order_flow import OrderFlowBook
from engine.signals import orderflow as of
from tests.defaults import replay_feed
from tests.shipped import shipped_market


def _synthetic(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    bid = 100 + 0.01 * np.cumsum(rng.integers(-1, 2, n))
    ask = bid + 0.01 * rng.integers(1, 3, n)
    return bid, 100.0 * rng.integers(1, 10, n), ask, 100.0 * rng.integers(1, 10, n)


def _rate(label: str, count: int, seconds: float, unit: str = "quotes") -> None:
    print(f"  {label:<46} {count / seconds:>14,.0f} {unit}/s  ({seconds * 1e3:.1f} ms for {count:,})")


def main() -> None:
    print("order flow: speed")
    n = 1_000_000
    bid, qb, ask, qa = _synthetic(n)
    t = time.perf_counter()
    of.ofi_increments(bid, qb, ask, qa)
    _rate("ofi_increments (vectorised)", n, time.perf_counter() - t)
    t = time.perf_counter()
    of.quote_imbalance(qb, qa)
    _rate("quote_imbalance (vectorised)", n, time.perf_counter() - t)
    t = time.perf_counter()
    of.lee_ready(ask, bid, ask)
    _rate("lee_ready (vectorised)", n, time.perf_counter() - t, "trades")

    m = 200_000
    tracker = of.OrderFlowTracker()
    rows = list(zip(bid[:m].tolist(), ask[:m].tolist(), qb[:m].tolist(), qa[:m].tolist(), strict=True))
    t = time.perf_counter()
    for b, a, sb, sa in rows:
        tracker.on_quote(b, a, sb, sa, last=a, last_size=100.0)
    _rate("OrderFlowTracker.on_quote (one at a time)", m, time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(20_000):
        tracker.figures()
    _rate("OrderFlowTracker.figures (window 50)", 20_000, time.perf_counter() - t, "readings")

    market = shipped_market()
    day = date(2012, 3, 5)
    feed = replay_feed(
        market, SimulatedClock(datetime(2012, 3, 5, tzinfo=UTC)), start=day, end=day, steps_per_day=390
    )
    steps = [quotes for _ts, quotes in feed.day_quotes(day)]
    book = OrderFlowBook(sizes_invented=True)
    count = sum(len(s) for s in steps)
    t = time.perf_counter()
    for quotes in steps:
        book.update(quotes)
    _rate(f"OrderFlowBook over a session ({len(steps[0])} symbols)", count, time.perf_counter() - t)

    sub = DepthSubscription("AAPL", 0.01, 10)
    ops = 0
    t = time.perf_counter()
    for b, a, sb, sa in rows[:20_000]:
        ops += len(sub.update(SimQuote(b, a, 0.0, sb, sa)))
    seconds = time.perf_counter() - t
    _rate("simulator depth book, 10 rows a side", 20_000, seconds)
    print(f"  {'depth operations per quote (10 rows a side)':<46} {ops / 20_000:>14.1f}")


if __name__ == "__main__":
    main()
