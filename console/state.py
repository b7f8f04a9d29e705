"""What the desk shows, folded from the engine's events. Plain Python: no Textual here.

The console never asks the engine "what is the state now?" between snapshots; it keeps
this fold instead. ``DeskState.apply`` takes one event and answers which areas of the
desk changed, so the app can repaint only those, at a bounded rate.

State shapes:
    quotes:    symbol -> latest Quote
    positions: symbol -> Position, re-marked to the latest quote's last
    orders:    client_order_id -> Order, in order of first arrival (display is newest first)
    cards:     the ranked tuple exactly as the engine sent it
    report:    the latest RiskReport (VaR, correlation, stress, Greeks), None until one arrives
    limits:    [risk] config key -> value in force, as the engine last announced them
    alerts:    the latest RiskAlerts, oldest first (also kept in ``notices``, the operator's log)
    journal:   every line the message line showed, by kind (the event log pane; console/journal.py)
    closes:    symbol -> the previous session's close (the quotes pane's day change)
    executions:     execution_id -> latest ExecutionEvent, in order of first arrival; the newest
                    one (``current_execution``) is what the desk's progress strip shows
    fill_times:     client_order_id -> FillTimes (first and last fill this console saw)
    reconciliation: the latest ReconciliationSummary, None until one arrives
    portfolio_report: the latest PortfolioReport this console asked for, None until one arrives
    scoreboard: the latest template Scoreboard this console asked for, None until one arrives

Consumers other than the desk (the risk detail screen, the limits dialog) follow the same
fold through ``FollowsDesk``: the app hands them the state and the areas that changed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from console.journal import EntryKind, Journal
from console.price_format import price
from engine.model import (
    AccountSnapshot,
    Action,
    DeskArea,
    ExecutionStatus,
    Fill,
    Order,
    Position,
    Quote,
    RefusalCode,
    RiskState,
    StrategyCard,
    TradingState,
)
from engine.model.events import (
    CardsEvent,
    CommandResult,
    Event,
    ExecutionEvent,
    FillEvent,
    LimitsEvent,
    MarketEvent,
    NoticeEvent,
    OrderEvent,
    PortfolioEvent,
    PortfolioReportEvent,
    ProtectionEvent,
    ProtectionView,
    RebalancePreviewEvent,
    ReconciliationSummary,
    RefusalEvent,
    RiskAlert,
    RiskEvent,
    RiskReportEvent,
    ScoreboardEvent,
    SnapshotEvent,
    StatusEvent,
)
from engine.model.flow import FlowReading
from engine.model.forecast import Scoreboard
from engine.model.portfolio_report import PortfolioReport
from engine.model.risk import RiskReport

AREAS: frozenset[DeskArea] = frozenset(
    {
        DeskArea.QUOTES,
        DeskArea.POSITIONS,
        DeskArea.ORDERS,
        DeskArea.CARDS,
        DeskArea.RISK,
        DeskArea.REPORT,
        DeskArea.LIMITS,
        DeskArea.STATUS,
        DeskArea.NOTICE,
        DeskArea.REFUSAL,
        DeskArea.ALERT,
        DeskArea.FILLS,
        DeskArea.EXECUTIONS,
        DeskArea.EXECUTION_FAILED,
        DeskArea.RECONCILIATION,
        DeskArea.PORTFOLIO,
        DeskArea.REBALANCE,
        DeskArea.SCOREBOARD,
    }
)
"""Every area ``apply`` can report; a snapshot touches all the engine-derived ones.

``execution_failed`` is not a pane but a moment: an execution has just become FAILED or
ROLLED_BACK, and the app says so in a toast (as it does for ``refusal``)."""
SNAPSHOT_AREAS: frozenset[DeskArea] = frozenset(
    {
        DeskArea.QUOTES,
        DeskArea.POSITIONS,
        DeskArea.ORDERS,
        DeskArea.CARDS,
        DeskArea.RISK,
        DeskArea.REPORT,
        DeskArea.LIMITS,
        DeskArea.STATUS,
        DeskArea.EXECUTIONS,
        DeskArea.RECONCILIATION,
    }
)

MAX_NOTICES = 200
MAX_ALERTS = 100
MAX_ORDERS = 500
MAX_FILLS = 100
MAX_EXECUTIONS = 50
FAILED_EXECUTION = frozenset({ExecutionStatus.FAILED, ExecutionStatus.ROLLED_BACK})
"""An execution that ended without doing what the card asked: the operator must hear about it."""
RUNNING_EXECUTION = frozenset({ExecutionStatus.PENDING, ExecutionStatus.EXECUTING})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Totals:
    """The line under the positions table. Account figures moved by the marks since the last
    PortfolioEvent, so P&L is live at quote rate while staying anchored to the engine's books."""

    equity: float
    cash: float
    day_pnl: float
    market_value: float
    unrealized: float
    realized: float
    currencies: tuple[tuple[str, float], ...] = ()
    """Cash per currency when the book holds more than the account currency (issue 20)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused command, from a RefusalEvent (``origin="event"``) or a CommandResult (``"result"``).

    ``ts`` is market time (the engine's clock), or None when no market time is known yet:
    the desk never shows the wall clock as if it were the market's.
    """

    ts: datetime | None
    action: Action
    code: RefusalCode
    message: str
    subject: str = ""
    origin: str = "event"

    @property
    def key(self) -> tuple[RefusalCode, str]:
        return (self.code, self.message)


@dataclass(frozen=True, slots=True)
class FillTimes:
    """When an order's fills arrived, as this console saw them: the execution report's time to
    fill. Orders carry cumulative quantities only, so the fills are the one source of timing."""

    first: datetime
    last: datetime
    count: int
    quantity: float

    def add(self, fill: Fill) -> FillTimes:
        return FillTimes(
            min(self.first, fill.ts), max(self.last, fill.ts), self.count + 1, self.quantity + fill.quantity
        )


@dataclass(frozen=True, slots=True)
class DeskLine:
    """The single message line under the panes: the latest refusal, notice, fill or command result."""

    ts: datetime | None
    level: str
    text: str


class DeskState:
    """The fold of engine events into what the desk draws."""

    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}
        self.flow: dict[str, FlowReading] = {}
        """symbol -> the engine's latest order-flow reading (``engine.model.flow``)."""
        self.positions: dict[str, Position] = {}
        self.account: AccountSnapshot | None = None
        self.orders: dict[str, Order] = {}
        self.cards: tuple[StrategyCard, ...] = ()
        self.cards_held_back: tuple[tuple[str, int], ...] = ()
        """Candidates the engine's validation did not show in its last refresh, by reason code."""
        self.cards_scan: tuple[int, int] | None = None
        """(templates done, templates) while the engine's scan for the day runs; None otherwise."""
        self.risk: RiskState | None = None
        self.report: RiskReport | None = None
        self.rebalance_preview: RebalancePreviewEvent | None = None
        """The latest rebalance plan the engine showed (the rebalance screen draws it)."""
        self.portfolio_report: PortfolioReport | None = None
        """The latest portfolio report this console asked for (the portfolio screen draws it)."""
        self.scoreboard: Scoreboard | None = None
        """The latest template scoreboard this console asked for (the scoreboard screen draws it)."""
        self.limits: dict[str, float] = {}
        self.alerts: deque[RiskAlert] = deque(maxlen=MAX_ALERTS)
        self.status: StatusEvent | None = None
        self.market_time: datetime | None = None
        self.last_refusal: Refusal | None = None
        self.line: DeskLine | None = None
        self.journal = Journal()
        self.closes: dict[str, float] = {}
        self.notices: deque[NoticeEvent] = deque(maxlen=MAX_NOTICES)
        self.fills: deque[Fill] = deque(maxlen=MAX_FILLS)
        self.fill_times: dict[str, FillTimes] = {}
        self.executions: dict[str, ExecutionEvent] = {}
        self.current_execution_id: str | None = None
        self.reconciliation: ReconciliationSummary | None = None
        self.protection: tuple[ProtectionView, ...] = ()
        """Each card position's stop and target, or its UNPROTECTED mark (shown under the position)."""
        self.connected = False
        self._base_market_value = 0.0
        self._refusal_paired = True

    # ------------------------------------------------------------------ folding
    def _apply_answer(
        self, event: PortfolioReportEvent | RebalancePreviewEvent | ScoreboardEvent
    ) -> set[DeskArea]:
        """What the engine computed because this console asked (a report, a rebalance plan, the
        forecast scoreboard)."""
        if isinstance(event, ScoreboardEvent):
            self.scoreboard = event.scoreboard
            return {DeskArea.SCOREBOARD}
        if isinstance(event, PortfolioReportEvent):
            self.portfolio_report = event.report
            return {DeskArea.PORTFOLIO}
        self.rebalance_preview = event
        return {DeskArea.REBALANCE}

    def apply(self, event: Event) -> set[DeskArea]:
        """Fold one event in; return the areas of the desk it changed."""
        match event:
            case SnapshotEvent():
                return self._apply_snapshot(event)
            case MarketEvent(ts=ts, quotes=quotes, flow=flow):
                self._advance_clock(ts)
                self.flow.update((f.symbol, f) for f in flow)
                return self._apply_quotes(quotes)
            case PortfolioEvent(positions=positions, account=account):
                self._set_book(positions, account)
                return {DeskArea.POSITIONS}
            case OrderEvent(order=order):
                self._put_order(order)
                return {DeskArea.ORDERS}
            case FillEvent(fill=fill):
                return self._apply_fill(fill)
            case ExecutionEvent():
                return self._apply_execution(event)
            case ReconciliationSummary():
                return self._apply_reconciliation(event)
            case CardsEvent() | RiskEvent() | RiskReportEvent() | LimitsEvent() | ProtectionEvent():
                return self._apply_published(event)
            case PortfolioReportEvent() | RebalancePreviewEvent() | ScoreboardEvent():
                return self._apply_answer(event)
            case RiskAlert():
                return self._apply_alert(event)
            case StatusEvent():
                return self._apply_status(event)
            case RefusalEvent():
                refusal = Refusal(event.ts, event.action, event.code, event.message, event.subject, "event")
                return self._record_refusal(refusal)
            case NoticeEvent():
                self.notices.append(event)
                self.line = DeskLine(event.ts, event.level, event.message)
                self.journal.add_once(event.ts, _notice_kind(event), event.level, event.message)
                return {DeskArea.NOTICE}
        return set()

    def _apply_status(self, event: StatusEvent) -> set[DeskArea]:
        """The status line's facts; a new session's closes move the quotes pane's day change."""
        self.status = event
        self._advance_clock(event.ts)
        if event.closes:
            self.closes = dict(event.closes)
            return {DeskArea.STATUS, DeskArea.QUOTES}
        return {DeskArea.STATUS}

    def _apply_published(
        self, event: CardsEvent | RiskEvent | RiskReportEvent | LimitsEvent | ProtectionEvent
    ) -> set[DeskArea]:
        """The values the engine republishes whole: take each as it is."""
        match event:
            case CardsEvent(cards=cards, rejected=rejected, scanned=scanned, to_scan=to_scan):
                self.cards = tuple(cards)
                self.cards_held_back = tuple(rejected)
                self.cards_scan = (scanned, to_scan) if to_scan else None
                return {DeskArea.CARDS}
            case RiskEvent(risk=risk):
                self.risk = risk
                return {DeskArea.RISK}
            case RiskReportEvent(report=report):
                self.report = report
                return {DeskArea.REPORT}
            case LimitsEvent(limits=limits):
                self.limits = dict(limits)
                return {DeskArea.LIMITS}
            case ProtectionEvent(views=views):
                self.protection = tuple(views)
                return {DeskArea.POSITIONS}
        return set()

    def apply_result(self, action: Action, result: CommandResult) -> set[DeskArea]:
        """Fold in the result of a command this console sent.

        A refusal reaches the console twice (the engine publishes a RefusalEvent and answers
        the command with ok=False) in no guaranteed order; the two are paired so the operator
        sees it once. A result the engine did not broadcast (a lost connection) still shows.
        """
        if result.ok:
            return self.note(result.message) if result.message else set()
        refusal = Refusal(self.market_time, action, result.code, result.message or "refused", "", "result")
        return self._record_refusal(refusal)

    def note(self, text: str, level: str = "info") -> set[DeskArea]:
        """A line from the console itself (connected, connection failed); stamped with market time."""
        self.line = DeskLine(self.market_time, level, text)
        self.journal.add(self.market_time, EntryKind.NOTICE, level, text)
        return {DeskArea.NOTICE}

    # ------------------------------------------------------------------ views
    @property
    def halted(self) -> bool:
        return self.risk is not None and self.risk.trading_state is TradingState.HALTED

    @property
    def recovering(self) -> bool:
        """RECOVERING: the engine reconciled with the broker and waits for the operator's approval."""
        return self.risk is not None and self.risk.trading_state is TradingState.RECOVERING

    @property
    def awaiting_approval(self) -> bool:
        """A reconciliation summary the operator has not approved yet."""
        return self.reconciliation is not None and not self.reconciliation.approved

    @property
    def current_execution(self) -> ExecutionEvent | None:
        """The execution the desk's progress strip shows: the newest one, until the next begins."""
        if self.current_execution_id is None:
            return None
        return self.executions.get(self.current_execution_id)

    def executions_newest_first(self) -> tuple[ExecutionEvent, ...]:
        return tuple(reversed(self.executions.values()))

    @property
    def paused_strategies(self) -> tuple[str, ...]:
        return self.risk.paused_strategies if self.risk is not None else ()

    def positions_sorted(self) -> tuple[Position, ...]:
        return tuple(self.positions[s] for s in sorted(self.positions))

    def orders_newest_first(self) -> tuple[Order, ...]:
        return tuple(reversed(self.orders.values()))

    def totals(self) -> Totals | None:
        if self.account is None:
            return None
        account = self.account
        market_value = sum(p.market_value for p in self.positions.values())
        # a book in several currencies moves with its rates too: the engine's figures stand as sent
        mark_change = 0.0 if account.cash_by_currency else market_value - self._base_market_value
        return Totals(
            equity=account.equity + mark_change,
            cash=account.cash,
            day_pnl=account.day_pnl + mark_change,
            market_value=market_value,
            unrealized=account.unrealized_pnl + mark_change,
            realized=account.realized_pnl,
            currencies=tuple((b.currency, b.amount) for b in account.cash_by_currency),
        )

    # ------------------------------------------------------------------ internals
    def _apply_snapshot(self, snap: SnapshotEvent) -> set[DeskArea]:
        """Replace everything the engine owns; keep the operator's log (notices, last refusal)."""
        self.connected = True
        self.status = snap.status
        self.market_time = None
        self._advance_clock(snap.status.ts)
        self.quotes = {q.symbol: q for q in snap.quotes}
        self._set_book(snap.positions, snap.account)
        ordered = sorted(snap.orders, key=lambda o: o.created_at or o.updated_at or _EPOCH)
        self.orders = {}
        for order in ordered:
            self._put_order(order)
        self.cards = tuple(snap.cards)
        self.risk = snap.risk
        self.report = snap.risk_report
        self.limits = dict(snap.limits)
        self.protection = tuple(snap.protection)
        self.executions = {}
        for execution in sorted(snap.executions, key=lambda e: e.ts):
            self._put_execution(execution)
        running = [e for e in self.executions.values() if e.status in RUNNING_EXECUTION]
        newest = running[-1] if running else next(reversed(self.executions.values()), None)
        self.current_execution_id = newest.execution_id if newest is not None else None
        self.reconciliation = snap.reconciliation
        if snap.status.closes:
            self.closes = dict(snap.status.closes)
        for notice in snap.notices:  # what the engine said before this console subscribed
            self.journal.add_once(notice.ts, _notice_kind(notice), notice.level, notice.message)
        return set(SNAPSHOT_AREAS) | ({DeskArea.NOTICE} if snap.notices else set())

    def _apply_quotes(self, quotes: Sequence[Quote]) -> set[DeskArea]:
        changed = {DeskArea.QUOTES}
        for quote in quotes:
            self.quotes[quote.symbol] = quote
            position = self.positions.get(quote.symbol)
            if position is not None and quote.last > 0 and quote.last != position.last:
                self.positions[quote.symbol] = replace(position, last=quote.last)
                changed.add(DeskArea.POSITIONS)
        return changed

    def _set_book(self, positions: tuple[Position, ...], account: AccountSnapshot) -> None:
        """Take the engine's books as they are; later marks are measured from here."""
        self.positions = {p.symbol: p for p in positions}
        self.account = account
        self._base_market_value = sum(p.market_value for p in positions)

    def _put_order(self, order: Order) -> None:
        """Update in place (an order keeps its place in the blotter) or append as the newest."""
        self.orders[order.client_order_id] = order
        while len(self.orders) > MAX_ORDERS:
            del self.orders[next(iter(self.orders))]

    def _apply_fill(self, fill: Fill) -> set[DeskArea]:
        """Record a fill for the message line. Order quantities come from OrderEvents only, which
        carry cumulative figures; adding fills to them here would count each fill twice."""
        if any(f.exec_id == fill.exec_id for f in self.fills):
            return set()
        self.fills.append(fill)
        times = self.fill_times.get(fill.client_order_id)
        first = FillTimes(fill.ts, fill.ts, 1, fill.quantity)
        self.fill_times[fill.client_order_id] = first if times is None else times.add(fill)
        while len(self.fill_times) > MAX_ORDERS:
            del self.fill_times[next(iter(self.fill_times))]
        self._advance_clock(fill.ts)
        text = f"filled {fill.side} {fill.quantity:g} {fill.symbol} @ {price(fill.price, fill.symbol)}"
        self.line = DeskLine(fill.ts, "info", f"{text} ({fill.client_order_id})")
        self.journal.add(fill.ts, EntryKind.FILL, "info", self.line.text)
        return {DeskArea.NOTICE, DeskArea.FILLS}

    def _apply_execution(self, execution: ExecutionEvent) -> set[DeskArea]:
        """Keep the latest word on each execution; a new one becomes the desk's current execution.

        A FAILED or ROLLED_BACK execution is reported once, when it gets there (``execution_failed``),
        and goes to the message line: it stays on the desk until the next execution begins.
        """
        before = self.executions.get(execution.execution_id)
        if before is None:
            self.current_execution_id = execution.execution_id
        self._put_execution(execution)
        self._advance_clock(execution.ts)
        changed = {DeskArea.EXECUTIONS}
        failed_now = execution.status in FAILED_EXECUTION
        if failed_now and (before is None or before.status is not execution.status):
            why = f": {execution.message}" if execution.message else ""
            self.line = DeskLine(execution.ts, "error", f"{execution.status} {execution.name}{why}")
            self.journal.add(execution.ts, EntryKind.NOTICE, "error", self.line.text)
            changed |= {DeskArea.EXECUTION_FAILED, DeskArea.NOTICE}
        return changed

    def _put_execution(self, execution: ExecutionEvent) -> None:
        self.executions[execution.execution_id] = execution
        while len(self.executions) > MAX_EXECUTIONS:
            oldest = next(iter(self.executions))
            del self.executions[oldest]
            if oldest == self.current_execution_id:
                self.current_execution_id = None

    def _apply_reconciliation(self, summary: ReconciliationSummary) -> set[DeskArea]:
        """The latest summary replaces the last; one awaiting approval also goes to the message line."""
        self.reconciliation = summary
        self._advance_clock(summary.ts)
        if summary.approved:
            self.line = DeskLine(summary.ts, "info", "reconciliation approved; trading resumes")
        elif summary.problems:
            text = f"reconciliation found {len(summary.problems)} problem(s); trading stays refused"
            self.line = DeskLine(summary.ts, "error", text)
        else:
            self.line = DeskLine(summary.ts, "warning", "reconciliation waiting for approval")
        self.journal.add(summary.ts, EntryKind.NOTICE, self.line.level, self.line.text)
        return {DeskArea.RECONCILIATION, DeskArea.NOTICE}

    def _apply_alert(self, alert: RiskAlert) -> set[DeskArea]:
        """A risk alert goes to the message line and the operator's log; the app toasts it."""
        self.alerts.append(alert)
        text = f"{alert.code}: {alert.message}"
        self.notices.append(NoticeEvent(alert.ts, alert.level, text))
        self.line = DeskLine(alert.ts, alert.level, text)
        self.journal.add(alert.ts, EntryKind.ALERT, alert.level, alert.message, str(alert.code))
        return {DeskArea.ALERT, DeskArea.NOTICE}

    def _record_refusal(self, refusal: Refusal) -> set[DeskArea]:
        last = self.last_refusal
        if (
            last is not None
            and not self._refusal_paired
            and last.origin != refusal.origin
            and last.key == refusal.key
        ):
            self._refusal_paired = True
            return set()
        self.last_refusal = refusal
        self._refusal_paired = False
        text = f"REFUSED {refusal.action} [{refusal.code}]: {refusal.message}"
        self.line = DeskLine(refusal.ts, "error", text)
        self.journal.add(
            refusal.ts, EntryKind.REFUSAL, "error", f"{refusal.action}: {refusal.message}", str(refusal.code)
        )
        return {DeskArea.REFUSAL}

    def _advance_clock(self, ts: datetime) -> None:
        """Market time only moves forward; it comes from the engine's events, never the wall clock."""
        if self.market_time is None or ts > self.market_time:
            self.market_time = ts


def _notice_kind(notice: NoticeEvent) -> EntryKind:
    return EntryKind.DATA if notice.topic == "data" else EntryKind.NOTICE


@runtime_checkable
class FollowsDesk(Protocol):
    """A screen above the desk that redraws from the same fold (risk detail, limits dialog).

    The app's flush hands it the state and the areas that changed since the last flush, at
    the same bounded rate as the desk, so a screen open over a fast feed costs no more.
    """

    def follow(self, state: DeskState, areas: Set[DeskArea]) -> None: ...
