"""Accounts at the simulated broker: cash per currency, positions with IB-style average cost,
P&L, futures margin and settlement, and the values TWS reports.

Cash is held per currency (``balances``), in an account with a base currency (USD by default).
A fill moves the contract's currency: a stock or an option pays its price in its currency; a
forex pair (``EUR.USD``, quantity in units of the base currency EUR) moves both currencies, the
base currency by the quantity and the quote currency by quantity times price, so buying
20,000 EUR.USD at 1.1 adds 20,000 EUR and takes 22,000 USD. Commissions are billed in the
account's base currency for forex (IB bills IDEALPRO in USD), otherwise in the contract's.
Balances may go negative (selling a currency not held borrows it), as in IB's margin accounts.

``avg_cost`` follows IB: per unit of the position times the multiplier (an option's is per
contract), commissions of opening trades included (a pair's converted into its quote currency);
P&L of a position is in the contract's currency (a pair's quote currency).

Futures are not paid for: a fill moves only its commission out of cash; ``settle`` (the daily
settlement, at each session's close) moves the P&L since the last settlement (or since the fill)
into cash and makes the settlement price the new P&L base (``entry``); a close moves the rest
since that base. The position's ``avg_cost`` stays the trade price, as TWS shows it: its
unrealized P&L is since the trade (part of it already in cash), its realized P&L at a close is
against the trade price, net of commission. Net liquidation adds a future's P&L since the last
settlement, not its notional; its margin (``money.FUTURE_MARGINS``) is InitMarginReq and
MaintMarginReq, and what it asks is not available for other orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.brokers.tws_sim.contracts import ContractSpec
from engine.brokers.tws_sim.money import QuoteOf, exchange_rate, margin_of

LEDGER_TAGS = (
    "CashBalance",
    "TotalCashBalance",
    "ExchangeRate",
    "NetLiquidationByCurrency",
    "UnrealizedPnL",
    "RealizedPnL",
    "FuturesPNL",
)
"""The values TWS reports per currency and, converted, as BASE (the ``$LEDGER`` tags)."""


@dataclass(slots=True)
class Position:
    spec: ContractSpec
    quantity: float = 0.0
    avg_cost: float = 0.0
    realized_pnl: float = 0.0
    entry: float = 0.0
    """Average entry price times the multiplier, without commissions: a future's P&L base, the
    last settlement price once settled."""


@dataclass(slots=True)
class Money:
    """One currency's figures, in that currency."""

    cash: float = 0.0
    positions: float = 0.0
    """Market value of positions that are paid for (stocks, options)."""
    futures_pnl: float = 0.0
    """Futures P&L since the last settlement (not yet in cash)."""
    unrealized: float = 0.0
    realized: float = 0.0

    @property
    def net_liquidation(self) -> float:
        return self.cash + self.positions + self.futures_pnl


@dataclass(slots=True)
class Account:
    name: str
    cash_start: float
    base: str = "USD"
    balances: dict[str, float] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    realized: dict[str, float] = field(default_factory=dict)
    """Realized P&L per currency (a position's currency)."""

    def __post_init__(self) -> None:
        self.balances.setdefault(self.base, self.cash_start)

    @property
    def cash(self) -> float:
        """The base currency's balance."""
        return self.balances.get(self.base, 0.0)

    def _move(self, currency: str, amount: float) -> None:
        self.balances[currency] = self.balances.get(currency, 0.0) + amount

    def apply_fill(
        self,
        spec: ContractSpec,
        signed_qty: float,
        price: float,
        commission: float,
        quote_rate: float = 1.0,
    ) -> float | None:
        """Book one execution; returns the realized P&L (in the contract's currency) when it closed
        something, else None. ``quote_rate``: base-currency units per unit of a pair's quote
        currency (converts its commission, billed in the base currency, for its average cost)."""
        pos = self.positions.setdefault(spec.key, Position(spec))
        unit = price * spec.multiplier
        fee = commission
        if spec.sec_type == "CASH":
            self._move(spec.symbol, signed_qty)
            self._move(spec.currency, -signed_qty * price)
            self._move(self.base, -commission)
            fee = commission / quote_rate if quote_rate > 0 else 0.0
        elif spec.sec_type == "FUT":
            self._move(spec.currency, -commission)
        else:
            self._move(spec.currency, -signed_qty * unit - commission)
        realized: float | None = None
        if pos.quantity == 0 or (pos.quantity > 0) == (signed_qty > 0):
            size = abs(pos.quantity) + abs(signed_qty)
            pos.avg_cost = (abs(pos.quantity) * pos.avg_cost + abs(signed_qty) * unit + fee) / size
            pos.entry = (abs(pos.quantity) * pos.entry + abs(signed_qty) * unit) / size
            pos.quantity += signed_qty
        else:
            closed = min(abs(signed_qty), abs(pos.quantity))
            direction = 1.0 if pos.quantity > 0 else -1.0
            realized = closed * (unit - pos.avg_cost) * direction - fee
            if spec.sec_type == "FUT":
                self._move(spec.currency, closed * (unit - pos.entry) * direction)
            pos.realized_pnl += realized
            self.realized[spec.currency] = self.realized.get(spec.currency, 0.0) + realized
            pos.quantity += signed_qty
            if abs(pos.quantity) < 1e-9:
                pos.quantity = 0.0
                pos.avg_cost = pos.entry = 0.0
            elif (pos.quantity > 0) != (direction > 0):
                pos.avg_cost = pos.entry = unit  # flipped through zero: the rest opened at this price
        pos.quantity = round(pos.quantity, 8)
        return None if realized is None else round(realized, 4)

    def settle(self, prices: dict[str, float]) -> list[str]:
        """The daily settlement of futures at ``prices`` (key -> settlement price): the P&L since
        the last settlement moves into cash, the settlement price becomes the P&L base. Returns
        the keys of the positions it moved."""
        moved: list[str] = []
        for key, pos in self.positions.items():
            price = prices.get(key)
            if pos.spec.sec_type != "FUT" or pos.quantity == 0 or price is None or price <= 0:
                continue
            unit = price * pos.spec.multiplier
            self._move(pos.spec.currency, round(pos.quantity * (unit - pos.entry), 8))
            pos.entry = unit
            moved.append(key)
        return moved

    def market_value(self, pos: Position, quote_of: QuoteOf) -> tuple[float, float]:
        """(market price, market value) of a position at the current quote (avg cost without one)."""
        quote = quote_of(pos.spec.key)
        price = quote.mark if quote is not None and quote.mark > 0 else pos.avg_cost / pos.spec.multiplier
        return price, pos.quantity * price * pos.spec.multiplier

    def by_currency(self, quote_of: QuoteOf) -> dict[str, Money]:
        """Each currency's cash, position values and P&L, in that currency."""
        money = {ccy: Money(cash=amount) for ccy, amount in self.balances.items()}
        for ccy, amount in self.realized.items():
            money.setdefault(ccy, Money()).realized = amount
        for pos in self.positions.values():
            if pos.quantity == 0:
                continue
            _, value = self.market_value(pos, quote_of)
            row = money.setdefault(pos.spec.currency, Money())
            row.unrealized += value - pos.quantity * pos.avg_cost
            if pos.spec.sec_type == "FUT":
                row.futures_pnl += value - pos.quantity * pos.entry
            elif pos.spec.sec_type != "CASH":  # a pair's value is already its currencies' cash
                row.positions += value
        return money

    def rates(self, currencies: list[str], quote_of: QuoteOf) -> dict[str, float | None]:
        """Units of the base currency per unit of each currency, now (None: no quote reaches it)."""
        return {ccy: exchange_rate(ccy, self.base, quote_of) for ccy in currencies}

    def margin(self, quote_of: QuoteOf) -> tuple[float, float]:
        """(initial, maintenance) margin of the futures held, in the base currency."""
        initial = maintenance = 0.0
        for pos in self.positions.values():
            if pos.spec.sec_type == "FUT" and pos.quantity:
                rate = exchange_rate(pos.spec.currency, self.base, quote_of) or 0.0
                first, second = margin_of(pos.spec)
                initial += abs(pos.quantity) * first * rate
                maintenance += abs(pos.quantity) * second * rate
        return initial, maintenance

    def ledger(self, quote_of: QuoteOf) -> list[tuple[str, float, str]]:
        """(tag, value, currency) of the ``LEDGER_TAGS`` for each currency held and for BASE
        (the sum converted at the current rates; a currency without a rate is left out of it)."""
        money = self.by_currency(quote_of)
        rates = self.rates(sorted(money), quote_of)
        rows: list[tuple[str, float, str]] = []
        base = dict.fromkeys(LEDGER_TAGS, 0.0)
        for ccy in sorted(money, key=lambda c: (c != self.base, c)):
            row, rate = money[ccy], rates[ccy]
            figures = {
                "CashBalance": row.cash,
                "TotalCashBalance": row.cash,
                "NetLiquidationByCurrency": row.net_liquidation,
                "UnrealizedPnL": row.unrealized,
                "RealizedPnL": row.realized,
                "FuturesPNL": row.futures_pnl,
            }
            if rate is not None:
                figures["ExchangeRate"] = rate
                for tag, value in figures.items():
                    if tag != "ExchangeRate":
                        base[tag] += value * rate
            rows += [(tag, figures[tag], ccy) for tag in LEDGER_TAGS if tag in figures]
        base["ExchangeRate"] = 1.0
        rows += [(tag, base[tag], "BASE") for tag in LEDGER_TAGS]
        return rows

    def values(self, quote_of: QuoteOf) -> dict[str, float]:
        """The account's summary values IB reports in the base currency (accountSummary tags)."""
        money = self.by_currency(quote_of)
        rates = self.rates(sorted(money), quote_of)

        def total(pick: str) -> float:
            return sum(float(getattr(money[c], pick)) * (rates[c] or 0.0) for c in money)

        cash = total("cash")
        net_liq = cash + total("positions") + total("futures_pnl")
        initial, maintenance = self.margin(quote_of)
        gross = 0.0
        for pos in self.positions.values():
            if pos.quantity and pos.spec.sec_type != "CASH":
                rate = rates.get(pos.spec.currency) or exchange_rate(pos.spec.currency, self.base, quote_of)
                gross += abs(self.market_value(pos, quote_of)[1]) * (rate or 0.0)
        available = max(cash + total("futures_pnl") - initial, 0.0)
        return {
            "NetLiquidation": net_liq,
            "TotalCashValue": cash,
            "SettledCash": cash,
            "AvailableFunds": available,
            "BuyingPower": available,
            "ExcessLiquidity": max(cash + total("futures_pnl") - maintenance, 0.0),
            "EquityWithLoanValue": net_liq,
            "GrossPositionValue": gross,
            "InitMarginReq": initial,
            "MaintMarginReq": maintenance,
            "FullInitMarginReq": initial,
            "FullMaintMarginReq": maintenance,
        }
