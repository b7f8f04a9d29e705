"""``SessionRecorder``: every input of a session, written as it arrives (``engine.data.recording``).

Inputs are what the engine cannot recompute: the quotes and session boundaries of the feed, a
broker's market depth, the operator's commands, broker reconnects. Everything else (cards,
orders, paper fills, risk events, timers on market time) follows from them deterministically,
which is what makes an exact replay possible and a replay that differs a finding.

A recording that cannot be written (a full disk) stops recording and says so once; it never
stops trading.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from engine.brokers.base import DepthSnapshot
from engine.clock import Clock
from engine.config import Settings
from engine.data.recording import RecordingWriter, bars_digest, prune, write_meta
from engine.model import Quote
from engine.model.codec import to_jsonable
from engine.model.events import Command, GetSnapshot, GetVitals
from engine.runtime.markets import paper_journal
from engine.store.audit import anchor_path

log = logging.getLogger(__name__)

START_DB = "start.db"
START_JOURNAL = "start.paper.jsonl"
NOT_RECORDED = (GetSnapshot, GetVitals)
"""Read-only commands change nothing a replay must reproduce."""


def recordings_root(settings: Settings, database: Path) -> Path:
    """``[recording] folder``, else ``recordings/`` beside the database (the user's data folder)."""
    folder = settings.recording.folder
    return Path(folder).expanduser() if folder else database.parent / "recordings"


class SessionRecorder:
    def __init__(
        self,
        folder: Path,
        *,
        clock: Clock,
        max_part_bytes: int,
        notice: Callable[[str, str], None],
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``wall``: the machine's clock, for each input's arrival time beside the engine's (a
        market replay's clock is not when things arrived); injected by tests."""
        self.folder = folder
        self._clock = clock
        self._wall = wall
        self._notice = notice
        self._writer: RecordingWriter | None = RecordingWriter(folder, max_part_bytes=max_part_bytes)

    @classmethod
    def begin(
        cls,
        settings: Settings,
        *,
        database: Path,
        bars: dict[str, Any],
        broker: str,
        clock: Clock,
        notice: Callable[[str, str], None],
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> SessionRecorder | None:
        """Start this session's recording (snapshot of the database, meta, first part); None when
        recording is off or its folder cannot be made (said once, trading goes on)."""
        r = settings.recording
        if not r.enabled:
            return None
        root = recordings_root(settings, database)
        started = wall()  # the folder is named by wall time: recordings sort as sessions happened
        folder = root / f"{started:%Y%m%dT%H%M%S%fZ}"
        try:
            folder.mkdir(parents=True, exist_ok=False)
            _snapshot(database, folder)
            write_meta(
                folder,
                settings.model_dump(
                    mode="json", exclude={"alerts"}
                ),  # a replay alerts no one; no secrets on disk
                started,
                engine_clock=clock.now(),
                bars=bars_digest(bars),
                broker=broker,
            )
            recorder = cls(
                folder, clock=clock, max_part_bytes=r.max_part_mb * 1_000_000, notice=notice, wall=wall
            )
            prune(root, r.max_total_mb * 1_000_000, keep=folder)
        except OSError as exc:
            notice("warning", f"this session is not recorded: {folder}: {exc}")
            return None
        return recorder

    # ------------------------------------------------------------------ inputs
    def quotes(self, quotes: Sequence[Quote]) -> None:
        if self._writer is not None and quotes:
            self._guard(lambda w: w.quotes(self._clock.now(), quotes, self._wall()))

    def depth(self, snapshot: DepthSnapshot) -> None:
        """A broker's market depth (``Broker.set_depth_sink``), where it arrived among the quotes."""
        if self._writer is not None:
            self._guard(
                lambda w: w.depth(
                    self._clock.now(), snapshot.symbol, snapshot.bid_sizes, snapshot.ask_sizes, self._wall()
                )
            )

    def day_start(self, day: date) -> None:
        self._event("day_start", day.isoformat())

    def day_end(self, day: date) -> None:
        self._event("day_end", day.isoformat())

    def command(self, command: Command, user: str, source: str) -> None:
        if not isinstance(command, NOT_RECORDED):
            self._event("command", {"command": to_jsonable(command), "user": user, "source": source})

    def reconnect(self) -> None:
        self._event("reconnect", None)

    def close(self) -> None:
        if self._writer is not None:
            self._guard(lambda w: w.close())
            self._writer = None

    def _event(self, kind: str, payload: Any) -> None:
        if self._writer is not None:
            self._guard(lambda w: w.event(kind, self._clock.now(), payload, self._wall()))

    def _guard(self, write: Callable[[RecordingWriter], None]) -> None:
        assert self._writer is not None
        try:
            write(self._writer)
        except OSError as exc:
            self._writer = None
            log.warning("recording stopped: %s", exc)
            self._notice("warning", f"recording stopped (trading goes on): {self.folder}: {exc}")


def _snapshot(database: Path, folder: Path) -> None:
    """The database as it is now, consistent (SQLite's online backup), and the paper journal."""
    if database.exists():
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        target = sqlite3.connect(folder / START_DB)
        try:
            with target:
                source.backup(target)
        finally:
            source.close()
            target.close()
    journal = paper_journal(database)
    if journal.exists():
        shutil.copy2(journal, folder / START_JOURNAL)
    anchor = anchor_path(database)
    if anchor.exists():
        shutil.copy2(anchor, anchor_path(folder / START_DB))
