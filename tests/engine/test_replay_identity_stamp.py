"""A session recorded on another broker (IBKR) is replayed on the paper broker, its work copy of
the database stamped as the paper account's (``engine.api.replay``). The stamp's time comes from
the clock the replay is given, never from the machine's clock, so a test (or a replay harness)
decides it, as everywhere else in the engine."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, create_engine

from engine.api.replay import open_replay
from engine.clock import FixedClock
from engine.config import Settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.runtime.recorder import START_DB
from engine.runtime.startup import IDENTITY_KEY
from engine.store.tables import EngineStateRow

STAMP_TIME = datetime(2031, 7, 14, 9, 30, 15, tzinfo=UTC)
"""Far from both the recorded session's market time (2012) and the machine's clock."""


def _identity(database: Path) -> tuple[str, datetime | None]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            row = session.get(EngineStateRow, IDENTITY_KEY)
            assert row is not None, f"{database} has no {IDENTITY_KEY}"
            return row.value, row.updated_at
    finally:
        engine.dispose()


async def _recording(settings: Settings, db: Path, shipped: MarketData) -> Path:
    """A short recorded session on a database that already holds a book (and so an identity)."""
    for steps in (3, 3):  # the first session makes the book; the second is the recording used
        engine = Engine(settings, database=db, market=shipped, paced=False)
        await engine.start()
        await engine.step(steps)
        await engine.stop()
    folder = sorted(p for p in (db.parent / "recordings").iterdir() if p.is_dir())[-1]
    assert (folder / START_DB).exists()
    return folder


async def test_the_work_copy_of_an_ibkr_recording_is_stamped_at_the_injected_clock_time(
    settings: Settings, db: Path, shipped: MarketData, tmp_path: Path
) -> None:
    folder = await _recording(settings, db, shipped)
    meta = json.loads((folder / "meta.json").read_text())
    meta["broker"] = "ibkr"  # as a session on IBKR records it
    (folder / "meta.json").write_text(json.dumps(meta))
    _, recorded_at = _identity(folder / START_DB)
    assert recorded_at != STAMP_TIME

    engine, _ = await open_replay(folder, tmp_path / "replay", wall=FixedClock(STAMP_TIME).now)
    await engine.stop()

    value, stamped_at = _identity(tmp_path / "replay" / "replay.db")
    assert json.loads(value) == {"broker": "paper", "account": "paper"}
    assert stamped_at == STAMP_TIME
    assert _identity(folder / START_DB)[1] == recorded_at, "the recording itself is never written"
