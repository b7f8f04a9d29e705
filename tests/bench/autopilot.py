"""The autopilot's decision-to-orders-sent time, and incremental P&L against a full revaluation.

1. The paper engine (shipped data, SQLite at synchronous=FULL, 78 quote steps a session so one
   lands on 15:55 New York) runs the autopilot daily over several sessions; each run that
   rebalanced records the monotonic time from the start of its decision (data checked, targets
   from the optimizer, plan) to its orders handed to the broker (risk checks and write-ahead
   rows included). The median over the sessions is printed.
2. A ``LotBook`` and the engine's ``Ledger`` each holding 1,000 positions (synthetic symbols and
   seeded prices: the shipped data has a handful of symbols) take one quote at a time: the
   incremental update (``mark`` then the book's unrealized and day P&L, both O(1)) against a full
   revaluation of every position.

Run with ``python -m tests.bench.autopilot``. Figures are printed, not asserted.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import numpy as np

from engine.config import load_settings
from engine.kernel import Engine
from engine.model import Fill, Side
from engine.portfolio.ledger import Ledger
from engine.portfolio.lots import LotBook

SESSIONS = 15
POSITIONS = 1_000
QUOTES = 200_000
REVALUATIONS = 200


async def decision_to_sent(sessions: int = SESSIONS) -> list[float]:
    """Seconds from decision to orders sent, one per session that rebalanced."""
    env = {
        "ONETAP_REPLAY__STEPS_PER_DAY": "78",
        "ONETAP_AUTOPILOT__ENABLED": "true",
        "ONETAP_AUTOPILOT__FREQUENCY": '"daily"',
        "ONETAP_AUTOPILOT__EDGE": "1.0",
        "ONETAP_AUTOPILOT__MIN_TRADE_VALUE": "50.0",
    }
    with tempfile.TemporaryDirectory() as d:
        engine = Engine(load_settings(environ=env), database=Path(d) / "onetap.db", paced=False)
        await engine.start()
        try:
            for _ in range(sessions):
                await engine.step_day()
            runs = [a.payload for a in engine.store.load_audit() if a.action == "autopilot_run"]
        finally:
            await engine.stop()
    return [float(r["decision_to_sent_s"]) for r in runs if r["outcome"] == "rebalanced"]


def _books(n: int, rng: np.random.Generator) -> tuple[LotBook, Ledger, list[str], np.ndarray]:
    book, ledger = LotBook(), Ledger(1e9)
    symbols = [f"S{i:04d}" for i in range(n)]
    prices = rng.uniform(10.0, 500.0, n)
    ts = datetime(2012, 1, 3, 15, tzinfo=UTC)
    for i, symbol in enumerate(symbols):
        for k in range(2):  # two lots each: the book's aggregates, not one lot per symbol
            fill = Fill(f"E{i}.{k}", f"O{i}.{k}", symbol, Side.BUY, 10.0 + k, float(prices[i]), 1.0, ts)
            book.apply_fill(fill, strategy="bench")
            ledger.apply_fill(fill)
    return book, ledger, symbols, prices


def incremental_and_full(n: int = POSITIONS) -> dict[str, float]:
    """Nanoseconds per quote (incremental) and microseconds per full revaluation, per book."""
    rng = np.random.default_rng(7)
    book, ledger, symbols, prices = _books(n, rng)
    picks = rng.integers(0, n, QUOTES).tolist()
    moves = (1.0 + rng.normal(0.0, 1e-3, QUOTES)).tolist()
    names = [symbols[i] for i in picks]
    marks = [float(prices[i]) * m for i, m in zip(picks, moves, strict=True)]
    out: dict[str, float] = {}

    t = time.perf_counter()
    for symbol, price in zip(names, marks, strict=True):
        book.mark(symbol, price)
        book.unrealized()
        book.day_pnl()
    out["lots_incremental_ns"] = (time.perf_counter() - t) / QUOTES * 1e9

    t = time.perf_counter()
    for symbol, price in zip(names, marks, strict=True):
        ledger.mark(symbol, price)
        ledger.equity  # noqa: B018 - the O(1) figure a quote moves
    out["ledger_incremental_ns"] = (time.perf_counter() - t) / QUOTES * 1e9

    t = time.perf_counter()
    for _ in range(REVALUATIONS):
        lasts = {s: book.last(s) or 0.0 for s in symbols}
        sum(lot.unrealized(lasts[lot.symbol]) for lot in book.open_lots())
    out["lots_full_us"] = (time.perf_counter() - t) / REVALUATIONS * 1e6

    t = time.perf_counter()
    for _ in range(REVALUATIONS):
        ledger.account()  # sums every position's value and unrealized P&L
    out["ledger_full_us"] = (time.perf_counter() - t) / REVALUATIONS * 1e6
    return out


def main() -> None:
    times = asyncio.run(decision_to_sent())
    print(f"autopilot decision -> orders sent at 15:55 (paper engine, {len(times)} rebalancing sessions):")
    if times:
        ms = sorted(t * 1000 for t in times)
        print(f"  median {median(ms):.1f} ms, min {ms[0]:.1f} ms, max {ms[-1]:.1f} ms")
    figures = incremental_and_full()
    print(f"P&L with {POSITIONS:,} positions, per quote (incremental) and per full revaluation:")
    print(
        f"  LotBook: {figures['lots_incremental_ns']:,.0f} ns/quote; full revaluation "
        f"{figures['lots_full_us']:,.0f} us"
    )
    print(
        f"  Ledger:  {figures['ledger_incremental_ns']:,.0f} ns/quote; full revaluation "
        f"{figures['ledger_full_us']:,.0f} us"
    )


if __name__ == "__main__":
    main()
