"""The engine's own book: positions, cash and P&L folded from fills.

The ledger is rebuilt from the stored fills at start-up (fills are the record; positions
are derived), then kept current incrementally: a fill touches one position, a quote
re-marks one position, so a quote costs O(1) however large the book.

Options are booked under their OCC symbol in contracts, at the quoted premium per unit of the
underlying; every money figure (cash, market value, realized and unrealized P&L, exposure)
multiplies by ``contract_multiplier(symbol)`` (100 for an option, 1 for a stock). The
``Position`` values it returns carry per-unit prices as they were traded; ask the ledger
(``market_value``, ``market_values``, ``unrealized``) for a position's value in money.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from engine.model import AccountSnapshot, Fill, Position, contract_multiplier
from engine.model.positions import apply_to_position


@dataclass(slots=True)
class _Book:
    quantity: float = 0.0
    avg_cost: float = 0.0
    last: float = 0.0
    realized: float = 0.0
    day_open_value: float = 0.0
    multiplier: float = 1.0
    """Units of the underlying per unit held (100 for an option): money is quantity x price x this."""


class Ledger:
    """Cash account book. Realized P&L is net of commissions."""

    def __init__(self, starting_cash: float) -> None:
        self.starting_cash = starting_cash
        self.cash = starting_cash
        self.commissions = 0.0
        self._books: dict[str, _Book] = {}
        self._market_value = 0.0
        self._realized_total = 0.0
        self.start_of_day_equity = starting_cash
        self.peak_equity = starting_cash

    # ------------------------------------------------------------------ updates
    def apply_fill(self, fill: Fill) -> Position:
        book = self._books.get(fill.symbol)
        if book is None:
            book = self._books[fill.symbol] = _Book(
                last=fill.price, multiplier=contract_multiplier(fill.symbol)
            )
        if book.last == 0.0:
            book.last = fill.price
        mult = book.multiplier
        self._market_value -= book.quantity * book.last * mult
        signed = fill.side.sign * fill.quantity
        self.cash -= signed * fill.price * mult + fill.commission
        self.commissions += fill.commission
        realized = -fill.commission
        change = apply_to_position(book.quantity, book.avg_cost, signed, fill.price)
        if change.closed:
            direction = 1.0 if book.quantity > 0 else -1.0
            realized += change.closed * (fill.price - book.avg_cost) * direction * mult
        book.quantity, book.avg_cost = change.quantity, change.avg_cost
        book.realized += realized
        self._realized_total += realized
        self._market_value += book.quantity * book.last * mult
        return self._position(fill.symbol, book)

    def marked_symbols(self) -> Collection[str]:
        """The symbols ``mark`` does anything for (a live view): a quote step marks only these."""
        return self._books

    def mark(self, symbol: str, last: float) -> bool:
        """Re-mark one symbol; returns whether the book holds it (so P&L changed)."""
        book = self._books.get(symbol)
        if book is None:
            return False
        self._market_value += book.quantity * (last - book.last) * book.multiplier
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
        return self.cash + self._market_value

    def quantity(self, symbol: str) -> float:
        book = self._books.get(symbol)
        return book.quantity if book else 0.0

    def market_value(self, symbol: str) -> float:
        """The position's signed value in money at its last mark (x the contract multiplier)."""
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
        """Realized P&L of one symbol so far, commissions included."""
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
        gross = sum(abs(b.quantity * b.last * b.multiplier) for b in self._books.values())
        unrealized = sum(b.quantity * (b.last - b.avg_cost) * b.multiplier for b in self._books.values())
        return AccountSnapshot(
            cash=self.cash,
            equity=equity,
            gross_exposure=gross,
            realized_pnl=self._realized_total,
            unrealized_pnl=unrealized,
            day_pnl=equity - self.start_of_day_equity,
            start_of_day_equity=self.start_of_day_equity,
            peak_equity=self.peak_equity,
            commissions=self.commissions,
        )

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
