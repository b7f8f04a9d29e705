"""What an ``AlgoRunner`` is given instead of a broker, a store and a calendar.

The runner owns none of them: the engine injects these callables, so a replay, a test and a live
session drive the same runner (and a test can hand it a fake session or volume curve).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from engine.model import Order, OrderRequest

SendChild = Callable[[OrderRequest], Awaitable[Order]]
"""Sends a child order; a refused child comes back as an Order with status REJECTED."""
CancelChild = Callable[[str], Awaitable[str]]
"""Cancels a child by client order id; returns "" when the cancel was sent, else the reason."""
ParentSink = Callable[[Order], None]
"""Receives a copy of the parent order after every change (the engine persists and publishes it)."""
SessionHours = Callable[[datetime], tuple[datetime, datetime] | None]
"""The regular session (open, close) containing a time, or None when unknown or closed."""
VolumeCurve = Callable[[float], float]
"""Cumulative share of a session's volume traded by a fraction of the session (0 -> 0, 1 -> 1)."""
