"""The forecast scoreboard screen: opened by its key, asks the engine, draws the board it gets."""

from __future__ import annotations

from textual.widgets import Static

from console.app import OneTapApp
from console.keys import keymap
from console.screens.help import help_text
from console.screens.scoreboard import ScoreboardScreen
from engine.model.events import GetScoreboard, ScoreboardEvent
from tests.console.helpers import FakeClient, settle, table_rows
from tests.console.risk_fixtures import risk_snapshot
from tests.console.scoreboard_fixtures import fixed_board


async def test_the_key_opens_the_board_asks_for_it_and_draws_it() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ScoreboardScreen)
        assert [c for c in client.sent if isinstance(c, GetScoreboard)] == [GetScoreboard()]
        board = fixed_board()
        client.push(ScoreboardEvent(board))
        await settle(pilot)
        rows = table_rows(app, "scoreboard-table")
        assert [r[0] for r in rows] == ["breakout", "mean_reversion", "momentum", "pairs"]
        reversion = rows[1]
        assert reversion[1] == "32" and reversion[-1] == "DRIFT"
        assert rows[0][-1] == "<20" and rows[2][-1] == "ok" and rows[3][1:3] == ["0", "1"]
        tests = str(app.screen.query_one("#scoreboard-tests", Static).render())
        assert "mean_reversion: hits z -" in tests and " DRIFT" in tests
        assert app.screen.has_class("-drift")
        await pilot.press("r")
        await settle(pilot)
        assert len([c for c in client.sent if isinstance(c, GetScoreboard)]) == 2
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ScoreboardScreen)


async def test_the_help_names_the_screen_and_its_key() -> None:
    app = OneTapApp(FakeClient(risk_snapshot()))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        text = help_text(app, keymap(app.hotkeys)).plain
    assert "Forecast scoreboard" in text and "forecast scoreboard: each template's cards" in text


def test_the_board_crosses_the_socket_intact() -> None:
    """An attached console gets the board through the codec: every figure and test survives."""
    from engine.model.codec import dumps, loads

    event = ScoreboardEvent(fixed_board())
    assert loads(dumps(event)) == event
    assert loads(dumps(GetScoreboard())) == GetScoreboard()
