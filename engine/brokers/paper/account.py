"""The paper account's money and holdings: cash, settled cash, proceeds waiting to settle, positions.

A cash account: a buy is paid from cash at once (and from settled cash, which it must fit);
a sale's proceeds are cash at once but settle only ``settlement_days`` session closes later
(T+N), so they cannot pay for a buy before then. Positions keep their average cost by the one
rule of ``engine.model.positions``. The account changes only as the broker's journal says
(``PaperState`` applies the lines); nothing here decides anything.

Currencies (issue 20, ``engine.model.cash``): ``cash`` and ``settled`` are the account
currency's; every other currency a fill moved (a pair's base and quote, a foreign stock's
quote) is in ``balances``, settled at once (spot FX's T+2 is not modelled). A balance may go
below zero: the account borrows that currency against its account-currency cash, as a
multi-currency margin account does (``checks`` sizes what may be borrowed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from engine.brokers.base import BrokerPosition
from engine.model.positions import QUANTITY_EPS, apply_to_position

EPS = QUANTITY_EPS
"""Quantities and money closer than this are equal: floats summed over many partial fills drift."""


@dataclass(frozen=True, slots=True)
class PaperAccount:
    """The paper broker's own view of the account, for the console and for reconciliation.

    ``reserved_cash`` is what working buys may still spend; it is part of ``settled_cash``,
    so what a new buy may use is ``buying_power``.
    """

    cash: float
    settled_cash: float
    reserved_cash: float
    positions_value: float
    equity: float
    balances: Mapping[str, float] = field(default_factory=dict)
    """Cash in each currency other than the account currency (negative: borrowed)."""

    @property
    def unsettled_cash(self) -> float:
        return self.cash - self.settled_cash

    @property
    def buying_power(self) -> float:
        return max(self.settled_cash - self.reserved_cash, 0.0)


@dataclass(slots=True)
class Holding:
    quantity: float = 0.0
    avg_cost: float = 0.0


@dataclass(slots=True)
class Pending:
    """Sale proceeds waiting for ``sessions_left`` more session closes before they may be spent."""

    sessions_left: int
    amount: float


class Account:
    """Cash, settled cash, pending proceeds and holdings (symbol -> quantity at average cost)."""

    def __init__(self, cash: float) -> None:
        self.cash = cash
        self.settled = cash
        self.pending: list[Pending] = []
        self.holdings: dict[str, Holding] = {}
        self.balances: dict[str, float] = {}
        """currency -> cash in it, for every currency but the account's."""

    def move(self, currency: str, amount: float) -> None:
        """Cash in another currency than the account's: moved, and settled, at once."""
        self.balances[currency] = self.balances.get(currency, 0.0) + amount

    def open(self, cash: float) -> None:
        """The journal's opening line: all cash, all settled, nothing held."""
        self.cash = self.settled = cash

    def pay(self, amount: float) -> None:
        """A buy's cost (commission included) leaves cash and settled cash at once."""
        self.cash -= amount
        self.settled -= amount

    def receive(self, proceeds: float, settlement_days: int) -> None:
        """A sale's proceeds (commission deducted): cash now, settled after ``settlement_days`` closes."""
        self.cash += proceeds
        if settlement_days == 0:
            self.settled += proceeds
        else:
            self.pending.append(Pending(settlement_days, proceeds))

    def book(self, symbol: str, signed_qty: float, price: float) -> None:
        """A fill moves the holding (average cost by the one rule); a flat holding is dropped."""
        holding = self.holdings.setdefault(symbol, Holding())
        holding.quantity, holding.avg_cost, _closed = apply_to_position(
            holding.quantity, holding.avg_cost, signed_qty, price
        )
        if abs(holding.quantity) <= EPS:
            del self.holdings[symbol]

    def quantity(self, symbol: str) -> float:
        holding = self.holdings.get(symbol)
        return holding.quantity if holding is not None else 0.0

    def session_closed(self) -> None:
        """Every pending amount is one close nearer; those due become settled cash."""
        still: list[Pending] = []
        for pending in self.pending:
            pending.sessions_left -= 1
            if pending.sessions_left <= 0:
                self.settled += pending.amount
            else:
                still.append(pending)
        self.pending = still

    def reset(
        self,
        cash: float,
        settled: float,
        positions: Iterable[tuple[str, float, float]],
        balances: Mapping[str, float] | None = None,
    ) -> None:
        """Take a whole book as given (a restore): nothing pending, these holdings and balances."""
        holdings: dict[str, Holding] = {}
        for symbol, quantity, avg_cost in positions:
            holding = holdings.setdefault(symbol, Holding())
            holding.quantity, holding.avg_cost, _closed = apply_to_position(
                holding.quantity, holding.avg_cost, quantity, avg_cost
            )
        self.cash = cash
        self.settled = settled
        self.pending = []
        self.holdings = holdings
        self.balances = dict(balances or {})

    def positions(self) -> list[BrokerPosition]:
        return [
            BrokerPosition(symbol, h.quantity, h.avg_cost)
            for symbol, h in sorted(self.holdings.items())
            if abs(h.quantity) > EPS
        ]
