"""The forecast scoreboard: for each template, what its executed cards forecast against what
their trades did (hit rate vs confidence, return vs expected, cost vs expected, with 95%
intervals), and whether live results have drifted from the backtest's expectation.

The engine keeps every closed trade's outcome (``engine.runtime.forecasts``); the screen asks for
the board (``GetScoreboard``) on opening and on ``r``, and draws whatever board the desk's fold
holds (``FollowsDesk``). The columns and words are ``console.card_scores``', the ones
``onetap report cards`` prints. Escape returns to the desk; the kill switch works here too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Set
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from console.card_scores import bps, drift_flag, interval, pct, tests_line
from console.state import DeskState
from engine.model import DeskArea
from engine.model.events import Command, CommandResult, GetScoreboard
from engine.model.forecast import Scoreboard

Send = Callable[[Command], Awaitable[CommandResult]]
ASKING = "Asking the engine for the scoreboard…"
EMPTY = "No executed card has closed yet: each card's forecast is scored when its trade ends."
COLUMNS = (
    "template",
    "closed",
    "open",
    "hit rate [95%]",
    "conf",
    "return [95%]",
    "expected",
    "cost bps [95%]",
    "exp bps",
    "round trip",
    ">max risk",
    "drift",
)


class ScoreboardScreen(Screen[None]):
    """The template scoreboard. ``r`` asks for a fresh one; Escape returns to the desk."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back to desk"),
        Binding("r", "refresh_board", "Refresh"),
    ]

    def __init__(self, state: DeskState, send: Send) -> None:
        super().__init__(id="scoreboard")
        self._state = state
        self._send = send

    def compose(self) -> ComposeResult:
        yield Static("Forecast scoreboard  ·  r refreshes", id="scoreboard-title", markup=False)
        with Vertical(id="scoreboard-body"):
            yield Static(ASKING, id="scoreboard-status", markup=False)
            table: DataTable[str] = DataTable(id="scoreboard-table", cursor_type="row", zebra_stripes=True)
            yield table
            yield Static("", id="scoreboard-tests", markup=False)
            yield Static("", id="scoreboard-notes", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#scoreboard-table", DataTable)
        table.add_columns(*COLUMNS)
        table.border_title = "By template: closed trades only (open ones are pending, not counted)"
        self.follow(self._state, {DeskArea.SCOREBOARD})
        self.action_refresh_board()

    def follow(self, state: DeskState, areas: Set[DeskArea]) -> None:
        """Redraw from the board the fold holds (``FollowsDesk``)."""
        if DeskArea.SCOREBOARD not in areas or state.scoreboard is None:
            return
        self.draw(state.scoreboard)

    def draw(self, board: Scoreboard) -> None:
        table = self.query_one("#scoreboard-table", DataTable)
        table.clear()
        for row in board.rows:
            table.add_row(
                row.template,
                str(row.n),
                str(row.open),
                f"{pct(row.hit_rate)} {interval(row.hit_low, row.hit_high, pct)}".strip(),
                pct(row.mean_confidence),
                f"{pct(row.mean_return, True)} {interval(row.return_low, row.return_high, _signed)}".strip(),
                pct(row.mean_expected_return, True),
                f"{bps(row.cost_bps)} {interval(row.cost_low, row.cost_high, bps)}".strip(),
                bps(row.expected_cost_bps),
                bps(row.round_trip_bps),
                str(row.breaches),
                drift_flag(row, board.min_trades),
                key=row.template,
            )
        drifting = [row.template for row in board.rows if row.drifting]
        self.set_class(bool(drifting), "-drift")
        self._status(EMPTY if not board.rows else ("DRIFT: " + ", ".join(drifting) if drifting else ""))
        tests = [line for line in (tests_line(row) for row in board.rows) if line]
        self.query_one("#scoreboard-tests", Static).update("\n".join(tests))
        self.query_one("#scoreboard-notes", Static).update("\n".join(board.notes))

    def action_refresh_board(self) -> None:
        self.run_worker(self._request(), group="scoreboard", exclusive=True)

    async def _request(self) -> None:
        result = await self._send(GetScoreboard())
        if not result.ok:
            self._status(f"No scoreboard: {result.message}")

    def _status(self, text: str) -> None:
        status = self.query_one("#scoreboard-status", Static)
        status.update(text)
        status.display = bool(text)

    def action_close(self) -> None:
        self.dismiss(None)


def _signed(value: float) -> str:
    return pct(value, True)
