"""The autopilot over simulated sessions, with an in-memory host that really keeps a book.

The host below is a real implementation of ``AutopilotHost``: it marks prices on a seeded random
walk, fills plans at their prices and costs, keeps the run record and the notices. Scenario
switches (halted days, stale data, the engine being down) are plain data on it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest

from engine.clock import SimulatedClock
from engine.data import calendar
from engine.data.calendar import NEW_YORK
from engine.model import Side, TradingState
from engine.model.rebalance import AutopilotOutcome, AutopilotRun, RebalancePlan, Severity
from engine.portfolio.autopilot import (
    Autopilot,
    AutopilotSettings,
    BookSnapshot,
    PortfolioSummary,
    RebalanceResult,
)
from engine.portfolio.rebalance import Frequency, RebalanceCosts, RebalanceSettings
from engine.portfolio.schedule import AutopilotSchedule
from tests.defaults import commissions

SCHEDULE = AutopilotSchedule()
SEND_LATENCY_S = 0.25
COSTS = RebalanceCosts(commissions())
DAILY = AutopilotSettings(
    rebalance=RebalanceSettings(frequency=Frequency.DAILY, costs=COSTS, cost_benefit=None)
)


@dataclass
class FakeMonotonic:
    """A monotonic clock the host moves forward while it 'sends' orders."""

    t: float = 1_000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class MemoryHost:
    clock: SimulatedClock
    monotonic: FakeMonotonic = field(default_factory=FakeMonotonic)
    seed: int = 1
    cash: float = 100_000.0
    positions: dict[str, float] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=lambda: {"SPY": 130.0, "TLT": 120.0, "GLD": 160.0})
    halted_days: set[date] = field(default_factory=set)
    stale_until: dict[date, datetime] = field(default_factory=dict)
    fail_send_days: set[date] = field(default_factory=set)
    runs: list[AutopilotRun] = field(default_factory=list)
    notices: list[tuple[Severity, str, str]] = field(default_factory=list)
    plans: list[RebalancePlan] = field(default_factory=list)
    sending: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once a rebalance is inside its send: a test's barrier instead of a guessed number of yields."""
    data_checks: int = 0
    start_equity: float = 100_000.0
    day_start_equity: float = 100_000.0
    _marked: date | None = None
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # ------------------------------------------------------------------ the market moves each day
    def mark(self) -> None:
        today = self.clock.now().astimezone(NEW_YORK).date()
        if today != self._marked:
            self._marked = today
            self.day_start_equity = self.equity()
            for symbol in self.prices:
                self.prices[symbol] *= 1.0 + self._rng.gauss(0.0, 0.01)

    def equity(self) -> float:
        return self.cash + sum(q * self.prices[s] for s, q in self.positions.items())

    # ------------------------------------------------------------------ AutopilotHost
    def now(self) -> datetime:
        return self.clock.now()

    def trading_state(self) -> TradingState:
        today = self.clock.now().astimezone(NEW_YORK).date()
        return TradingState.HALTED if today in self.halted_days else TradingState.ACTIVE

    def data_check(self, day: date) -> str | None:
        self.data_checks += 1
        until = self.stale_until.get(day)
        if until is not None and self.clock.now() < until:
            return f"bars of {day.isoformat()} not validated yet"
        return None

    def target_weights(self, day: date) -> Mapping[str, float]:
        # a strategy that swings between two books: every run has something to trade
        if day.toordinal() % 2:
            return {"SPY": 0.6, "TLT": 0.35}
        return {"SPY": 0.3, "GLD": 0.3, "TLT": 0.35}

    def book(self) -> BookSnapshot:
        return BookSnapshot(dict(self.positions), dict(self.prices), self.equity(), self.cash)

    def returns(self, symbols: Sequence[str], sessions: int) -> Mapping[str, Sequence[float]] | None:
        return None

    async def rebalance(self, plan: RebalancePlan) -> RebalanceResult:
        day = self.clock.now().astimezone(NEW_YORK).date()
        if day in self.fail_send_days:
            raise ConnectionError("broker connection lost")
        self.sending.set()
        await asyncio.sleep(0)  # a real send yields to the event loop
        self.monotonic.t += SEND_LATENCY_S
        self.plans.append(plan)
        for order in plan.orders:
            signed = order.quantity if order.side is Side.BUY else -order.quantity
            self.positions[order.symbol] = self.positions.get(order.symbol, 0.0) + signed
            self.cash -= signed * order.price + order.expected_cost
        assert self.cash >= 0, "the autopilot borrowed"
        return RebalanceResult(ok=True, orders_sent=len(plan.orders), fills=len(plan.orders))

    def portfolio_summary(self) -> PortfolioSummary:
        return PortfolioSummary(self.equity() - self.day_start_equity, self.equity() - self.start_equity)

    def notify(self, severity: Severity, title: str, body: str) -> None:
        self.notices.append((severity, title, body))

    def last_run_day(self) -> date | None:
        return max((r.session_day for r in self.runs), default=None)

    def last_rebalance_day(self) -> date | None:
        done = [r.session_day for r in self.runs if r.outcome is AutopilotOutcome.REBALANCED]
        return max(done, default=None)

    def record_run(self, run: AutopilotRun) -> None:
        self.runs.append(run)

    # ------------------------------------------------------------------ test helpers
    def outcomes(self) -> dict[date, AutopilotOutcome]:
        return {r.session_day: r.outcome for r in self.runs}


async def drive(
    host: MemoryHost,
    pilot: Autopilot,
    until: datetime,
    *,
    step: timedelta = timedelta(minutes=3),
    down: tuple[datetime, datetime] | None = None,
) -> None:
    """Advance the host's clock by ``step`` and tick, except while the engine is ``down``."""
    while host.clock.now() < until:
        host.clock.advance(step)
        now = host.clock.now()
        if down is not None and down[0] <= now < down[1]:
            continue
        host.mark()
        await pilot.tick()


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NEW_YORK)


def make(
    start: datetime, settings: AutopilotSettings = DAILY, **kwargs: object
) -> tuple[MemoryHost, Autopilot]:
    host = MemoryHost(SimulatedClock(start), **kwargs)  # type: ignore[arg-type]
    return host, Autopilot(host, settings, monotonic=host.monotonic)


def assert_one_run_per_session(host: MemoryHost, first: date, last: date) -> None:
    days = [r.session_day for r in host.runs]
    assert sorted(days) == calendar.sessions(first, last)
    assert len(set(days)) == len(days)


async def test_thirty_sessions_one_rebalance_each_none_on_closed_days() -> None:
    host, pilot = make(ny(2012, 6, 22, 9, 0))
    sessions = calendar.sessions(date(2012, 6, 22), date(2012, 8, 6))
    assert len(sessions) == 31  # 2012-06-22 + 30 more, over Independence Day and an early close
    await drive(host, pilot, ny(2012, 8, 6, 20, 0))
    assert_one_run_per_session(host, date(2012, 6, 22), date(2012, 8, 6))
    assert set(host.outcomes().values()) == {AutopilotOutcome.REBALANCED}
    assert len(host.plans) == len(sessions)
    for run, plan in zip(host.runs, host.plans, strict=True):
        assert calendar.is_session(run.session_day)
        assert SCHEDULE.run_time(run.session_day) <= run.started_at < SCHEDULE.close(run.session_day)
        assert plan.asof == run.started_at
        assert run.orders == plan.orders and run.orders_sent == len(plan.orders) > 0
        assert run.decision_to_sent_s == pytest.approx(SEND_LATENCY_S)
    early = next(r for r in host.runs if r.session_day == date(2012, 7, 3))
    assert early.started_at.astimezone(NEW_YORK).strftime("%H:%M") in {"12:55", "12:56", "12:57"}
    summaries = [n for n in host.notices if n[1].endswith(": rebalanced")]
    assert len(summaries) == len(sessions)
    assert all(
        "P&L today" in body and "year to date" in body and "orders:" in body for _, _, body in summaries
    )
    assert not [n for n in host.notices if n[0] is not Severity.INFO]


async def test_halted_session_is_skipped_recorded_and_notified() -> None:
    host, pilot = make(ny(2012, 7, 2, 9, 0), halted_days={date(2012, 7, 3)})
    await drive(host, pilot, ny(2012, 7, 6, 20, 0))
    assert host.outcomes() == {
        date(2012, 7, 2): AutopilotOutcome.REBALANCED,
        date(2012, 7, 3): AutopilotOutcome.SKIPPED_HALTED,
        date(2012, 7, 5): AutopilotOutcome.REBALANCED,
        date(2012, 7, 6): AutopilotOutcome.REBALANCED,
    }
    assert [p.asof.astimezone(NEW_YORK).date() for p in host.plans] == [
        date(2012, 7, 2),
        date(2012, 7, 5),
        date(2012, 7, 6),
    ]
    (warning,) = [n for n in host.notices if n[0] is Severity.WARNING]
    assert "2012-07-03" in warning[1] and "HALTED" in warning[2]


async def test_bad_data_until_the_deadline_holds_current_weights() -> None:
    never = ny(2012, 7, 11, 0, 0)
    host, pilot = make(ny(2012, 7, 9, 9, 0), stale_until={date(2012, 7, 10): never})
    await drive(host, pilot, ny(2012, 7, 11, 20, 0), step=timedelta(seconds=20))
    assert host.outcomes() == {
        date(2012, 7, 9): AutopilotOutcome.REBALANCED,
        date(2012, 7, 10): AutopilotOutcome.HELD,
        date(2012, 7, 11): AutopilotOutcome.REBALANCED,
    }
    held = host.runs[1]
    assert "data failed validation: bars of 2012-07-10 not validated yet" in held.reason
    assert "current weights held" in held.reason and not held.orders
    assert held.finished_at == ny(2012, 7, 10, 15, 59)  # the deadline: one minute before the close
    assert len(host.plans) == 2
    severities = [n[0] for n in host.notices if "2012-07-10" in n[1]]
    assert severities == [Severity.INFO, Severity.WARNING]  # "waiting", then "held"
    # on 20 s ticks, retried only once 30 s have passed: 15:55:00, :55:40, :56:20, :57:00, :57:40,
    # :58:20 and at the 15:59:00 deadline (7 checks), then one check on each of the other two days
    assert host.data_checks == 7 + 2


async def test_late_data_runs_late_in_the_session_with_a_warning() -> None:
    host, pilot = make(ny(2012, 7, 9, 15, 0), stale_until={date(2012, 7, 9): ny(2012, 7, 9, 15, 57)})
    await drive(host, pilot, ny(2012, 7, 9, 17, 0), step=timedelta(seconds=20))
    (run,) = host.runs
    assert run.outcome is AutopilotOutcome.REBALANCED
    assert ny(2012, 7, 9, 15, 57) <= run.started_at < ny(2012, 7, 9, 15, 58)
    assert run.warnings and "waited from" in run.warnings[0]


async def test_data_still_bad_when_ticks_jump_past_the_close_is_held_not_missed() -> None:
    host, pilot = make(ny(2012, 7, 9, 15, 50), stale_until={date(2012, 7, 9): ny(2012, 7, 10, 0, 0)})
    await drive(host, pilot, ny(2012, 7, 9, 15, 56), step=timedelta(minutes=3))
    assert host.runs == []  # waiting
    await drive(host, pilot, ny(2012, 7, 9, 18, 0), step=timedelta(hours=2))
    assert host.outcomes() == {date(2012, 7, 9): AutopilotOutcome.HELD}


async def test_engine_down_at_the_run_time_alerts_the_missed_sessions_and_does_not_trade_late() -> None:
    host, pilot = make(ny(2012, 7, 9, 9, 0))
    # down from Tuesday 10:00 to Thursday 16:30: Tuesday, Wednesday and Thursday's runs are missed
    down = (ny(2012, 7, 10, 10, 0), ny(2012, 7, 12, 16, 30))
    await drive(host, pilot, ny(2012, 7, 13, 20, 0), down=down)
    assert host.outcomes() == {
        date(2012, 7, 9): AutopilotOutcome.REBALANCED,
        date(2012, 7, 10): AutopilotOutcome.MISSED,
        date(2012, 7, 11): AutopilotOutcome.MISSED,
        date(2012, 7, 12): AutopilotOutcome.MISSED,
        date(2012, 7, 13): AutopilotOutcome.REBALANCED,
    }
    assert [p.asof.astimezone(NEW_YORK).date() for p in host.plans] == [date(2012, 7, 9), date(2012, 7, 13)]
    (alert,) = [n for n in host.notices if n[0] is Severity.ERROR]
    assert alert[1] == "Autopilot missed 3 sessions"
    assert "2012-07-10" in alert[2] and "2012-07-12" in alert[2] and "Not traded late" in alert[2]
    missed = [r for r in host.runs if r.outcome is AutopilotOutcome.MISSED]
    assert all(r.started_at == ny(2012, 7, 12, 16, 30) for r in missed)  # the first tick back


async def test_a_run_that_raises_is_recorded_as_failed_and_alerted() -> None:
    host, pilot = make(ny(2012, 7, 9, 15, 0), fail_send_days={date(2012, 7, 9)})
    await drive(host, pilot, ny(2012, 7, 10, 17, 0))
    assert host.outcomes() == {
        date(2012, 7, 9): AutopilotOutcome.FAILED,
        date(2012, 7, 10): AutopilotOutcome.REBALANCED,
    }
    assert "ConnectionError: broker connection lost" in host.runs[0].reason
    assert [n[0] for n in host.notices if "2012-07-09" in n[1]] == [Severity.ERROR]


async def test_a_tick_during_a_run_does_nothing() -> None:
    host, pilot = make(ny(2012, 7, 9, 15, 55))
    first = asyncio.create_task(pilot.tick())
    await host.sending.wait()  # the first tick is inside the host's send
    assert await pilot.tick() == []
    (run,) = await first
    assert run.outcome is AutopilotOutcome.REBALANCED
    assert await pilot.tick() == []  # the session has its run
    assert len(host.runs) == 1


async def test_weekly_schedule_rebalances_once_a_week_and_reports_nothing_to_do_otherwise() -> None:
    weekly = AutopilotSettings(
        rebalance=RebalanceSettings(
            frequency=Frequency.WEEKLY, drift_abs=None, drift_rel=None, costs=COSTS, cost_benefit=None
        )
    )
    host, pilot = make(ny(2012, 7, 2, 9, 0), weekly)
    await drive(host, pilot, ny(2012, 7, 13, 20, 0))
    rebalanced = [d for d, o in host.outcomes().items() if o is AutopilotOutcome.REBALANCED]
    assert rebalanced == [date(2012, 7, 2), date(2012, 7, 9)]
    others = {o for d, o in host.outcomes().items() if d not in rebalanced}
    assert others == {AutopilotOutcome.NOTHING_TO_DO}
    assert len(host.runs) == len(calendar.sessions(date(2012, 7, 2), date(2012, 7, 13)))
