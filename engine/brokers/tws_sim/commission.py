"""Commissions: an IBKR-tiered-like schedule, charged per order and split over its executions.

Stocks: $0.005 per share, at least $1 per order, at most 1% of the order's traded value.
Options: $0.65 per contract, at least $1 per order.
The minimum is per order, like IBKR's: each execution is charged the difference between the
order's cumulative commission after it and before it, so partial fills do not pay $1 each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    per_share: float = 0.005
    minimum: float = 1.0
    max_fraction_of_value: float = 0.01
    per_option_contract: float = 0.65

    def order_total(self, sec_type: str, quantity: float, value: float) -> float:
        """The whole commission of an order that traded ``quantity`` for ``value`` dollars so far."""
        if quantity <= 0:
            return 0.0
        if sec_type == "OPT":
            return round(max(self.per_option_contract * quantity, self.minimum), 4)
        fee = max(self.per_share * quantity, self.minimum)
        if value > 0:
            fee = min(fee, self.max_fraction_of_value * value)
        return round(fee, 4)

    def execution(
        self, sec_type: str, before_qty: float, before_value: float, qty: float, value: float
    ) -> float:
        """What one execution costs: the order's total after it minus its total before it."""
        after = self.order_total(sec_type, before_qty + qty, before_value + value)
        return round(after - self.order_total(sec_type, before_qty, before_value), 4)
