"""What the simulated exchange tells the server about; the server turns each into wire messages.

The exchange knows nothing about sockets: it emits these, synchronously, and the server routes
each to the connections that must hear it (the order's owner, subscribers of a symbol or account).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.brokers.tws_sim.contracts import ContractSpec


@dataclass(slots=True)
class Quote:
    """Top of book plus the last trade of one contract."""

    bid: float
    ask: float
    last: float
    bid_size: float = 100.0
    ask_size: float = 100.0
    last_size: float = 0.0
    volume: float = 0.0

    @property
    def mark(self) -> float:
        """The price positions are valued at: the last trade, else the mid, else 0."""
        if self.last > 0:
            return self.last
        if self.bid > 0 and self.ask > 0:
            return (self.bid + self.ask) / 2.0
        return max(self.bid, self.ask, 0.0)


@dataclass(slots=True)
class SimOrder:
    """A working or finished order at the simulated exchange; mutated as it fills."""

    order_id: int
    client_id: int
    perm_id: int
    spec: ContractSpec
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str
    outside_rth: bool = False
    status: str = "Submitted"
    filled: float = 0.0
    filled_value: float = 0.0
    last_fill_price: float = 0.0
    triggered: bool = False
    oca_group: str = ""
    oca_type: int = 0
    parent_id: int = 0
    held: bool = False
    """A bracket child waiting for its parent to fill (status PreSubmitted, never matched)."""
    trail_stop_price: float | None = None
    """TRAIL: the current stop level (moves with the market, never loosens)."""
    trailing_percent: float | None = None

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled, 0.0)

    @property
    def avg_fill_price(self) -> float:
        return self.filled_value / self.filled if self.filled > 0 else 0.0

    @property
    def is_open(self) -> bool:
        return self.status in ("PreSubmitted", "Submitted")

    @property
    def sign(self) -> int:
        return 1 if self.action == "BUY" else -1


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The margin and commission preview of a whatIf order (a cash account: margin = order value)."""

    equity_before: float
    init_margin_change: float
    equity_change: float
    commission: float


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill, as execDetails and commissionReport describe it."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    spec: ContractSpec
    account: str
    side: str
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    order_ref: str
    time: datetime
    commission: float
    realized_pnl: float | None


@dataclass(frozen=True, slots=True)
class QuoteChanged:
    key: str
    quote: Quote


@dataclass(frozen=True, slots=True)
class OrderChanged:
    """Send openOrder (when ``open_order``) then orderStatus to the owner; 202 follows a cancel."""

    order: SimOrder
    open_order: bool = True
    cancelled_notice: bool = False


@dataclass(frozen=True, slots=True)
class OrderFilled:
    order: SimOrder
    execution: Execution


@dataclass(frozen=True, slots=True)
class OrderError:
    client_id: int
    order_id: int
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class BookChanged:
    """Cash or a position of ``account`` changed (``key`` names the position, '' for cash only)."""

    account: str
    key: str


Event = QuoteChanged | OrderChanged | OrderFilled | OrderError | BookChanged
