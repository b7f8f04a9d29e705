"""Order-flow readings as they cross to the console: one per symbol, with each quote step.

Computed by ``engine.signals.orderflow`` from the quotes that passed the quote guard (see that
module for the definitions). ``None`` where there is not enough data yet. On the shipped replay
the sizes are invented, so these describe the replay's construction and their predictive value
is not measurable there; only a recorded live session or real tick data can measure it.
"""

from __future__ import annotations

from dataclasses import dataclass

NOT_MEASURABLE = "order flow: sizes are invented in the replay, predictive value not measurable"
"""What the desk says beside the figures when they come from the replay (or the simulator)."""


@dataclass(frozen=True, slots=True)
class FlowReading:
    symbol: str
    updates: int
    ofi: float
    """Order-flow imbalance (Cont-Kukanov-Stoikov) summed over the last window of updates."""
    quote_imbalance: float | None
    """(bid size - ask size) / (bid size + ask size) of the latest quote."""
    last_sign: int
    """+1 buy, -1 sell (Lee-Ready) of the last trade; 0 none or unknown."""
    signed_volume: float
    realized_spread: float | None
    realized_vol: float | None
    """sqrt of the sum of squared mid log returns over the window (not annualised)."""
    depth_imbalance: float | None = None
    sizes_invented: bool = True
    """The quotes' sizes come from a simulation (the paper replay): the figures describe it, not
    a market, and their predictive value is not measurable on them."""
