"""A limit child's price on the instrument's tick grid, never crossing the spread by rounding."""

from __future__ import annotations

import math
from decimal import Decimal

from engine.model import Side


def passive_price(mid: float, side: Side, tick: float) -> float:
    """The mid on the tick grid, rounded away from the other side: a buy down, a sell up."""
    steps = mid / tick
    n = math.floor(steps + 1e-9) if side is Side.BUY else math.ceil(steps - 1e-9)
    return round(n * tick, _decimals(tick))


def _decimals(tick: float) -> int:
    exponent = Decimal(str(tick)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 2
