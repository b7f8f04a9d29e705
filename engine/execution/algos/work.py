"""A parent's bookkeeping while it is worked: its children and where its schedule stands.

Kept apart from the runner so that what the parent has filled and committed is computed in one
place from its children, whichever algo drives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine.execution.algos.params import AlgoParams
from engine.execution.algos.quantities import EPS
from engine.model import Algo, Order


@dataclass(slots=True)
class Child:
    """One child order as the runner tracks it: what it last heard, and why it was sent."""

    order: Order
    """The latest state the runner has seen (a copy)."""
    sent_at: datetime
    cancel_requested: bool = False
    sweep: bool = False
    """Sent at the deadline for the remainder, uncapped."""


@dataclass(slots=True)
class Work:
    """One parent being worked (or recently finished): its schedule, its children, its state."""

    parent: Order
    algo: Algo
    params: AlgoParams
    started: datetime
    deadline: datetime | None
    lookback: float
    """Seconds of volume the first child's participation cap looks back over."""
    strategy: str = ""
    protective_stop: float | None = None
    targets: list[tuple[datetime, float]] = field(default_factory=list)
    """TWAP/VWAP: (due time, cumulative quantity the parent should have reached)."""
    next_slice: int = 0
    next_reprice: datetime | None = None
    reprices: int = 0
    last_slice_at: datetime | None = None
    children: dict[str, Child] = field(default_factory=dict)
    sweeping: bool = False
    stopping: bool = False
    done: bool = False

    def filled(self) -> tuple[float, float | None]:
        qty = sum(c.order.filled_quantity for c in self.children.values())
        if qty <= EPS:
            return 0.0, None
        value = sum(c.order.filled_quantity * (c.order.avg_fill_price or 0.0) for c in self.children.values())
        return qty, value / qty

    def committed(self) -> float:
        """Filled plus what working children may still fill: never send beyond the parent."""
        return sum(
            c.order.filled_quantity if c.order.status.is_terminal else max(c.order.quantity, 0.0)
            for c in self.children.values()
        )

    def working(self) -> Child | None:
        """The child the algo is working now (not one whose cancel is still unconfirmed)."""
        live = [c for c in self.children.values() if not (c.order.status.is_terminal or c.cancel_requested)]
        return live[-1] if live else None
