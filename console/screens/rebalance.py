"""The rebalance preview: current against target weights, the orders, what they cost, one key to send.

The engine plans (``PreviewRebalance``) and keeps the plan; this screen shows the plan it
published and sends ``ExecuteRebalance`` naming that plan, so what is sent is exactly what was
shown. If the plan went stale (a newer preview, prices moved), the engine refuses, plans again once
and publishes the new preview, which this screen draws in place and offers for one more ``x``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Set
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from console.refusals import refusal_body
from console.state import DeskState
from console.widgets.fmt import money, ny_stamp, qty, right
from engine.model import CommandSource, DeskArea, RefusalCode
from engine.model.events import (
    Command,
    CommandResult,
    ExecuteRebalance,
    PreviewRebalance,
    RebalancePreviewEvent,
)

Send = Callable[[Command], Awaitable[CommandResult]]

WAITING = "Asking the engine for a plan…"


REPLANNED = frozenset({RefusalCode.PRICES_MOVED, RefusalCode.PREVIEW_STALE})
"""Refusals after which the engine has planned again and published the new plan."""


def execute_refusal(result: CommandResult) -> str:
    """What the line under the plan says when ``x`` was refused.

    Prices moved (or a newer preview exists): the engine planned once more at the new prices and
    the screen shows that plan in place, so the line asks for a look and one more ``x`` rather
    than reporting a bare refusal. Anything else is refused for a reason the trader must read.
    """
    body = refusal_body(result.message, result.code or "")
    if result.code in REPLANNED:
        return f"Not sent, the plan was made again at the new prices: check it above, x sends it ({body})"
    return f"Rebalance not sent: {body}"


def _pct(value: float) -> str:
    return f"{value * 100:+.1f}%" if value else "0.0%"


def _weight(value: float) -> str:
    return f"{value * 100:.1f}%"


class RebalanceScreen(Screen[None]):
    """Escape returns to the desk; ``x`` sends the plan shown; ``r`` plans again."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "execute", "Send this rebalance"),
        Binding("r", "refresh", "Plan again"),
        Binding("escape", "close", "Back to desk"),
    ]

    def __init__(self, state: DeskState, send: Send) -> None:
        super().__init__(id="rebalance-screen")
        self._state = state
        self._send = send
        self._shown: RebalancePreviewEvent | None = None

    def compose(self) -> ComposeResult:
        yield Static(WAITING, id="rebalance-title", markup=False)
        with VerticalScroll(id="rebalance-body", can_focus=False):
            yield DataTable(id="rebalance-lines", cursor_type="none", zebra_stripes=True)
            yield Static("Orders (sells first: their proceeds pay for the buys)", classes="rebalance-heading")
            yield DataTable(id="rebalance-orders", cursor_type="none")
            yield Static("", id="rebalance-skipped", markup=False)
            yield Static("", id="rebalance-summary", markup=False)
            yield Static("", id="rebalance-notes", markup=False)
            yield Static("", id="rebalance-result", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        lines = self.query_one("#rebalance-lines", DataTable)
        lines.add_columns("Symbol", "Current", "Target", "Drift", "Action", "Why")
        orders = self.query_one("#rebalance-orders", DataTable)
        orders.add_columns("Side", "Qty", "Symbol", "Price", "Value", "Exp. cost")
        self._ask()

    def follow(self, state: DeskState, areas: Set[DeskArea]) -> None:
        """Redraw when the engine publishes a preview (``FollowsDesk``)."""
        if DeskArea.REBALANCE in areas and state.rebalance_preview is not None:
            self._draw(state.rebalance_preview)

    def _draw(self, preview: RebalancePreviewEvent) -> None:
        self._shown = preview
        plan = preview.plan
        trigger = (
            f"{plan.trigger.kind}: {plan.trigger.detail}" if plan.trigger.detail else str(plan.trigger.kind)
        )
        self.query_one("#rebalance-title", Static).update(
            f"Rebalance preview · {ny_stamp(plan.asof)} · {preview.method or 'targets'} · {trigger}"
        )
        lines = self.query_one("#rebalance-lines", DataTable)
        lines.clear()
        for line in plan.lines:
            lines.add_row(
                line.symbol,
                right(_weight(line.current_weight)),
                right(_weight(line.target_weight)),
                right(_pct(line.drift)),
                str(line.action),
                line.reason,
            )
        orders = self.query_one("#rebalance-orders", DataTable)
        orders.clear()
        for order in plan.orders:
            orders.add_row(
                Text(str(order.side), style="green" if str(order.side) == "BUY" else "red"),
                right(qty(order.quantity)),
                order.symbol,
                right(f"{order.price:,.2f}"),
                right(money(order.value)),
                right(money(order.expected_cost)),
            )
        skipped = "\n".join(
            f"skipped {s.side} {qty(s.quantity)} {s.symbol} ({money(s.value)}): {s.reason}"
            for s in plan.skipped
        )
        self.query_one("#rebalance-skipped", Static).update(skipped)
        summary = (
            f"Expected cost {money(plan.expected_cost)} · turnover {plan.turnover * 100:.1f}% of equity "
            f"{money(plan.equity)} · cash after {money(plan.cash_after)}"
        )
        if plan.empty:
            summary += (
                " · nothing to send: the book is at its targets (or every trade costs more than it earns)"
            )
        self.query_one("#rebalance-summary", Static).update(summary)
        self.query_one("#rebalance-notes", Static).update("\n".join(preview.notes))

    @work(exclusive=True, group="rebalance")
    async def _ask(self) -> None:
        result = await self._send(PreviewRebalance(source=CommandSource.HOTKEY))
        if not result.ok:
            self._say(f"No plan: {refusal_body(result.message, result.code or '')}")

    def _say(self, text: str) -> None:
        self.query_one("#rebalance-result", Static).update(text)

    def action_refresh(self) -> None:
        self._say("")
        self._ask()

    def action_execute(self) -> None:
        shown = self._shown
        if shown is None or shown.plan.empty:
            self._say("There is no order to send.")
            return
        self._execute(shown)

    @work(exclusive=True, group="rebalance")
    async def _execute(self, shown: RebalancePreviewEvent) -> None:
        result = await self._send(ExecuteRebalance(plan_asof=shown.plan.asof, source=CommandSource.HOTKEY))
        if result.ok:
            self._say(f"Sent: {result.message}")
            return
        self._say(execute_refusal(result))

    def action_close(self) -> None:
        self.dismiss(None)
