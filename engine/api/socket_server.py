"""Serve the engine's protocol on a Unix socket, to consoles run by the same user.

The socket is 0600 inside a 0700 folder, and every peer's uid is checked with
SO_PEERCRED: on a shared server another account must not be able to trade.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import socket
import struct
from pathlib import Path

from engine.actor import Actor
from engine.api.protocol import MAX_LINE, EngineSession, encode
from engine.kernel import Engine
from engine.model import CommandSource
from engine.paths import default_socket_path
from engine.runtime.startup import EngineStartError

log = logging.getLogger(__name__)

__all__ = ["EngineServer", "default_socket_path", "peer_uid", "serve"]


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class EngineServer:
    """The listening socket and the sessions of its peers.

    Closing it also ends every peer's session: each connection is closed, so its handler reads
    end-of-file and returns. Without that, a console still attached when the engine stops leaves a
    handler waiting in ``readline`` until ``asyncio.run`` cancels it, and Python 3.11's stream
    callback prints that CancelledError as a traceback on a clean stop.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._server: asyncio.AbstractServer | None = None
        self._peers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, path: Path) -> None:
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._handler, path=str(path), limit=MAX_LINE)
        finally:
            os.umask(old)

    async def _handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # a stream handler always runs as a task
        self._peers[task] = writer
        try:
            await _serve_peer(self._engine, reader, writer)
        finally:
            self._peers.pop(task, None)

    @property
    def peers(self) -> int:
        """Consoles attached right now."""
        return len(self._peers)

    def close(self) -> None:
        """Stop listening and hang up on every peer (their handlers then return on their own)."""
        if self._server is not None:
            self._server.close()
        for writer in self._peers.values():
            writer.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        peers = list(self._peers)
        if peers:
            await asyncio.gather(*peers, return_exceptions=True)


async def serve(engine: Engine, path: Path) -> EngineServer:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    if path.exists():
        if await _alive(path):
            raise EngineStartError(f"{path}: another engine is already serving on this socket")
        path.unlink()
    server = EngineServer(engine)
    await server.start(path)
    path.chmod(0o600)
    return server


async def _alive(path: Path) -> bool:
    try:
        _, writer = await asyncio.open_unix_connection(str(path))
    except OSError:
        return False
    writer.close()
    return True


async def _serve_peer(engine: Engine, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    uid = peer_uid(sock) if sock is not None else -1
    if uid != os.getuid():
        log.warning("refused a connection from uid %s", uid)
        writer.write(
            (encode({"error": f"refused: peer uid {uid} is not the engine's owner"}) + "\n").encode()
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
        return
    session = EngineSession(engine, Actor(_user_name(uid), CommandSource.SOCKET))
    write_lock = asyncio.Lock()

    async def send(line: str) -> None:
        async with write_lock:
            writer.write(line.encode() + b"\n")
            await writer.drain()

    async def pump() -> None:
        async for line in session.outgoing():
            await send(line)

    pump_task = asyncio.create_task(pump())
    try:
        while True:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                await send(encode({"error": f"line longer than {MAX_LINE} bytes"}))
                break
            if not line:
                break
            await send(await session.handle_line(line))
    except ConnectionError:
        log.info("a console disconnected abruptly")  # nothing to answer: the session closes below
    finally:
        session.close()
        pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await pump_task
        writer.close()
