"""Operations overheads, in one run on the shipped replay (default 390 steps per session):

- quote throughput of a stepped engine with session recording off and on, and with the HTTP door
  open and scraped every 50 steps;
- the order path (ExecuteCard to the order acknowledged) with recording off and on;
- ``GET /metrics`` time; recording size per session and per session-hour; replay speed.

Run with ``make bench`` or ``python -m tests.bench.operations``. Figures are printed.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from engine.actor import Actor
from engine.api.http_server import HttpDoor
from engine.api.replay import replay
from engine.config import HttpSettings, load_settings
from engine.data.shipped import load_shipped
from engine.kernel import Engine
from engine.model import CommandSource, Side
from engine.model.events import ExecuteCard

SESSIONS = 3
OPERATOR = Actor("bench", CommandSource.HOTKEY)


async def _run(tmp: Path, *, record: bool, http: bool) -> dict[str, float]:
    env = {"ONETAP_RECORDING__ENABLED": "true" if record else "false"}
    engine = Engine(
        load_settings(environ=env), database=tmp / "onetap.db", market=load_shipped(), paced=False
    )
    await engine.start()
    door: HttpDoor | None = None
    if http:
        door = HttpDoor(engine, HttpSettings(port=0))
        await door.start()
    await engine.step_day()  # warm-up: the first cards, caches
    quotes = 0
    scrape: list[float] = []
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as client:
        for i in range(SESSIONS * 390):
            await engine.step(1)
            quotes += len(engine.parts.market.latest_quotes())
            if door is not None and i % 50 == 0:
                s0 = time.perf_counter()
                async with client.get(door.url + "/metrics") as response:
                    await response.read()
                scrape.append(time.perf_counter() - s0)
    elapsed = time.perf_counter() - t0
    orders: list[float] = []
    for card in [c for c in engine.cards if c.legs[0].side is Side.BUY][:5]:
        o0 = time.perf_counter()
        await engine.handle(ExecuteCard(card.card_id), OPERATOR)
        orders.append(time.perf_counter() - o0)
    recording = engine._recorder.folder if engine._recorder else None
    if door is not None:
        await door.stop()
    await engine.stop()
    out = {"quotes_per_s": quotes / elapsed, "order_ms": 1000 * statistics.median(orders) if orders else 0.0}
    if scrape:
        out["scrape_ms"] = 1000 * statistics.median(scrape)
    if recording is not None:
        out["recording_bytes"] = sum(f.stat().st_size for f in recording.glob("events-*.arrows"))
        out["sessions"] = SESSIONS + 1
        r0 = time.perf_counter()
        result = await replay(recording, tmp / "replayed")
        out["replay_s"] = time.perf_counter() - r0
        out["replay_steps"] = result.steps
    return out


async def measure() -> dict[str, dict[str, float]]:
    figures = {}
    for name, record, http in (
        ("plain", False, False),
        ("recording", True, False),
        ("http door", False, True),
    ):
        with tempfile.TemporaryDirectory() as d:
            figures[name] = await _run(Path(d), record=record, http=http)
    return figures


def main() -> None:
    f = asyncio.run(measure())
    base = f["plain"]["quotes_per_s"]
    for name, row in f.items():
        print(
            f"operations: {name:<10} {row['quotes_per_s']:,.0f} quotes/s "
            f"({row['quotes_per_s'] / base:.2f}x plain)  "
            f"order path median {row['order_ms']:.1f} ms"
        )
    print(f"operations: GET /metrics median {f['http door']['scrape_ms']:.1f} ms")
    rec = f["recording"]
    per_session = rec["recording_bytes"] / rec["sessions"]
    print(
        f"operations: recording {per_session / 1e6:.2f} MB per session ({per_session / 6.5 / 1e6:.2f} MB per "
        f"session-hour, 6 symbols x 390 steps); replay {rec['sessions'] / rec['replay_s']:.2f} sessions/s "
        f"({rec['replay_steps']} steps in {rec['replay_s']:.1f} s)"
    )


if __name__ == "__main__":
    main()
