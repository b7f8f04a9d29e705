"""Events the engine publishes and commands it serves.

Both cross the process boundary (the attach socket), so each is a plain dataclass the
codec can turn into JSON and back. Events say what happened; commands ask for something;
every command gets exactly one ``CommandResult``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

from engine.model.enums import CommandSource, ExecutionStatus, Side
from engine.model.flow import FlowReading
from engine.model.forecast import Scoreboard
from engine.model.market import Quote
from engine.model.orders import Fill, Order, StrategyCard
from engine.model.portfolio import AccountSnapshot, Position, RiskState
from engine.model.portfolio_report import PortfolioReport
from engine.model.rebalance import RebalancePlan
from engine.model.risk import RiskReport
from engine.model.vocabulary import Action, AlertCode, RefusalCode


# --------------------------------------------------------------------------- events
@dataclass(frozen=True, slots=True)
class MarketEvent:
    """The latest quote of each symbol that changed; high-rate, so consumers keep only the newest."""

    ts: datetime
    quotes: Sequence[Quote]
    """The step's quotes: a ``QuoteBatch`` from the engine (columns; objects made when read)."""
    flow: Sequence[FlowReading] = ()
    """Order-flow readings of the quoted symbols (``engine.model.flow``), newest per symbol
    (a ``FlowBatch`` from the engine)."""


@dataclass(frozen=True, slots=True)
class OrderEvent:
    order: Order


@dataclass(frozen=True, slots=True)
class FillEvent:
    fill: Fill


@dataclass(frozen=True, slots=True)
class PortfolioEvent:
    positions: tuple[Position, ...]
    account: AccountSnapshot


@dataclass(frozen=True, slots=True)
class CardsEvent:
    asof: datetime
    cards: tuple[StrategyCard, ...]
    rejected: tuple[tuple[str, int], ...] = ()
    """Candidates that failed validation in this refresh, counted by reason code."""
    scanned: int = 0
    to_scan: int = 0
    """While the session's scan runs (``to_scan`` > 0): templates done of ``to_scan``. The first
    scan of a day takes seconds; the console says so instead of showing an empty pane."""


@dataclass(frozen=True, slots=True)
class RiskEvent:
    risk: RiskState


@dataclass(frozen=True, slots=True)
class ProtectionView:
    """One card position's protection as the desk shows it under the position: the working stop
    and target (prices and where they sit from the last price, in % and in ATR), or why there is
    none (``unprotected``: the desk's UNPROTECTED mark)."""

    symbol: str
    entry: str
    """The client order id of the entry order the protection is for."""
    quantity: float
    stop_id: str | None = None
    stop_price: float | None = None
    """The stop's price (a trailing stop: the level it trails from, the broker's trigger)."""
    trail: str = ""
    """A trailing stop's distance as the broker works it ("1.5%", "$2.00"); "" for a fixed stop."""
    target_id: str | None = None
    target_price: float | None = None
    atr: float | None = None
    """The ATR the levels were measured with (None when the policy needed none)."""
    unprotected: str = ""


@dataclass(frozen=True, slots=True)
class ProtectionEvent:
    """Every card position's protection, whole, after it changed (placed, resized, filled, moved)."""

    views: tuple[ProtectionView, ...]


@dataclass(frozen=True, slots=True)
class RiskReportEvent:
    """A fresh portfolio risk report (on every fill and on a timer)."""

    report: RiskReport


@dataclass(frozen=True, slots=True)
class LegProgress:
    """One leg of a card's group execution, as far as it has got."""

    symbol: str
    side: Side
    quantity: float
    filled: float = 0.0
    avg_price: float | None = None
    status: str = "PENDING"
    """PENDING, WORKING, FILLED, CANCELLED, REJECTED, UNWINDING, UNWOUND."""
    algo: str = "IMMEDIATE"
    client_order_id: str = ""
    """The leg's order (the parent order for an algo)."""


@dataclass(frozen=True, slots=True)
class ExecutionEvent:
    """A card's group execution: PENDING, EXECUTING, COMPLETED, FAILED or ROLLED_BACK, per leg."""

    ts: datetime
    execution_id: str
    card_id: str
    name: str
    status: ExecutionStatus
    legs: tuple[LegProgress, ...]
    message: str = ""


@dataclass(frozen=True, slots=True)
class ReconciliationSummary:
    """What start-up (or a reconnect) found when it compared the database with the broker.

    Trading stays RECOVERING until the operator approves it (headless: ``[engine] auto_approve``).
    """

    ts: datetime
    open_orders_matched: int
    fills_applied: tuple[str, ...]
    """Execution ids of fills reconciliation applied to their orders: the broker had them and the
    database did not (applied now, to the ledger too), and those of ``fills_repaired``."""
    lost: tuple[str, ...]
    """Client order ids the broker never had: marked LOST."""
    external: tuple[str, ...]
    """Broker order ids not placed by onetap: recorded as EXTERNAL, never touched."""
    position_mismatches: tuple[str, ...]
    """One line per symbol whose position differs between the engine and the broker."""
    cancels_sent: int
    approved: bool = False
    problems: tuple[str, ...] = ()
    """Integrity or audit failures: trading is refused until they are resolved."""
    fills_repaired: tuple[str, ...] = ()
    """Execution ids of stored fills their order had not taken in, or that had no audit entry (a
    crash between writes, in a database from before they were one transaction): the order was
    brought up to its fills, the fill audited now. Also in ``fills_applied``, so such a summary is
    never clean; the fills were already in the ledger."""
    cash_differences: tuple[str, ...] = ()
    """One line per currency whose cash differs between the engine's book and the broker's
    (issue 20: compared per currency). Said, not blocking: a broker's cash moves with things the
    engine never books (interest, fees, a deposit), so it does not make the summary unclean."""

    @property
    def clean(self) -> bool:
        """Nothing applied, repaired, lost, foreign or different: trading may go on unreviewed."""
        return not (
            self.fills_applied
            or self.fills_repaired
            or self.lost
            or self.external
            or self.position_mismatches
        )


@dataclass(frozen=True, slots=True)
class LimitsEvent:
    """The ``[risk]`` limits in force (config key -> value), after start and after every change."""

    limits: dict[str, float]


@dataclass(frozen=True, slots=True)
class RiskAlert:
    """A risk event the operator must hear about: a breaker tripped, a limit changed, a strategy
    paused, a kill. Goes to the console (toast and log), the structured log and the notifiers.

    ``code`` is stable (``AlertCode``: HALTED, DRAWDOWN, STRATEGY_PAUSED, LIMIT_CHANGED, FLATTEN, ...);
    ``level`` is info, warning or error.
    """

    ts: datetime
    code: AlertCode
    level: str
    message: str
    subject: str = ""


@dataclass(frozen=True, slots=True)
class RefusalEvent:
    """A command or order the engine refused, with a reason code the console shows."""

    ts: datetime
    action: Action
    code: RefusalCode
    message: str
    subject: str = ""


@dataclass(frozen=True, slots=True)
class NoticeEvent:
    """A line for the operator's log pane (level: info, warning, error).

    ``topic`` says what it is about where the console's event log filters on it: ``"data"`` for
    a data problem (a bad row excluded, a gap, a jump), ``""`` for everything else.
    """

    ts: datetime
    level: str
    message: str
    topic: str = ""


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """Where the engine is: mode, broker, the market clock and the replay's progress."""

    ts: datetime
    broker: str
    mode: str
    feed: str
    session_day: str
    speed: float
    link: str = ""
    """A remote broker's connection: connected, reconnecting, disconnected, degraded ("" for paper)."""
    server_version: int = 0
    account: str = ""
    data_type: str = ""
    """Market data the broker sends: live or delayed."""
    heartbeat: datetime | None = None
    link_detail: str = ""
    live_acknowledged: bool = True
    broker_equity: float = 0.0
    """The broker's own net liquidation value (0 when it reports none): a check on onetap's book."""
    buying_power: float = 0.0
    """False while a live account waits for the operator to type its id (nothing is sent till then)."""
    data_health: str = ""
    """Quote quality in one line: "ok", or the symbols held out (bad or stale quotes) and why."""
    closes: dict[str, float] = field(default_factory=dict)
    """The previous session's close of each symbol: the base of the quotes pane's day change
    (published at every session start, so it is never more than one session old)."""


@dataclass(frozen=True, slots=True)
class RebalancePreviewEvent:
    """A rebalance plan the operator asked to see (``PreviewRebalance``): nothing was sent.

    ``plan.asof`` identifies it for ``ExecuteRebalance``; ``targets`` are the optimizer's weights
    behind it, ``method`` the optimizer, and ``notes`` anything the operator should read first
    (a cash buffer raised to fit the caps, a price missing, ...).
    """

    plan: RebalancePlan
    targets: dict[str, float] = field(default_factory=dict)
    method: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PortfolioReportEvent:
    """The portfolio report a console asked for (``GetPortfolioReport``), built off the loop."""

    report: PortfolioReport


@dataclass(frozen=True, slots=True)
class ScoreboardEvent:
    """The template scoreboard a console asked for (``GetScoreboard``): forecasts vs outcomes."""

    scoreboard: Scoreboard


@dataclass(frozen=True, slots=True)
class SnapshotEvent:
    """Everything a console needs to draw the desk the moment it (re)attaches."""

    status: StatusEvent
    positions: tuple[Position, ...]
    account: AccountSnapshot
    orders: tuple[Order, ...]
    cards: tuple[StrategyCard, ...]
    risk: RiskState
    quotes: tuple[Quote, ...]
    risk_report: RiskReport | None = None
    limits: dict[str, float] = field(default_factory=dict)
    executions: tuple[ExecutionEvent, ...] = ()
    """Recent group executions (the running ones and the last few finished)."""
    reconciliation: ReconciliationSummary | None = None
    protection: tuple[ProtectionView, ...] = ()
    """Each card position's stop and target (or its UNPROTECTED mark)."""
    notices: tuple[NoticeEvent, ...] = ()
    """The engine's latest notices, oldest first: what it said before this console subscribed
    (data problems found at start, above all) reaches the event log too."""


# --------------------------------------------------------------------------- commands
@dataclass(frozen=True, slots=True)
class ExecuteCard:
    """Execute a card's legs. ``override_duplicate``: the operator confirmed an order that the
    duplicate guard refused (same symbol, side and quantity within the guard's window)."""

    card_id: str
    source: CommandSource = CommandSource.HOTKEY
    override_duplicate: bool = False


@dataclass(frozen=True, slots=True)
class CancelOrder:
    client_order_id: str
    source: CommandSource = CommandSource.HOTKEY


@dataclass(frozen=True, slots=True)
class ModifyOrder:
    """Change a working order's quantity and/or limit price (None: keep it); on a protective
    order (a position's stop or target) also its stop price."""

    client_order_id: str
    quantity: float | None = None
    limit_price: float | None = None
    source: CommandSource = CommandSource.HOTKEY
    stop_price: float | None = None


@dataclass(frozen=True, slots=True)
class ApproveRecovery:
    """The operator approves the reconciliation summary; trading leaves RECOVERING."""

    source: CommandSource = CommandSource.HOTKEY


@dataclass(frozen=True, slots=True)
class CancelAll:
    source: CommandSource = CommandSource.HOTKEY


@dataclass(frozen=True, slots=True)
class Kill:
    """The kill switch: halt, cancel every open order, persist the halt. Never asks twice."""

    reason: str = "operator kill switch"
    source: CommandSource = CommandSource.HOTKEY


@dataclass(frozen=True, slots=True)
class Flatten:
    """The kill switch's second level: halt, cancel everything, then close every position with
    reduce-only market orders. Persists like a halt; lifted only by ResetKill."""

    reason: str = "operator flatten"
    source: CommandSource = CommandSource.HOTKEY


@dataclass(frozen=True, slots=True)
class SetLimit:
    """Change one ``[risk]`` limit at run time (audited). ``name`` is the config key. The change is
    kept across restarts of the engine on the same database unless ``session_only``."""

    name: str
    value: float
    source: CommandSource = CommandSource.HOTKEY
    session_only: bool = False


@dataclass(frozen=True, slots=True)
class ResumeStrategy:
    """Lift the pause of a strategy (template) paused by a breaker or the repeat-fill throttle."""

    template: str
    source: CommandSource = CommandSource.HOTKEY


@dataclass(frozen=True, slots=True)
class ResetKill:
    """Lift a halt. ``confirmation`` must be the word RESUME, typed by the operator."""

    confirmation: str
    source: CommandSource = CommandSource.HOTKEY


@dataclass(frozen=True, slots=True)
class AcknowledgeLive:
    """The operator typed the live account's id: orders may go to it for the rest of this run."""

    account: str
    source: CommandSource = CommandSource.HOTKEY


@dataclass(frozen=True, slots=True)
class PreviewRebalance:
    """Plan the autopilot's rebalance now, with today's targets, without sending anything.

    The engine answers with a ``RebalancePreviewEvent`` and keeps the plan for ``ExecuteRebalance``.
    """

    source: CommandSource = CommandSource.HOTKEY


@dataclass(frozen=True, slots=True)
class ExecuteRebalance:
    """Send the previewed plan whose ``asof`` is ``plan_asof``, as shown.

    Refused (and re-planned, so a new preview is published) when it is not the latest preview or
    a price moved more than ``[autopilot] preview_tolerance`` since: the operator looks again.
    """

    plan_asof: datetime
    source: CommandSource = CommandSource.HOTKEY


@dataclass(frozen=True, slots=True)
class GetPortfolioReport:
    """Build the portfolio report from ``since`` (the first fill when None) to the current session.

    The answer says it was started; the report follows as a ``PortfolioReportEvent`` (or a notice
    saying why it could not be made), because replaying a long fill history takes a moment.
    """

    since: date | None = None


@dataclass(frozen=True, slots=True)
class GetScoreboard:
    """Ask for the template scoreboard (every executed card's forecast against its outcome, by
    template); it follows as a ``ScoreboardEvent``. Read-only and cheap: not audited."""


@dataclass(frozen=True, slots=True)
class GetSnapshot:
    pass


@dataclass(frozen=True, slots=True)
class GetVitals:
    """Ask for the engine's vital signs (``engine.model.vitals.Vitals``), answered beside the result.

    Read-only and cheap, so it is not audited: a monitor polling every few seconds must not
    grow the audit record.
    """


@dataclass(frozen=True, slots=True)
class ReplayControl:
    """Pause, resume or step a replayed recording, or set its speed (quote steps per second).

    Only an engine replaying a recording (``onetap replay --attach``) accepts it; it is not
    recorded or audited, as it changes the replay's pace, never what the engine does."""

    action: str
    """pause, resume, step (one quote step, then paused) or speed (``value`` steps per second)."""
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.action not in REPLAY_ACTIONS:
            raise ValueError(f"replay action must be one of {', '.join(REPLAY_ACTIONS)}, got {self.action!r}")
        if self.action == "speed" and not 0.0 < self.value <= 10_000.0:
            raise ValueError(f"replay speed must be in (0, 10000] steps per second, got {self.value}")


REPLAY_ACTIONS = ("pause", "resume", "step", "speed")


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The answer to one command; ``code`` says why when it was refused (``NONE`` when ``ok``)."""

    ok: bool
    message: str = ""
    code: RefusalCode = RefusalCode.NONE


Event = (
    MarketEvent
    | OrderEvent
    | FillEvent
    | PortfolioEvent
    | CardsEvent
    | RiskEvent
    | RiskReportEvent
    | LimitsEvent
    | ExecutionEvent
    | ReconciliationSummary
    | RiskAlert
    | RefusalEvent
    | NoticeEvent
    | StatusEvent
    | SnapshotEvent
    | PortfolioReportEvent
    | RebalancePreviewEvent
    | ProtectionEvent
    | ScoreboardEvent
)
Command = (
    ExecuteCard
    | CancelOrder
    | ModifyOrder
    | ApproveRecovery
    | CancelAll
    | Kill
    | Flatten
    | ResetKill
    | SetLimit
    | ResumeStrategy
    | AcknowledgeLive
    | GetPortfolioReport
    | PreviewRebalance
    | ExecuteRebalance
    | GetSnapshot
    | GetVitals
    | ReplayControl
    | GetScoreboard
)

COMMAND_ACTIONS: Mapping[type[Command], Action] = MappingProxyType(
    {
        ExecuteCard: Action.EXECUTE_CARD,
        CancelOrder: Action.CANCEL_ORDER,
        ModifyOrder: Action.MODIFY_ORDER,
        ApproveRecovery: Action.APPROVE_RECOVERY,
        CancelAll: Action.CANCEL_ALL,
        Kill: Action.KILL,
        ResetKill: Action.RESET_KILL,
        GetSnapshot: Action.GET_SNAPSHOT,
        GetVitals: Action.GET_VITALS,
        ReplayControl: Action.REPLAY_CONTROL,
        Flatten: Action.FLATTEN,
        SetLimit: Action.SET_LIMIT,
        ResumeStrategy: Action.RESUME_STRATEGY,
        AcknowledgeLive: Action.ACKNOWLEDGE_LIVE,
        GetPortfolioReport: Action.PORTFOLIO_REPORT,
        PreviewRebalance: Action.PREVIEW_REBALANCE,
        ExecuteRebalance: Action.EXECUTE_REBALANCE,
        GetScoreboard: Action.SCOREBOARD,
    }
)
"""Each command's ``Action``, the name a ``RefusalEvent`` gives it: one declaration, so the console
names a refused result exactly as the engine names its refusals (every command has one)."""


def action_of(command: Command) -> Action:
    """The ``Action`` that names ``command`` in refusals (see ``COMMAND_ACTIONS``)."""
    return COMMAND_ACTIONS[type(command)]
