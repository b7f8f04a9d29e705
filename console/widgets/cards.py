"""The strategy cards pane: the ranked proposals, one key away from execution.

Enter on a card opens its detail screen (the desk handles it); ``x`` executes the highlighted
card, here or on that screen, through ``execute_request``.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from console.messages import CommandRequest
from console.widgets.fmt import GAIN, LOSS, price, qty, right, truncate
from console.widgets.table import Column, Row, SyncedTable
from engine.model import CommandSource, Side, StrategyCard
from engine.model.events import ExecuteCard

REASON_MIN, REASON_MAX = 16, 72
COLUMNS = (
    Column("rank", "#"),
    Column("template", "Template"),
    Column("symbols", "Symbols"),
    Column("legs", "Side/Qty"),
    Column("confidence", "Conf"),
    Column("expected", "Exp ret"),
    Column("risk", "Max risk $"),
    Column("reward_risk", "R:R"),
    Column("reason", "Reason", REASON_MIN, flex_max=REASON_MAX),
)

ESSENTIAL = ("rank", "symbols", "legs", "confidence", "expected")
"""What an 80-column desk shows (the pane is about 40 columns wide there)."""
SPARE = ("reason", "template", "reward_risk", "risk")
"""Dropped one at a time, in this order, before the table falls back to ``ESSENTIAL``: the reason
first, as the line under the table shows the highlighted card's reason in full."""
DETAIL_HINT = "Enter: details"


REDUCE_MARK = "⏏"
"""Marks a card that closes or reduces a held position (its ``x`` asks first)."""


def execute_request(card_id: str) -> CommandRequest:
    """What ``x`` asks the app to send, from the desk or the card detail screen alike."""
    return CommandRequest(ExecuteCard(card_id, source=CommandSource.HOTKEY))


def reduces(card: StrategyCard, holdings: Mapping[str, float]) -> bool:
    """True for a card that closes or reduces a position the book holds: an ``exit`` card, or any
    card with a leg that trades against a holding (a sell of a long, a buy of a short).

    Such a card is not one key: liquidating a position by a stray ``x`` on the wrong row is the
    mistake the confirmation is for. A card that only opens or adds stays one key.
    """
    if card.template.startswith("exit"):
        return True
    for leg in card.legs:
        held = holdings.get(leg.symbol, 0.0)
        if (held > 0 and leg.side is Side.SELL) or (held < 0 and leg.side is Side.BUY):
            return True
    return False


def action_line(card: StrategyCard) -> str:
    """What ``x`` sends, in the words of an order ticket: ``BUY 34 AAPL momentum``."""
    legs = ", ".join(f"{leg.side} {qty(leg.quantity)} {leg.symbol.strip()}" for leg in card.legs)
    return f"{legs or card.name} {card.template}"


class CardsPane(Vertical):
    """Assign ``cards`` (ranked); the cursor stays on the same card when the ranking changes."""

    cards: reactive[tuple[StrategyCard, ...]] = reactive((), init=False)
    held_back: reactive[tuple[tuple[str, int], ...]] = reactive((), init=False)
    """Candidates validation kept off the desk, by reason: assign before ``cards``."""
    holdings: reactive[dict[str, float]] = reactive(dict, init=False)
    """Symbol -> signed quantity held: which cards reduce a position. Assign before ``cards``."""
    scanning: reactive[str] = reactive("", init=False)
    """While the engine computes the day's cards: how far it is ("computing the day's cards: ...")."""

    def compose(self) -> ComposeResult:
        yield SyncedTable(COLUMNS, essential=ESSENTIAL, spare=SPARE, id="cards-table")
        yield Static(id="card-reason")

    def on_mount(self) -> None:
        self.border_title = "Strategy cards"

    @property
    def selected_card_id(self) -> str | None:
        return self.query_one(SyncedTable).selected_key

    @property
    def selected_card(self) -> StrategyCard | None:
        """The highlighted card, or None when none is offered."""
        key = self.selected_card_id
        return next((c for c in self.cards if c.card_id == key), None)

    @property
    def chosen_card(self) -> StrategyCard | None:
        """The card the operator put the cursor on; None while the cursor only stands on a
        neighbour of a card that went away (``SyncedTable.chosen_key``)."""
        key = self.query_one(SyncedTable).chosen_key
        return next((c for c in self.cards if c.card_id == key), None)

    @property
    def selection_lost(self) -> bool:
        return self.query_one(SyncedTable).selection_lost

    def reduces(self, card: StrategyCard) -> bool:
        return reduces(card, self.holdings)

    def watch_cards(self, cards: tuple[StrategyCard, ...]) -> None:
        held = self.holdings
        rows = [_row(rank, card, reducing=reduces(card, held)) for rank, card in enumerate(cards, 1)]
        self.query_one(SyncedTable).sync(rows)
        self._subtitle()
        self._describe_selected()

    def watch_holdings(self) -> None:
        """A fill can turn an entry into a card that reduces a position (or back)."""
        self.watch_cards(self.cards)

    def watch_held_back(self) -> None:
        self._subtitle()

    def watch_scanning(self) -> None:
        self._subtitle()
        self._describe_selected()

    def _subtitle(self) -> None:
        """How many cards are offered, how many candidates were held back and why (the reasons
        are the validation codes of engine/strategies/validation.py)."""
        parts = [f"{len(self.cards)} offered" if self.cards else self.scanning or "none offered"]
        if self.held_back:
            reasons = ", ".join(f"{code.replace('_', ' ')} {n}" for code, n in self.held_back)
            parts.append(f"held back: {reasons}")
        if self.cards:
            parts.append(DETAIL_HINT)
        self.border_subtitle = " · ".join(parts)

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._describe_selected()

    def _describe_selected(self) -> None:
        """What ``x`` will do, then the highlighted card's whole reason and plan (the table has
        room for a clipped reason only)."""
        card = self.selected_card
        line = self.query_one("#card-reason", Static)
        reducing = card is not None and self.reduces(card)
        line.set_class(reducing, "-reduces")
        if card is None:
            line.update(self.scanning)  # no card yet: say the engine is working on them
            return
        text = Text()
        if self.selection_lost:
            text.append("x: the card you had selected is gone; move to choose one  ·  ", style="bold")
        elif reducing:
            text.append(f"x (asks): {action_line(card)}, reduces a position  ·  ", style="bold")
        else:
            text.append(f"x: {action_line(card)}  ·  ", style="bold")
        line.update(text + _description(card))


def _row(rank: int, card: StrategyCard, *, reducing: bool = False) -> Row:
    sides = {leg.side for leg in card.legs}
    side_style = GAIN if sides == {Side.BUY} else LOSS if sides == {Side.SELL} else ""
    cells = (
        right(f"{REDUCE_MARK}{rank}", style="bold") if reducing else right(str(rank)),
        Text(card.template, style="bold italic" if reducing else ""),
        Text(_clip(list(card.symbols)), style="bold"),
        Text(_clip([f"{leg.side} {qty(leg.quantity)}" for leg in card.legs]), style=side_style),
        *_forecast(card),
        right(f"{card.max_risk:,.0f}"),
        right(_reward_risk(card)),
        Text(truncate(card.reason, REASON_MAX), style="dim", overflow="ellipsis", no_wrap=True),
    )
    return card.card_id, cells


def _description(card: StrategyCard) -> Text:
    text = Text.assemble((card.name, "bold"), "  ", card.reason)
    symbol = card.legs[0].symbol if card.legs else ""
    plan = [f"stop {price(card.stop_price, symbol)}" if card.stop_price is not None else ""]
    plan.append(f"target {price(card.target_price, symbol)}" if card.target_price is not None else "")
    plan.append(f"horizon {card.horizon_days} sessions")
    text.append("  ·  " + ", ".join(p for p in plan if p), style="dim")
    text.append(f"  ·  {DETAIL_HINT}", style="dim")
    return text


def _reward_risk(card: StrategyCard) -> str:
    """``risk:reward_risk`` as ``2.1``; blank for a card that does not carry it."""
    value = card.details.get("risk:reward_risk")
    return "" if value is None else f"{value:.1f}"


def _clip(items: list[str]) -> str:
    """Two legs in full, then a count: a rotation card with ten legs must not widen the table."""
    shown = ", ".join(items[:2])
    return shown if len(items) <= 2 else f"{shown} +{len(items) - 2}"


def _forecast(card: StrategyCard) -> tuple[Text, Text]:
    """Confidence and expected return; a close card makes no forecast, so it shows dashes."""
    if card.template == "exit":
        return right("—", style="dim"), right("—", style="dim")
    return (
        right(f"{card.confidence:.0%}"),
        right(f"{card.expected_return:+.2%}", style=GAIN if card.expected_return > 0 else LOSS),
    )
