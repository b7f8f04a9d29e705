"""Tax lots, their closings and the corporate actions that change them.

A lot is what one opening fill bought (or sold short). Conventions every figure here follows:

- ``quantity`` is signed: positive for a long lot, negative for a short lot; options are in
  contracts and every money figure multiplies by ``multiplier`` (100 for an option).
- ``basis`` is per unit of the quoted price and already holds the opening commission:
  ``price + commission / (quantity x multiplier)``. For a long lot the commission raises the
  cost; for a short lot (negative quantity) it lowers the net proceeds received. With that one
  formula, unrealized P&L is ``quantity x (mark - basis) x multiplier`` for both directions.
- On a closing, the closing commission reduces the proceeds of a sale and adds to the cost of a
  short cover, so ``RealizedLot.gain`` is net of both commissions (Form 8949 style).
- Holding periods follow IRS Pub. 550: the period starts the day after acquisition, so a lot is
  long-term when it is sold after the calendar anniversary of ``holding_start`` (bought
  2023-01-10: sold 2024-01-10 is short-term, 2024-01-11 long-term). Gains on closing a short
  lot are short-term (the property delivered was bought to close it).
- Trade dates are New York dates for timezone-aware timestamps (a fill at 20:30 New York is
  01:30 UTC the next day, but the same trade date).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from engine.model.options import NEW_YORK
from engine.model.orders import Fill


class LotMethod(StrEnum):
    """Which open lots a closing fill consumes when no specific lots are named."""

    FIFO = "FIFO"
    """Oldest first (the IRS default when lots are not identified)."""
    LIFO = "LIFO"
    """Newest first."""
    HIFO = "HIFO"
    """The lots whose closing realizes the least gain first: highest basis for longs, lowest for shorts."""


class HoldingTerm(StrEnum):
    SHORT = "SHORT"
    LONG = "LONG"


class ActionType(StrEnum):
    SPLIT = "split"
    DIVIDEND = "dividend"


def trade_date(ts: datetime) -> date:
    """The trading day of a timestamp: its New York date when aware, the date as written when naive."""
    return ts.astimezone(NEW_YORK).date() if ts.tzinfo is not None else ts.date()


def one_year_after(start: date) -> date:
    """The calendar anniversary of ``start``; a 29 February start's anniversary is 28 February."""
    try:
        return start.replace(year=start.year + 1)
    except ValueError:
        return date(start.year + 1, 2, 28)


def holding_term(start: date, end: date) -> HoldingTerm:
    """LONG when held more than one year: ``end`` is after the anniversary of ``start`` (Pub. 550)."""
    return HoldingTerm.LONG if end > one_year_after(start) else HoldingTerm.SHORT


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


@dataclass(frozen=True, slots=True)
class Lot:
    """One open tax lot. Frozen: a partial close or an adjustment replaces it in the book.

    ``basis`` is economic (price and opening commission): the P&L figures use it. ``commission``
    is the opening commission still inside ``basis`` (money, for the remaining quantity).
    ``wash_sale_disallowed`` is money of losses disallowed by wash sales and added to this lot's
    *tax* basis only (``tax_basis``): the loss really happened, so P&L must not count it twice.
    ``holding_start`` is the acquisition date unless a wash sale carried an earlier one over.
    ``adjustments`` are notes, in order, of what changed the lot since it was opened.
    """

    lot_id: str
    symbol: str
    account: str
    strategy: str
    opened: datetime
    quantity: float
    basis: float
    holding_start: date
    multiplier: float = 1.0
    commission: float = 0.0
    wash_sale_disallowed: float = 0.0
    adjustments: tuple[str, ...] = ()
    exec_id: str = ""
    """The opening fill: lots cut from one fill (partial closes, wash-sale pieces) share it."""

    def __post_init__(self) -> None:
        _check_finite("lot quantity", self.quantity)
        _check_finite("lot basis", self.basis)
        if self.quantity == 0.0:
            raise ValueError(f"lot {self.lot_id!r} has zero quantity")
        if not (math.isfinite(self.multiplier) and self.multiplier > 0):
            raise ValueError(f"lot multiplier must be positive, got {self.multiplier!r}")

    @property
    def open_date(self) -> date:
        return trade_date(self.opened)

    @property
    def is_long(self) -> bool:
        return self.quantity > 0

    @property
    def total_basis(self) -> float:
        """Signed money: ``quantity x basis x multiplier`` (negative for a short lot: proceeds held)."""
        return self.quantity * self.basis * self.multiplier

    @property
    def tax_basis(self) -> float:
        """Per unit, for the tax report: ``basis`` plus the disallowed losses spread over the lot."""
        return self.basis + self.wash_sale_disallowed / (self.quantity * self.multiplier)

    def market_value(self, mark: float) -> float:
        return self.quantity * mark * self.multiplier

    def unrealized(self, mark: float) -> float:
        """Money gained if closed at ``mark`` with no closing commission."""
        return self.quantity * (mark - self.basis) * self.multiplier

    def term(self, on: date) -> HoldingTerm:
        return holding_term(self.holding_start, on) if self.is_long else HoldingTerm.SHORT


@dataclass(frozen=True, slots=True)
class RealizedLot:
    """The part of one lot a closing fill closed: one Form 8949 row.

    ``quantity`` is the signed quantity of the lot closed (negative for a short cover).
    ``proceeds`` and ``basis`` are money in tax terms: for a long lot the sale proceeds net of the
    closing commission and the cost including the opening one; for a short lot the proceeds of
    the short sale net of its commission and the cost of covering including the cover's
    commission. ``commission`` is both commissions of this piece (already inside the two figures).
    Tax-only fields: ``basis_adjustment`` is the wash-sale money the lot carried in (added to the
    cost); ``wash_sale_disallowed`` is the part of this sale's loss a wash sale disallowed
    (positive money). ``gain`` is economic; ``reportable_gain`` is what Form 8949 reports.
    """

    lot_id: str
    symbol: str
    account: str
    strategy: str
    quantity: float
    opened: date
    closed: date
    holding_start: date
    proceeds: float
    basis: float
    price: float
    """The closing fill's price per unit."""
    commission: float = 0.0
    multiplier: float = 1.0
    basis_adjustment: float = 0.0
    wash_sale_disallowed: float = 0.0
    exec_id: str = ""
    """The closing fill."""

    @property
    def gain(self) -> float:
        """Economic gain, net of both commissions (negative for a loss)."""
        return self.proceeds - self.basis

    @property
    def tax_basis(self) -> float:
        return self.basis + self.basis_adjustment

    @property
    def reportable_gain(self) -> float:
        """Gain for the tax report: carried wash-sale basis added, this sale's disallowed loss added back."""
        return self.proceeds - self.tax_basis + self.wash_sale_disallowed

    @property
    def is_long(self) -> bool:
        return self.quantity > 0

    @property
    def term(self) -> HoldingTerm:
        return holding_term(self.holding_start, self.closed) if self.is_long else HoldingTerm.SHORT

    @property
    def holding_days(self) -> int:
        return (self.closed - self.holding_start).days


ClosedLot = RealizedLot
"""The same record under the name a tax report uses."""


@dataclass(frozen=True, slots=True)
class CorporateAction:
    """A split or a cash dividend of ``symbol`` effective on ``ex_date``.

    ``value`` is the split ratio as new shares per old share (2.0 for 2:1, 1.5 for 3:2, 0.1 for a
    1:10 reverse split) or the cash dividend per share. A split takes effect before the ex-date's
    trading; a dividend goes to whoever held at the close of the day before the ex-date.
    """

    symbol: str
    kind: ActionType
    ex_date: date
    value: float
    pay_date: date | None = None

    def __post_init__(self) -> None:
        if not self.symbol.strip():
            raise ValueError("corporate action symbol is empty")
        if not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"corporate action {self.kind} value must be positive, got {self.value!r}")
        if self.pay_date is not None and self.pay_date < self.ex_date:
            raise ValueError(f"dividend pay date {self.pay_date} is before its ex-date {self.ex_date}")


@dataclass(frozen=True, slots=True)
class WashSale:
    """One loss sale matched with (part of) one replacement purchase (IRS Pub. 550).

    ``quantity`` is how many units of the sale the replacement covers (its units), ``disallowed``
    the matching share of the loss (positive money): it is added to the replacement's tax basis,
    whose holding period then starts at ``holding_start`` (the sold lot's holding period carried
    over: the replacement's acquisition date moved back by the days the sold lot was held).
    """

    sale_lot_id: str
    sale_exec_id: str
    symbol: str
    sale_date: date
    quantity: float
    loss: float
    """The whole loss of the sale piece (positive money)."""
    disallowed: float
    replacement_lot_id: str
    replacement_symbol: str
    replacement_date: date
    holding_start: date


@dataclass(frozen=True, slots=True)
class DividendCredit:
    """Cash one lot received (or, short, paid: negative ``amount``) on an ex-date."""

    symbol: str
    lot_id: str
    account: str
    strategy: str
    quantity: float
    per_share: float
    amount: float
    ex_date: date
    pay_date: date | None = None


@dataclass(frozen=True, slots=True)
class TaggedFill:
    """A fill with the sleeve it belongs to, and optionally the lots it closes (specific identification)."""

    fill: Fill
    strategy: str = ""
    account: str = ""
    lots: tuple[str, ...] | None = None

    @property
    def day(self) -> date:
        return trade_date(self.fill.ts)


@dataclass(frozen=True, slots=True)
class LotPnL:
    """Money figures of one slice of the book (a position, a strategy, an account, or all of it).

    ``realized`` is net of both commissions, ``unrealized`` net of the opening commission still in
    basis, ``commissions`` what was paid (allocated to the lots it opened or closed), ``day`` the
    P&L since ``LotBook.start_day`` (marks, trades and dividends of today).
    """

    realized: float = 0.0
    unrealized: float = 0.0
    dividends: float = 0.0
    commissions: float = 0.0
    day: float = 0.0
    quantity: float = 0.0
    market_value: float = 0.0

    @property
    def total(self) -> float:
        return self.realized + self.unrealized + self.dividends
