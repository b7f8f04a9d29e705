"""The card detail screen (Enter on a card on the desk): everything behind one strategy card.

The desk's cards pane has room for a card's headline figures only; this screen shows the rest,
section by section (``console.widgets.card_detail``): the legs and what the card promises, the
signals, how it was sized and which cap bound, the template's track record and calibration, how
it was ranked, its Greeks, its execution plan and its notes.

``x`` executes the card as the desk's ``x`` does (the same ``CommandRequest``, so the app sends
it and shows its outcome in the same place) and returns to the desk; Escape returns without
executing. The screen follows the desk's fold (``FollowsDesk``): a card the engine republishes
is redrawn with its new figures, and a card the engine no longer offers is marked so, and ``x``
then refuses here instead of sending a card the engine would not know.
"""

from __future__ import annotations

from collections.abc import Set
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.state import DeskState
from console.widgets.card_detail import (
    CardGreeksSection,
    CardHeader,
    CardSection,
    ExitSection,
    NotesSection,
    PlanSection,
    RankingSection,
    SignalsSection,
    SizingSection,
    TrackRecordSection,
)
from console.widgets.cards import execute_request
from engine.model import DeskArea, StrategyCard

NO_LONGER_OFFERED = "this card is no longer offered"
GONE_LINE = f"{NO_LONGER_OFFERED}: the engine withdrew it, so x will not send it. Escape returns to the desk."


class CardDetailScreen(Screen[None]):
    """One card in full. ``x`` executes it and returns to the desk; Escape returns."""

    AUTO_FOCUS = "#card-detail-body"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "execute", "Execute", id="onetap.execute"),
        Binding("escape", "close", "Back to desk"),
    ]
    """``x`` shares the desk's binding id, so a remapped execute key is the same key here."""

    def __init__(self, card: StrategyCard, *, confirm: bool = False) -> None:
        """``confirm``: the card closes or reduces a position, so ``x`` asks first (as on the desk)."""
        super().__init__(id="card-detail")
        self._card = card
        self._confirm = confirm
        self._offered = True

    @property
    def card(self) -> StrategyCard:
        """The card as last offered (the engine's newest figures while it is still offered)."""
        return self._card

    @property
    def offered(self) -> bool:
        """False once the engine's cards no longer include this card."""
        return self._offered

    def compose(self) -> ComposeResult:
        yield Static("", id="card-detail-title", markup=False)
        yield Static(GONE_LINE, id="card-detail-gone", markup=False)
        with VerticalScroll(id="card-detail-body"):
            yield CardHeader(id="card-header")
            with Horizontal(id="card-columns"):
                with Vertical(id="card-left"):
                    yield ExitSection(id="card-exits")
                    yield SignalsSection(id="card-signals")
                    yield SizingSection(id="card-sizing")
                with Vertical(id="card-right"):
                    yield TrackRecordSection(id="card-track-record")
                    yield CardGreeksSection(id="card-greeks")
            yield RankingSection(id="card-ranking")
            yield PlanSection(id="card-plan")
            yield NotesSection(id="card-notes")
        yield Footer()

    def on_mount(self) -> None:
        self._show()

    def follow(self, state: DeskState, areas: Set[DeskArea]) -> None:
        """Take the card's newest figures, or mark it withdrawn, when the cards changed (``FollowsDesk``)."""
        if DeskArea.CARDS not in areas:
            return
        current = next((c for c in state.cards if c.card_id == self._card.card_id), None)
        self._offered = current is not None
        if current is not None:
            self._card = current
        self._show()

    def _show(self) -> None:
        card = self._card
        for section in self.query(CardSection):
            section.card = card
        self.set_class(not self._offered, "-gone")
        title = f"Strategy card  ·  {card.name}  ·  {card.template}"
        if not self._offered:
            title += f"  ·  {NO_LONGER_OFFERED.upper()}"
        self.query_one("#card-detail-title", Static).update(title)

    def action_execute(self) -> None:
        """As the desk's ``x``: the app sends it and shows the outcome; then back to the desk."""
        if not self._offered:
            self.notify(NO_LONGER_OFFERED, severity="warning")
            return
        if self._confirm:
            from console.screens.desk import confirm_reducing

            card = self._card
            self.dismiss(None)
            confirm_reducing(self.app, card)
            return
        self.post_message(execute_request(self._card.card_id))
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
