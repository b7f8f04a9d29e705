"""Commissions as the simulator bills them: the one ``CommissionSchedule`` (engine.model), charged
per order and split over its executions.

Stocks: $0.005 per share, at least $1 per order, at most 1% of the order's traded value.
Options: $0.65 per contract, at least $1 per order (the schedule's defaults).
The minimum is per order, like IBKR's: each execution is charged the difference between the
order's cumulative commission after it and before it, so partial fills do not pay $1 each.
"""

from __future__ import annotations

from engine.model.commission import CommissionSchedule

__all__ = ["CommissionSchedule", "execution", "order_total"]


def order_total(schedule: CommissionSchedule, sec_type: str, quantity: float, value: float) -> float:
    """The whole commission of an order that traded ``quantity`` for ``value`` dollars so far."""
    if quantity <= 0:
        return 0.0
    if sec_type == "OPT":
        return round(schedule.contracts(quantity), 4)
    return round(schedule.shares(quantity, value), 4)


def execution(
    schedule: CommissionSchedule,
    sec_type: str,
    before_qty: float,
    before_value: float,
    qty: float,
    value: float,
) -> float:
    """What one execution costs: the order's total after it minus its total before it."""
    after = order_total(schedule, sec_type, before_qty + qty, before_value + value)
    return round(after - order_total(schedule, sec_type, before_qty, before_value), 4)
