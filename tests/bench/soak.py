"""Soak: what a long history costs each fill and each restart.

Databases with 100 / 1,000 / 10,000 / 100,000 stored fills are built straight through the
Store API (one batch: one transaction, one fsync), as months of active trading would leave them:
the universe's symbols, random-walk prices, aware New York session timestamps over 200 sessions
or more (250 fills a session at the larger sizes), long-only buys and sells, so losses are
realised and bought back inside 30 days (wash sales happen, as they do in a real account).

For each size it prints:

- restart: ``Engine(settings, database=..., paced=False)`` then ``await engine.start()``, the
  time an operator waits after a crash before the desk is live again;
- per fill: 200 new fills (buys and loss sales that make wash sales) handed to the engine's fill
  handler, timed one at a time: the tax lots alone (``desk.on_fill``) and the whole handler
  (the broker's ``OrderFilled`` through the order manager: the fill and its order in one transaction,
  ledger, lots, risk, the audit entry with its fsync, portfolio event, cards).

One warm-up run on a tiny database comes first (a process's first start compiles numba
kernels and fills caches), so each restart figure is what a restart costs, not a cold import.
A curve that bends (cost growing faster than the history) shows as a ratio column far above 1
for 10x the fills. Aims: p99 per fill under 5 ms and restart under 5 s at 100,000 fills.

Run with ``python -m tests.bench.soak`` (``--sizes 100,1000`` for fewer). Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from statistics import median, quantiles
from zoneinfo import ZoneInfo

from engine.brokers.base import OrderFilled
from engine.config import Settings, load_settings
from engine.kernel import Engine
from engine.model import Fill, Order, OrderStatus, Side
from engine.store import Store
from engine.store.audit import FILL_ACTION, fill_payload

SIZES = (100, 1_000, 10_000, 100_000)
FILLS_PER_SESSION = 250
MIN_SESSIONS = 200
NEW_FILLS = 200
TARGET_FILL_MS = 5.0
TARGET_RESTART_S = 5.0
NEW_YORK = ZoneInfo("America/New_York")
ENV = {
    "ONETAP_REPLAY__STEPS_PER_DAY": "390",
    "ONETAP_RISK__MAX_ORDERS_PER_DAY": "1000000",
    "ONETAP_RISK__MAX_ORDERS_PER_SECOND": "10000",
    "ONETAP_RISK__DUPLICATE_WINDOW_S": "0",
    "ONETAP_RISK__REPEAT_FILL_MAX": "10000",
}


def _p99(values: list[float]) -> float:
    return quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def _sessions(before: date, count: int) -> list[date]:
    """``count`` weekdays ending the day before ``before``, oldest first."""
    out: list[date] = []
    day = before - timedelta(days=1)
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day)
        day -= timedelta(days=1)
    return out[::-1]


@dataclass(slots=True)
class _Trader:
    """A long-only account trading a few symbols: buys, sales at a gain or a loss, buy-backs."""

    rng: random.Random
    symbols: list[str]
    prices: dict[str, float]
    held: dict[str, float]
    seq: int = 0

    def next_fill(self, ts: datetime, prefix: str) -> tuple[Order, Fill]:
        symbol = self.rng.choice(self.symbols)
        price = self.prices[symbol] = round(self.prices[symbol] * (1 + self.rng.gauss(0, 0.01)), 2)
        held = self.held[symbol]
        sell = held > 0 and self.rng.random() < 0.45
        quantity = float(min(held, self.rng.randint(1, 60))) if sell else float(self.rng.randint(1, 50))
        side = Side.SELL if sell else Side.BUY
        self.held[symbol] = held - quantity if sell else held + quantity
        self.seq += 1
        coid = f"{prefix}-{self.seq:08d}"
        order = Order(
            client_order_id=coid,
            symbol=symbol,
            side=side,
            quantity=quantity,
            status=OrderStatus.FILLED,
            filled_quantity=quantity,
            avg_fill_price=price,
            created_at=ts,
            updated_at=ts,
        )
        # exec ids rise with time whatever the prefix, as a broker's do (paper: OT-00000001.1)
        fill = Fill(f"X{self.seq:08d}", coid, symbol, side, quantity, price, 1.0, ts)
        return order, fill


def build(path: Path, settings: Settings, n: int, seed: int = 7) -> tuple[_Trader, date]:
    """A database holding ``n`` fills (and their orders); the trader and the last session, to go on."""
    rng = random.Random(seed)
    symbols = list(settings.universe.symbols)
    trader = _Trader(rng, symbols, {s: rng.uniform(50, 400) for s in symbols}, dict.fromkeys(symbols, 0.0))
    sessions = _sessions(settings.replay.start_date, max(MIN_SESSIONS, -(-n // FILLS_PER_SESSION)))
    per_session = [n // len(sessions) + (1 if i < n % len(sessions) else 0) for i in range(len(sessions))]
    with Store.open(path) as store, store.batch("soak history", anchor=False):
        for day, count in zip(sessions, per_session, strict=True):
            open_ = datetime(day.year, day.month, day.day, 9, 30, tzinfo=NEW_YORK)
            for k in range(count):
                ts = open_ + timedelta(seconds=int(23_400 * (k + 0.5) / max(count, 1)))
                order, fill = trader.next_fill(ts, "H")
                store.insert_order(order)
                store.insert_fill(fill)
                # as the engine records it: a fill without its audit entry is one reconciliation repairs
                store.append_audit(fill.ts, "engine", "engine", FILL_ACTION, fill_payload(fill))
    return trader, sessions[-1]


async def measure(n: int) -> dict[str, float]:
    settings = load_settings(environ=ENV)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "onetap.db"
        t0 = time.perf_counter()
        trader, last = build(path, settings, n)
        built = time.perf_counter() - t0
        engine = Engine(settings, database=path, paced=False)
        t0 = time.perf_counter()
        await engine.start()
        restart = time.perf_counter() - t0
        desk_ms: list[float] = []
        whole_ms: list[float] = []
        washes = engine.lots.wash_sale_count
        try:
            day = last
            open_ = datetime(day.year, day.month, day.day, 15, 0, tzinfo=NEW_YORK)
            for i in range(NEW_FILLS):
                ts = open_ + timedelta(seconds=i)
                _, fill = trader.next_fill(ts, "N")
                t1 = time.perf_counter()
                engine.desk.on_fill(fill, "manual")
                desk_ms.append((time.perf_counter() - t1) * 1000)
                # the whole handler on a twin fill (a new exec id: the lots book it, not skip it)
                order2, fill2 = trader.next_fill(ts, "W")
                engine.store.insert_order(order2)
                engine.orders.track(order2)
                t1 = time.perf_counter()
                engine.orders.on_report(OrderFilled(fill2))  # the broker's report: stored, booked, audited
                whole_ms.append((time.perf_counter() - t1) * 1000)
            washes = engine.lots.wash_sale_count
        finally:
            await engine.stop()
    return {
        "fills": n,
        "built_s": built,
        "restart_s": restart,
        "desk_med": median(desk_ms),
        "desk_p99": _p99(desk_ms),
        "whole_med": median(whole_ms),
        "whole_p99": _p99(whole_ms),
        "washes": washes,
    }


def main(sizes: tuple[int, ...] = SIZES) -> None:
    print(
        "soak: fills   restart s   lots/fill med  p99 ms   handler/fill med  p99 ms   wash sales  (build s)"
    )
    asyncio.run(measure(10))  # warm-up: the first start in a process compiles kernels and fills caches
    previous: dict[str, float] | None = None
    for n in sizes:
        row = asyncio.run(measure(n))
        growth = ""
        if previous is not None:
            scale = row["fills"] / previous["fills"]
            growth = (
                f"  x{scale:g} fills: restart x{row['restart_s'] / previous['restart_s']:.1f}, "
                f"lots p99 x{row['desk_p99'] / max(previous['desk_p99'], 1e-6):.1f}"
            )
        print(
            f"soak: {n:>7,}   {row['restart_s']:8.2f}   {row['desk_med']:8.3f} {row['desk_p99']:8.3f}   "
            f"{row['whole_med']:10.3f} {row['whole_p99']:8.3f}   {int(row['washes']):>9,}  "
            f"({row['built_s']:.1f}){growth}"
        )
        previous = row
    last = previous
    if last is not None:
        print(
            f"soak: at {int(last['fills']):,} fills: restart {last['restart_s']:.2f} s "
            f"(aim {TARGET_RESTART_S:.0f} s), "
            f"lots p99 {last['desk_p99']:.3f} ms, handler p99 {last['whole_p99']:.3f} ms "
            f"(aim {TARGET_FILL_MS:.0f} ms; the handler includes the audit entry's fsync)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    args = parser.parse_args()
    main(tuple(int(x) for x in args.sizes.split(",")))
