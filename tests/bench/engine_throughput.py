"""Engine quote throughput at 5 / 50 / 500 symbols, with 0 and 100 working orders, beside a plain
Python call chain in the same run (issue 18, item 4).

A synthetic universe (seeded correlated random walks, ten years of daily bars) is written to a
Parquet file and loaded through ``[data] source = "file"``, as a user's own data would be. The
engine is stepped (``paced=False``) with recording off: the figure is what the quote path itself
absorbs. "100 working orders" are GTC buy limits at half the price, spread over the symbols, that
never fill: the cost of carrying them through matching.

The plain call chain is the floor a Python engine can reach: per quote, a mark, a risk check and a
match each as one function call over dicts (no engine).

Times are CPU time of this process (``time.process_time``), for the engine and the chain alike:
the machines these run on are shared, and CPU time is what the quote path costs, whatever else
runs beside it. The card re-sizing (on the loop at a session's start and after a fill; on a worker
thread every half hour of market time, which an unpaced replay reaches every 30 steps) is shown
on its own, and so is the CPU time of the loop's thread alone: the quote step itself.

Run with ``python -m tests.bench.engine_throughput [SYMBOLS...]``. Figures are printed.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import engine.runtime.cards as card_module
from engine.config import load_settings
from engine.data.loader import MarketData, load_user_file
from engine.kernel import Engine
from engine.model import OrderRequest, OrderType, Side, TimeInForce
from engine.strategies.generator import propose

STEPS = 380
"""Quote steps measured: the rest of the first session at the default 390 steps per day (a
session start is the card generation's stall, measured on its own)."""


def synthetic_file(folder: Path, n_symbols: int, *, years: int = 4, seed: int = 7) -> tuple[Path, list[str]]:
    """A long Parquet table of ``n_symbols`` correlated random walks plus an SPX benchmark, on
    business days from 2009 (so the replay's 2012 start has history)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2009-01-02", periods=252 * years)
    n = len(dates)
    market = rng.normal(0.0003, 0.01, n)
    frames = []
    symbols = [f"S{k:03d}" for k in range(n_symbols)]
    for sym in [*symbols, "SPX"]:
        r = 0.8 * market + rng.normal(0.0, 0.012, n)
        close = 50.0 * np.exp(np.cumsum(r))
        open_ = close * (1 + rng.normal(0.0, 0.003, n))
        wick = np.abs(rng.normal(0.0, 0.008, n)) * close
        frames.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "symbol": sym,
                    "open": open_.round(2),
                    "high": (np.maximum(open_, close) + wick).round(2) + 0.01,
                    "low": (np.minimum(open_, close) - wick).round(2) - 0.01,
                    "close": close.round(2),
                    "volume": rng.lognormal(14.0, 0.3, n).round(),
                }
            )
        )
    path = folder / f"universe{n_symbols}.parquet"
    pd.concat(frames).to_parquet(path)
    return path, symbols


def settings_file(folder: Path, data: Path, symbols: list[str], seconds_per_day: float = 45.0) -> Path:
    quoted = ", ".join(f'"{s}"' for s in symbols)
    path = folder / "bench.toml"
    path.write_text(
        f'[universe]\nsymbols = [{quoted}]\nbenchmark = "SPX"\nsectors = {{}}\n'
        f'[data]\nsource = "file"\npath = "{data}"\njump_threshold = 0.5\n'
        f'[replay]\nstart = "2012-01-03"\nend = ""\nseconds_per_day = {seconds_per_day}\n'
        "[recording]\nenabled = false\n"
        "[risk]\nmax_orders_per_day = 100000\nmax_orders_per_second = 10000\n"
        "duplicate_window_s = 0\nmax_order_value = 1000000\nmax_position_pct = 1.0\n"
        "gross_exposure_limit = 1.0\nmax_sector_pct = 1.0\nprice_band_pct = 0.9\n"
        "[broker]\nstarting_cash = 100000000\n"
    )
    return path


async def build(folder: Path, n_symbols: int) -> tuple[Engine, MarketData]:
    data, symbols = synthetic_file(folder, n_symbols)
    settings = load_settings(settings_file(folder, data, symbols), environ={})
    market = load_user_file(data, jump_threshold=0.5)
    engine = Engine(settings, database=folder / "onetap.db", market=market, paced=False)
    await engine.start()
    return engine, market


async def place_working(engine: Engine, n_orders: int) -> None:
    """GTC buy limits at half the price, round-robin over the symbols: they work, never fill."""
    prices = engine.parts.market.prices()
    symbols = list(engine.settings.universe.symbols)
    for i in range(n_orders):
        sym = symbols[i % len(symbols)]
        limit = round(prices[sym] * 0.5, 2)
        request = OrderRequest(sym, Side.BUY, 1.0, OrderType.LMT, limit_price=limit, tif=TimeInForce.GTC)
        await engine.parts.dispatcher.send(request)
    await engine.step(1)
    working = len(engine.orders.open_orders())
    assert working >= n_orders, f"only {working} of {n_orders} orders are working"


@dataclass
class Row:
    symbols: int
    orders: int
    quotes_per_s: float
    cards_s: float
    """Seconds of the window spent re-sizing cards (``CardPipeline.refresh``, every 30 steps)."""
    elapsed_s: float
    quotes: int
    loop_s: float
    """CPU seconds of the event loop's own thread (the quote path; the card proposals run beside it)."""

    @property
    def without_cards(self) -> float:
        return self.quotes / max(self.elapsed_s - self.cards_s, 1e-9)

    @property
    def on_the_loop(self) -> float:
        return self.quotes / max(self.loop_s, 1e-9)


async def measure_engine(n_symbols: int, n_orders: int, steps: int = STEPS) -> Row:
    with tempfile.TemporaryDirectory() as d:
        engine, _ = await build(Path(d), n_symbols)
        try:
            await engine.step(2)  # the first quotes: prices for the orders, caches warm
            if n_orders:
                await place_working(engine, n_orders)
            spent = _time_card_sizing(engine)
            quotes = 0
            t0, m0 = time.process_time(), time.thread_time()
            for _ in range(steps):
                await engine.step(1)
                quotes += n_symbols + 1
            elapsed, loop = time.process_time() - t0, time.thread_time() - m0
        finally:
            await engine.stop()
    return Row(n_symbols, n_orders, quotes / elapsed, spent[0], elapsed, quotes, loop)


def _time_card_sizing(engine: Engine) -> list[float]:
    """CPU seconds spent sizing cards from now on: ``CardPipeline.refresh`` on the loop, and the
    re-sizes on market time, whose proposal is made on a worker thread (timed there)."""
    cards = engine.parts.cards
    refresh = cards.refresh
    spent = [0.0]

    def timed_refresh() -> None:
        r0 = time.process_time()
        refresh()
        spent[0] += time.process_time() - r0

    def timed_propose(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            return propose(*args, **kwargs)  # within refresh: timed there
        r0 = time.thread_time()
        try:
            return propose(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - r0

    cards.refresh = timed_refresh  # type: ignore[method-assign]
    card_module.propose = timed_propose  # type: ignore[attr-defined]
    return spent


def plain_chain(n_symbols: int, n_orders: int, steps: int = STEPS) -> float:
    """Per quote: mark a position, check a limit, match the symbol's working orders; plain dicts."""
    rng = np.random.default_rng(3)
    symbols = [f"S{k:03d}" for k in range(n_symbols)]
    prices = rng.uniform(20, 200, (steps, n_symbols)).tolist()
    marks: dict[str, float] = {}
    working: dict[str, list[float]] = {}
    for i in range(n_orders):
        working.setdefault(symbols[i % n_symbols], []).append(1.0)
    fills = 0

    def mark(sym: str, price: float) -> None:
        marks[sym] = price

    def risk(price: float) -> bool:
        return price > 0.0

    def match(sym: str, price: float) -> int:
        return sum(1 for limit in working.get(sym, ()) if price <= limit)

    t0 = time.process_time()
    for row in prices:
        for sym, price in zip(symbols, row, strict=True):
            mark(sym, price)
            if risk(price):
                fills += match(sym, price)
    elapsed = time.process_time() - t0
    return steps * n_symbols / elapsed


async def run(sizes: list[int]) -> None:
    for n in sizes:
        for orders in (0, 100):
            row = await measure_engine(n, orders)
            chain = plain_chain(n, orders)
            print(
                f"engine throughput: {n:>4} symbols, {orders:>3} working orders: "
                f"{row.quotes_per_s:>9,.0f} quotes/s ({row.without_cards:>9,.0f} without the card "
                f"re-sizing, {row.cards_s / row.elapsed_s:.0%} of the time; the loop's thread alone "
                f"{row.on_the_loop:>9,.0f})   plain call chain "
                f"{chain:>11,.0f} quotes/s ({chain / row.quotes_per_s:.0f}x)",
                flush=True,
            )


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [5, 50, 500]
    asyncio.run(run(sizes))


if __name__ == "__main__":
    main()
