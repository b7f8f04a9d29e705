"""Snapshots of the desk, drawn from a real engine run with a fixed seed and a simulated clock,
of the risk detail screen, drawn from a hand-built report (``risk_fixtures``), and of the desk
with an algo working and an execution in progress, from hand-built events (``execution_fixtures``).

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
from textual.widgets import DataTable

from console.app import OneTapApp
from engine.actor import Actor
from engine.config import load_settings
from engine.kernel import Engine
from engine.model import CommandSource
from engine.model.events import ExecuteCard, Kill, SnapshotEvent
from tests.console.execution_fixtures import algo_snapshot, fills
from tests.console.helpers import FakeClient, settle
from tests.console.risk_fixtures import risk_report, risk_snapshot

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
    """Settle the desk, then wait until every table has measured its rows.

    A DataTable sizes its content-width columns in its own Idle handler, which may run after the
    pilot's pause returns; a picture taken before it shows columns cut to their headers (e.g. a
    blotter time of ``09:5``). So poll for that condition, however long this machine takes,
    rather than sleep a fixed time and hope.
    """
    await settle(pilot)
    app = pilot.app
    if isinstance(app, OneTapApp):  # events pushed just now are folded at the next repaint tick:
        app.flush_desk()  # apply them now, so the tables below have rows to measure
    stable = 0
    for _ in range(500):
        tables = list(pilot.app.screen.query(DataTable))
        # Textual's DataTable has no public "rows measured" signal: its private pending flags are read.
        measured = all(not t._require_update_dimensions and not t._new_rows for t in tables)
        stable = stable + 1 if measured else 0
        if stable >= 2:  # twice in a row: a refresh that lands between two polls is caught
            break
        await pilot.pause(0.01)
    else:
        raise AssertionError("the desk's tables never finished measuring their rows")
    await pilot.pause()


RunBefore = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_desk_after_a_trade(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = desk(engine_snapshot(tmp_path / "onetap.db"))
    assert snap_compare(app, terminal_size=size, run_before=settled)


def test_desk_halted(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = desk(engine_snapshot(tmp_path / "onetap.db", halt=True))
    assert snap_compare(app, terminal_size=(160, 48), run_before=settled)


def test_risk_detail(snap_compare: SnapCompare) -> None:
    """Every section of a fixed report and two paused strategies, opened from the desk with ``v``."""
    app = OneTapApp(FakeClient(risk_snapshot(report=risk_report(), paused=("momentum", "mean_reversion"))))

    async def open_risk_detail(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("v")
        await settled(pilot)

    assert snap_compare(app, terminal_size=(160, 48), run_before=open_risk_detail)


def test_desk_with_an_algo_and_an_execution_in_progress(snap_compare: SnapCompare) -> None:
    """A TWAP parent with its two children in the blotter, the card's execution under the cards."""
    client = FakeClient(algo_snapshot())

    async def fill_and_settle(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for event in fills():
            client.push(event)
        await settled(pilot)

    assert snap_compare(OneTapApp(client), terminal_size=(160, 48), run_before=fill_and_settle)


# ------------------------------------------------------ issue 19: help, quotes, event log, NO_COLOR
@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_help_overlay(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    app = OneTapApp(FakeClient(risk_snapshot()))
    assert snap_compare(app, terminal_size=size, run_before=open_help)


@pytest.mark.parametrize(
    ("size", "key"),
    [((160, 48), ""), ((80, 24), "t"), ((80, 24), "l")],
    ids=["both-160x48", "quotes-80x24", "event_log-80x24"],
)
def test_quotes_and_event_log(
    snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int], key: str
) -> None:
    """The engine's own snapshot: its quotes, the previous closes and the data problems it found at
    start (the shipped data's price jumps), which reach the log through the snapshot's notices. Wide,
    both sit under the four panes; narrow, each is shown by its key in place of them."""
    snapshot = engine_snapshot(tmp_path / "onetap.db")
    assert snapshot.status.closes and any(n.topic == "data" for n in snapshot.notices)

    async def show_pane(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        if key:
            await pilot.press(key)
            await settled(pilot)

    assert snap_compare(desk(snapshot), terminal_size=size, run_before=show_pane)


def test_desk_halted_no_color(
    snap_compare: SnapCompare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under NO_COLOR the HALTED banner is reverse video with a heavy border and says HALTED and why."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = desk(engine_snapshot(tmp_path / "onetap.db", halt=True))
    assert app.no_color
    assert snap_compare(app, terminal_size=(160, 48), run_before=settled)


# ------------------------------------------------------ issue 16: the forecast scoreboard
def test_forecast_scoreboard(snap_compare: SnapCompare) -> None:
    """A fixed board (``scoreboard_fixtures``): one template drifting, one within, one untested."""
    from engine.model.events import ScoreboardEvent
    from tests.console.scoreboard_fixtures import fixed_board

    client = FakeClient(risk_snapshot())

    async def open_board(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("s")
        await settle(pilot)
        client.push(ScoreboardEvent(fixed_board()))
        await settled(pilot)

    assert snap_compare(OneTapApp(client), terminal_size=(160, 48), run_before=open_board)


# ------------------------------------------------------ issue 16: the models screen
def test_models_screen(snap_compare: SnapCompare, tmp_path: Path) -> None:
    """A fixed registry (``models_fixtures``): an evaluated DQN highlighted (its curves and the
    walk-forward table), a PPO the rl template trades, a folder cut off while training."""
    from console.screens.models import ModelsScreen
    from tests.console.models_fixtures import TRADED, write_registry

    root = write_registry(tmp_path / "models")
    cfg = tmp_path / "rl.toml"
    cfg.write_text(f'[cards]\ntemplates = ["momentum", "rl"]\n[strategies.rl]\nmodel = "{TRADED}"\n')
    settings = load_settings(cfg, environ={})
    app = OneTapApp(FakeClient(risk_snapshot()))

    async def open_models(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await app.push_screen(ModelsScreen(root, settings, label="~/.local/share/onetap/models"))
        await pilot.pause()
        await pilot.press("down")  # from the traded PPO (newest) to the evaluated DQN
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 48), run_before=open_models)
