"""The paper engine replaying a year of 15-minute 24/7 bars (35,040 bars, one coin;
``[data] replay_sets``): quotes a second through the whole engine (marks, the paper broker's
matching, risk, the live intraday cards refreshed on every bar close), and the session-start time
of the intraday cards (track record, backtest, walk-forward, permutations) on a year of bars.

Run with ``python -m tests.bench.intraday_paper [--days N] [--permutations P]``. Figures are
printed, not asserted. The engine is stepped as fast as it goes (``paced=False``), so the figures
are what the engine costs, not the pace ``[replay] seconds_per_day`` sets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from engine.config import Settings, load_settings
from engine.data.intraday_sets import read_sets
from engine.data.market import load_market
from engine.kernel import Engine
from engine.model.events import MarketEvent
from engine.research.intraday import card_for
from tests.bench.intraday import year_of_15min

SETS = """\
[BTC-15min]
file = "btc.csv"
symbol = "BTCUSD"
asset_class = "crypto"
bar = "15min"
templates = ["trend", "mean_reversion", "trend@1h"]
"""


def bench_settings(folder: Path, days: int, permutations: int) -> Settings:
    """A coin's year of bars replayed for ``days`` sessions; ``permutations`` behind each
    session start's cards (the stepped engine waits for them at every session)."""
    year_of_15min(folder / "btc.csv")
    (folder / "sets.toml").write_text(SETS, encoding="utf-8")
    config = folder / "bench.toml"
    config.write_text(
        f"""\
[universe]
symbols = ["BTCUSD"]
[data]
intraday = "{folder / "sets.toml"}"
replay_sets = ["BTC-15min"]
[replay]
start = "2021-01-01"
end = "{(date(2021, 1, 1) + timedelta(days=days - 1)).isoformat()}"
[cards]
intraday_permutations = {permutations}
""",
        encoding="utf-8",
    )
    return load_settings(config)


async def replay(settings: Settings, folder: Path) -> None:
    market = load_market(settings)
    eng = Engine(settings, database=folder / "onetap.db", market=market, paced=False)
    await eng.start()
    quotes = steps = 0

    def count(event: MarketEvent) -> None:
        nonlocal quotes, steps
        quotes += len(event.quotes)
        steps += 1

    eng.bus.on(MarketEvent, count)
    wall, cpu = time.perf_counter(), time.process_time()
    while not eng.feed.finished:
        await eng.step(2_000)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sessions = len(eng.feed.sessions)
    await eng.stop()
    print(f"  engine replay: {sessions} sessions, {steps:,} steps, {quotes:,} quotes")
    print(
        f"    wall {wall:8.2f} s   CPU {cpu:8.2f} s   "
        f"{quotes / wall:,.0f} quotes/s wall, {quotes / cpu:,.0f} quotes/s CPU"
    )
    print("    (with every session start's intraday cards: off the loop, waited for by the stepper)")


def session_start_cards(settings: Settings, permutations: int) -> None:
    from engine.data.intraday_sets import sets_path

    path = sets_path(settings.data.intraday)
    assert path is not None
    (chosen,) = read_sets(path)
    for t in chosen.templates:  # warm: the compiled kernels load once per process
        card_for(chosen, t, permutations=0)
    for perms in sorted({0, permutations}):
        wall, cpu = time.perf_counter(), time.process_time()
        for t in chosen.templates:
            card_for(chosen, t, permutations=perms, seed=7)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"  session-start cards, 3 templates on {len(chosen.series.frame):,} bars, "
            f"{perms} permutations: wall {wall:6.2f} s, CPU {cpu:6.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--permutations", type=int, default=100, help="for the session-start cards")
    parser.add_argument("--replay-permutations", type=int, default=0, help="for the engine replay's cards")
    args = parser.parse_args()
    print(f"intraday paper: a year of 15-minute 24/7 bars (load average {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = bench_settings(folder, args.days, args.replay_permutations)
        session_start_cards(settings, args.permutations)
        print(
            f"  engine replay with {args.replay_permutations} permutations behind each session start's cards"
        )
        asyncio.run(replay(settings, folder))
    print(f"  load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
