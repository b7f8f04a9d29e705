"""The main desk: status, HALTED banner, the four panes, the message line and the key footer."""

from __future__ import annotations

from collections.abc import Set
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Footer

from console.messages import CommandRequest
from console.state import DeskState
from console.widgets import (
    CardsPane,
    HaltBanner,
    MessageLine,
    OrderBlotter,
    PositionsPane,
    RiskGauges,
    StatusLine,
)
from engine.model import CommandSource
from engine.model.events import ExecuteCard


class DeskScreen(Screen[None]):
    """Composes the panes and hands each one its slice of ``DeskState`` when the app says so."""

    AUTO_FOCUS = "#cards-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "execute", "Execute", id="onetap.execute"),
        Binding("F", "app.flatten", "Flatten", id="onetap.flatten"),
        Binding("v", "app.risk_detail", "Risk", id="onetap.risk_detail"),
        Binding("L", "app.limits", "Limits", id="onetap.limits"),
    ]
    """The risk keys open screens the app owns (it holds the state and sends the commands)."""

    def __init__(self, *, resume_key: str = "R") -> None:
        super().__init__(id="desk")
        self._resume_key = resume_key

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status-line")
        yield HaltBanner(resume_key=self._resume_key, id="halt-banner")
        with Grid(id="panes"):
            yield PositionsPane(id="positions")
            yield CardsPane(id="cards")
            yield RiskGauges(id="risk")
            yield OrderBlotter(id="blotter")
        yield MessageLine(id="message-line")
        yield Footer()

    def show(self, state: DeskState, areas: Set[str], *, connection: str) -> None:
        """Push the changed areas to their widgets; each widget redraws only what it was given."""
        if "positions" in areas:
            positions = self.query_one(PositionsPane)
            positions.positions = state.positions_sorted()
            positions.totals = state.totals()
        if "cards" in areas:
            self.query_one(CardsPane).cards = state.cards
        if "orders" in areas:
            self.query_one(OrderBlotter).orders = state.orders_newest_first()
        if "risk" in areas:
            self.query_one(RiskGauges).risk = state.risk
            self.query_one(HaltBanner).risk = state.risk
        if areas & {"status", "quotes"}:
            status_line = self.query_one(StatusLine)
            status_line.status = state.status
            status_line.market_time = state.market_time
            status_line.connection = connection
        if areas & {"notice", "refusal", "alert"}:
            self.query_one(MessageLine).line = state.line

    def action_execute(self) -> None:
        card_id = self.query_one(CardsPane).selected_card_id
        if card_id is None:
            self.notify("no card selected", severity="warning")
            return
        self.post_message(CommandRequest(ExecuteCard(card_id, source=CommandSource.HOTKEY)))
