"""The autopilot: once per session, at the run time, trade the book to the day's target weights.

It owns the decision only. Everything it needs from the engine (time, trading state, data
validation, targets, the book, sending orders, persistence, notifications) comes through
``AutopilotHost``, so the same logic runs inside the engine, in a replay, and in tests with an
in-memory host.

``tick()`` is called whenever the engine's clock advances (often: every quote). On each tick:

1. **Missed sessions.** Every session since the last recorded run whose close has passed with no
   run is recorded as MISSED and reported in one alert (the engine was down at 15:55, say).
   A missed session is never traded late: orders after the close would trade the next session's
   prices on a stale decision. A session that was waiting for data when its close passed is
   recorded as HELD instead (it did not miss: its data never validated).
2. **Due?** ``AutopilotSchedule.due`` says whether today's session should run now (from its run
   time until its close, at most once: the host's ``last_run_day`` is the record).
3. **Ready?** HALTED skips the session at once (recorded, notified): a kill switch means stop.
   REDUCING or RECOVERING (the operator has not yet approved the start-up reconciliation), or
   data that fails validation, are waited for: re-checked every ``retry_every`` until the
   ``deadline_before_close``, then the session is recorded as skipped (state) or HELD (data) with a
   warning, and the current weights are kept.
4. **Run.** Read the targets and the book, ask ``should_rebalance`` (schedule, drift, risk), plan
   with ``plan_rebalance`` (costs, cost-benefit, cash), hand the plan to the host, and record the
   run with the monotonic time from the decision's start to the orders sent, then notify a
   summary (orders, fills, expected cost, P&L today and year to date, warnings).

A run that raises is recorded as FAILED and alerted: the autopilot never takes the engine's clock
loop down with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Protocol

from engine.model import TradingState
from engine.model.rebalance import (
    AutopilotOutcome,
    AutopilotRun,
    RebalancePlan,
    RebalanceTrigger,
    Severity,
)
from engine.portfolio.rebalance import RebalanceSettings, plan_rebalance, should_rebalance, weights_of
from engine.portfolio.schedule import AutopilotSchedule

_WAITING_STATES = frozenset({TradingState.REDUCING, TradingState.RECOVERING})


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The book the plan starts from: quantities held, prices to trade at, equity and cash."""

    positions: Mapping[str, float]
    prices: Mapping[str, float]
    equity: float
    cash: float


@dataclass(frozen=True, slots=True)
class RebalanceResult:
    """What the host reports once the plan's orders are handed to the broker."""

    ok: bool
    orders_sent: int
    fills: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class PortfolioSummary:
    """P&L figures for the run's summary, in money."""

    pnl_today: float
    pnl_ytd: float


class AutopilotHost(Protocol):
    """What the autopilot needs from the engine. Every time is tz-aware."""

    def now(self) -> datetime:
        """The engine's clock (market time in a replay)."""
        ...

    def trading_state(self) -> TradingState: ...

    def data_check(self, day: date) -> str | None:
        """None when ``day``'s data is fresh and validated; else the reason it is not (shown as is)."""
        ...

    def target_weights(self, day: date) -> Mapping[str, float]:
        """The strategy's target weights of equity for ``day`` (long only, summing to at most 1)."""
        ...

    def book(self) -> BookSnapshot: ...

    def returns(self, symbols: Sequence[str], sessions: int) -> Mapping[str, Sequence[float]] | None:
        """The last ``sessions`` daily returns of each symbol, aligned; None when there are none.

        Asked only when the risk trigger is configured (``RebalanceSettings.vol_target``).
        """
        ...

    async def rebalance(self, plan: RebalancePlan) -> RebalanceResult:
        """Send the plan's orders (sells first, as listed) as one group; return once they are sent."""
        ...

    def portfolio_summary(self) -> PortfolioSummary: ...

    def notify(self, severity: Severity, title: str, body: str) -> None: ...

    def last_run_day(self) -> date | None:
        """The session day of the last recorded run, whatever its outcome; None if there was none."""
        ...

    def last_rebalance_day(self) -> date | None:
        """The session day of the last run that REBALANCED (the schedule trigger counts from it)."""
        ...

    def record_run(self, run: AutopilotRun) -> None:
        """Persist ``run``: ``last_run_day`` (and, when it rebalanced, ``last_rebalance_day``) follow."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AutopilotSettings:
    """The autopilot's schedule, its rebalancing rules, and how long it waits for data.

    ``rebalance`` is required: its costs charge the ``[broker]`` commission schedule, which has
    no default outside the settings (``engine.desk.autopilot_rules`` is the door from there).
    """

    schedule: AutopilotSchedule = field(default_factory=AutopilotSchedule)
    rebalance: RebalanceSettings
    deadline_before_close: timedelta = timedelta(minutes=1)
    """Stop waiting for data (or for the trading state) this long before the close: orders sent
    later could not fill in the session they were decided for."""
    retry_every: timedelta = timedelta(seconds=30)
    """How often a failing data check is repeated (ticks in between do not ask the host again)."""

    def __post_init__(self) -> None:
        if self.deadline_before_close < timedelta(0):
            raise ValueError("autopilot: deadline_before_close must not be negative")
        if self.retry_every <= timedelta(0):
            raise ValueError("autopilot: retry_every must be positive")


@dataclass(slots=True)
class _Wait:
    """A due session that is not ready yet: since when, why, and what it becomes at the deadline."""

    day: date
    since: datetime
    checked_at: datetime
    reason: str
    outcome: AutopilotOutcome


class Autopilot:
    """Runs the day's rebalance once per session; see the module docstring for the whole rule."""

    def __init__(
        self,
        host: AutopilotHost,
        settings: AutopilotSettings,
        *,
        monotonic: Callable[[], float],
    ) -> None:
        self.host = host
        self.settings = settings
        self._monotonic = monotonic
        self._busy = False
        self._waiting: _Wait | None = None
        self._quiet_until: datetime | None = None
        """Ticks before this instant have nothing to do (set after a full check found nothing waiting)."""

    async def tick(self) -> list[AutopilotRun]:
        """Do what is due now; returns the runs recorded by this tick (usually none).

        A tick arriving while a run awaits the host returns at once: one run at a time.
        """
        if self._busy:
            return []
        now = self.host.now()
        if self._waiting is None and self._quiet_until is not None and now < self._quiet_until:
            return []  # nothing can be due or missed before the next run time: a tick costs nothing
        self._busy = True
        try:
            runs = self._report_missed(now)
            day = self.settings.schedule.due(now, self.host.last_run_day())
            if day is not None:
                run = await self._attempt(day, now)
                if run is not None:
                    runs.append(run)
            self._quiet_until = self._next_run_or_none(now) if self._waiting is None else None
            return runs
        finally:
            self._busy = False

    def _next_run_or_none(self, now: datetime) -> datetime | None:
        """The next run time, or None past the calendar's range (every tick then checks in full)."""
        try:
            return self.settings.schedule.next_run(now)
        except ValueError:
            return None

    def next_run(self) -> datetime:
        """The next run time after the host's now (for the console's status line)."""
        return self.settings.schedule.next_run(self.host.now())

    # ------------------------------------------------------------------------------------ missed
    def _report_missed(self, now: datetime) -> list[AutopilotRun]:
        runs: list[AutopilotRun] = []
        wait = self._waiting
        if wait is not None and self.settings.schedule.close(wait.day) <= now:
            # the close passed while it waited (no tick between the deadline and the close): HELD
            self._waiting = None
            runs.append(self._give_up(wait, now))
        missed = self.settings.schedule.missed(self.host.last_run_day(), now)
        for day in missed:
            run = AutopilotRun(
                day,
                now,
                now,
                AutopilotOutcome.MISSED,
                reason="no run between the run time and the close (engine not running); not traded late",
            )
            self.host.record_run(run)
            runs.append(run)
        if missed:
            self._alert_missed(missed, now)
        return runs

    def _alert_missed(self, days: list[date], now: datetime) -> None:
        schedule = self.settings.schedule
        listed = ", ".join(f"{d.isoformat()} (run {schedule.run_time(d):%H:%M} UTC)" for d in days)
        self.host.notify(
            Severity.ERROR,
            f"Autopilot missed {len(days)} session{'s' if len(days) != 1 else ''}",
            f"No run at the run time of {listed}. Not traded late: an order after the close would "
            f"trade the next session's prices on a stale decision. Next run: "
            f"{schedule.next_run(now):%Y-%m-%d %H:%M} UTC.",
        )

    # ---------------------------------------------------------------------------------- readiness
    async def _attempt(self, day: date, now: datetime) -> AutopilotRun | None:
        """Run ``day`` if it is ready; wait (None) or give up at the deadline if it is not."""
        wait = self._waiting
        if wait is not None and wait.day != day:
            self._waiting = wait = None
        if (
            wait is not None
            and now - wait.checked_at < self.settings.retry_every
            and now < self._deadline(day)
        ):
            return None
        state = self.host.trading_state()
        if state is TradingState.HALTED:
            self._waiting = None
            return self._finish_without_orders(
                day, now, AutopilotOutcome.SKIPPED_HALTED, "trading is HALTED: nothing sent", Severity.WARNING
            )
        blocker = self._blocker(day, state)
        if blocker is None:
            self._waiting = None
            late = () if wait is None else (f"waited from {wait.since:%H:%M:%S} UTC: {wait.reason}",)
            return await self._run(day, now, late)
        outcome, reason = blocker
        if wait is None:
            self._waiting = _Wait(day, now, now, reason, outcome)
            self.host.notify(Severity.INFO, f"Autopilot {day.isoformat()}: waiting", reason)
        else:
            wait.checked_at, wait.reason, wait.outcome = now, reason, outcome
        if now >= self._deadline(day):
            gave_up = self._waiting
            self._waiting = None
            assert gave_up is not None
            return self._give_up(gave_up, now)
        return None

    def _blocker(self, day: date, state: TradingState) -> tuple[AutopilotOutcome, str] | None:
        if state in _WAITING_STATES:
            return AutopilotOutcome.SKIPPED_HALTED, f"trading state is {state}, not ACTIVE"
        problem = self.host.data_check(day)
        if problem is not None:
            return AutopilotOutcome.HELD, f"data failed validation: {problem}"
        return None

    def _deadline(self, day: date) -> datetime:
        schedule = self.settings.schedule
        return max(schedule.run_time(day), schedule.close(day) - self.settings.deadline_before_close)

    def _give_up(self, wait: _Wait, now: datetime) -> AutopilotRun:
        reason = f"{wait.reason} (waited since {wait.since:%H:%M:%S} UTC); current weights held"
        return self._finish_without_orders(wait.day, wait.since, wait.outcome, reason, Severity.WARNING, now)

    # ---------------------------------------------------------------------------------------- run
    async def _run(self, day: date, now: datetime, warnings: tuple[str, ...]) -> AutopilotRun:
        started = self._monotonic()
        rules = self.settings.rebalance
        try:
            targets = dict(self.host.target_weights(day))
            book = self.host.book()
            current = weights_of(book.positions, book.prices, book.equity)
            returns = None
            if rules.vol_target is not None:
                returns = self.host.returns(sorted(set(current) | set(targets)), rules.vol_window)
            trigger = should_rebalance(
                day,
                current,
                targets,
                rules,
                last_rebalance_day=self.host.last_rebalance_day(),
                returns=returns,
            )
            if trigger is None:
                reason = "no trigger fired: not scheduled today, within the drift band and the risk band"
                return self._finish_without_orders(
                    day, now, AutopilotOutcome.NOTHING_TO_DO, reason, targets=targets
                )
            plan = plan_rebalance(
                book.positions,
                book.prices,
                book.equity,
                book.cash,
                targets,
                rules.costs,
                asof=now,
                trigger=trigger,
                min_trade_value=rules.min_trade_value,
                cost_benefit=rules.cost_benefit,
                sell_unlisted=rules.sell_unlisted,
                fractional=rules.fractional,
                cash_buffer=rules.cash_buffer,
            )
            warnings += tuple(f"{s.symbol}: {s.reason}" for s in plan.skipped)
            if plan.empty:
                reason = f"{trigger}, but no trade is worth making"
                return self._finish_without_orders(
                    day,
                    now,
                    AutopilotOutcome.NOTHING_TO_DO,
                    reason,
                    trigger=trigger,
                    warnings=warnings,
                    targets=targets,
                )
            result = await self.host.rebalance(plan)
            elapsed = self._monotonic() - started
        except Exception as exc:  # recorded and alerted: the engine's clock loop must go on
            reason = f"{type(exc).__name__}: {exc}"
            return self._finish_without_orders(
                day, now, AutopilotOutcome.FAILED, reason, Severity.ERROR, warnings=warnings
            )
        outcome = AutopilotOutcome.REBALANCED if result.ok else AutopilotOutcome.FAILED
        return self._finish(
            AutopilotRun(
                day,
                now,
                self.host.now(),
                outcome,
                reason=result.message if result.message else str(trigger),
                trigger=trigger,
                orders=plan.orders,
                orders_sent=result.orders_sent,
                fills=result.fills,
                expected_cost=plan.expected_cost,
                warnings=warnings,
                decision_to_sent_s=elapsed,
                targets=_pairs(targets),
            ),
            Severity.INFO if result.ok else Severity.ERROR,
        )

    def _finish_without_orders(
        self,
        day: date,
        started_at: datetime,
        outcome: AutopilotOutcome,
        reason: str,
        severity: Severity = Severity.INFO,
        finished_at: datetime | None = None,
        *,
        trigger: RebalanceTrigger | None = None,
        warnings: tuple[str, ...] = (),
        targets: Mapping[str, float] | None = None,
    ) -> AutopilotRun:
        run = AutopilotRun(
            day,
            started_at,
            finished_at or self.host.now(),
            outcome,
            reason=reason,
            trigger=trigger,
            warnings=warnings,
            targets=_pairs(targets),
        )
        return self._finish(run, severity)

    def _finish(self, run: AutopilotRun, severity: Severity) -> AutopilotRun:
        """Add the P&L, record the run and notify its summary."""
        try:
            summary = self.host.portfolio_summary()
            run = _with_pnl(run, summary)
        except Exception as exc:  # a summary that cannot be read must not lose the run's record
            run = _with_warning(run, f"P&L unavailable: {type(exc).__name__}: {exc}")
        self.host.record_run(run)
        self.host.notify(
            severity, f"Autopilot {run.session_day.isoformat()}: {run.outcome}", summary_text(run)
        )
        return run


def summary_text(run: AutopilotRun) -> str:
    """The run's summary as the operator reads it: what happened, orders, fills, P&L, warnings."""
    lines = [run.reason] if run.reason else []
    if run.orders:
        orders = ", ".join(f"{o.side} {o.quantity:g} {o.symbol}" for o in run.orders)
        # the orders are sent, not filled, when the run ends: the fills come in a second message
        fills = str(run.fills) if run.fills or not run.orders_sent else "reported when the orders have filled"
        lines.append(f"orders: {run.orders_sent} sent ({orders}); fills: {fills}")
        lines.append(f"expected cost: {run.expected_cost:,.2f}")
    if run.decision_to_sent_s is not None:
        lines.append(f"decision to orders sent: {run.decision_to_sent_s * 1000:.1f} ms")
    lines.append(f"P&L today: {run.pnl_today:+,.2f}; year to date: {run.pnl_ytd:+,.2f}")
    lines.extend(f"warning: {w}" for w in run.warnings)
    return "\n".join(lines)


def _with_pnl(run: AutopilotRun, summary: PortfolioSummary) -> AutopilotRun:
    return replace(run, pnl_today=summary.pnl_today, pnl_ytd=summary.pnl_ytd)


def _with_warning(run: AutopilotRun, warning: str) -> AutopilotRun:
    return replace(run, warnings=(*run.warnings, warning))


def _pairs(targets: Mapping[str, float] | None) -> tuple[tuple[str, float], ...]:
    """The targets a run traded to, by symbol, as the run's record keeps them."""
    return tuple(sorted((str(s), float(w)) for s, w in (targets or {}).items()))
