"""Snapshots of the desk, drawn from a real engine run with a fixed seed and a simulated clock.

The engine (shipped data, seeded replay, paper broker, SQLite in ``tmp_path``) plays a fixed
number of quote steps and executes the top card; its ``SnapshotEvent`` is then handed to the
console through the transport double, so the picture depends on the seed and the data alone,
never on wall time or machine speed. Update deliberately with ``make snapshots-update``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import OneTapApp
from engine.actor import Actor
from engine.config import load_settings
from engine.model import CommandSource
from engine.model.events import ExecuteCard, Kill, SnapshotEvent
from engine.service import Engine
from tests.console.helpers import FakeClient, settle

SnapCompare = Callable[..., bool]
OPERATOR = Actor("tester", CommandSource.HOTKEY)


def engine_snapshot(db: Path, *, halt: bool = False) -> SnapshotEvent:
    """Open the market, buy the top card, let the position trade a while; optionally kill."""

    async def run() -> SnapshotEvent:
        settings = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})
        engine = Engine(settings, database=db, paced=False)
        await engine.start()
        try:
            await engine.step(3)
            result = await engine.handle(ExecuteCard(engine.cards[0].card_id), OPERATOR)
            assert result.ok, result.message
            await engine.step(12)
            if halt:
                await engine.handle(Kill(), OPERATOR)
            return engine.snapshot()
        finally:
            await engine.stop()

    return asyncio.run(run())


def desk(snapshot: SnapshotEvent) -> OneTapApp:
    return OneTapApp(FakeClient(snapshot))


async def settled(pilot: Pilot[Any]) -> None:
    await settle(pilot)


RunBefore = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_desk_after_a_trade(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = desk(engine_snapshot(tmp_path / "onetap.db"))
    assert snap_compare(app, terminal_size=size, run_before=settled)


def test_desk_halted(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = desk(engine_snapshot(tmp_path / "onetap.db", halt=True))
    assert snap_compare(app, terminal_size=(160, 48), run_before=settled)
