"""Trading a live account starts with the operator typing its id, once per run.

A flag on a command line is easy to leave in a shell's history and run again; typing the account
number is a deliberate act by the person at the desk. The engine checks the id (the console only
carries it), and sends nothing to the live account until it matches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from engine.model import CommandSource
from engine.model.events import AcknowledgeLive, Command, CommandResult

Send = Callable[[Command], Awaitable[CommandResult]]


class LiveAckDialog(ModalScreen[bool]):
    """Dismisses with True once the engine accepted the typed id; Escape leaves orders refused."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, account: str, send: Send) -> None:
        super().__init__(id="live-ack-dialog")
        self._account = account
        self._send = send

    def compose(self) -> ComposeResult:
        with Vertical(id="live-ack-box"):
            yield Static("LIVE ACCOUNT", id="live-ack-title")
            yield Static(
                f"onetap is connected to the live IBKR account {self._account}: orders trade real money.\n"
                "Type the account id and press Enter to allow orders for this run. "
                "Escape keeps every order refused (everything else still shows).",
                id="live-ack-help",
                markup=False,
            )
            yield Input(placeholder="account id", id="live-ack-input")
            yield Static("", id="live-ack-error", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#live-ack-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self._acknowledge(event.value)

    @work(exclusive=True, group="live-ack")
    async def _acknowledge(self, text: str) -> None:
        result = await self._send(AcknowledgeLive(account=text, source=CommandSource.HOTKEY))
        if result.ok:
            self.dismiss(True)
            return
        error = self.query_one("#live-ack-error", Static)
        error.update(f"Refused: {result.message or result.code}")
        error.add_class("-shown")
        self.query_one(Input).clear()

    def action_cancel(self) -> None:
        self.dismiss(False)
