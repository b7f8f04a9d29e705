"""``onetap replay --recording DIR``: run the engine again on a session's recorded inputs.

The replay starts from the database the session started with (``start.db`` and the paper
journal, copied into a work folder: the recording is never written), with the settings the
session had, on the market data its settings name (refused if the bars differ from the ones
recorded), and plays the inputs in their recorded order on the recorded clock: each quote step
with its session boundaries, each operator command between the steps where it arrived, each
broker reconnect. Cards, orders, paper fills, risk events and timers follow from those inputs, so
the order stream of the replay equals the session's; where it does not, that is the finding.

Scope: a paper session replays exactly. A session on IBKR records its inputs too, but its fills
happened at IBKR: replayed on the paper broker they are the paper broker's, and the replay says so.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from engine.actor import Actor
from engine.api.protocol import COMMAND_TYPES
from engine.config import Settings
from engine.data.market import load_market
from engine.data.recording import MARKET_KINDS, RecordingError, bars_digest, read_events, read_meta
from engine.kernel import Engine
from engine.model import CommandSource, Fill, Order
from engine.model.codec import DecodeError, from_jsonable
from engine.model.events import Command, CommandResult
from engine.runtime.markets import Playback, paper_journal
from engine.runtime.recorder import START_DB, START_JOURNAL, recordings_root
from engine.store.audit import anchor_path
from engine.store.paths import database_path

__all__ = ["RecordingError", "ReplayResult", "recordings", "replay"]


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


async def replay(folder: Path, workdir: Path, *, until: datetime | None = None) -> ReplayResult:
    """Replay the recording in ``folder`` in ``workdir`` (a fresh folder the caller owns)."""
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
    feed = engine.parts.feed
    steps = reconnects = 0
    answers: list[tuple[str, CommandResult]] = []
    try:
        while (event := feed.peek()) is not None:  # type: ignore[attr-defined]
            if until is not None and event.ts > until:
                break
            if event.kind in MARKET_KINDS:
                await engine.step(1)
                steps += event.kind == "quote"
                continue
            feed.take()  # type: ignore[attr-defined]
            if event.kind == "command":
                command = _command(event.payload, folder, event.seq)
                actor = Actor(str(event.payload["user"]), CommandSource(event.payload["source"]))
                answers.append((type(command).__name__, await engine.handle(command, actor)))
            elif event.kind == "reconnect":
                await engine.reconnect_broker()
                reconnects += 1
            await engine.settle()
        stopped_at = engine.parts.clock.now()
        orders = tuple(engine.store.load_orders())
        fills = tuple(engine.store.load_fills())
    finally:
        await engine.stop()
    return ReplayResult(orders, fills, steps, tuple(answers), reconnects, stopped_at, str(meta["broker"]))


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
