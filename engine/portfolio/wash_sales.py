"""Wash-sale matching kept up to date one lot at a time, at a cost independent of the history.

``detect_wash_sales`` (``engine.portfolio.tax_loss``) states the rule as a greedy matching over a
whole history: loss sales in (close date, lot id) order, each taking replacement units from the
purchases in acquisition order, within the window, each unit used once. Recomputed after every
fill, it costs sales x purchases per fill, and a restart that folds n fills costs n times that.

``WashSaleMatcher`` keeps that very matching (the same pairs, the same quantities, the same float
arithmetic) for one family of substantially-identical symbols and updates it when a lot arrives:

- a purchase later than every other (the usual case) can only take what the sales within the
  window around its date still miss: the sales are sorted by close date, so they are one slice
  found by bisection, and earlier matches never change (the greedy reaches the newest purchase last);
- a loss sale later than every other in the sales' order takes from the purchases within its
  window (one slice of the purchases, sorted by date) what is left of them;
- anything else (a fill out of time order, two loss sales of one day whose lot ids sort the other
  way) re-runs the greedy from the first sale it can affect, after restoring every purchase's
  capacity as it was before that sale (each purchase logs its capacity after each take, so the
  restored figure is the same float the full computation would have, not a sum undone).

The matches the caller has not taken yet are kept ``pending``; ``take_pending`` hands them over
in the order ``detect_wash_sales`` lists them (sale order, then purchase order).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from engine.model.lots import Lot, RealizedLot, WashSale
from engine.portfolio.tax_loss import WashSaleRules

_EPS = 1e-12
"""Below this a remaining quantity or a capacity is used up (``detect_wash_sales``' threshold)."""

WashKey = tuple[str, str, str]
"""(sale lot id, sale exec id, replacement lot id): one match, as the book records it."""


def wash_key(wash: WashSale) -> WashKey:
    return (wash.sale_lot_id, wash.sale_exec_id, wash.replacement_lot_id)


def _base_id(lot_id: str) -> str:
    return lot_id.split("/", 1)[0]


@dataclass(slots=True, eq=False)
class _Buy:
    key: tuple[datetime, int]
    lot: Lot
    day: date
    capacity: float
    log: list[tuple[_Sale, float]] = field(default_factory=list)
    """(sale, capacity after its take), in sale order: what restores a capacity exactly."""


@dataclass(slots=True, eq=False)
class _Sale:
    key: tuple[date, str, int]
    lot: RealizedLot
    loss: float
    remaining: float
    takes: list[tuple[_Buy, WashSale]] = field(default_factory=list)


class WashSaleMatcher:
    """The ``detect_wash_sales`` matching of one family, updated per lot (see the module's doc).

    ``seq`` numbers given to ``add_sale`` and ``add_purchase`` are the lot's position in the
    book's realized lots and acquisitions: ties in date are broken by them, as the stable sorts
    of ``detect_wash_sales`` break them by list order. ``applied(key)`` says whether a match was
    recorded already (such a match is never pending again, whatever the matching does later).
    """

    def __init__(self, rules: WashSaleRules, family: frozenset[str], applied: Callable[[WashKey], bool]):
        self.rules = rules
        self.family = family
        self._applied = applied
        self._window = timedelta(days=rules.window_days)
        self._sales: list[_Sale] = []
        self._sale_keys: list[tuple[date, str, int]] = []
        self._sale_days: list[date] = []
        self._buys: list[_Buy] = []
        self._buy_keys: list[tuple[datetime, int]] = []
        # The sales still missing replacement units and the purchases with units left, in the same
        # orders: a new lot scans only these within its window, not the whole window's history
        # (in an active account most of it is used up, and skipping it is what detect_wash_sales does).
        self._open_sales: list[_Sale] = []
        self._open_sale_keys: list[tuple[date, str, int]] = []
        self._open_sale_days: list[date] = []
        self._open_buys: list[_Buy] = []
        self._open_buy_keys: list[tuple[datetime, int]] = []
        self._open_buy_days: list[date] = []
        self._pending: dict[WashKey, tuple[_Sale, _Buy, WashSale]] = {}
        self.recomputed = 0
        """How many times an out-of-order lot made the greedy run again from some sale (for tests)."""

    # ------------------------------------------------------------------ input
    def add_purchase(self, lot: Lot, seq: int) -> None:
        """A lot as acquired (``LotBook.acquisitions``); short lots and other families are ignored."""
        if not lot.is_long or lot.symbol not in self.family:
            return
        key = (lot.opened, seq)
        buy = _Buy(key, lot, lot.open_date, lot.quantity)
        at = bisect_right(self._buy_keys, key)
        self._buys.insert(at, buy)
        self._buy_keys.insert(at, key)
        if at == len(self._buys) - 1:
            first = bisect_left(self._open_sale_days, buy.day - self._window)
            last = bisect_right(self._open_sale_days, buy.day + self._window)
            end = first
            for sale in self._open_sales[first:last]:
                if buy.capacity <= _EPS:  # used up: no later sale can take from it
                    break
                self._match(sale, buy)
                end += 1
            self._prune_sales(first, end)
            if buy.capacity > _EPS:
                self._open_buy(buy)
        else:
            self._open_buy(buy)
            self._rematch_from(bisect_left(self._sale_days, buy.day - self._window))

    def add_sale(self, sale: RealizedLot, seq: int) -> None:
        """A realized piece (``LotBook.realized_lots``); only long sales at a tax loss can be washed."""
        if not sale.is_long or sale.symbol not in self.family or not sale.proceeds - sale.tax_basis < 0:
            return
        key = (sale.closed, sale.lot_id, seq)
        item = _Sale(key, sale, sale.tax_basis - sale.proceeds, sale.quantity)
        at = bisect_right(self._sale_keys, key)
        self._sales.insert(at, item)
        self._sale_keys.insert(at, key)
        self._sale_days.insert(at, sale.closed)
        if at == len(self._sales) - 1:
            self._fill(item)
            if item.remaining > _EPS:
                self._open_sales.append(item)
                self._open_sale_keys.append(item.key)
                self._open_sale_days.append(item.lot.closed)
        else:
            self._rematch_from(at)

    # ------------------------------------------------------------------ output
    def take_pending(self) -> list[WashSale]:
        """Matches not recorded yet, in ``detect_wash_sales`` order; they are no longer pending."""
        ready = sorted(self._pending.values(), key=lambda p: (p[0].key, p[1].key))
        self._pending.clear()
        return [wash for _sale, _buy, wash in ready if not self._applied(wash_key(wash))]

    def matches(self) -> list[WashSale]:
        """The whole current matching, in ``detect_wash_sales`` order (for tests and reports)."""
        return [wash for sale in self._sales for _buy, wash in sale.takes]

    # ------------------------------------------------------------------ the greedy
    def _fill(self, sale: _Sale) -> None:
        """Run one sale through the purchases in its window, in acquisition order."""
        day = sale.lot.closed
        first = bisect_left(self._open_buy_days, day - self._window)
        last = bisect_right(self._open_buy_days, day + self._window)
        end = first
        for buy in self._open_buys[first:last]:
            if sale.remaining <= _EPS:
                break
            self._match(sale, buy)
            end += 1
        if end > first:
            kept = [b for b in self._open_buys[first:end] if b.capacity > _EPS]
            self._open_buys[first:end] = kept
            self._open_buy_keys[first:end] = [b.key for b in kept]
            self._open_buy_days[first:end] = [b.day for b in kept]

    def _open_buy(self, buy: _Buy) -> None:
        """(Re)list a purchase with units left, in acquisition order (a no-op when listed)."""
        at = bisect_left(self._open_buy_keys, buy.key)
        if at < len(self._open_buys) and self._open_buys[at] is buy:
            return
        self._open_buys.insert(at, buy)
        self._open_buy_keys.insert(at, buy.key)
        self._open_buy_days.insert(at, buy.day)

    def _prune_sales(self, first: int, last: int) -> None:
        """Drop the sales of ``open_sales[first:last]`` that need no more units."""
        kept = [x for x in self._open_sales[first:last] if x.remaining > _EPS]
        if len(kept) < last - first:
            self._open_sales[first:last] = kept
            self._open_sale_keys[first:last] = [x.key for x in kept]
            self._open_sale_days[first:last] = [x.lot.closed for x in kept]

    def _match(self, sale: _Sale, buy: _Buy) -> None:
        """``detect_wash_sales``' inner step for one (sale, purchase) pair, in the same arithmetic."""
        lot = sale.lot
        if (
            sale.remaining <= _EPS
            or buy.capacity <= _EPS
            or _base_id(buy.lot.lot_id) == _base_id(lot.lot_id)
            or not self.rules.identical(buy.lot.symbol, lot.symbol)
            or not self.rules.in_window(lot.closed, buy.day)
        ):
            return
        take = min(sale.remaining, buy.capacity)
        buy.capacity -= take
        sale.remaining -= take
        buy.log.append((sale, buy.capacity))
        wash = WashSale(
            sale_lot_id=lot.lot_id,
            sale_exec_id=lot.exec_id,
            symbol=lot.symbol,
            sale_date=lot.closed,
            quantity=take,
            loss=sale.loss,
            disallowed=sale.loss * take / lot.quantity,
            replacement_lot_id=buy.lot.lot_id,
            replacement_symbol=buy.lot.symbol,
            replacement_date=buy.day,
            holding_start=buy.day - (lot.closed - lot.holding_start),
        )
        sale.takes.append((buy, wash))
        key = wash_key(wash)
        if not self._applied(key):
            self._pending[key] = (sale, buy, wash)

    def _rematch_from(self, start: int) -> None:
        """Undo the takes of ``sales[start:]`` and run them again, in order."""
        self.recomputed += 1
        redo = self._sales[start:]
        if not redo:
            return
        boundary = redo[0].key
        touched: dict[int, _Buy] = {}
        for sale in redo:
            for buy, wash in sale.takes:
                touched[id(buy)] = buy
                self._pending.pop(wash_key(wash), None)
            sale.takes.clear()
            sale.remaining = sale.lot.quantity
        for buy in touched.values():
            while buy.log and buy.log[-1][0].key >= boundary:
                buy.log.pop()
            buy.capacity = buy.log[-1][1] if buy.log else buy.lot.quantity
            if buy.capacity > _EPS:
                self._open_buy(buy)
        cut = bisect_left(self._open_sale_keys, boundary)
        del self._open_sales[cut:], self._open_sale_keys[cut:], self._open_sale_days[cut:]
        for sale in redo:
            self._fill(sale)
            if sale.remaining > _EPS:
                self._open_sales.append(sale)
                self._open_sale_keys.append(sale.key)
                self._open_sale_days.append(sale.lot.closed)
