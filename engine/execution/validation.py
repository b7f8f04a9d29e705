"""Order preprocessing: what an order must look like before risk sees it and a broker gets it.

Prices are rounded to the instrument's tick in the direction that never makes the order more
aggressive than the trader asked (a buy limit down, a sell limit up; a buy stop up, a sell stop
down). Quantities must respect the instrument's lot rules (whole shares where fractions are not
allowed): a quantity is refused, never rounded, because a changed size is a changed trade.
Order types and times in force must make sense together.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from engine.model import Instrument, OrderRequest, OrderType, RefusalCode, Side, TimeInForce
from engine.risk.pretrade import Refusal

_NEEDS_LIMIT = (OrderType.LMT, OrderType.STP_LMT)
_NEEDS_STOP = (OrderType.STP, OrderType.STP_LMT)


def round_to_tick(price: float, tick: float, *, up: bool) -> float:
    """``price`` on the tick grid, rounded up or down; exact in decimal, so 0.1 + 0.2 stays 0.3."""
    if tick <= 0:
        return price
    steps = (Decimal(repr(price)) / Decimal(repr(tick))).to_integral_value(
        ROUND_CEILING if up else ROUND_FLOOR
    )
    return float(steps * Decimal(repr(tick)))


def prepare(request: OrderRequest, instrument: Instrument | None) -> OrderRequest | Refusal:
    """The request with its prices on the tick grid, or the reason it cannot be sent."""
    q = request.quantity
    if not (math.isfinite(q) and q > 0):
        return Refusal(RefusalCode.BAD_QUANTITY, f"quantity must be a positive number, got {q!r}")
    fractional = instrument.fractional if instrument is not None else True
    if not fractional and q != math.floor(q):
        return Refusal(RefusalCode.BAD_QUANTITY, f"{request.symbol} trades in whole shares; {q:g} is not one")
    otype = request.order_type
    if otype in _NEEDS_LIMIT and not _positive(request.limit_price):
        return Refusal(RefusalCode.BAD_ORDER, f"a {otype.value} order needs a positive limit price")
    if otype in _NEEDS_STOP and not _positive(request.stop_price):
        return Refusal(RefusalCode.BAD_ORDER, f"a {otype.value} order needs a positive stop price")
    if otype not in _NEEDS_LIMIT and request.limit_price is not None:
        return Refusal(RefusalCode.BAD_ORDER, f"a {otype.value} order takes no limit price")
    if otype not in _NEEDS_STOP and request.stop_price is not None:
        return Refusal(RefusalCode.BAD_ORDER, f"a {otype.value} order takes no stop price")
    if request.tif is TimeInForce.IOC and otype in _NEEDS_STOP:
        return Refusal(RefusalCode.BAD_ORDER, "a stop order cannot be immediate-or-cancel")
    tick = instrument.tick_size if instrument is not None else 0.01
    buy = request.side is Side.BUY
    limit = None if request.limit_price is None else round_to_tick(request.limit_price, tick, up=not buy)
    stop = None if request.stop_price is None else round_to_tick(request.stop_price, tick, up=buy)
    if limit == request.limit_price and stop == request.stop_price:
        return request
    return replace(request, limit_price=limit, stop_price=stop)


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0
