"""What console tests share: a test double of the engine transport and ways to wait on the desk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from textual.notifications import Notification
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.app import OneTapApp
from engine.model import Action, RefusalCode
from engine.model.events import (
    ApproveRecovery,
    CancelAll,
    Command,
    CommandResult,
    Event,
    ExecuteCard,
    Flatten,
    Kill,
    ModifyOrder,
    RefusalEvent,
    ResetKill,
    SetLimit,
)

T0 = datetime(2024, 3, 15, 14, 30, tzinfo=UTC)  # 10:30 in New York (EDT)
EventSink = Callable[[Event], None]  # console.client.EventSink, without importing the transports


class FakeClient:
    """A test double of the transport: records commands, answers them, lets the test push events.

    Refusals are answered as the engine answers them (a RefusalEvent pushed and an ok=False
    result): a wrong RESUME word, a card while ``halted``, a card in ``duplicates`` sent
    without ``override_duplicate``, a SetLimit with a negative value or a name not in
    ``limits`` (when ``limits`` is given), a ModifyOrder while ``modify_refusal`` (code,
    message) is set, and an ApproveRecovery while ``approve_refusal`` is set.
    """

    description = "test engine"

    def __init__(self, first: Event | None = None) -> None:
        self.sent: list[Command] = []
        self.sink: EventSink | None = None
        self.closed = False
        self.halted = False
        self.duplicates: set[str] = set()
        self.limits: dict[str, float] = {}
        self.modify_refusal: tuple[str, str] | None = None
        self.approve_refusal: tuple[str, str] | None = None
        self._first = first

    async def connect(self, sink: EventSink) -> None:
        self.sink = sink
        if self._first is not None:
            sink(self._first)

    async def send(self, command: Command) -> CommandResult:
        self.sent.append(command)
        if isinstance(command, ResetKill) and command.confirmation != "RESUME":
            return self._refuse(
                Action.RESET_KILL, RefusalCode.RESUME_WORD, "type RESUME exactly to lift the halt"
            )
        if isinstance(command, ExecuteCard) and self.halted:
            return self._refuse(
                Action.EXECUTE_CARD, RefusalCode.HALTED, "trading is halted: operator kill switch"
            )
        if (
            isinstance(command, ExecuteCard)
            and command.card_id in self.duplicates
            and not command.override_duplicate
        ):
            return self._refuse(Action.EXECUTE_CARD, RefusalCode.DUPLICATE, "BUY 10 NVDA was sent 2s ago")
        if isinstance(command, SetLimit) and (
            command.value < 0 or (self.limits and command.name not in self.limits)
        ):
            return self._refuse(
                Action.SET_LIMIT, RefusalCode.BAD_LIMIT, f"{command.name} = {command.value:g} is not allowed"
            )
        if isinstance(command, ModifyOrder) and self.modify_refusal is not None:
            return self._refuse(Action.MODIFY_ORDER, *self.modify_refusal)
        if isinstance(command, ApproveRecovery) and self.approve_refusal is not None:
            return self._refuse(Action.APPROVE_RECOVERY, *self.approve_refusal)
        if isinstance(command, ApproveRecovery):
            return CommandResult(ok=True, message="reconciliation approved; trading ACTIVE")
        if isinstance(command, CancelAll):
            return CommandResult(ok=True, message="cancel sent for 3 open order(s)")
        if isinstance(command, Kill):
            return CommandResult(ok=True, message="HALTED; cancel sent for 0 open order(s)")
        if isinstance(command, Flatten):
            return CommandResult(ok=True, message="HALTED; flattening 2 position(s)")
        return CommandResult(ok=True)

    def _refuse(self, action: Action, code: str, message: str) -> CommandResult:
        """As the engine refuses: the broadcast RefusalEvent first, then the command's result, with
        the enum members the codec decodes (a code the engine does not have fails here)."""
        refusal_code = RefusalCode(code)
        self.push(RefusalEvent(T0, action, refusal_code, message))
        return CommandResult(ok=False, message=message, code=refusal_code)

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


def shown_toasts(app: OneTapApp) -> list[Notification]:
    """The toasts the app is showing. Textual keeps them in the private ``_notifications`` only."""
    return list(app._notifications)
