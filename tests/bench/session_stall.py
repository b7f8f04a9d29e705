"""The longest feed stall at a session start, with a universe of N synthetic symbols (issue 18).

A paced paper engine replays N symbols (ten years of seeded synthetic daily bars before the replay)
at ``SECONDS_PER_DAY`` a session, so session starts come every few seconds and each one scans
the universe for the day's cards. Two figures for each session start (from half a second before
its first step until half a session after, while its cards are computed), the first start
(numba's kernels being loaded into the process) apart from the later ones:

- the longest gap between two quote steps (``MarketEvent``), beside the pacing interval between
  steps: how long the feed stood still;
- the longest the event loop was held: a probe asks to wake every 5 ms and records how late it was;
- the longest stretch the card pipeline itself ran on the loop (its methods the loop calls, and
  each step of its session-scan task): the part of a stall the day's cards are responsible for
  (the rest, on a busy machine, is the risk gauges and status reading every symbol's history, and
  the other threads' share of the interpreter).

Target: a session start never stalls the feed for more than 200 ms (the day's cards computed off
the event loop). ``--before PATH`` runs the same measurement on another checkout's code (the main
checkout) in the same run. Each run is a fresh child process.

Run with ``python -m tests.bench.session_stall [--symbols 500] [--before /work/main]``. Figures
are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SECONDS_PER_DAY = 20.0
STEPS_PER_DAY = 78
"""A step every 5 minutes of market time: 500 symbols x 390 steps a session would be more quotes
than a busy 2-core machine absorbs in a paced session, and the bench measures stalls, not throughput."""
WINDOW = 62.0
TARGET_MS = 200.0


def _market(symbols: list[str], seed: int = 7) -> object:
    """Seeded synthetic bars on real sessions: ten years before the replay start, a year after."""
    from datetime import date

    import numpy as np
    import pandas as pd

    from engine.data import calendar
    from engine.data.loader import MarketData
    from engine.model import Instrument

    days = calendar.sessions_array(date(2002, 1, 2), date(2012, 12, 31))
    index = pd.DatetimeIndex(days.astype("datetime64[ns]"))
    rng = np.random.default_rng(seed)
    n = len(days)
    market = rng.normal(0.0003, 0.01, n)
    bars = {}
    for sym in symbols:
        r = 0.8 * market + rng.normal(0.0, 0.015, n)
        close = 50.0 * np.exp(np.cumsum(r))
        spread = np.abs(rng.normal(0.0, 0.01, n)) * close
        open_ = close * (1 + rng.normal(0.0, 0.003, n))
        high = np.maximum(open_, close) + spread
        low = np.minimum(open_, close) - spread
        volume = rng.lognormal(14.0, 0.3, n).round()
        bars[sym] = pd.DataFrame(
            {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
        )
    return MarketData(bars=bars, instruments={s: Instrument(s) for s in bars}, source="synthetic")


async def _measure(n: int) -> dict[str, float]:
    from engine.config import load_settings
    from engine.kernel import Engine
    from engine.model.events import MarketEvent

    symbols = [f"S{k:04d}" for k in range(n)]
    env = {
        "ONETAP_UNIVERSE__SYMBOLS": json.dumps(symbols),
        "ONETAP_UNIVERSE__BENCHMARK": "SPX",
        "ONETAP_REPLAY__START": "2012-01-03",
        "ONETAP_REPLAY__SECONDS_PER_DAY": str(SECONDS_PER_DAY),
        "ONETAP_REPLAY__STEPS_PER_DAY": str(STEPS_PER_DAY),
    }
    card_holds = _time_card_pipeline()
    settings = load_settings(environ=env)
    market = _market([*symbols, "SPX"])
    with tempfile.TemporaryDirectory() as d:
        engine = Engine(settings, database=Path(d) / "onetap.db", market=market, paced=True)  # type: ignore[arg-type]
        steps: list[float] = []
        starts: list[float] = []  # when each session's first step came
        seen: list[object] = [None]

        def on_market(_e: MarketEvent) -> None:
            now = time.perf_counter()
            day = engine.feed.current_day
            if day != seen[0]:
                seen[0] = day
                starts.append(now)
            steps.append(now)

        engine.bus.on(MarketEvent, on_market)
        lags: list[tuple[float, float]] = []
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append((t, time.perf_counter() - t - 0.005))

        t0 = time.perf_counter()
        await engine.start()
        started = time.perf_counter() - t0
        task = asyncio.create_task(probe())
        await asyncio.sleep(WINDOW)
        stop.set()
        await task
        cards = len(engine.cards)
        await engine.stop()

    def worst(lo: float, hi: float) -> tuple[float, float]:
        """The longest step gap and loop hold that began in [lo, hi)."""
        gap = max((b - a for a, b in itertools.pairwise(steps) if lo <= a < hi), default=0.0)
        hold = max((d for t, d in lags if lo <= t < hi), default=0.0)
        return gap * 1000, hold * 1000

    # a session start: from the last step before it until its cards are in (a scan: seconds)
    windows = [(a - 0.5, a + SECONDS_PER_DAY / 2) for a in starts]
    first = worst(*windows[0]) if windows else (math.nan, math.nan)
    later = [worst(*w) for w in windows[1:]]
    return {
        "n": n,
        "start_s": started,
        "steps": len(steps),
        "sessions": len(starts),
        "first_gap_ms": first[0],
        "first_hold_ms": first[1],
        "gap_ms": max((g for g, _h in later), default=math.nan),
        "hold_ms": max((h for _g, h in later), default=math.nan),
        "pace_ms": SECONDS_PER_DAY / STEPS_PER_DAY * 1000,
        "cards_hold_ms": max(card_holds, default=0.0) * 1000,
        "cards": cards,
    }


def _time_card_pipeline() -> list[float]:
    """Time every stretch the card pipeline runs on the event loop (its methods the loop calls,
    and each resumption of its session-scan task), on this checkout's ``CardPipeline``."""
    import functools

    from engine.runtime.cards import CardPipeline

    holds: list[float] = []
    for name in ("refresh", "resize", "on_quotes", "_apply", "context"):
        method = getattr(CardPipeline, name, None)
        if method is None:
            continue

        def timed(self: object, *a: object, _m: Any = method, **k: object) -> object:
            t = time.perf_counter()
            try:
                return _m(self, *a, **k)
            finally:
                holds.append(time.perf_counter() - t)

        setattr(CardPipeline, name, functools.wraps(method)(timed))
    scan_session = CardPipeline._scan_session

    async def stepped(self: object, day: object) -> object:
        coro = scan_session(self, day)  # type: ignore[arg-type]
        while True:
            t = time.perf_counter()
            try:
                waiting = coro.send(None)
            except StopIteration as done:
                holds.append(time.perf_counter() - t)
                return done.value
            holds.append(time.perf_counter() - t)
            if waiting is None:
                await asyncio.sleep(0)
            else:
                waiting._asyncio_future_blocking = False
                await asyncio.wait([waiting])

    CardPipeline._scan_session = stepped  # type: ignore[method-assign,assignment]
    return holds


def _child(n: int) -> None:
    print(json.dumps(asyncio.run(_measure(n))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--before", default="", help="another checkout to measure beside this one")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return
    here = Path(__file__).resolve().parents[2]
    roots = (
        [("after", here)] if not args.before else [("before", Path(args.before).resolve()), ("after", here)]
    )
    print(
        f"session start with {args.symbols} symbols: paced replay, "
        f"{SECONDS_PER_DAY:g} s a session, {WINDOW:g} s"
    )
    for label, root in roots:
        env = {**os.environ, "PYTHONPATH": str(root)}
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(args.symbols)],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        if done.returncode != 0 or not lines:
            print(f"  {label}: failed (rc {done.returncode}): {done.stderr.strip()[-400:]}")
            continue
        r = json.loads(lines[-1])
        verdict = "met" if r["gap_ms"] - r["pace_ms"] < TARGET_MS else "MISSED"
        print(f"  {label:6} card pipeline's longest stretch on the event loop: {r['cards_hold_ms']:6.0f} ms")
        print(
            f"  {label:6} session starts after the first: longest step gap {r['gap_ms']:6.0f} ms "
            f"(pace {r['pace_ms']:.0f} ms), loop held {r['hold_ms']:6.0f} ms  "
            f"(target < {TARGET_MS:.0f} ms: {verdict})"
        )
        print(
            f"  {label:6} the first (numba kernels loading): step gap {r['first_gap_ms']:6.0f} ms, "
            f"loop held {r['first_hold_ms']:6.0f} ms; {r['sessions']} sessions, {r['steps']} steps, "
            f"{r['cards']} cards at the end; engine start {r['start_s']:.1f} s"
        )


if __name__ == "__main__":
    main()
