"""EngineClient: the only way the console talks to an engine.

Two transports, one behaviour: ``EmbeddedClient`` runs the engine on its own thread and
event loop inside this process; ``SocketClient`` attaches to a headless engine over its
Unix socket. Both carry the same encoded messages (engine.model.codec), so what works
embedded works attached. Events are delivered on the caller's event loop (the Textual
app's), the first one always a ``SnapshotEvent``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from engine.actor import Actor, current_user
from engine.api.protocol import MAX_LINE, EngineSession, decode, encode
from engine.clock import WallClock
from engine.config import Settings
from engine.model import CommandSource, RefusalCode
from engine.model.codec import DecodeError
from engine.model.events import Command, CommandResult, Event, NoticeEvent

if TYPE_CHECKING:  # the engine (pandas, SQLAlchemy) loads on its own thread, not before the first frame
    from engine.kernel import Engine

EventSink = Callable[[Event], None]
T = TypeVar("T")


class EngineClient(Protocol):
    description: str

    async def connect(self, sink: EventSink) -> None:
        """Start receiving events; ``sink`` is called on the caller's loop, snapshot first."""
        ...

    async def send(self, command: Command) -> CommandResult:
        """Send one command and wait for its result (refusals come back as ok=False)."""
        ...

    async def close(self) -> None: ...


class _LineClient:
    """What both transports share: decoding lines into events and results, and matching replies."""

    def __init__(self) -> None:
        self._sink: EventSink | None = None
        self._pending: dict[int, asyncio.Future[CommandResult]] = {}
        self._next_id = 0

    def _on_line(self, line: str | bytes) -> None:
        try:
            msg = decode(line)
        except DecodeError as exc:
            self._emit(NoticeEvent(_now_utc(), "error", f"bad message from the engine: {exc}"))
            self._fail_unreadable_reply(line, exc)
            return
        if "event" in msg and self._sink is not None:
            self._sink(msg["event"])
        if "result" in msg:
            fut = self._pending.pop(int(msg.get("id") or 0), None)
            if fut is not None and not fut.done():
                fut.set_result(msg["result"])
        if "error" in msg:
            self._emit(NoticeEvent(_now_utc(), "error", f"engine: {msg['error']}"))

    def _fail_unreadable_reply(self, line: str | bytes, exc: DecodeError) -> None:
        """An answer this console cannot read (a code from a newer engine, say) still ends its
        command, as a refusal naming what was wrong, instead of leaving the sender waiting forever."""
        try:
            raw = json.loads(line)
        except ValueError:
            return
        ident = raw.get("id") if isinstance(raw, dict) and "result" in raw else None
        fut = self._pending.pop(ident, None) if isinstance(ident, int) else None
        if fut is not None and not fut.done():
            message = f"the engine's answer could not be read: {exc}"
            fut.set_result(CommandResult(ok=False, message=message, code=RefusalCode.CLIENT_ERROR))

    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            self._sink(event)

    def _new_request(self, command: Command) -> tuple[str, asyncio.Future[CommandResult]]:
        self._next_id += 1
        fut: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = fut
        return encode({"id": self._next_id, "command": command}), fut

    def _fail_pending(self, message: str) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_result(CommandResult(ok=False, message=message, code=RefusalCode.DISCONNECTED))
        self._pending.clear()


def _now_utc() -> datetime:
    """Only for stamping client-side notices (connection lost); never shown as market time."""
    return WallClock().now()


class EmbeddedClient(_LineClient):
    """Runs an Engine on its own thread and event loop, so the UI never waits on it."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: Path | None = None,
        user: str | None = None,
        engine_factory: Callable[[], Engine] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self._factory = engine_factory or (lambda: _new_engine(settings, database))
        self._user = user or current_user()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.engine: Engine | None = None
        self._session: EngineSession | None = None
        self._pump: concurrent.futures.Future[None] | None = None
        self.description = "embedded engine"

    def start(self) -> None:
        """Start the engine thread now; ``connect`` waits for it to be ready."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="onetap-engine", daemon=True)
            self._thread.start()

    @property
    def start_error(self) -> BaseException | None:
        """Why the engine failed to start, once it has; None while starting or after a good start."""
        if not self._ready.done() or self._ready.cancelled():
            return None
        return self._ready.exception()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self.engine = self._factory()
            loop.run_until_complete(self.engine.start())
        except BaseException as exc:  # reported to the UI thread, which shows it
            self._ready.set_exception(exc)
            loop.close()
            return
        self._ready.set_result(None)
        loop.run_forever()
        loop.close()

    async def connect(self, sink: EventSink) -> None:
        self.start()
        await asyncio.wrap_future(self._ready)
        assert self._loop is not None and self.engine is not None
        self._sink = sink
        ui_loop = asyncio.get_running_loop()
        engine = self.engine

        async def open_session() -> EngineSession:
            return EngineSession(engine, Actor(self._user, CommandSource.HOTKEY))

        self._session = await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(open_session(), self._loop)
        )
        session = self._session

        async def pump() -> None:
            async for line in session.outgoing():
                ui_loop.call_soon_threadsafe(self._on_line, line)

        self._pump = asyncio.run_coroutine_threadsafe(pump(), self._loop)

    async def send(self, command: Command) -> CommandResult:
        if self._session is None or self._loop is None:
            return CommandResult(
                ok=False, message="not connected to an engine", code=RefusalCode.DISCONNECTED
            )
        line, fut = self._new_request(command)
        reply = await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._session.handle_line(line), self._loop)
        )
        self._on_line(reply)
        return await fut

    async def on_engine(self, fn: Callable[[Engine], Awaitable[T]]) -> T:
        """Run ``fn(engine)`` on the engine's own loop and wait for its result.

        The engine is not thread-safe; this is the one door for code on another thread that
        must drive it directly (tests stepping an unpaced replay, tools). Commands go through
        ``send`` instead.
        """
        if self._loop is None or self.engine is None:
            raise RuntimeError("the embedded engine has not started")
        engine = self.engine

        async def call() -> T:
            return await fn(engine)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), self._loop))

    async def close(self) -> None:
        loop, engine = self._loop, self.engine
        if loop is None or engine is None or not loop.is_running():
            return
        if self._session is not None:
            loop.call_soon_threadsafe(self._session.close)
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(engine.stop(), loop))
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)


def _new_engine(settings: Settings, database: Path | None) -> Engine:
    """Import and build the engine on the engine's thread, while the UI thread draws."""
    from engine.kernel import Engine

    return Engine(settings, database=database)


RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 10.0
"""An attached console retries a lost engine after 0.5 s, doubling to at most 10 s between tries:
quick after a restart, and no busy loop against an engine that stays down."""


@dataclass(frozen=True, slots=True)
class LinkState:
    """Where an attached console's connection stands: up, or down and retrying in ``retry_in`` s."""

    up: bool
    detail: str = ""
    retry_in: float | None = None


class SocketClient(_LineClient):
    """Attaches to a headless engine over its Unix socket, and re-attaches when it comes back.

    The first ``connect`` fails loudly (nothing to attach to is the operator's mistake to hear
    about); a connection lost later is retried with backoff, and the engine's first message on
    the new connection, a full snapshot, re-syncs the desk. ``on_link`` hears every change.
    """

    def __init__(
        self,
        path: Path,
        *,
        settings: Settings | None = None,
        database: Path | None = None,
        reconnect: bool = True,
    ) -> None:
        """``settings`` and ``database`` say where the engine's database is, for a halt written
        there while no engine answers (``halt_without_engine``)."""
        super().__init__()
        self.path = path
        self.description = f"attached to {path}"
        self.settings = settings
        self.database = database
        self.reconnect = reconnect
        self.connected = False
        self.on_link: Callable[[LinkState], None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._closing = False

    async def connect(self, sink: EventSink) -> None:
        self._sink = sink
        await self._open()

    async def _open(self) -> None:
        try:
            reader, self._writer = await asyncio.open_unix_connection(str(self.path), limit=MAX_LINE)
        except OSError as exc:
            raise ConnectionError(
                f"{self.path}: cannot attach ({exc.strerror or exc}); is `onetap --engine-only` running?"
            ) from None
        self.connected = True
        self._reader_task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        # A dropped or garbled connection ends the reading the same way a closed one does: below.
        with contextlib.suppress(ConnectionError, ValueError):
            while line := await reader.readline():
                self._on_line(line)
        self.connected = False
        self._fail_pending("the engine connection closed")
        if self._closing:
            return
        lost = f"lost the engine at {self.path}: the desk shows its last data; reconnecting"
        hint = " (ctrl+k still halts, through the database)" if self.reconnect else ""
        self._emit(NoticeEvent(_now_utc(), "error", lost + hint))
        self._tell(LinkState(False, "the engine connection closed"))
        if self.reconnect:
            self._retry_task = asyncio.create_task(self._retry())

    async def _retry(self) -> None:
        """Try again after 0.5, 1, 2, 4, 8, 10, 10... seconds until the engine answers or we close."""
        delay = RECONNECT_FIRST_S
        while not self._closing:
            self._tell(LinkState(False, "reconnecting", retry_in=delay))
            await asyncio.sleep(delay)
            try:
                await self._open()
            except ConnectionError as exc:
                self._tell(LinkState(False, str(exc)))
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            self._tell(LinkState(True, "reconnected"))
            return

    def _tell(self, link: LinkState) -> None:
        if self.on_link is not None:
            self.on_link(link)

    async def send(self, command: Command) -> CommandResult:
        if self._writer is None or self._writer.is_closing() or not self.connected:
            return CommandResult(
                ok=False,
                message="not connected to the engine (reconnecting); ctrl+k still halts, via the database",
                code=RefusalCode.DISCONNECTED,
            )
        line, fut = self._new_request(command)
        self._writer.write(line.encode() + b"\n")
        await self._writer.drain()
        return await fut

    def halt_without_engine(self, reason: str, user: str) -> str:
        """The kill switch with no engine on the line, as ``onetap kill`` does it (blocking: run it
        on a thread). An engine answering on the socket after all is asked first; otherwise the
        halt is written to the database, and the engine starts HALTED. Says what happened."""
        from console.kill_cmd import KillNotConfirmed, send_kill

        try:
            return f"engine answered: {send_kill(self.path, reason, flatten=False)}"
        except ConnectionError:
            pass  # nothing serves the socket: the halt goes to the database below
        except KillNotConfirmed as exc:
            return f"kill NOT confirmed: {exc}"
        from engine.api.offline import halt_offline
        from engine.config import load_settings

        settings = self.settings or load_settings()
        db = halt_offline(settings, reason, user, database=self.database)
        return f"engine unreachable: HALT written to the database ({db}); the engine will start HALTED"

    async def close(self) -> None:
        self._closing = True
        if self._retry_task is not None:
            self._retry_task.cancel()
        if self._writer is not None:
            self._writer.close()
        for task in (self._reader_task, self._retry_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
