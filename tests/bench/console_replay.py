"""The paced replay of a 500-symbol universe with the console attached (issue 18, item 4): does
the engine keep to its clock while a desk folds and paints every step?

One process, as a trader runs ``onetap``: the console (``OneTapApp``, headless through Textual's
``run_test``) with its embedded engine on its own thread (``EmbeddedClient``), on the synthetic
universe of ``tests.bench.engine_throughput`` (seeded random walks through ``[data] source =
"file"``). After the first session's start (its card generation is the session-start stall,
measured on its own) the replay's lag is reset, then read after a window of paced steps:

- lag: how far behind its schedule the replay emitted a step (``ReplayFeed.max_lag_s``; the
  schedule is ``seconds_per_day / steps_per_day`` per step), and stalls of over a second;
- steps played in the window against the steps due, and the mean and worst interval between steps;
- the desk's folds: market events applied by the console in the window.

Run with ``python -m tests.bench.console_replay [SYMBOLS [SECONDS_PER_DAY [WINDOW_S]]]`` (500, 45,
20 by default). Figures are printed.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path

from console.app import OneTapApp
from console.client import EmbeddedClient
from engine.config import load_settings
from engine.data.loader import load_user_file
from engine.data.replay import ReplayFeed
from engine.kernel import Engine
from engine.model.events import MarketEvent
from tests.bench.engine_throughput import settings_file, synthetic_file

WARM_STEPS = 15
"""Paced steps after the first session's start before the window opens (its cards are in)."""


async def measure(n_symbols: int, seconds_per_day: float, window_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        data, symbols = synthetic_file(folder, n_symbols)
        settings = load_settings(settings_file(folder, data, symbols, seconds_per_day), environ={})
        market = load_user_file(data, jump_threshold=0.5)
        stamps: list[float] = []

        def factory() -> Engine:
            engine = Engine(settings, database=folder / "onetap.db", market=market, paced=True)
            engine.bus.on(MarketEvent, lambda _e: stamps.append(time.monotonic()))
            return engine

        client = EmbeddedClient(settings, engine_factory=factory)
        app = OneTapApp(client, settings=settings)
        folds = [0]
        apply = app.state.apply

        def counted(event: object) -> object:
            if isinstance(event, MarketEvent):
                folds[0] += 1
            return apply(event)  # type: ignore[arg-type]

        app.state.apply = counted  # type: ignore[method-assign]
        async with app.run_test(size=(200, 50)):
            deadline = time.monotonic() + 300
            while len(stamps) < WARM_STEPS and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert client.engine is not None, "the engine did not start"
            feed = client.engine.parts.feed
            assert isinstance(feed, ReplayFeed)
            if hasattr(feed, "max_lag_s"):  # main's replay before issue 18 had no lag figures
                feed.max_lag_s, feed.stalls = 0.0, 0
            first, folds0, t0 = len(stamps), folds[0], time.monotonic()
            await asyncio.sleep(window_s)
            elapsed = time.monotonic() - t0
            window = stamps[first:]
            gaps = [b - a for a, b in itertools.pairwise(window)]
            interval = seconds_per_day / settings.replay.steps_per_day
            out = {
                "max_lag_s": getattr(feed, "max_lag_s", float("nan")),
                "stalls": float(getattr(feed, "stalls", float("nan"))),
                "steps": float(len(window)),
                "due": elapsed / interval,
                "interval_ms": 1000 * interval,
                "mean_gap_ms": 1000 * sum(gaps) / max(len(gaps), 1),
                "worst_gap_ms": 1000 * max(gaps, default=0.0),
                "folds": float(folds[0] - folds0),
            }
            await app.action_quit()
        return out


def main() -> None:
    args = [float(a) for a in sys.argv[1:]]
    n = int(args[0]) if args else 500
    spd = args[1] if len(args) > 1 else 45.0
    window = args[2] if len(args) > 2 else 20.0
    f = asyncio.run(measure(n, spd, window))
    print(
        f"console replay: {n} symbols at {spd:g} s/day ({f['interval_ms']:.0f} ms a step), "
        f"console attached: {f['steps']:.0f} steps played of {f['due']:.0f} due in the window; "
        f"max lag {1000 * f['max_lag_s']:.0f} ms, {f['stalls']:.0f} stalls > 1 s; interval mean "
        f"{f['mean_gap_ms']:.0f} ms, worst {f['worst_gap_ms']:.0f} ms; "
        f"{f['folds']:.0f} market events folded by the desk"
    )


if __name__ == "__main__":
    main()
