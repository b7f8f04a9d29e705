"""``onetap replay --recording DIR``: run the engine again on a session's recorded inputs.

The replay starts from the database the session started with (``start.db`` and the paper
journal, copied into a work folder: the recording is never written), with the settings the
session had, on the market data its settings name (refused if the bars differ from the ones
recorded), and plays the inputs in their recorded order on the recorded clock: each quote step
with its session boundaries, each operator command between the steps where it arrived, each
broker reconnect. Cards, orders, paper fills, risk events and timers follow from those inputs, so
the order stream of the replay equals the session's; where it does not, that is the finding.

Scope: a paper session replays exactly. A session on IBKR records its inputs too (its market
depth included: the depth imbalance reads the same in the replay), but its fills happened at
IBKR: replayed on the paper broker they are the paper broker's, and the replay says so; its work
copy of the database is stamped as the paper account's so the paper broker takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.actor import Actor
from engine.api.protocol import COMMAND_TYPES
from engine.api.socket_server import serve
from engine.clock import WallClock
from engine.config import Settings
from engine.data.market import load_market
from engine.data.recording import (
    MARKET_KINDS,
    RecordingError,
    RecordingFeed,
    bars_digest,
    read_events,
    read_meta,
)
from engine.kernel import Engine
from engine.model import CommandSource, Fill, Order
from engine.model.codec import DecodeError, from_jsonable
from engine.model.events import Command, CommandResult, ReplayControl
from engine.runtime.markets import Playback, paper_journal
from engine.runtime.recorder import START_DB, START_JOURNAL, recordings_root
from engine.store.audit import anchor_path
from engine.store.paths import database_path

__all__ = ["RecordingError", "ReplayPacer", "ReplayResult", "recordings", "replay", "run_attached"]

_WALL = WallClock()


@dataclass(frozen=True, slots=True)
class ReplayResult:
    orders: tuple[Order, ...]
    fills: tuple[Fill, ...]
    steps: int
    commands: tuple[tuple[str, CommandResult], ...]
    """Each replayed command's name and the engine's answer, in order."""
    reconnects: int
    stopped_at: datetime
    broker: str
    """The broker the session was recorded on (paper replays exactly; see the module's note)."""


async def open_replay(
    folder: Path, workdir: Path, *, wall: Callable[[], datetime] = _WALL.now
) -> tuple[Engine, dict[str, Any]]:
    """A started engine on the recording's starting state and inputs (not yet played).

    ``wall``: the machine's clock, for when the work copy was stamped as the paper account's (a
    moment of the replay itself, not of the recorded session); injected by tests."""
    meta = read_meta(folder)
    events = tuple(read_events(folder))
    settings = Settings.model_validate(meta["settings"])
    settings = settings.model_copy(
        update={
            "recording": settings.recording.model_copy(update={"enabled": False}),
            "broker": settings.broker.model_copy(update={"kind": "paper"}),
            # the replay's audit chain is witnessed in its own folder, never in the user's witness
            "store": settings.store.model_copy(update={"audit_witness": str(workdir / "audit.witness")}),
        }
    )
    database = workdir / "replay.db"
    workdir.mkdir(parents=True, exist_ok=True)
    if (folder / START_DB).exists():
        shutil.copy2(folder / START_DB, database)
    if (folder / START_JOURNAL).exists():
        shutil.copy2(folder / START_JOURNAL, paper_journal(database))
    if anchor_path(folder / START_DB).exists():
        shutil.copy2(anchor_path(folder / START_DB), anchor_path(database))
    if meta.get("broker", "paper") != "paper" and database.exists():
        _adopt_for_paper(database, settings, wall())
    data = load_market(settings)
    if bars_digest(data.bars) != meta["bars_digest"]:
        raise RecordingError(
            f"{folder}: the market data its settings name are not the bars the session had "
            "(the data files changed since): the replay would build other cards"
        )
    clock_start = datetime.fromisoformat(meta["engine_clock"])
    engine = Engine(
        settings, database=database, market=data, paced=False, playback=Playback(events, clock_start)
    )
    await engine.start()
    return engine, meta


def _adopt_for_paper(database: Path, settings: Settings, now: datetime) -> None:
    """The work copy of a session recorded on another broker (IBKR) is replayed on the paper
    broker: its book is stamped as the paper account's, so the engine takes it (the recording's
    own ``start.db`` is never written)."""
    from engine.runtime.startup import IDENTITY_KEY
    from engine.store.repository import Store
    from engine.store.sealing import AuditProtection

    store = Store.open(database, protection=AuditProtection.from_settings(settings.store))
    try:
        stamp = json.dumps({"broker": "paper", "account": "paper"})
        store.set_state(IDENTITY_KEY, stamp, now)
    finally:
        store.close()


@dataclass(slots=True)
class _Tally:
    steps: int = 0
    reconnects: int = 0
    answers: list[tuple[str, CommandResult]] = field(default_factory=list)


async def _apply_next(engine: Engine, folder: Path, tally: _Tally) -> str | None:
    """Play the next input: a quote step (with the session boundaries recorded next to it), a
    command or a reconnect. Returns "quote" when a quote step was played, else the input's kind
    (None at the end)."""
    feed = engine.parts.feed
    assert isinstance(feed, RecordingFeed)
    event = feed.peek()
    if event is None:
        return None
    if event.kind in MARKET_KINDS:
        before = feed.steps_played
        await engine.step(1)
        played = feed.steps_played - before
        tally.steps += played
        return "quote" if played else event.kind
    feed.take()
    if event.kind == "command":
        command = _command(event.payload, folder, event.seq)
        actor = Actor(str(event.payload["user"]), CommandSource(event.payload["source"]))
        tally.answers.append((type(command).__name__, await engine.handle(command, actor)))
    elif event.kind == "reconnect":
        await engine.reconnect_broker()
        tally.reconnects += 1
    await engine.settle()
    return event.kind


async def replay(
    folder: Path,
    workdir: Path,
    *,
    until: datetime | None = None,
    wall: Callable[[], datetime] = _WALL.now,
) -> ReplayResult:
    """Replay the recording in ``folder`` in ``workdir`` (a fresh folder the caller owns), as fast
    as it goes, up to ``until`` (engine time); ``wall`` as ``open_replay`` takes it."""
    engine, meta = await open_replay(folder, workdir, wall=wall)
    tally = _Tally()
    try:
        feed = engine.parts.feed
        assert isinstance(feed, RecordingFeed)
        while (event := feed.peek()) is not None and (until is None or event.ts <= until):
            await _apply_next(engine, folder, tally)
        stopped_at = engine.parts.clock.now()
        orders = tuple(engine.store.load_orders())
        fills = tuple(engine.store.load_fills())
    finally:
        await engine.stop()
    return ReplayResult(
        orders, fills, tally.steps, tuple(tally.answers), tally.reconnects, stopped_at, str(meta["broker"])
    )


class ReplayPacer:
    """The pace of an attached replay: running at ``speed`` quote steps per second, or paused
    (``step`` plays one step and pauses again). Answers ``ReplayControl`` for the engine."""

    def __init__(self, speed: float, *, paused: bool = False) -> None:
        self.speed = speed
        self.paused = paused
        self._steps_allowed = 0
        self._wake = asyncio.Event()

    def control(self, command: ReplayControl) -> CommandResult:
        if command.action == "pause":
            self.paused = True
        elif command.action == "resume":
            self.paused = False
        elif command.action == "step":
            self.paused = True
            self._steps_allowed += 1
        else:
            self.speed = command.value
        self._wake.set()
        state = "paused" if self.paused else f"running at {self.speed:g} steps/s"
        return CommandResult(ok=True, message=f"replay {state}")

    async def next_step(self) -> None:
        """Wait until the next step may be played."""
        while self.paused and self._steps_allowed == 0:
            self._wake.clear()
            await self._wake.wait()
        if self._steps_allowed:
            self._steps_allowed -= 1
            return
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), 1.0 / self.speed)


async def run_attached(
    folder: Path,
    workdir: Path,
    socket_path: Path,
    *,
    speed: float = 20.0,
    paused: bool = True,
    stop: asyncio.Event,
    ready: Callable[[Engine], None] | None = None,
    wall: Callable[[], datetime] = _WALL.now,
) -> ReplayResult:
    """Serve the replay on ``socket_path`` for a console to attach to, paced by ``ReplayPacer``
    (paused at the start by default: the operator decides when the incident starts to play).
    At the end of the recording the engine keeps serving until ``stop`` is set; ``wall`` as
    ``open_replay`` takes it."""
    engine, meta = await open_replay(folder, workdir, wall=wall)
    pacer = ReplayPacer(speed, paused=paused)
    engine.set_replay_control(pacer.control)
    server = await serve(engine, socket_path)
    tally = _Tally()
    if ready is not None:
        ready(engine)
    try:
        feed = engine.parts.feed
        assert isinstance(feed, RecordingFeed)
        while not stop.is_set() and feed.peek() is not None:
            waiter = asyncio.ensure_future(pacer.next_step())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, stopper):
                task.cancel()
            if stop.is_set():
                break
            kind = await _apply_next(engine, folder, tally)
            while kind is not None and kind != "quote" and feed.peek() is not None:
                kind = await _apply_next(engine, folder, tally)  # commands play with their step
        if feed.peek() is None:
            engine.parts.outbox.notice("info", "the recording has been replayed to its end")
        await stop.wait()
        orders = tuple(engine.store.load_orders())
        fills = tuple(engine.store.load_fills())
        stopped_at = engine.parts.clock.now()
    finally:
        server.close()
        await server.wait_closed()
        await engine.stop()
        socket_path.unlink(missing_ok=True)
    return ReplayResult(
        orders, fills, tally.steps, tuple(tally.answers), tally.reconnects, stopped_at, str(meta["broker"])
    )


def recordings(settings: Settings, database: Path | None = None) -> list[tuple[Path, int]]:
    """The recordings kept (folder, bytes), oldest first."""
    root = recordings_root(settings, database or database_path(settings))
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []
    return [(f, sum(x.stat().st_size for x in f.rglob("*") if x.is_file())) for f in folders]


def _command(payload: dict[str, object], folder: Path, seq: int) -> Command:
    try:
        command = from_jsonable(payload["command"])
    except (DecodeError, KeyError) as exc:
        raise RecordingError(
            f"{folder}: input {seq} is not a command this onetap understands ({exc})"
        ) from None
    if not isinstance(command, COMMAND_TYPES):
        raise RecordingError(f"{folder}: input {seq} is a {type(command).__name__}, not a command")
    found: Command = command
    return found
