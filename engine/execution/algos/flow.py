"""Order-flow timing (issue 20): which way the quote imbalance leans for a parent's side.

TWAP/VWAP hold a due slice while it leans against the parent; LIMIT_AT_MID goes to the far
touch while the price is running away (``AlgoParams.flow_timing``).
"""

from __future__ import annotations

import math

from engine.model import Quote, Side
from engine.signals.orderflow import imbalance


def flow_lean(threshold: float | None, side: Side, quote: Quote) -> int:
    """+1 when the quote imbalance presses the price away from the parent (a buy and more bid size
    than ask size by more than ``threshold``), -1 when it presses the price towards it, else 0
    (also without a threshold, or without sizes)."""
    if threshold is None:
        return 0
    bid, ask = quote.bid_size, quote.ask_size
    if not (math.isfinite(bid) and math.isfinite(ask) and bid >= 0 and ask >= 0 and bid + ask > 0):
        return 0
    q = imbalance(bid, ask) * (1 if side is Side.BUY else -1)
    return 1 if q > threshold else -1 if q < -threshold else 0
