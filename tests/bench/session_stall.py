"""The longest feed stall at a session start, with a universe of N synthetic symbols (issue 18).

A paced paper engine replays N symbols (ten years of seeded synthetic daily bars before the replay)
at ``SECONDS_PER_DAY`` a session, so session starts come every few seconds and each one scans
the universe for the day's cards. Two figures, over ``WINDOW`` seconds from the engine's start:

- the longest gap between two quote steps (``MarketEvent``), beside the pacing interval between
  steps: how long the feed stood still;
- the longest the event loop was held: a probe asks to wake every 5 ms and records how late it was.

Target: a session start never stalls the feed for more than 200 ms (the day's cards computed off
the event loop). ``--before PATH`` runs the same measurement on another checkout's code (the main
checkout) in the same run. Each run is a fresh child process.

Run with ``python -m tests.bench.session_stall [--symbols 500] [--before /work/main]``. Figures
are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECONDS_PER_DAY = 6.0
STEPS_PER_DAY = 390
WINDOW = 14.0
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
    settings = load_settings(environ=env)
    market = _market([*symbols, "SPX"])
    with tempfile.TemporaryDirectory() as d:
        engine = Engine(settings, database=Path(d) / "onetap.db", market=market, paced=True)  # type: ignore[arg-type]
        steps: list[float] = []
        days: list[float] = []
        engine.bus.on(MarketEvent, lambda _e: steps.append(time.perf_counter()))
        lags: list[float] = []
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - t - 0.005)

        t0 = time.perf_counter()
        await engine.start()
        started = time.perf_counter() - t0
        task = asyncio.create_task(probe())
        last_day = None
        end = time.perf_counter() + WINDOW
        while time.perf_counter() < end:
            await asyncio.sleep(0.05)
            day = engine.feed.current_day
            if day != last_day:
                days.append(time.perf_counter())
                last_day = day
        stop.set()
        await task
        cards = len(engine.cards)
        await engine.stop()
    gaps = [b - a for a, b in zip(steps, steps[1:], strict=False)]
    return {
        "n": n,
        "start_s": started,
        "steps": len(steps),
        "sessions": len(days),
        "max_gap_ms": max(gaps, default=float("nan")) * 1000,
        "pace_ms": SECONDS_PER_DAY / STEPS_PER_DAY * 1000,
        "max_lag_ms": max(lags, default=float("nan")) * 1000,
        "cards": cards,
    }


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
    roots = [("after", here)] if not args.before else [("before", Path(args.before).resolve()), ("after", here)]
    print(f"session start with {args.symbols} symbols: paced replay, {SECONDS_PER_DAY:g} s a session, {WINDOW:g} s")
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
        verdict = "met" if r["max_gap_ms"] - r["pace_ms"] < TARGET_MS else "MISSED"
        print(
            f"  {label:6} longest step gap {r['max_gap_ms']:7.0f} ms (pace {r['pace_ms']:.0f} ms), "
            f"longest loop hold {r['max_lag_ms']:7.0f} ms; {r['sessions']} sessions, {r['steps']} steps, "
            f"{r['cards']} cards; start {r['start_s']:.1f} s  (target < {TARGET_MS:.0f} ms: {verdict})"
        )


if __name__ == "__main__":
    main()
