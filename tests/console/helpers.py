"""What console tests share: a test double of the engine transport and ways to wait on the desk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from textual.pilot import Pilot
from textual.widgets import DataTable

from console.app import OneTapApp
from engine.model.events import (
    Command,
    CommandResult,
    Event,
    ExecuteCard,
    Kill,
    RefusalEvent,
    ResetKill,
)

T0 = datetime(2024, 3, 15, 14, 30, tzinfo=UTC)  # 10:30 in New York (EDT)
EventSink = Callable[[Event], None]  # console.client.EventSink, without importing the transports


class FakeClient:
    """A test double of the transport: records commands, answers them, lets the test push events."""

    description = "test engine"

    def __init__(self, first: Event | None = None) -> None:
        self.sent: list[Command] = []
        self.sink: EventSink | None = None
        self.closed = False
        self.halted = False
        self._first = first

    async def connect(self, sink: EventSink) -> None:
        self.sink = sink
        if self._first is not None:
            sink(self._first)

    async def send(self, command: Command) -> CommandResult:
        self.sent.append(command)
        if isinstance(command, ResetKill) and command.confirmation != "RESUME":
            self.push(RefusalEvent(T0, "reset_kill", "RESUME_WORD", "type RESUME exactly to lift the halt"))
            return CommandResult(ok=False, message="type RESUME exactly to lift the halt", code="RESUME_WORD")
        if isinstance(command, ExecuteCard) and self.halted:
            self.push(RefusalEvent(T0, "execute_card", "HALTED", "trading is halted: operator kill switch"))
            return CommandResult(ok=False, message="trading is halted: operator kill switch", code="HALTED")
        if isinstance(command, Kill):
            return CommandResult(ok=True, message="HALTED; cancel sent for 0 open order(s)")
        return CommandResult(ok=True)

    def push(self, event: Event) -> None:
        assert self.sink is not None, "push before connect"
        self.sink(event)

    async def close(self) -> None:
        self.closed = True


async def settle(pilot: Pilot[None]) -> None:
    """Let queued messages and command workers finish, then repaint the desk once."""
    app = pilot.app
    assert isinstance(app, OneTapApp)
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.flush_desk()
    await pilot.pause()


def table_rows(app: OneTapApp, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(table.row_count)]
