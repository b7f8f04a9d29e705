"""The headless log's size over a replayed month (21 sessions of the shipped replay, default
steps per day): the old one-JSON-line-per-event log (quotes and risk reports left out, as it did)
against ``engine.api.event_log`` (summaries for portfolio and risk), in the same run, both from
the same event stream. Run with ``make bench`` or ``python -m tests.bench.headless_log``."""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from engine.api.event_log import EventLog, LogOptions
from engine.config import load_settings
from engine.data.shipped import load_shipped
from engine.kernel import Engine
from engine.model.codec import to_jsonable
from engine.model.events import MarketEvent, RiskReportEvent

SESSIONS = 21


def _old_line(event: Any) -> str:
    data = to_jsonable(event)
    kind = data.pop("type")
    return json.dumps({"event": kind, **data}, separators=(",", ":"))


async def measure(sessions: int = SESSIONS) -> tuple[int, int, int, int]:
    """(old bytes, new bytes, old lines, new lines)."""
    with tempfile.TemporaryDirectory() as d:
        engine = Engine(load_settings(), database=Path(d) / "onetap.db", market=load_shipped(), paced=False)
        old, new = io.StringIO(), io.StringIO()
        old_lines = 0
        log: EventLog | None = None

        def both(event: Any) -> None:
            nonlocal old_lines
            if not isinstance(event, MarketEvent | RiskReportEvent):
                old.write(_old_line(event) + "\n")
                old_lines += 1
            if log is not None:
                log.write(event)

        engine.bus.on(object, both)
        await engine.start()
        log = EventLog(LogOptions(), out=new, now=engine.parts.clock.now, environ={})
        for _ in range(sessions):
            await engine.step_day()
        log.close()
        await engine.stop()
    return len(old.getvalue().encode()), len(new.getvalue().encode()), old_lines, log.lines


def main() -> None:
    old_b, new_b, old_n, new_n = asyncio.run(measure())
    print(
        f"headless_log: {SESSIONS} replayed sessions  before {old_b / 1e6:.2f} MB ({old_n} lines)  "
        f"after {new_b / 1e6:.3f} MB ({new_n} lines)  ratio {old_b / max(new_b, 1):.0f}x smaller"
    )


if __name__ == "__main__":
    main()
