"""Yes/no confirmations for the actions that send orders on the operator's word.

The kill switch never asks (stopping must be instant); flattening and re-sending a duplicate
do, because each sends market orders. The dialog dismisses with True only on ``y`` or the
confirm button; the cancel button has the focus, so a stray Enter cancels. The app's kill
switch is a priority binding and still works while a confirmation is open.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmDialog(ModalScreen[bool]):
    """Asks one question. ``y`` or the confirm button: True; ``n``, Escape or cancel: False.

    With ``any_key_cancels`` every other key cancels as well (the duplicate guard: the operator
    who did not mean to send twice should not have to find the right key to say so).
    """

    AUTO_FOCUS = "#confirm-no"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel", show=False),
    ]

    def __init__(
        self,
        title: str,
        body: str,
        *,
        confirm_label: str = "Yes (y)",
        cancel_label: str = "No (n)",
        any_key_cancels: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes="confirm-dialog")
        self._title = title
        self._body = body
        self._confirm_label = confirm_label
        self._cancel_label = cancel_label
        self._any_key_cancels = any_key_cancels
        self._answered = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="confirm-box"):
            yield Static(self._title, classes="confirm-title", markup=False)
            yield Static(self._body, classes="confirm-body", markup=False)
            with Horizontal(classes="confirm-buttons"):
                yield Button(self._confirm_label, variant="error", id="confirm-yes")
                yield Button(self._cancel_label, variant="default", id="confirm-no")

    def action_answer(self, answer: bool) -> None:
        self._answer(answer)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self._answer(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self._answer(False)

    def _answer(self, answer: bool) -> None:
        """Dismiss once: a key and a button press queued together must not pop two screens."""
        if not self._answered:
            self._answered = True
            self.dismiss(answer)

    def on_key(self, event: events.Key) -> None:
        """Any key but ``y`` cancels when asked to; bindings (``y``, the kill switch) come first."""
        if self._any_key_cancels and event.key != "y":
            event.stop()
            event.prevent_default()
            self._answer(False)
