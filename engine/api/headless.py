"""``onetap --engine-only``: the engine with no UI, one structured log line per event on stdout,
the command/event protocol on a Unix socket, and a clean stop on SIGINT, SIGTERM and SIGHUP.

SIGHUP is what an engine started straight from an SSH session (not under systemd or tmux) gets
when the connection drops: it stops as cleanly as on SIGTERM rather than die where it stands,
and its log lines, which had nowhere to go, are dropped instead of failing the stop."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import TextIO

from engine.api.event_log import EventLog, LogOptions
from engine.api.http_server import HttpDoor, start_http
from engine.api.socket_server import EngineServer, default_socket_path, serve
from engine.config import Settings
from engine.kernel import Engine


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
    e = settings.engine
    log = EventLog(
        LogOptions(
            level=e.log_level,
            format=e.log_format,
            file=Path(e.log_file).expanduser() if e.log_file else None,
            max_bytes=e.log_max_bytes,
            backups=e.log_backups,
            summary_minutes=e.log_summary_minutes,
        ),
        out=out,
        now=engine.parts.clock.now,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    log.lifecycle(
        "EngineStarted",
        socket=str(path),
        database=str(engine.database),
        pid=os.getpid(),
        http=door.url if door else "",
    )

    async def log_events() -> None:
        async for event in sub:
            log.write(event)

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
    log.lifecycle("EngineStopped", quotes=log.quotes)
    log.close()
    return 0
