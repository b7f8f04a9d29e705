"""The paper engine replaying a year of 15-minute 24/7 bars (35,040 bars, one coin;
``[data] replay_sets``), and what its live intraday cards cost.

1. **The replay through the engine**: every quote step's whole path (the quote guard, marks, the
   paper broker's matching, order flow, portfolio and risk events, the daily card pipeline's
   re-size timer), the set replayed without templates so no intraday card is computed: quotes a
   second and CPU seconds for the year.
2. **The intraday cards** on the same year of bars: a session start's whole cards (three
   templates: track record, backtest, walk-forward, ``--permutations`` bar shuffles) and a bar
   close's refresh (the three track records and "entry now"), both computed off the engine's loop.
3. With ``--with-cards N``: the engine replaying the first N days with the three templates, every
   session start's cards and bar close's refresh waited for by the stepper.

Run with ``python -m tests.bench.intraday_paper``. Figures are printed, not asserted. The engine is
stepped as fast as it goes (``paced=False``): what it costs, not the pace ``seconds_per_day`` sets.
CPU time is the process's (every thread).
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
from engine.data.intraday_sets import read_sets, sets_path
from engine.data.market import load_market
from engine.kernel import Engine
from engine.model.events import MarketEvent
from engine.research.intraday import card_for, resolve_template, series_bars
from engine.strategies.scan import scan_template
from tests.bench.intraday import year_of_15min

TEMPLATES = '["trend", "mean_reversion", "trend@1h"]'


def bench_settings(folder: Path, days: int, templates: str, permutations: int) -> Settings:
    """A coin's year of bars replayed for ``days`` sessions with ``templates`` (a TOML list)."""
    if not (folder / "btc.csv").exists():
        year_of_15min(folder / "btc.csv")
    sets = folder / f"sets-{days}.toml"
    sets.write_text(
        f'[BTC-15min]\nfile = "btc.csv"\nsymbol = "BTCUSD"\nasset_class = "crypto"\nbar = "15min"\n'
        f"templates = {templates}\n",
        encoding="utf-8",
    )
    config = folder / f"bench-{days}.toml"
    end = date(2021, 1, 1) + timedelta(days=days - 1)
    config.write_text(
        f'[universe]\nsymbols = ["BTCUSD"]\n[data]\nintraday = "{sets}"\nreplay_sets = ["BTC-15min"]\n'
        f'[replay]\nstart = "2021-01-01"\nend = "{end.isoformat()}"\n'
        f"[cards]\nintraday_permutations = {permutations}\n",
        encoding="utf-8",
    )
    return load_settings(config)


async def replay(settings: Settings, database: Path) -> None:
    eng = Engine(settings, database=database, market=load_market(settings), paced=False)
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
    print(f"    {sessions} sessions, {steps:,} steps, {quotes:,} quotes: wall {wall:.1f} s, CPU {cpu:.1f} s")
    print(f"    {quotes / wall:,.0f} quotes/s (wall), {quotes / cpu:,.0f} quotes/s (CPU)")


def cards(settings: Settings, permutations: int) -> None:
    path = sets_path(settings.data.intraday)
    assert path is not None
    (chosen,) = read_sets(path)
    names = ("trend", "mean_reversion", "trend@1h")
    for t in names:  # warm: the compiled kernels load once per process
        card_for(chosen, t, permutations=0)
    for perms in sorted({0, permutations}):
        wall, cpu = time.perf_counter(), time.process_time()
        for t in names:
            card_for(chosen, t, permutations=perms, seed=7)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"    session start, 3 templates, {len(chosen.series.frame):,} bars, {perms} permutations: "
            f"wall {wall:.2f} s, CPU {cpu:.2f} s"
        )
    panel = {chosen.series.symbol: series_bars(chosen.series)}
    wall, cpu = time.perf_counter(), time.process_time()
    for t in names:
        tpl = resolve_template(t, chosen.series.bar)
        scan_template(tpl, panel, tpl.params())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"    bar close at the year's end, 3 track records: wall {wall * 1e3:.0f} ms, CPU {cpu * 1e3:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--permutations", type=int, default=100, help="behind the session-start cards")
    parser.add_argument(
        "--with-cards", type=int, default=0, metavar="N", help="also replay N days with cards"
    )
    args = parser.parse_args()
    print(f"intraday paper: 15-minute 24/7 bars (load average {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"  1. the engine replaying {args.days} days, no intraday cards")
        asyncio.run(replay(bench_settings(folder, args.days, "[]", 0), folder / "a.db"))
        print("  2. the intraday cards on a year of bars (off the loop)")
        cards(bench_settings(folder, 365, TEMPLATES, args.permutations), args.permutations)
        if args.with_cards:
            print(f"  3. the engine replaying {args.with_cards} days with the cards (0 permutations)")
            asyncio.run(replay(bench_settings(folder, args.with_cards, TEMPLATES, 0), folder / "b.db"))
    print(f"  load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
