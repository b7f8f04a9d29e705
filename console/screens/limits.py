"""The limits dialog: the ``[risk]`` limits in force, and a way to change one at run time.

The engine owns the limits and validates every change (``SetLimit``; an unknown name or an
out-of-range value comes back refused as BAD_LIMIT, and every change is audited). The dialog
carries the operator's number and shows the engine's answer in place, the way the resume
dialog does, so an attached console and an embedded one behave alike. It works by keyboard
alone: Enter on a limit moves to its value; a key that cannot be part of a number is refused
with a line saying so (not dropped in silence); the value is checked as it is typed against the
same bounds the engine applies (``engine.config.RiskSettings``), so the error shows before Enter.
A change is kept across engine restarts unless "this session only" is ticked (Tab, Space).
It follows the desk's
fold (``FollowsDesk``): a LimitsEvent while it is open, from this console or another, redraws
the table.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Set
from typing import Annotated, Any, ClassVar

from pydantic import TypeAdapter, ValidationError
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Checkbox, DataTable, Input, Static

from console.state import DeskState
from console.widgets.table import Column, Row, SyncedTable
from engine.config import RiskSettings, risk_limit_ranges
from engine.model import CommandSource, DeskArea
from engine.model.events import Command, CommandResult, SetLimit

Send = Callable[[Command], Awaitable[CommandResult]]
COLUMNS = (Column("name", "Limit"), Column("value", "Value"), Column("reads", "Reads as"))
NO_LIMITS = "The engine has not announced its limits yet."
PROMPT = "Select a limit with Enter, type its new value, Enter to send."
NOT_A_NUMBER_KEY = (
    "{key!r} cannot be part of a number: type digits, a point, a minus or an exponent (0.12, 25000, 1e6)"
)
KEPT = "kept across restarts"
SESSION_ONLY = "this session only"


def limit_problem(name: str, text: str) -> str | None:
    """What is wrong with ``text`` as the new value of ``name``, by the engine's own bounds; None
    when it would pass (or nothing is typed yet). The engine still has the last word."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return f"{text!r} is not a number yet"
    if not math.isfinite(value):
        return f"{name} must be a finite number, got {text!r}"
    field = RiskSettings.model_fields.get(name)
    if field is None:
        return None
    if field.annotation is bool:
        return None if value in (0, 1) else f"{name} takes 0 (off) or 1 (on), got {value:g}"
    if field.annotation is int and value != int(value):
        return f"{name} takes a whole number, got {value:g}"
    typed = int(value) if field.annotation is int else value
    kind: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    try:
        TypeAdapter(kind).validate_python(typed)
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"])
        allowed = risk_limit_ranges().get(name, "")
        return f"{name} = {value:g}: {reason}" + (f" ({allowed})" if allowed else "")
    return None


class LimitInput(Input):
    """The value field: a number field that says so when it refuses a key (Textual's is silent)."""

    class Refused(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._last_key = ""

    async def _on_key(self, event: events.Key) -> None:
        self._last_key = event.character or event.key
        await super()._on_key(event)

    def restricted(self) -> None:
        """Textual calls this when a key would make the value no number (its default rings a bell)."""
        self.app.bell()
        self.post_message(self.Refused(self._last_key))


def limit_value(value: float) -> str:
    """The value as it is typed and written in the config: no grouping, no trailing zeros."""
    return f"{value:g}" if abs(value) < 1e15 else repr(value)


def limit_reading(name: str, value: float) -> str:
    """A hint of the unit, so 0.15 is not read as 0.15%: ``*_pct`` keys are shares of equity."""
    if name.endswith("_pct"):
        return f"{value:.2%} of equity"
    if name.endswith("_s"):
        return f"{value:g} seconds"
    if name == "gross_exposure_limit":
        return f"{value:g} x equity"
    return ""


class LimitsDialog(ModalScreen[None]):
    """Enter on a limit moves to the value input; Enter there sends ``SetLimit``; Escape closes."""

    AUTO_FOCUS = "#limits-table"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (38, "-tall")]
    """On a short terminal (24 rows) the table scrolls in fewer rows so the input stays on screen."""
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, limits: Mapping[str, float], send: Send) -> None:
        super().__init__(id="limits-dialog")
        self._limits = dict(limits)
        self._send = send
        self._editing: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="limits-box"):
            yield Static("Risk limits", id="limits-title")
            yield Static(NO_LIMITS, id="limits-empty", markup=False)
            yield SyncedTable(COLUMNS, id="limits-table")
            yield Static(PROMPT, id="limits-prompt", markup=False)
            yield LimitInput(placeholder="new value", type="number", id="limits-input", disabled=True)
            yield Checkbox(f"{SESSION_ONLY} (else {KEPT})", id="limits-session-only")
            yield Static("", id="limits-outcome", markup=False)
            yield Static(
                "Values are in the config's units ([risk] in config/default.toml); every change is "
                f"checked by the engine, audited and {KEPT} unless '{SESSION_ONLY}' is ticked "
                "(Tab to it, Space). Escape closes.",
                id="limits-help",
                markup=False,
            )

    def on_mount(self) -> None:
        self._redraw()

    @property
    def limits(self) -> dict[str, float]:
        return dict(self._limits)

    def follow(self, state: DeskState, areas: Set[DeskArea]) -> None:
        """Take the engine's limits as they are announced (``FollowsDesk``)."""
        if DeskArea.LIMITS in areas:
            self._limits = dict(state.limits)
            self._redraw()

    def _redraw(self) -> None:
        self.query_one(SyncedTable).sync([_row(name, value) for name, value in sorted(self._limits.items())])
        self.set_class(not self._limits, "-empty")

    @on(DataTable.RowSelected, "#limits-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        name = self.query_one(SyncedTable).selected_key
        if name is None or name not in self._limits:
            return
        self._editing = name
        self.query_one("#limits-prompt", Static).update(
            f"New value for {name} (now {limit_value(self._limits[name])}), Enter to send:"
        )
        field = self.query_one(Input)
        field.disabled = False
        field.clear()
        field.focus()

    @on(LimitInput.Refused)
    def _refused_key(self, event: LimitInput.Refused) -> None:
        self._outcome(NOT_A_NUMBER_KEY.format(key=event.key), ok=False)

    @on(Input.Changed, "#limits-input")
    def _changed(self, event: Input.Changed) -> None:
        """Check the value as it is typed, against the engine's bounds."""
        name = self._editing
        if name is None:
            return
        problem = limit_problem(name, event.value)
        if problem is not None:
            self._outcome(problem, ok=False)
        elif event.value.strip():
            self._outcome(f"Enter sets {name} to {event.value.strip()} ({self._keeping()})", ok=True)
        else:
            self._outcome("", ok=True)

    def _keeping(self) -> str:
        return SESSION_ONLY if self.query_one(Checkbox).value else KEPT

    @on(Input.Submitted, "#limits-input")
    def _submitted(self, event: Input.Submitted) -> None:
        name = self._editing
        if name is None:
            return
        try:
            value = float(event.value)
        except ValueError:
            text = event.value.strip()
            self._outcome(f"{text!r} is not a number" if text else "type the new value first", ok=False)
            return
        if not math.isfinite(value):  # float() reads "inf" and "nan"; no limit may be switched off that way
            self._outcome(f"{name} must be a finite number, got {event.value.strip()!r}", ok=False)
            return
        self._set(name, value)

    @work(exclusive=True, group="set-limit")
    async def _set(self, name: str, value: float) -> None:
        session_only = self.query_one(Checkbox).value
        result = await self._send(
            SetLimit(name, value, source=CommandSource.HOTKEY, session_only=session_only)
        )
        if not result.ok:
            code = f" [{result.code}]" if result.code else ""
            self._outcome(f"Refused{code}: {result.message or 'refused'}", ok=False)
            return
        self._limits[name] = value
        self._redraw()
        self._outcome(
            f"{name} is now {limit_value(value)} ({SESSION_ONLY if session_only else KEPT})", ok=True
        )
        field = self.query_one(Input)
        field.clear()
        field.disabled = True
        self._editing = None
        self.query_one("#limits-prompt", Static).update(PROMPT)
        self.query_one(SyncedTable).focus()

    def _outcome(self, text: str, *, ok: bool) -> None:
        outcome = self.query_one("#limits-outcome", Static)
        outcome.update(text)
        outcome.set_class(ok and bool(text), "-ok")
        outcome.set_class(not ok, "-error")

    def action_close(self) -> None:
        self.dismiss(None)


def _row(name: str, value: float) -> Row:
    return name, (
        Text(name),
        Text(limit_value(value), justify="right"),
        Text(limit_reading(name, value), style="dim"),
    )
