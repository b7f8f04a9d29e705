"""``onetap --engine-only``: the engine with no UI, one structured log line per event on stdout,
the command/event protocol on a Unix socket, and a clean stop on SIGINT, SIGTERM and SIGHUP.

SIGHUP is what an engine started straight from an SSH session (not under systemd or tmux) gets
when the connection drops: it stops as cleanly as on SIGTERM rather than die where it stands,
and its log lines, which had nowhere to go, are dropped instead of failing the stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any, TextIO

from engine.api.socket_server import default_socket_path, serve
from engine.config import Settings
from engine.kernel import Engine
from engine.model.codec import to_jsonable
from engine.model.events import MarketEvent, NoticeEvent, RiskReportEvent

LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}


def log_line(event: Any) -> str:
    """One JSON object per event: its type first, then its fields (quotes are summarised, not logged)."""
    data = to_jsonable(event)
    kind = data.pop("type")
    return json.dumps({"event": kind, **data}, separators=(",", ":"))


async def run_headless(
    settings: Settings, *, database: Path | None = None, socket_path: Path | None = None, out: TextIO
) -> int:
    engine = Engine(settings, database=database)
    sub = engine.bus.subscribe()
    await engine.start()
    path = socket_path or (
        Path(settings.engine.socket).expanduser() if settings.engine.socket else default_socket_path()
    )
    try:
        server = await serve(engine, path)
    except BaseException:
        await engine.stop()
        raise
    min_level = LEVELS[settings.engine.log_level]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    _print(
        out,
        {"event": "EngineStarted", "socket": str(path), "database": str(engine.database), "pid": os.getpid()},
    )

    async def log_events() -> None:
        quotes = 0
        async for event in sub:
            if isinstance(event, MarketEvent):
                quotes += 1
                continue
            if isinstance(event, NoticeEvent) and LEVELS.get(event.level, 1) < min_level:
                continue
            if isinstance(event, RiskReportEvent) and min_level > LEVELS["debug"]:
                continue  # every few seconds and large: the detail screen's, not the log's
            _write(out, log_line(event))

    logger = asyncio.create_task(log_events())
    await stop.wait()
    server.close()
    await server.wait_closed()
    sub.close()
    await engine.stop()
    await logger
    path.unlink(missing_ok=True)
    _print(out, {"event": "EngineStopped"})
    return 0


def _print(out: TextIO, data: dict[str, Any]) -> None:
    _write(out, json.dumps(data, separators=(",", ":")))


def _write(out: TextIO, line: str) -> None:
    """One log line; a terminal or pipe that is gone (EIO, EPIPE) loses it, the engine goes on."""
    with contextlib.suppress(OSError, ValueError):
        out.write(line + "\n")
        out.flush()
