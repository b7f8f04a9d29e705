"""The main desk: status, HALTED banner, the four panes, the execution strip under the cards, the
quotes and the event log, the message line and the key footer.

On a wide terminal the quotes and the event log are a third row under the four panes; on a
narrow one (an 80x24 SSH session) they are not squeezed in: their keys (``t`` quotes, ``l`` the
event log) show one of them in place of the four panes, and the same key or Escape brings the
panes back."""

from __future__ import annotations

from collections.abc import Set
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from console.keys import Hotkeys
from console.screens.card_detail import CardDetailScreen
from console.state import DeskState
from console.widgets import (
    CardsPane,
    ExecutionProgress,
    HaltBanner,
    MessageLine,
    OrderBlotter,
    PositionsPane,
    RiskGauges,
    StatusLine,
)
from console.widgets.cards import action_line, execute_request
from console.widgets.event_log import EventLogPane
from console.widgets.quotes import QuotesPane
from engine.model import DeskArea, StrategyCard

FOOTER_ROOMY = 100
"""Below this width the footer drops the padding between keys so every key it shows still fits."""


class DeskScreen(Screen[None]):
    """Composes the panes and hands each one its slice of ``DeskState`` when the app says so."""

    AUTO_FOCUS = "#cards-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "execute", "Execute", id="onetap.execute"),
        Binding("enter", "card_detail", "Card detail", show=False, id="onetap.card_detail"),
        Binding("F", "app.flatten", "Flatten", id="onetap.flatten"),
        Binding("e", "app.executions", "Execs", id="onetap.executions"),
        Binding("v", "app.risk_detail", "Risk", id="onetap.risk_detail"),
        Binding("L", "app.limits", "Limits", show=False, id="onetap.limits"),
        Binding("C", "app.cancel_all", "Cancel all", show=False, id="onetap.cancel_all"),
        Binding("a", "app.review_reconciliation", "Approve", id="onetap.approve"),
        Binding("b", "app.research", "Research", show=False, id="onetap.research"),
        Binding("p", "app.portfolio", "Portfolio", show=False, id="onetap.portfolio"),
        Binding("w", "app.rebalance", "Rebalance", show=False, id="onetap.rebalance"),
        Binding("s", "app.scoreboard", "Scores", show=False, id="onetap.scoreboard"),
        Binding("M", "app.models", "Models", show=False, id="onetap.models"),
        Binding("t", "view('quotes')", "Quotes", show=False, id="onetap.quotes"),
        Binding("l", "view('events')", "Event log", show=False, id="onetap.event_log"),
        Binding("escape", "view('')", "Back to the panes", show=False),
    ]
    """These keys open screens and dialogs the app owns (it holds the state and sends the commands).
    ``L`` and ``C`` are named in the risk and order panes' subtitles and in the command palette;
    ``a`` shows only while a reconciliation waits for approval; ``b`` (research, on the highlighted
    card's template), ``p`` (the portfolio report) and ``w`` (the rebalance preview) are in the
    command palette. ``t`` and ``l`` show the quotes and the event log (in place of the panes on a
    narrow terminal, focused on a wide one); every key is in the help (``?``). Enter opens the
    highlighted card's detail screen (named under the cards); with the cards table focused the
    table takes Enter and says so with ``RowSelected``, which opens the same screen.
    ``s`` (the forecast scoreboard) is in the command palette too."""

    def __init__(self, hotkeys: Hotkeys | None = None) -> None:
        """``hotkeys``: the keys the banner and the pane hints name (the bindings take theirs from
        the app's keymap)."""
        super().__init__(id="desk")
        self._keys = hotkeys or Hotkeys()
        self.view = ""
        """``quotes`` or ``events`` while one of them is shown in place of the panes (narrow only)."""

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status-line")
        keys = self._keys
        yield HaltBanner(resume_key=keys.resume, approve_key=keys.approve, id="halt-banner")
        with Grid(id="panes"):
            yield PositionsPane(id="positions")
            with Vertical(id="cards-column"):
                yield CardsPane(id="cards")
                yield ExecutionProgress(id="execution")
            yield RiskGauges(detail_key=keys.risk_detail, limits_key=keys.limits, id="risk")
            yield OrderBlotter(keys, id="blotter")
            yield QuotesPane(id="quotes")
            yield EventLogPane(keys.log_filter, id="events")
        yield MessageLine(id="message-line")
        yield Footer()

    def show(self, state: DeskState, areas: Set[DeskArea], *, connection: str) -> None:
        """Push the changed areas to their widgets; each widget redraws only what it was given."""
        if DeskArea.POSITIONS in areas:
            positions = self.query_one(PositionsPane)
            positions.protection = state.protection
            positions.positions = state.positions_sorted()
            positions.totals = state.totals()
            self.query_one(CardsPane).holdings = _holdings(state)
        if DeskArea.CARDS in areas:
            pane = self.query_one(CardsPane)
            pane.held_back = state.cards_held_back
            pane.holdings = _holdings(state)
            pane.cards = state.cards
        if DeskArea.ORDERS in areas:
            self.query_one(OrderBlotter).orders = state.orders_newest_first()
        if DeskArea.EXECUTIONS in areas:
            self.query_one(ExecutionProgress).execution = state.current_execution
        if DeskArea.RISK in areas:
            self.query_one(RiskGauges).risk = state.risk
            self.query_one(HaltBanner).risk = state.risk
        if areas & {DeskArea.STATUS, DeskArea.QUOTES}:
            status_line = self.query_one(StatusLine)
            status_line.status = state.status
            status_line.market_time = state.market_time
            status_line.connection = connection
        if areas & {DeskArea.NOTICE, DeskArea.REFUSAL, DeskArea.ALERT}:
            self.query_one(MessageLine).line = state.line
            self.query_one(EventLogPane).show(state.journal)
        if areas & {DeskArea.QUOTES, DeskArea.STATUS}:
            self.query_one(QuotesPane).show(state.quotes, state.closes, state.market_time, state.flow)

    def on_resize(self) -> None:
        footer = self.query_one(Footer)
        footer.compact = self.size.width < FOOTER_ROOMY
        # Narrow: "? Help" takes the palette's place (the help names ctrl+p, which still works).
        footer.show_command_palette = self.size.width >= FOOTER_ROOMY
        if not self.has_class("-narrow"):
            self._set_view("")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Escape leaves a pane shown in place of the four; otherwise it is not the desk's to take."""
        if action == "view" and parameters == ("",):
            return bool(self.view)
        return True

    def action_view(self, view: str) -> None:
        """Narrow: show the quotes or the event log in place of the panes (the same key again, or
        Escape, brings them back). Wide: both are always shown, so the key focuses the pane."""
        if self.has_class("-narrow"):
            view = "" if view == self.view else view
            self._set_view(view)
        pane = {"quotes": "#quotes-table", "events": "#events-table"}.get(view, "#cards-table")
        self.query_one(pane).focus()

    def _set_view(self, view: str) -> None:
        self.view = view
        self.set_class(view == "quotes", "-view-quotes")
        self.set_class(view == "events", "-view-events")

    def action_execute(self) -> None:
        """``x``: an entry card goes at once; a card that closes or reduces a position asks first;
        nothing is sent while the cursor only stands where a vanished card's neighbour put it."""
        pane = self.query_one(CardsPane)
        if pane.selection_lost:
            self.notify(
                "the card you had selected is no longer offered; move to the card you want, then x",
                severity="warning",
            )
            return
        card = pane.chosen_card
        if card is None:
            self.notify("no card selected", severity="warning")
            return
        if pane.reduces(card):
            confirm_reducing(self.app, card)
            return
        self.post_message(execute_request(card.card_id))

    def action_card_detail(self) -> None:
        pane = self.query_one(CardsPane)
        card = pane.selected_card
        if card is None:
            self.notify("no card selected", severity="warning")
            return
        self.app.push_screen(CardDetailScreen(card, confirm=pane.reduces(card)))

    @on(DataTable.RowSelected, "#cards-table")
    def _card_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on the cards table (or a click on the highlighted card) opens its detail."""
        event.stop()
        self.action_card_detail()


def _holdings(state: DeskState) -> dict[str, float]:
    return {p.symbol: p.quantity for p in state.positions.values() if p.quantity}


def confirm_reducing(app: App[None], card: StrategyCard) -> None:
    """Ask before a card that closes or reduces a position: ``y`` sends it, anything else keeps it.

    The request is posted to the app, which sends it the way it sends every ``x``; the dialog's
    focus is on No, so a stray Enter sends nothing.
    """
    from console.screens.confirm import ConfirmDialog

    def answered(send: bool | None) -> None:
        if send:
            app.post_message(execute_request(card.card_id))

    app.push_screen(
        ConfirmDialog(
            f"{card.name}: close or reduce a position?",
            f"x will send {action_line(card)} at market. {card.reason}",
            confirm_label="Send (y)",
            cancel_label="Keep (n)",
            id="confirm-reduce",
        ),
        answered,
    )
