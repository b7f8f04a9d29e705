"""The rebalancer's and the autopilot's vocabulary: plans, their orders and lines, and a run's record.

Plain frozen values, standard library only, so the engine can persist them, the socket can carry
them and the console can draw them without importing the planner that made them. Money is in the
account's currency; weights are fractions of equity (0.25 is 25%).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from engine.model.enums import Side


class TriggerKind(StrEnum):
    """Why a rebalance was decided: the calendar, drift from the targets, the risk, or a person."""

    SCHEDULE = "schedule"
    DRIFT = "drift"
    RISK = "risk"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class RebalanceTrigger:
    """The trigger that fired and a sentence saying what it saw (shown to the operator as is)."""

    kind: TriggerKind
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class LineAction(StrEnum):
    """What the plan does with one symbol."""

    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"
    """Nothing to trade: already at the target (to the share), or left alone on purpose."""
    SKIP = "skip"
    """A trade was wanted but not planned: too small, not worth its cost, or no cash for it."""


@dataclass(frozen=True, slots=True)
class RebalanceOrder:
    """One order of a plan; ``value`` is ``quantity * price``, ``expected_cost`` the cost model's money."""

    symbol: str
    side: Side
    quantity: float
    price: float
    value: float
    expected_cost: float


@dataclass(frozen=True, slots=True)
class RebalanceLine:
    """One symbol of a plan: where it is, where it should be, and what the plan does about it.

    ``drift`` is ``current_weight - target_weight`` (positive: overweight). ``reason`` says why a
    line is held or skipped (empty for a plain buy or sell).
    """

    symbol: str
    current_weight: float
    target_weight: float
    drift: float
    action: LineAction
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SkippedTrade:
    """A trade the plan wanted but did not place, with the numbers that decided it."""

    symbol: str
    side: Side
    quantity: float
    value: float
    expected_cost: float
    benefit: float
    reason: str


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """Orders that move a book toward target weights, and everything the operator needs to judge them.

    ``orders`` are sells first (their proceeds pay for the buys), then buys. ``turnover`` is the
    traded value (buys and sells both counted) over equity. ``cash_after`` is the cash once every
    order fills at its price and pays its expected cost: never below zero, since buys are scaled to
    the cash the sells raise.
    """

    asof: datetime
    trigger: RebalanceTrigger
    lines: tuple[RebalanceLine, ...]
    orders: tuple[RebalanceOrder, ...]
    skipped: tuple[SkippedTrade, ...]
    expected_cost: float
    turnover: float
    equity: float
    cash_after: float

    @property
    def empty(self) -> bool:
        """True when the plan places no order (everything held or skipped)."""
        return not self.orders


class AutopilotOutcome(StrEnum):
    """How one session's autopilot run ended."""

    REBALANCED = "rebalanced"
    HELD = "held"
    """The day's data failed validation until the deadline: current weights kept (``reason`` says why)."""
    SKIPPED_HALTED = "skipped_halted"
    """Trading was not ACTIVE (halted, reducing or recovering) at the run time: nothing sent."""
    NOTHING_TO_DO = "nothing_to_do"
    """No trigger fired, or every trade was too small or not worth its cost."""
    FAILED = "failed"
    """Planning raised or the engine refused the orders (``reason`` has the message)."""
    MISSED = "missed"
    """The run time and the session's close passed with no run (the engine was not running): alerted,
    never traded late."""


class Severity(StrEnum):
    """Levels of an operator notification, the same words as the engine's notices."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class AutopilotRun:
    """The record of one session's run, persisted by the host and shown to the operator.

    ``decision_to_sent_s`` is the monotonic time from the start of the decision (data checked,
    targets read) to the orders handed to the broker; None when nothing was sent.
    ``orders_sent`` and ``fills`` are what the engine reported when the send returned (fills that
    arrive later are in the engine's record, not here).
    """

    session_day: date
    started_at: datetime
    finished_at: datetime
    outcome: AutopilotOutcome
    reason: str = ""
    trigger: RebalanceTrigger | None = None
    orders: tuple[RebalanceOrder, ...] = ()
    orders_sent: int = 0
    fills: int = 0
    expected_cost: float = 0.0
    pnl_today: float = 0.0
    pnl_ytd: float = 0.0
    warnings: tuple[str, ...] = ()
    decision_to_sent_s: float | None = None
    targets: tuple[tuple[str, float], ...] = ()
    """The target weights of equity the run decided with, by symbol (empty when it never read them)."""
