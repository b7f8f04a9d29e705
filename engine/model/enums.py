"""Enumerations of the domain vocabulary.

String-valued so they survive JSON (the socket protocol) and SQLite unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: quantity deltas are ``sign * qty``."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MKT = "MKT"
    LMT = "LMT"
    STP = "STP"
    STP_LMT = "STP LMT"
    TRAIL = "TRAIL"
    """A sell (buy) stop that follows the best price by ``trail_amount`` or ``trail_percent``."""


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"


class OrderStatus(StrEnum):
    """Life of an order. INTENT is written to the database before anything is sent."""

    INTENT = "INTENT"
    SENT = "SENT"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"
    EXPIRED = "EXPIRED"
    LOST = "LOST"
    """Reconciliation proved the broker never had it (a send that died with the process)."""
    EXTERNAL = "EXTERNAL"
    """Found at the broker but not placed by onetap: recorded, never touched."""

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Working at (or possibly at) the broker: counts against limits and must be cancelled on kill."""
        return not self.is_terminal


_TERMINAL = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.LOST,
        OrderStatus.EXTERNAL,
    }
)


class TradingState(StrEnum):
    """ACTIVE trades; HALTED refuses every new order (kill switch or circuit breaker)."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
    RECOVERING = "RECOVERING"
    """After a start or reconnect, until the operator approves the reconciliation summary."""


class Algo(StrEnum):
    """How a leg is worked: at once, passively at the mid, or spread over time."""

    IMMEDIATE = "IMMEDIATE"
    """One order as the leg says (market or limit)."""
    LIMIT_AT_MID = "LIMIT_AT_MID"
    """A limit at the mid, re-priced to the new mid a few times, then market at the timeout."""
    TWAP = "TWAP"
    """Equal slices at equal intervals over the window."""
    VWAP = "VWAP"
    """Slices following the intraday volume profile over the window."""


class AssetClass(StrEnum):
    STOCK = "STK"
    ETF = "ETF"
    INDEX = "IND"
    OPTION = "OPT"
    COMMODITY = "CMDTY"
    FX = "CASH"
    CRYPTO = "CRYPTO"
    FUTURE = "FUT"


class ExecutionStatus(StrEnum):
    """Life of a card's group execution (strategy_executions row)."""

    PENDING = "PENDING"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ROLLED_BACK = "ROLLED_BACK"


class CommandSource(StrEnum):
    """Where an operator action came from; recorded in the audit trail."""

    HOTKEY = "hotkey"
    SOCKET = "socket"
    CLI = "cli"
    SCHEDULE = "schedule"
    ENGINE = "engine"
    HTTP = "http"
