"""The engine's tax lots: a ``LotBook`` folded from the stored fills, then kept one fill at a time.

Each fill is booked under the strategy that sent it (its order's card's template; "manual" for
an order no card explains) so strategy sleeves keep their own lots. A sell sent by a tax-loss
card closes the very lot the card proposed (specific identification, named in the card's id),
which is the point of the harvest: FIFO would close the oldest lot, perhaps one at a gain.

Wash sales: after a fill with a long loss sale of its substantially-identical family realised
within the window of its trade date, the family's loss sales and purchases are matched (the
``detect_wash_sales`` rule); each new match is recorded in the book (the replacement lot's tax
basis and holding period) and, live, announced to the operator. The matching is kept per family
by a ``WashSaleMatcher`` that each new lot updates within its own window, so a fill costs the same
with ten fills behind it or a hundred thousand, and the fold at start is linear in the fills
(it used to rerun the whole history's matching after every fill: quadratic per fill, cubic at start).
A family's matcher is built the first time one of its fills needs a check: an account that never
sells at a loss never builds one.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta

from engine.model import Fill, Order
from engine.model.lots import Lot, LotMethod, RealizedLot, WashSale, trade_date
from engine.portfolio.lots import LotBook
from engine.portfolio.tax_loss import WashSaleRules
from engine.portfolio.wash_sales import WashKey, WashSaleMatcher

MANUAL = "manual"
HARVEST_TEMPLATE = "tax_loss"


def harvest_card_id(lot_id: str, day: date) -> str:
    """``tax_loss-<lot id>-<yyyymmdd>``: the template first, as every card id; the lot inside."""
    return f"{HARVEST_TEMPLATE}-{lot_id}-{day:%Y%m%d}"


def harvest_lot(card_id: str | None) -> str | None:
    """The lot a tax-loss card's sell closes, read back from its id (None for any other card)."""
    if not card_id or not card_id.startswith(f"{HARVEST_TEMPLATE}-"):
        return None
    middle = card_id.split("-", 1)[1]
    return middle.rsplit("-", 1)[0] or None


class EngineLots:
    """The ``LotBook`` and the wash-sale bookkeeping around it; ``notice(level, text)`` tells the operator."""

    def __init__(self, rules: WashSaleRules, notice: Callable[[str, str], None]) -> None:
        self.book = LotBook(LotMethod.FIFO)
        self.rules = rules
        self._notice = notice
        self._applied: set[WashKey] = set()
        self.fills: list[Fill] = []
        """Every fill booked, in the order booked."""
        self._by_day: list[tuple[date, int]] = []
        """(trade date, index in ``fills``), sorted: ``recent_fills`` bisects it."""
        self._sales: dict[str, list[tuple[int, RealizedLot]]] = {}
        """symbol -> (index in the book's realized lots, piece) of each long sale: a new matcher's input."""
        self._buys: dict[str, list[tuple[int, Lot]]] = {}
        """symbol -> (index in the book's acquisitions, lot) of each long lot opened."""
        self._loss_days: dict[str, list[date]] = {}
        """symbol -> close dates (sorted) of its long sales at an economic loss: what triggers a check."""
        self._realized_count = 0
        self._matchers: dict[frozenset[str], WashSaleMatcher] = {}
        self._matchers_of: dict[str, list[WashSaleMatcher]] = {}

    def fold(self, fills: Iterable[Fill], card_of: Mapping[str, str], templates: Mapping[str, str]) -> None:
        """Book the stored fills (at start), quietly: their wash sales were announced when they happened.

        ``card_of`` maps a client order id to the card that sent it, ``templates`` a card id to its
        template (the strategy its fills are booked under; see ``template_of``).
        """
        for fill in fills:
            card_id = card_of.get(fill.client_order_id)
            self._apply(fill, template_of(card_id, templates), card_id, announce=False)

    def apply(self, fill: Fill, strategy: str, order: Order | None, *, announce: bool = True) -> None:
        """Book one fill of ``order`` (None: an order the engine does not know) under ``strategy``."""
        self._apply(fill, strategy, order.card_id if order is not None else None, announce=announce)

    def _apply(self, fill: Fill, strategy: str, card_id: str | None, *, announce: bool) -> None:
        lot = harvest_lot(card_id)
        named: Sequence[str] | None = None
        if lot is not None and fill.side.sign < 0 and self._is_open(lot):
            named = (lot,)
        acquired = self.book.acquired_count
        try:
            closed = self.book.apply_fill(fill, strategy=strategy or MANUAL, lots=named)
        except ValueError as exc:  # the named lot changed since the card: close by FIFO, say so
            self._notice("warning", f"tax lots: {exc}; booked first in, first out instead")
            closed = self.book.apply_fill(fill, strategy=strategy or MANUAL)
        day = trade_date(fill.ts)
        insort(self._by_day, (day, len(self.fills)))
        self.fills.append(fill)
        self._index(closed, acquired)
        self._wash_sales(fill, day, announce)

    def _is_open(self, lot_id: str) -> bool:
        try:
            self.book.lot(lot_id)
        except ValueError:
            return False
        return True

    def _index(self, closed: Sequence[RealizedLot], acquired: int) -> None:
        """Index the fill's new lots by symbol and hand them to the matchers of their families."""
        for piece in closed:
            seq = self._realized_count
            self._realized_count += 1
            if not piece.is_long:
                continue
            self._sales.setdefault(piece.symbol, []).append((seq, piece))
            if piece.gain < 0:
                insort(self._loss_days.setdefault(piece.symbol, []), piece.closed)
            for matcher in self._matchers_of.get(piece.symbol, ()):
                matcher.add_sale(piece, seq)
        for seq, opened in enumerate(self.book.acquisitions_since(acquired), start=acquired):
            if not opened.is_long:
                continue
            self._buys.setdefault(opened.symbol, []).append((seq, opened))
            for matcher in self._matchers_of.get(opened.symbol, ()):
                matcher.add_purchase(opened, seq)

    def _loss_near(self, family: frozenset[str], day: date) -> bool:
        """A long sale at an economic loss in ``family`` closed within the window of ``day``."""
        window = timedelta(days=self.rules.window_days)
        for symbol in family:
            days = self._loss_days.get(symbol)
            if days:
                i = bisect_left(days, day - window)
                if i < len(days) and days[i] <= day + window:
                    return True
        return False

    def _matcher(self, family: frozenset[str]) -> WashSaleMatcher:
        """The family's matcher, built from the family's lots so far the first time it is needed."""
        matcher = self._matchers.get(family)
        if matcher is None:
            matcher = self._matchers[family] = WashSaleMatcher(self.rules, family, self._applied.__contains__)
            buys = sorted(
                (item for s in family for item in self._buys.get(s, ())), key=lambda i: (i[1].opened, i[0])
            )
            sales = sorted(
                (item for s in family for item in self._sales.get(s, ())),
                key=lambda i: (i[1].closed, i[1].lot_id, i[0]),
            )
            for seq, lot in buys:
                matcher.add_purchase(lot, seq)
            for seq, piece in sales:
                matcher.add_sale(piece, seq)
            for symbol in family:
                self._matchers_of.setdefault(symbol, []).append(matcher)
        return matcher

    def _wash_sales(self, fill: Fill, day: date, announce: bool) -> None:
        family = self.rules.family(fill.symbol)
        if not self._loss_near(family, day):
            return
        for wash in self._matcher(family).take_pending():
            key = (wash.sale_lot_id, wash.sale_exec_id, wash.replacement_lot_id)
            if key in self._applied:
                continue
            self._applied.add(key)
            try:
                self.book.apply_wash_sale(wash)
            except ValueError as exc:
                self._notice("error", f"wash sale not recorded: {exc}")
                continue
            if announce:
                self._notice("warning", describe(wash))

    def open_lots(self) -> list[tuple[str, float]]:
        """(lot id, quantity) of every open lot: what a test or a screen checks quickly."""
        return [(lot.lot_id, lot.quantity) for lot in self.book.open_lots()]

    def recent_fills(self, day: date) -> list[Fill]:
        """Fills within the wash-sale window before ``day``: all a harvest's check needs to read."""
        since = day - timedelta(days=self.rules.window_days + 1)
        start = bisect_left(self._by_day, (since, -1))
        return [self.fills[i] for i in sorted(i for _day, i in self._by_day[start:])]


def template_of(card_id: str | None, templates: Mapping[str, str]) -> str:
    """The template of card ``card_id``: its stored template, else its id's prefix; "manual" without one."""
    if not card_id:
        return MANUAL
    template = templates.get(card_id)
    if template is not None:
        return template
    return card_id.split("-", 1)[0] or MANUAL


def describe(wash: WashSale) -> str:
    return (
        f"wash sale: {wash.replacement_symbol} bought {wash.replacement_date.isoformat()} within "
        f"the window of the loss sale of lot {wash.sale_lot_id} ({wash.symbol}, "
        f"{wash.sale_date.isoformat()}): {wash.disallowed:,.2f} of the loss is disallowed and added "
        f"to the new lot's basis"
    )
