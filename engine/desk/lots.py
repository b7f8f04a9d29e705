"""The engine's tax lots: a ``LotBook`` folded from the stored fills, then kept one fill at a time.

Each fill is booked under the strategy that sent it (its order's card's template; "manual" for
an order no card explains) so strategy sleeves keep their own lots. A sell sent by a tax-loss
card closes the very lot the card proposed (specific identification, named in the card's id),
which is the point of the harvest: FIFO would close the oldest lot, perhaps one at a gain.

Wash sales: after every fill, loss sales and purchases of the fill's substantially-identical
family are matched (``detect_wash_sales``); each new match is recorded in the book (the
replacement lot's tax basis and holding period) and, live, announced to the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta

from engine.model import Fill, Order, StrategyCard
from engine.model.lots import LotMethod, WashSale, trade_date
from engine.portfolio.lots import LotBook
from engine.portfolio.tax_loss import WashSaleRules, detect_wash_sales

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
        self._applied: set[tuple[str, str, str]] = set()
        self.fills: list[Fill] = []
        """Every fill booked, oldest first: the history a harvest's wash-sale check reads."""

    def fold(
        self, fills: Iterable[Fill], orders: Mapping[str, Order], cards: Mapping[str, StrategyCard]
    ) -> None:
        """Book the stored fills (at start), quietly: their wash sales were announced when they happened."""
        for fill in fills:
            order = orders.get(fill.client_order_id)
            self.apply(fill, strategy_of(order, cards), order, announce=False)

    def apply(self, fill: Fill, strategy: str, order: Order | None, *, announce: bool = True) -> None:
        lot = harvest_lot(order.card_id if order is not None else None)
        named: Sequence[str] | None = None
        if lot is not None and fill.side.sign < 0 and self._is_open(lot):
            named = (lot,)
        try:
            self.book.apply_fill(fill, strategy=strategy or MANUAL, lots=named)
        except ValueError as exc:  # the named lot changed since the card: close by FIFO, say so
            self._notice("warning", f"tax lots: {exc}; booked first in, first out instead")
            self.book.apply_fill(fill, strategy=strategy or MANUAL)
        self.fills.append(fill)
        self._wash_sales(fill, announce)

    def _is_open(self, lot_id: str) -> bool:
        try:
            self.book.lot(lot_id)
        except ValueError:
            return False
        return True

    def _wash_sales(self, fill: Fill, announce: bool) -> None:
        family = self.rules.family(fill.symbol)
        day = trade_date(fill.ts)
        window = timedelta(days=self.rules.window_days)
        losses = [
            r
            for r in self.book.realized_lots
            if r.symbol in family and r.is_long and r.gain < 0 and abs(r.closed - day) <= window
        ]
        if not losses:
            return
        buys = [lot for lot in self.book.acquisitions if lot.symbol in family]
        sales = [r for r in self.book.realized_lots if r.symbol in family]
        for wash in detect_wash_sales(sales, buys, self.rules):
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
        return [f for f in self.fills if trade_date(f.ts) >= since]


def strategy_of(order: Order | None, cards: Mapping[str, StrategyCard]) -> str:
    """The template whose card sent ``order``: its stored card, else its card id; "manual" without one."""
    if order is None or not order.card_id:
        return MANUAL
    card = cards.get(order.card_id)
    if card is not None:
        return card.template
    return order.card_id.split("-", 1)[0] or MANUAL


def describe(wash: WashSale) -> str:
    return (
        f"wash sale: {wash.replacement_symbol} bought {wash.replacement_date.isoformat()} within "
        f"the window of the loss sale of lot {wash.sale_lot_id} ({wash.symbol}, "
        f"{wash.sale_date.isoformat()}): {wash.disallowed:,.2f} of the loss is disallowed and added "
        f"to the new lot's basis"
    )
