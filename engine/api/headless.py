"""``onetap --engine-only``: the engine with no UI, one structured log line per event on stdout,
the command/event protocol on a Unix socket, and a clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any, TextIO

from engine.api.http_server import HttpDoor, start_http
from engine.api.socket_server import EngineServer, default_socket_path, serve
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
    door: HttpDoor | None = None
    server: EngineServer | None = None
    try:
        server = await serve(engine, path)
        if settings.http.enabled:
            door = await start_http(engine, settings.http)
    except BaseException:
        if server is not None:  # the HTTP door failed: leave no socket behind
            server.close()
            await server.wait_closed()
            path.unlink(missing_ok=True)
        await engine.stop()
        raise
    min_level = LEVELS[settings.engine.log_level]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _print(
        out,
        {
            "event": "EngineStarted",
            "socket": str(path),
            "database": str(engine.database),
            "pid": os.getpid(),
            "http": door.url if door else "",
        },
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
            out.write(log_line(event) + "\n")
            out.flush()

    logger = asyncio.create_task(log_events())
    await stop.wait()
    if door is not None:
        await door.stop()
    server.close()
    await server.wait_closed()
    sub.close()
    await engine.stop()
    await logger
    path.unlink(missing_ok=True)
    _print(out, {"event": "EngineStopped"})
    return 0


def _print(out: TextIO, data: dict[str, Any]) -> None:
    out.write(json.dumps(data, separators=(",", ":")) + "\n")
    out.flush()
