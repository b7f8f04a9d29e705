"""``AlgoParams``: the numbers that say how an algo works a parent, checked once at creation."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AlgoParams:
    """How an algo works a parent. Times are seconds of *market* time (quote timestamps).

    Every deadline is also clipped to the close of the session the parent started in (when the
    session is known): children are DAY orders, so nothing can trade after it anyway.
    """

    window_seconds: float = 1800.0
    """TWAP/VWAP: the slices are spread over this much market time; its end is the deadline.
    30 minutes, the default ``StrategyCard.deadline_minutes``."""
    slices: int = 6
    """TWAP/VWAP: number of slices (one every five minutes with the default window)."""
    reprice_seconds: float = 60.0
    """LIMIT_AT_MID: how often the limit is moved to the new mid (one exchange minute)."""
    max_reprices: int = 5
    """LIMIT_AT_MID: at most this many cancel-and-replace steps, so a fast market cannot turn
    the algo into a stream of cancels (each counts against the cancel throttles)."""
    timeout_seconds: float = 300.0
    """LIMIT_AT_MID: after this much market time the rest is finished (or the parent expires)."""
    max_participation: float | None = 0.10
    """Largest share of the volume traded since the previous slice one child may ask for
    (None: no cap). Ten percent is a common institutional ceiling; the paper broker's own
    per-quote cap (``[broker] max_participation``) still applies on top of it."""
    finish_at_market: bool = True
    """At the deadline: send the remainder at market (True) or let the parent expire (False)."""
    tick_size: float = 0.01
    """The instrument's price increment: limit children are rounded to it."""
    lot_size: float = 1.0
    """Children are whole multiples of this many shares (0: any fraction); the slice that must
    finish the parent sends the exact remainder."""
    flow_timing: float | None = None
    """Order-flow timing (None: off, the default). With the quote imbalance
    ``q = (bid size - ask size) / (bid size + ask size)``: TWAP/VWAP hold a due slice (never the
    last) while ``q`` leans against the parent by more than this (a buy waits while
    ``q < -flow_timing``, a sell while ``q > +flow_timing``: pressure that may bring a better
    price); the slice goes at the first quote that does not lean so, or rolls into the next one.
    LIMIT_AT_MID prices its child at the far touch instead of the mid while ``q`` leans the
    other way by more than this (a buy while ``q > +flow_timing``: the price may run away).
    On the shipped replay the sizes are invented, so the measured effect there is noise
    (``tests/bench/flow_algos.py``)."""

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            problems.append(f"window_seconds must be positive, got {self.window_seconds}")
        if self.slices < 1:
            problems.append(f"slices must be at least 1, got {self.slices}")
        if not (math.isfinite(self.reprice_seconds) and self.reprice_seconds > 0):
            problems.append(f"reprice_seconds must be positive, got {self.reprice_seconds}")
        if self.max_reprices < 0:
            problems.append(f"max_reprices must not be negative, got {self.max_reprices}")
        if not (math.isfinite(self.timeout_seconds) and self.timeout_seconds > 0):
            problems.append(f"timeout_seconds must be positive, got {self.timeout_seconds}")
        cap = self.max_participation
        if cap is not None and not (math.isfinite(cap) and 0.0 < cap <= 1.0):
            problems.append(f"max_participation must be in (0, 1] or None, got {cap}")
        if not (math.isfinite(self.tick_size) and self.tick_size > 0):
            problems.append(f"tick_size must be positive, got {self.tick_size}")
        if not (math.isfinite(self.lot_size) and self.lot_size >= 0):
            problems.append(f"lot_size must be >= 0, got {self.lot_size}")
        flow = self.flow_timing
        if flow is not None and not (math.isfinite(flow) and 0.0 < flow < 1.0):
            problems.append(f"flow_timing must be in (0, 1) or None, got {flow}")
        if problems:
            raise ValueError("algo parameters: " + "; ".join(problems))
