"""The engine's own book: positions, cash and P&L folded from fills.

The ledger is rebuilt from the stored fills at start-up (fills are the record; positions
are derived), then kept current incrementally: a fill touches one position, a quote
re-marks one position, so a quote costs O(1) however large the book.

Options are booked under their OCC symbol in contracts, at the quoted premium per unit of the
underlying; every money figure (cash, market value, realized and unrealized P&L, exposure)
multiplies by ``contract_multiplier(symbol)`` (100 for an option, 1 for a stock). The
``Position`` values it returns carry per-unit prices as they were traded; ask the ledger
(``market_value``, ``market_values``, ``unrealized``) for a position's value in money.

Currencies (issue 20, ``engine.model.cash``): cash is kept per currency; a fill moves its quote
currency (and a pair's base currency), its realized P&L is booked in its quote currency, and
the account figures (cash, equity, realized and unrealized P&L, gross exposure) are the sums
converted into the account currency at the latest rate of each currency (the market view's
quotes of the pairs, else the last fill of a pair; with its route, source and age in
``cash_balances``). A position's own figures (``market_value``, ``unrealized``, ``realized``)
stay in its own currency.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from engine.model import AccountSnapshot, Fill, Position, contract_multiplier
from engine.model.cash import Currencies, cash_moves
from engine.model.fx import ConversionRate, Mark, MarkSource, RateRefused, conversion_rate
from engine.model.portfolio import CashBalance
from engine.model.positions import apply_to_position

_FAR = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class _Book:
    quantity: float = 0.0
    avg_cost: float = 0.0
    last: float = 0.0
    realized: float = 0.0
    day_open_value: float = 0.0
    multiplier: float = 1.0
    """Units of the underlying per unit held (100 for an option): money is quantity x price x this."""
    currency: str = ""
    base: str | None = None
    """A pair's base currency: its value is that currency's cash, not a market value."""


class Ledger:
    """Cash account book, per currency. Realized P&L is net of commissions."""

    def __init__(self, starting_cash: float, currencies: Currencies | None = None) -> None:
        self.currencies = currencies or Currencies()
        self.account_currency = account = self.currencies.account
        self.starting_cash = starting_cash
        self._cash: dict[str, float] = {account: starting_cash}
        self._commissions: dict[str, float] = {}
        self._books: dict[str, _Book] = {}
        self._market_value: dict[str, float] = {}
        """currency -> the market value of the positions in it (pairs left out: their base cash is it)."""
        self._realized_total: dict[str, float] = {}
        self._rates: MarkSource | None = None
        self._now: Callable[[], datetime] | None = None
        self._fill_marks: dict[str, Mark] = {}
        """pair -> its last fill's price: the rate until the market view quotes the pair."""
        self.start_of_day_equity = starting_cash
        self.peak_equity = starting_cash

    def set_rates(self, rates: MarkSource, now: Callable[[], datetime]) -> None:
        """Where conversion rates come from (the market view's latest good quotes of the pairs)."""
        self._rates, self._now = rates, now

    # ------------------------------------------------------------------ updates
    def apply_fill(self, fill: Fill) -> Position:
        book = self._books.get(fill.symbol)
        if book is None:
            currency = fill.currency or self.currencies.of(fill.symbol)
            base = self.currencies.base_of(fill.symbol)
            book = self._books[fill.symbol] = _Book(
                last=fill.price, multiplier=contract_multiplier(fill.symbol), currency=currency, base=base
            )
            self._market_value.setdefault(currency, 0.0)
        if book.last == 0.0:
            book.last = fill.price
        mult, cur = book.multiplier, book.currency
        signed = fill.side.sign * fill.quantity
        for currency, amount in cash_moves(cur, book.base, signed, fill.price, mult, fill.commission):
            self._cash[currency] = self._cash.get(currency, 0.0) + amount
        if book.base is not None:
            self._fill_marks[fill.symbol] = Mark(fill.price, fill.ts, f"last fill of {fill.symbol}")
        else:
            self._market_value[cur] -= book.quantity * book.last * mult
        self._commissions[cur] = self._commissions.get(cur, 0.0) + fill.commission
        realized = -fill.commission
        change = apply_to_position(book.quantity, book.avg_cost, signed, fill.price)
        if change.closed:
            direction = 1.0 if book.quantity > 0 else -1.0
            realized += change.closed * (fill.price - book.avg_cost) * direction * mult
        book.quantity, book.avg_cost = change.quantity, change.avg_cost
        book.realized += realized
        self._realized_total[cur] = self._realized_total.get(cur, 0.0) + realized
        if book.base is None:
            self._market_value[cur] += book.quantity * book.last * mult
        return self._position(fill.symbol, book)

    def marked_symbols(self) -> Collection[str]:
        """The symbols ``mark`` does anything for (a live view): a quote step marks only these."""
        return self._books

    def mark(self, symbol: str, last: float) -> bool:
        """Re-mark one symbol; returns whether the book holds it (so P&L changed)."""
        book = self._books.get(symbol)
        if book is None:
            return False
        if book.base is None:
            self._market_value[book.currency] += book.quantity * (last - book.last) * book.multiplier
        book.last = last
        return book.quantity != 0.0

    def start_day(self) -> None:
        """A new session: today's P&L is measured from here."""
        self.start_of_day_equity = self.equity
        for book in self._books.values():
            book.day_open_value = book.quantity * book.last * book.multiplier

    def restore_marks(self, positions: list[Position]) -> None:
        """Take the last known prices of a previous session so P&L is right before the first quote."""
        for pos in positions:
            book = self._books.get(pos.symbol)
            if book is not None and pos.last > 0:
                self.mark(pos.symbol, pos.last)
                book.day_open_value = pos.day_open_value

    # ------------------------------------------------------------------ views
    @property
    def equity(self) -> float:
        """Cash and market value of every currency, converted into the account currency."""
        account = self.account_currency
        total = self._cash.get(account, 0.0) + self._market_value.get(account, 0.0)
        for currency in self._foreign():
            rate = self._rate_value(currency)
            if rate is not None:
                total += (self._cash.get(currency, 0.0) + self._market_value.get(currency, 0.0)) * rate
        return total

    @property
    def cash(self) -> float:
        """All cash converted into the account currency (a currency without a rate left out)."""
        return self._converted(self._cash)

    def cash_in(self, currency: str) -> float:
        """The cash held in one currency (negative when borrowed)."""
        return self._cash.get(currency, 0.0)

    def cash_by_currency(self) -> dict[str, float]:
        """currency -> cash held in it, every currency the book ever moved (the account's first)."""
        return dict(self._cash)

    def to_account(self, amount: float, currency: str) -> float:
        """``amount`` of ``currency`` in the account currency at the latest rate (NaN without one)."""
        rate = self._rate_value(currency)
        return amount * rate if rate is not None else math.nan

    def rate(self, currency: str) -> ConversionRate | None:
        """The rate from ``currency`` into the account currency now: the market view's latest good
        quote of the pair (else the pair's last fill), with its route, source and age; None when
        no pair on any route was quoted or filled."""

        def marks(pair: str) -> Mark | None:
            quoted = self._rates(pair) if self._rates is not None else None
            return quoted if quoted is not None else self._fill_marks.get(pair)

        try:
            if self._now is not None:
                return conversion_rate(currency, self.account_currency, marks, self._now(), math.inf)
            # no clock (a ledger outside the engine): the age is measured at the rate's own mark
            rate = conversion_rate(currency, self.account_currency, marks, _FAR, math.inf)
            return replace(rate, age_s=0.0)
        except RateRefused:
            return None

    def cash_balances(self) -> tuple[CashBalance, ...]:
        """Every currency's cash with its value in the account currency and the rate's story."""
        out = []
        for currency, amount in self._cash.items():
            rate = self.rate(currency)
            if rate is None:
                note = f"no rate from {currency} into {self.account_currency}: left out of equity"
                out.append(CashBalance(currency, amount, math.nan, math.nan, note))
            else:
                out.append(CashBalance(currency, amount, amount * rate.rate, rate.rate, rate.describe()))
        return tuple(out)

    def _foreign(self) -> list[str]:
        account = self.account_currency
        return [c for c in {*self._cash, *self._market_value} if c != account]

    def _rate_value(self, currency: str) -> float | None:
        if currency == self.account_currency:
            return 1.0
        rate = self.rate(currency)
        return rate.rate if rate is not None else None

    def _converted(self, amounts: dict[str, float]) -> float:
        total = 0.0
        for currency, amount in amounts.items():
            rate = self._rate_value(currency) if amount else 1.0
            if rate is not None:
                total += amount * rate
        return total

    def quantity(self, symbol: str) -> float:
        book = self._books.get(symbol)
        return book.quantity if book else 0.0

    def currency(self, symbol: str) -> str:
        """The currency a symbol's money figures are in (its fills', else as configured)."""
        book = self._books.get(symbol)
        return book.currency if book is not None else self.currencies.of(symbol)

    def market_value(self, symbol: str) -> float:
        """The position's signed value in money at its last mark (x the contract multiplier), in
        its own currency."""
        book = self._books.get(symbol)
        return book.quantity * book.last * book.multiplier if book else 0.0

    def market_values(self) -> dict[str, float]:
        """symbol -> signed value in money of every open position (what risk figures are run on)."""
        return {
            sym: book.quantity * book.last * book.multiplier
            for sym, book in sorted(self._books.items())
            if book.quantity != 0.0
        }

    def unrealized(self, symbol: str) -> float:
        """Unrealized P&L of one position in money: quantity x (last - avg cost) x multiplier."""
        book = self._books.get(symbol)
        return book.quantity * (book.last - book.avg_cost) * book.multiplier if book else 0.0

    def realized(self, symbol: str) -> float:
        """Realized P&L of one symbol so far, commissions included, in its own currency."""
        book = self._books.get(symbol)
        return book.realized if book else 0.0

    def positions(self, *, include_flat: bool = True) -> list[Position]:
        return [
            self._position(sym, book)
            for sym, book in sorted(self._books.items())
            if include_flat or book.quantity != 0.0
        ]

    def account(self) -> AccountSnapshot:
        equity = self.equity
        self.peak_equity = max(self.peak_equity, equity)
        gross: dict[str, float] = {}
        unrealized: dict[str, float] = {}
        for b in self._books.values():
            gross[b.currency] = gross.get(b.currency, 0.0) + abs(b.quantity * b.last * b.multiplier)
            pnl = b.quantity * (b.last - b.avg_cost) * b.multiplier
            unrealized[b.currency] = unrealized.get(b.currency, 0.0) + pnl
        single = self._cash.keys() == {self.account_currency} and not self._foreign()
        return AccountSnapshot(
            cash=self.cash,
            equity=equity,
            gross_exposure=self._converted(gross),
            realized_pnl=self._converted(self._realized_total),
            unrealized_pnl=self._converted(unrealized),
            day_pnl=equity - self.start_of_day_equity,
            start_of_day_equity=self.start_of_day_equity,
            peak_equity=self.peak_equity,
            commissions=self.commissions,
            cash_by_currency=() if single else self.cash_balances(),
            account_currency=self.account_currency,
        )

    @property
    def commissions(self) -> float:
        """Commissions paid, converted into the account currency."""
        return self._converted(self._commissions)

    @staticmethod
    def _position(symbol: str, book: _Book) -> Position:
        return Position(
            symbol=symbol,
            quantity=book.quantity,
            avg_cost=book.avg_cost,
            last=book.last,
            realized_pnl=book.realized,
            day_open_value=book.day_open_value,
        )
