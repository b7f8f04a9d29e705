"""The one average-cost rule for a position, shared by the engine's ledger and the paper broker.

A fill that adds to a position (or opens one) averages its price in; one that reduces it leaves
the average cost alone and closes that much at it; one that goes through zero closes the whole
position and opens the rest at the fill price. A quantity within ``QUANTITY_EPS`` of zero is
flat: floats summed over many partial fills drift, and a dust position must not keep an old cost.
"""

from __future__ import annotations

from typing import NamedTuple

QUANTITY_EPS = 1e-9
"""Quantities closer than this are equal."""


class PositionChange(NamedTuple):
    quantity: float
    """The signed position after the fill (exactly 0.0 when flat)."""
    avg_cost: float
    """Its average cost per unit (0.0 when flat)."""
    closed: float
    """How much of the old position the fill closed (unsigned), at the old average cost."""


def apply_to_position(quantity: float, avg_cost: float, signed_qty: float, price: float) -> PositionChange:
    """The position ``quantity`` at ``avg_cost`` after a fill of ``signed_qty`` (buys +) at ``price``."""
    if abs(quantity) <= QUANTITY_EPS or (quantity > 0) == (signed_qty > 0):
        total = quantity + signed_qty
        if abs(total) <= QUANTITY_EPS:
            return PositionChange(0.0, 0.0, 0.0)
        return PositionChange(total, (avg_cost * quantity + price * signed_qty) / total, 0.0)
    closed = min(abs(signed_qty), abs(quantity))
    remaining = quantity + signed_qty
    if abs(remaining) <= QUANTITY_EPS:
        return PositionChange(0.0, 0.0, closed)
    if (remaining > 0) != (quantity > 0):
        return PositionChange(remaining, price, closed)  # flipped through zero
    return PositionChange(remaining, avg_cost, closed)
