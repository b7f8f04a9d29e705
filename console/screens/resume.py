"""The resume dialog: lifting a halt takes a typed word, never a single key.

The engine decides whether the word is right (``ResetKill``); the dialog only carries it
and shows the engine's answer, so an attached console and an embedded one behave alike.
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

from console.widgets.fmt import ny_stamp
from engine.model import CommandSource, RiskState
from engine.model.events import Command, CommandResult, ResetKill

Send = Callable[[Command], Awaitable[CommandResult]]


class ResumeDialog(ModalScreen[bool]):
    """Dismisses with True once the engine lifted the halt, False on Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, risk: RiskState | None, send: Send) -> None:
        super().__init__(id="resume-dialog")
        self._risk = risk
        self._send = send

    def compose(self) -> ComposeResult:
        risk = self._risk
        reason = (risk.halted_reason if risk else "") or "no reason given"
        since = ny_stamp(risk.halted_at if risk else None)
        with Vertical(id="resume-box"):
            yield Static("Trading is HALTED", id="resume-title")
            yield Static(f"Reason: {reason}\nSince:  {since}", id="resume-why", markup=False)
            yield Static(
                "Every new order is refused until the halt is lifted. "
                "Type RESUME and press Enter to resume trading; Escape leaves it halted.",
                id="resume-help",
            )
            yield Input(placeholder="type RESUME", id="resume-input")
            yield Static("", id="resume-error", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#resume-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self._resume(event.value)

    @work(exclusive=True, group="resume")
    async def _resume(self, text: str) -> None:
        result = await self._send(ResetKill(confirmation=text, source=CommandSource.HOTKEY))
        if result.ok:
            self.dismiss(True)
            return
        error = self.query_one("#resume-error", Static)
        error.update(f"Refused: {result.message or result.code}")
        error.add_class("-shown")
        self.query_one(Input).clear()

    def action_cancel(self) -> None:
        self.dismiss(False)
