"""Accounts at the simulated broker: cash, positions with IB-style average cost, P&L, values.

A plain cash account: buying power is the cash, nothing is lent (documented simplification).
``avg_cost`` follows IB: per unit of the position times the multiplier (an option's is per
contract), commissions of opening trades included; realized P&L of a closing trade is net of its
commission.

Futures are not paid for: a fill moves only its commission out of cash, a close moves the gross
P&L against the entry price in, and a future adds its unrealized P&L (not its notional) to the
net liquidation value (daily variation margin and initial margin are not modelled). Forex pairs
quoted in USD book like a stock priced in USD: buying 20,000 EUR.USD at 1.1 pays 22,000 USD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.brokers.tws_sim.contracts import ContractSpec
from engine.brokers.tws_sim.events import Quote


@dataclass(slots=True)
class Position:
    spec: ContractSpec
    quantity: float = 0.0
    avg_cost: float = 0.0
    realized_pnl: float = 0.0
    entry: float = 0.0
    """Average entry price times the multiplier, without commissions (a future's P&L base)."""


@dataclass(slots=True)
class Account:
    name: str
    cash: float
    positions: dict[str, Position] = field(default_factory=dict)
    realized_pnl: float = 0.0

    def apply_fill(
        self, spec: ContractSpec, signed_qty: float, price: float, commission: float
    ) -> float | None:
        """Book one execution; returns the realized P&L when it closed something, else None."""
        pos = self.positions.setdefault(spec.key, Position(spec))
        unit = price * spec.multiplier
        future = spec.sec_type == "FUT"
        self.cash -= commission if future else signed_qty * unit + commission
        realized: float | None = None
        if pos.quantity == 0 or (pos.quantity > 0) == (signed_qty > 0):
            size = abs(pos.quantity) + abs(signed_qty)
            pos.avg_cost = (abs(pos.quantity) * pos.avg_cost + abs(signed_qty) * unit + commission) / size
            pos.entry = (abs(pos.quantity) * pos.entry + abs(signed_qty) * unit) / size
            pos.quantity += signed_qty
        else:
            closed = min(abs(signed_qty), abs(pos.quantity))
            direction = 1.0 if pos.quantity > 0 else -1.0
            realized = closed * (unit - pos.avg_cost) * direction - commission
            if future:
                self.cash += closed * (unit - pos.entry) * direction
            pos.realized_pnl += realized
            self.realized_pnl += realized
            pos.quantity += signed_qty
            if abs(pos.quantity) < 1e-9:
                pos.quantity = 0.0
                pos.avg_cost = pos.entry = 0.0
            elif (pos.quantity > 0) != (direction > 0):
                pos.avg_cost = pos.entry = unit  # flipped through zero: the rest opened at this price
        pos.quantity = round(pos.quantity, 8)
        return None if realized is None else round(realized, 4)

    def market_value(self, pos: Position, quote_of: Callable[[str], Quote | None]) -> tuple[float, float]:
        """(market price, market value) of a position at the current quote (avg cost without one)."""
        quote = quote_of(pos.spec.key)
        price = quote.mark if quote is not None and quote.mark > 0 else pos.avg_cost / pos.spec.multiplier
        return price, pos.quantity * price * pos.spec.multiplier

    def values(self, quote_of: Callable[[str], Quote | None]) -> dict[str, float]:
        """The numeric account values IB reports (updateAccountValue / accountSummary tags)."""
        gross = 0.0
        net_positions = 0.0
        unrealized = 0.0
        for pos in self.positions.values():
            if pos.quantity == 0:
                continue
            _, value = self.market_value(pos, quote_of)
            gross += abs(value)
            if pos.spec.sec_type == "FUT":
                net_positions += value - pos.quantity * pos.entry
            else:
                net_positions += value
            unrealized += value - pos.quantity * pos.avg_cost
        net_liq = self.cash + net_positions
        available = max(self.cash, 0.0)
        return {
            "NetLiquidation": net_liq,
            "TotalCashValue": self.cash,
            "SettledCash": self.cash,
            "CashBalance": self.cash,
            "AvailableFunds": available,
            "BuyingPower": available,
            "ExcessLiquidity": available,
            "EquityWithLoanValue": net_liq,
            "GrossPositionValue": gross,
            "UnrealizedPnL": unrealized,
            "RealizedPnL": self.realized_pnl,
            "InitMarginReq": 0.0,
            "MaintMarginReq": 0.0,
        }
