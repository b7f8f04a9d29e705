"""Order-flow timing of the algos against their plain versions, in the execution-quality report's
figure (implementation shortfall in bps of the arrival mid, ``engine.execution.quality``).

Each run works one parent over a whole replayed session (390 quote steps) through the real paper
broker, order manager and store (the ``Desk`` harness of ``tests/engine/execution/test_algos``):
VWAP (13 half-hour slices) and LIMIT_AT_MID, buy and sell, on the sessions of a few symbols,
once plain and once with ``flow_timing`` 0.3. The pairs share every quote, so the difference is
the timing alone; a paired t statistic says whether it is distinguishable from zero.

The replay's bid and ask sizes are drawn at random (uniform multiples of a lot, independent of
the price path), so on the shipped data the imbalance carries no information by construction and
any difference is noise: this measures that the switch costs nothing when off and what it does
when on, not an edge. Run with ``python -m tests.bench.flow_algos``.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from engine.clock import SimulatedClock
from engine.data.calendar import session_open_close
from engine.data.loader import MarketData
from engine.execution.algos import AlgoParams
from engine.execution.quality import order_quality
from engine.model import Algo, Order, OrderStatus, OrderType, Quote, Side
from tests.defaults import replay_feed
from tests.engine.execution.test_algos import Desk
from tests.shipped import shipped_market

SYMBOLS = ("AAPL", "MSFT", "IBM")
DAYS = 6
THRESHOLD = 0.3


def _sessions(market: MarketData, count: int) -> list[date]:
    days = sorted({ts.date() for ts in market.bars["AAPL"].index})
    start = days.index(min(d for d in days if d >= date(2012, 3, 5)))  # the harness clock starts there
    return days[start : start + count]


def _day_quotes(market: MarketData, day: date, symbol: str) -> list[Quote]:
    clock = SimulatedClock(datetime.combine(day, datetime.min.time(), tzinfo=UTC))
    feed = replay_feed(market, clock, start=day, end=day, steps_per_day=390)
    return [q for _ts, quotes in feed.day_quotes(day) for q in quotes if q.symbol == symbol]


async def _run(quotes: list[Quote], day: date, algo: Algo, side: Side, timing: float | None) -> float | None:
    with tempfile.TemporaryDirectory() as tmp:
        desk = await Desk(Path(tmp)).connect()
        try:
            desk.clock.set(quotes[0].ts - timedelta(minutes=1))
            await desk.feed(quotes[0])
            opens, closes = session_open_close(day)
            window = (closes - opens).total_seconds() - 600
            params = AlgoParams(
                window_seconds=window, slices=13, timeout_seconds=window, max_reprices=400,
                max_participation=None, flow_timing=timing,
            )  # fmt: skip
            qty = 1_000.0
            if side is Side.SELL:
                from engine.brokers.base import BrokerPosition

                desk.broker.adopt_book(
                    cash=1e8, positions=[BrokerPosition(quotes[0].symbol, qty, quotes[0].last)]
                )
            parent = await _start(desk, quotes[0].symbol, algo, side, qty, params)
            for q in quotes[1:]:
                await desk.feed(q)
            stored = desk.stored(parent.client_order_id)
            children = [desk.stored(s.order.client_order_id) for s in desk.sent]
            fills = [f for c in children for f in desk.fills(c.client_order_id)]
            quality = order_quality(stored, fills, children=children)
            return quality.slippage_bps if stored.status is OrderStatus.FILLED else None
        finally:
            desk.close()


async def _start(desk: Desk, symbol: str, algo: Algo, side: Side, qty: float, params: AlgoParams) -> Order:
    now = desk.clock.now()
    parent = Order(
        client_order_id=desk.store.next_client_order_id(), symbol=symbol, side=side, quantity=qty,
        order_type=OrderType.MKT, card_id="C-1", execution_id="X-1", created_at=now, updated_at=now,
        algo=algo.value,
    )  # fmt: skip
    desk.store.insert_order(parent)
    return await desk.runner.start(parent, params, now, desk.quotes[-1])


def main() -> None:
    market = shipped_market()
    days = _sessions(market, DAYS)
    print(
        f"algo order-flow timing (threshold {THRESHOLD}) vs plain: shortfall bps vs arrival, positive = cost"
    )
    print(f"  {len(days)} sessions from {days[0]}, symbols {', '.join(SYMBOLS)}, buy and sell, 1,000 shares")
    started = time.perf_counter()
    for algo in (Algo.VWAP, Algo.LIMIT_AT_MID):
        plain: list[float] = []
        timed: list[float] = []
        for day in days:
            for symbol in SYMBOLS:
                quotes = _day_quotes(market, day, symbol)
                for side in (Side.BUY, Side.SELL):
                    a = asyncio.run(_run(quotes, day, algo, side, None))
                    b = asyncio.run(_run(quotes, day, algo, side, THRESHOLD))
                    if a is not None and b is not None:
                        plain.append(a)
                        timed.append(b)
        diff = np.array(timed) - np.array(plain)
        n = len(diff)
        sd = float(diff.std(ddof=1)) if n > 1 else math.nan
        t = float(diff.mean()) / (sd / math.sqrt(n)) if n > 1 and sd > 0 else math.nan
        print(
            f"  {algo.value:<13} n={n:3d}  plain {np.mean(plain):+7.2f}  timed {np.mean(timed):+7.2f}  "
            f"timed-plain {diff.mean():+6.2f} bps (sd {sd:.2f}, paired t {t:+.2f})"
        )
    print(f"  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
