"""Commissions as the simulator bills them: the one ``CommissionSchedule`` (engine.model), charged
per order and split over its executions.

By default it bills what the paper broker charges out of the box: ``[broker]``'s shipped schedule
(``shipped_schedule``; IBKR fixed-like: $0.005 a share, at least $1 an order, at most 1% of the
traded value; $0.65 a contract). The schedule itself has no defaults: they live in the settings.
The minimum is per order, like IBKR's: each execution is charged the difference between the
order's cumulative commission after it and before it, so partial fills do not pay $1 each.

Forex and futures are billed by the same schedule's rules as the paper broker bills them
(``[broker] commission_fx_bps``/``commission_fx_min``: IDEALPRO 0.20 basis points of the traded
value, at least USD 2.00 an order; ``commission_future_per_contract``: USD 0.85 a contract,
exchange and regulatory fees not included).
"""

from __future__ import annotations

from engine.config import BrokerSettings
from engine.model.commission import CommissionSchedule

__all__ = ["CommissionSchedule", "execution", "order_total", "shipped_schedule"]


def shipped_schedule() -> CommissionSchedule:
    """``[broker]``'s commission schedule as shipped (the schema's defaults, equal to default.toml)."""
    return CommissionSchedule.from_settings(BrokerSettings())


def order_total(schedule: CommissionSchedule, sec_type: str, quantity: float, value: float) -> float:
    """The whole commission of an order that traded ``quantity`` for ``value`` dollars so far."""
    if quantity <= 0:
        return 0.0
    if sec_type == "CASH":
        return round(schedule.fx(value), 4)
    if sec_type == "FUT":
        return round(schedule.futures(quantity), 4)
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
