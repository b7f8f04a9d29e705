"""The execution report (``e`` from the desk): how well each recent execution was worked.

Per execution and per order: arrival price, average fill, slippage in bps, fill rate and time
to fill, from the executions, orders and fills the desk's fold keeps (``DeskState``). A full
screen, newest execution first, following the fold (``FollowsDesk``) so an algo still working
fills in while the operator watches; Escape returns to the desk and the kill switch works here
as everywhere.
"""

from __future__ import annotations

from collections.abc import Set
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.state import RUNNING_EXECUTION, DeskState
from console.widgets.exec_report import LEGEND, ExecutionSection, Report, report_for
from engine.model import DeskArea

NO_EXECUTIONS = (
    "No executions yet. Press x on a strategy card on the desk: its progress shows under the cards "
    "and its figures here."
)
FOLLOWED: frozenset[DeskArea] = frozenset({DeskArea.EXECUTIONS, DeskArea.ORDERS, DeskArea.FILLS})


class ExecutionReportScreen(Screen[None]):
    """Newest execution first, one section each, the legend under them. Escape goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Back to desk")]

    def __init__(self, state: DeskState) -> None:
        super().__init__(id="executions")
        self._state = state
        self._shown: list[str] = []
        self._sections: list[ExecutionSection] = []

    def compose(self) -> ComposeResult:
        yield Static("Execution report", id="executions-title", markup=False)
        with VerticalScroll(id="executions-body"):
            yield Static(NO_EXECUTIONS, id="executions-empty", markup=False)
            yield Static(LEGEND, id="executions-legend", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._redraw(self._state)

    def follow(self, state: DeskState, areas: Set[DeskArea]) -> None:
        """Redraw when an execution, an order or a fill changed (``FollowsDesk``)."""
        if areas & FOLLOWED:
            self._redraw(state)

    def _redraw(self, state: DeskState) -> None:
        """Update the sections in place; rebuild them only when the list of executions changed.

        The sections are tracked here rather than queried: a removal or a mount completes on a
        later turn of the message loop, and the next flush must not see half of either.
        """
        executions = state.executions_newest_first()
        orders = state.orders_newest_first()
        reports: list[Report] = []
        for execution in executions:
            figures, rows = report_for(execution, orders, state.fill_times)
            reports.append((execution, figures, tuple(rows)))
        ids = [e.execution_id for e in executions]
        if ids != self._shown:
            for old in self._sections:
                old.remove()
            self._sections = [ExecutionSection(report) for report in reports]
            if self._sections:
                self.query_one("#executions-body", VerticalScroll).mount_all(
                    self._sections, before=self.query_one("#executions-legend")
                )
            self._shown = ids
        else:
            for section, report in zip(self._sections, reports, strict=True):
                section.report = report
        self.set_class(not executions, "-empty")
        running = sum(1 for e in executions if e.status in RUNNING_EXECUTION)
        count = f"{len(executions)} recent execution{'s' if len(executions) != 1 else ''}"
        title = f"Execution report  ·  {count}" + (f", {running} running" if running else "")
        self.query_one("#executions-title", Static).update(title)

    def action_close(self) -> None:
        self.dismiss(None)
