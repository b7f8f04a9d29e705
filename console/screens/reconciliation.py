"""The reconciliation dialog: what start-up (or a reconnect) found at the broker, and the approval.

After a crash, a restart or a dropped connection the engine compares its database with the
broker and stays RECOVERING (new orders refused) until the operator has read what it found and
approved it (``ApproveRecovery``). The dialog opens by itself when such a summary arrives and
``a`` on the desk brings it back. Each list is shown in full, because the operator approves
exactly what is on the screen. When the summary has problems (an integrity or audit failure)
approving is not offered: trading stays refused until they are resolved outside the console.

The dialog follows the desk's fold (``FollowsDesk``): a newer summary redraws it, and one
approved elsewhere (another console, ``[engine] auto_approve``) closes it. The kill switch (a
priority binding) works here as on every screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence, Set
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.state import DeskState
from console.widgets.fmt import LOSS, WARN, ny_stamp
from engine.model import CommandSource, DeskArea
from engine.model.events import ApproveRecovery, Command, CommandResult, ReconciliationSummary

Send = Callable[[Command], Awaitable[CommandResult]]
SHOWN_MAX = 50
"""Ids listed per row before the rest are counted (each list is also in the audit log)."""


class ReconciliationDialog(ModalScreen[bool]):
    """``a`` approves (when there are no problems) and closes on success; Escape closes, unapproved."""

    VERTICAL_BREAKPOINTS = [(0, "-short"), (38, "-tall")]
    """On a 24-row terminal the lists scroll in fewer rows so the verdict stays on screen."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve", id="onetap.approve"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, summary: ReconciliationSummary, send: Send, *, approve_key: str = "a") -> None:
        super().__init__(id="reconciliation-dialog")
        self._summary = summary
        self._send = send
        self._approve_key = approve_key

    def compose(self) -> ComposeResult:
        with Vertical(id="reconciliation-box"):
            yield Static("", id="reconciliation-title", markup=False)
            with VerticalScroll(id="reconciliation-body"):
                yield Static("", id="reconciliation-figures")
            yield Static("", id="reconciliation-verdict", markup=False)
            yield Static("", id="reconciliation-outcome", markup=False)

    def on_mount(self) -> None:
        self._redraw()

    @property
    def summary(self) -> ReconciliationSummary:
        return self._summary

    @property
    def approvable(self) -> bool:
        return not self._summary.problems and not self._summary.approved

    def follow(self, state: DeskState, areas: Set[DeskArea]) -> None:
        """Take a newer summary; close once it is approved, here or elsewhere (``FollowsDesk``)."""
        summary = state.reconciliation
        if DeskArea.RECONCILIATION not in areas or summary is None or summary == self._summary:
            return
        self._summary = summary
        if summary.approved:
            self.dismiss(True)
            return
        self._redraw()
        self.refresh_bindings()

    def _redraw(self) -> None:
        s = self._summary
        self.set_class(bool(s.problems), "-problems")
        self.query_one("#reconciliation-title", Static).update(
            f"Reconciliation with the broker  ·  {ny_stamp(s.ts)}"
        )
        self.query_one("#reconciliation-figures", Static).update(figures_table(s))
        self.query_one("#reconciliation-verdict", Static).update(verdict(s, self._approve_key))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No approval is offered while the summary has problems: trading stays refused."""
        if action == "approve":
            return self.approvable
        return True

    def action_approve(self) -> None:
        if self.approvable:
            self._approve()

    @work(exclusive=True, group="approve")
    async def _approve(self) -> None:
        result = await self._send(ApproveRecovery(source=CommandSource.HOTKEY))
        if result.ok:
            self.dismiss(True)
            return
        code = f" [{result.code}]" if result.code else ""
        outcome = self.query_one("#reconciliation-outcome", Static)
        outcome.update(f"Refused{code}: {result.message or 'refused'}")
        outcome.add_class("-error")

    def action_close(self) -> None:
        self.dismiss(False)


def verdict(summary: ReconciliationSummary, approve_key: str) -> str:
    """What the operator can do now, in so many words."""
    if summary.problems:
        return (
            "Trading stays refused: the problems above must be resolved first (see the log and "
            "`onetap audit verify`); approval is not offered. Escape closes. ctrl+k halts trading."
        )
    return (
        f"Trading is RECOVERING: new orders are refused until you approve. Press {approve_key} to "
        f"approve what is listed here and resume trading. Escape closes without approving "
        f"({approve_key} on the desk brings this back). ctrl+k halts trading."
    )


def figures_table(summary: ReconciliationSummary) -> Table:
    """Each count and each list, with what it means; empty lists read ``none``. Problems, when
    there are any, come first: they decide whether trading can resume at all."""
    table = Table(box=None, show_header=False, show_edge=False, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("what", no_wrap=True, style="bold")
    table.add_column("found", ratio=1)
    rows: list[tuple[str, tuple[str, ...], str, str, bool]] = [
        (
            "Fills applied",
            summary.fills_applied,
            "fills the broker had and the database did not; applied now",
            "",
            False,
        ),
        ("LOST", summary.lost, "orders the broker never had; marked LOST", WARN, False),
        (
            "EXTERNAL",
            summary.external,
            "orders at the broker not placed by onetap; recorded, never touched",
            WARN,
            False,
        ),
        ("Position mismatches", summary.position_mismatches, "engine and broker disagree", WARN, True),
    ]
    if summary.problems:
        meaning = "integrity or audit failures: trading stays refused"
        table.add_row(
            f"Problems ({len(summary.problems)})",
            listing(summary.problems, meaning, f"bold {LOSS}", lines=True),
        )
    table.add_row("Open orders matched", Text(str(summary.open_orders_matched)))
    table.add_row("Cancels sent", Text(str(summary.cancels_sent)))
    for label, items, meaning, style, sentences in rows:
        table.add_row(f"{label} ({len(items)})", listing(items, meaning, style, lines=sentences))
    if not summary.problems:
        table.add_row("Problems (0)", listing((), "", "", lines=True))
    return table


def listing(items: Sequence[str], meaning: str, style: str, *, lines: bool) -> Text:
    """The items (one a line when each is a sentence, else comma-separated), then what they mean."""
    if not items:
        return Text("none", style="dim")
    shown = list(items[:SHOWN_MAX])
    more = [f"and {len(items) - SHOWN_MAX} more"] if len(items) > SHOWN_MAX else []
    text = Text(("\n" if lines else ", ").join(shown + more), style=style)
    text.append(f"\n{meaning}", style="dim")
    return text
