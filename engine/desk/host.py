"""``EngineAutopilotHost``: the autopilot's view of a running engine (``AutopilotHost``).

Everything the autopilot decides with comes from the engine: the engine's clock, its risk state,
its quotes and validated history, its ledger, and its group execution. What it must remember
across restarts (the last session run, the last one rebalanced, the year's starting equity) lives
in the store's state table as JSON and each run is appended to the audit chain, so a restarted
engine neither runs a session twice nor forgets one it missed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from engine.actor import Actor
from engine.bus import EventBus
from engine.clock import Clock
from engine.config import Settings
from engine.data import calendar
from engine.data.feed import MarketFeed
from engine.data.loader import MarketData
from engine.desk.targets import TargetBook
from engine.execution.order_manager import OrderManager
from engine.model import (
    Action,
    AlertCode,
    CommandSource,
    ExecutionStatus,
    Fill,
    Quote,
    RefusalCode,
    TradingState,
    is_option_symbol,
)
from engine.model.codec import to_jsonable
from engine.model.events import CommandResult, ExecutionEvent, NoticeEvent, RiskAlert
from engine.model.lots import trade_date
from engine.model.rebalance import AutopilotOutcome, AutopilotRun, RebalancePlan, Severity
from engine.portfolio.autopilot import BookSnapshot, PortfolioSummary, RebalanceResult
from engine.portfolio.ledger import Ledger
from engine.portfolio.schedule import previous_session
from engine.risk.alerts import AlertDispatcher
from engine.store.repository import Store

AUTOPILOT_KEY = "autopilot"
"""State row: {"last_run_day", "last_rebalance_day", "last_run"} (JSON)."""
YTD_KEY = "portfolio_ytd"
"""State row: {"year", "start_equity"}: the equity the year's P&L is measured from."""
STRATEGY = "autopilot"
"""The template name of the autopilot's orders (its lots, its P&L slice, its audit entries)."""
AUTOPILOT = Actor("autopilot", CommandSource.SCHEDULE)


class DeskMarket(Protocol):
    """What the desk reads of the engine's market view (``engine.runtime.market_view.MarketView``)."""

    @property
    def feed(self) -> MarketFeed: ...
    def prices(self, options: Iterable[str] = ()) -> dict[str, float]: ...
    def spendable_cash(self) -> float: ...
    def session_day(self) -> date | None: ...
    def latest_quotes(self) -> dict[str, Quote]: ...


class DeskOutbox(Protocol):
    """What the desk says to the world (``engine.runtime.outbox.Outbox``)."""

    def notice(self, level: str, message: str) -> None: ...
    def refuse(self, action: Action, code: RefusalCode, message: str, subject: str) -> CommandResult: ...
    def spawn(self, coro: Any, name: str) -> None: ...
    def audit(self, actor: str, source: CommandSource, action: str, payload: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class DeskPorts:
    """Everything the portfolio desk and its autopilot host use of the running engine, by name."""

    settings: Settings
    clock: Clock
    store: Store
    bus: EventBus
    outbox: DeskOutbox
    market: DeskMarket
    data: MarketData
    ledger: Ledger
    orders: OrderManager
    alerts: AlertDispatcher
    trading_state: Callable[[], TradingState]
    execute_plan: Callable[[RebalancePlan, Actor, str], Awaitable[CommandResult]]
    opening_fills: tuple[Fill, ...] = ()


class EngineAutopilotHost:
    """Implements ``engine.portfolio.autopilot.AutopilotHost`` over the engine's parts."""

    def __init__(self, ports: DeskPorts, targets: TargetBook, *, max_quote_age: timedelta) -> None:
        self.ports = ports
        self.targets = targets
        self.max_quote_age = max_quote_age
        self.sell_unlisted = ports.settings.autopilot.sell_unlisted
        state = _load(ports.store.get_state(AUTOPILOT_KEY))
        self._last_run = _day(state.get("last_run_day"))
        self._last_rebalance = _day(state.get("last_rebalance_day"))
        self._awaiting_fills: str | None = None
        """The session day of a run whose orders were sent and whose fills are not reported yet."""
        ports.bus.on(ExecutionEvent, self._on_execution)

    # ------------------------------------------------------------------ what the autopilot reads
    def now(self) -> datetime:
        return self.ports.clock.now()

    def trading_state(self) -> TradingState:
        return self.ports.trading_state()

    def data_check(self, day: date) -> str | None:
        """None when every target symbol has a fresh quote of ``day`` and validated history."""
        problems = [*self._quote_problems(day), *self._history_problems(day)]
        return "; ".join(problems) if problems else None

    def _quote_problems(self, day: date) -> list[str]:
        now = self.now()
        quotes = self.ports.market.latest_quotes()
        out: list[str] = []
        for symbol in self.targets.rules.symbols:
            q = quotes.get(symbol)
            if q is None:
                out.append(f"{symbol}: no quote")
            elif trade_date(q.ts) != day:
                out.append(f"{symbol}: no quote today (last {trade_date(q.ts).isoformat()})")
            elif now - q.ts > self.max_quote_age:
                out.append(f"{symbol}: quote {int((now - q.ts).total_seconds() // 60)} min old")
            elif not (math.isfinite(q.last) and q.last > 0 and 0 < q.bid <= q.ask):
                out.append(f"{symbol}: quote not usable (bid {q.bid}, ask {q.ask}, last {q.last})")
        return out

    def _history_problems(self, day: date) -> list[str]:
        """The lookback before ``day``: long enough, every close a positive number, no session
        missing at its end, and no validation error reported inside it."""
        rules = self.targets.rules
        previous = previous_session(self.ports.settings.autopilot.calendar, day)
        out: list[str] = []
        for symbol, closes in self.targets.closes(day, rules.lookback + 1).items():
            if len(closes) < rules.lookback + 1:
                out.append(f"{symbol}: {len(closes)} closes before {day}, need {rules.lookback + 1}")
                continue
            values = closes.to_numpy(dtype=np.float64)
            if not np.all(np.isfinite(values) & (values > 0)):
                out.append(f"{symbol}: a close in the lookback is missing or not positive")
            last = closes.index[-1].date()
            if last != previous:
                out.append(f"{symbol}: last bar {last.isoformat()}, expected {previous.isoformat()}")
            first = closes.index[0].date()
            bad = [
                i
                for i in self.ports.data.report.errors
                if i.symbol == symbol and i.day is not None and first <= i.day <= previous
            ]
            if bad:
                out.append(f"{symbol}: {len(bad)} validation error(s) in the lookback, first: {bad[0]}")
        return out

    def target_weights(self, day: date) -> Mapping[str, float]:
        return self.targets.weights(day)

    def book(self) -> BookSnapshot:
        """The autopilot's symbols as held, at the engine's prices; cash is what buys may spend:
        settled cash (T+1 proceeds excluded) less what working buys have promised."""
        e = self.ports
        prices = e.market.prices()
        wanted = set(self.targets.rules.symbols)
        positions = {
            p.symbol: p.quantity
            for p in e.ledger.positions(include_flat=False)
            if p.symbol in wanted or (self.sell_unlisted and not is_option_symbol(p.symbol))
        }
        account = e.ledger.account()
        cash = e.market.spendable_cash() - e.orders.working_buy_value(prices)
        return BookSnapshot(positions, prices, account.equity, max(cash, 0.0))

    def returns(self, symbols: Sequence[str], sessions: int) -> Mapping[str, Sequence[float]] | None:
        feed = self.ports.market.feed
        day = feed.current_day
        if day is None:
            return None
        closes = {s: feed.history(s, before=day)["close"] for s in symbols}
        import pandas as pd

        frame = pd.DataFrame(closes).dropna().pct_change(fill_method=None).iloc[1:].tail(sessions)
        if frame.empty:
            return None
        return {str(s): frame[s].tolist() for s in frame.columns}

    # ------------------------------------------------------------------ what the autopilot does
    async def rebalance(self, plan: RebalancePlan) -> RebalanceResult:
        self._awaiting_fills = trade_date(self.now()).isoformat()
        result = await self.ports.execute_plan(plan, AUTOPILOT, STRATEGY)
        if not result.ok:
            self._awaiting_fills = None
        return RebalanceResult(result.ok, len(plan.orders) if result.ok else 0, 0, result.message)

    def _on_execution(self, event: ExecutionEvent) -> None:
        """The run's summary goes out when its orders are sent; this is the second message, with
        the fills, once the autopilot's execution has finished (filled, failed or rolled back)."""
        day = self._awaiting_fills
        if day is None or not event.card_id.startswith(f"rebalance-{STRATEGY}-"):
            return
        if event.status not in (
            ExecutionStatus.COMPLETED,
            ExecutionStatus.FAILED,
            ExecutionStatus.ROLLED_BACK,
        ):
            return
        self._awaiting_fills = None
        filled = sum(1 for leg in event.legs if leg.filled > 0)
        lines = [
            f"{leg.side} {leg.filled:g} of {leg.quantity:g} {leg.symbol}"
            + ("" if leg.avg_price is None else f" at {leg.avg_price:,.2f}")
            for leg in event.legs
        ]
        severity = Severity.INFO if event.status is ExecutionStatus.COMPLETED else Severity.WARNING
        body = f"fills: {filled} of {len(event.legs)} orders filled ({event.status})\n" + "\n".join(lines)
        self.notify(
            severity, f"Autopilot {day}: fills", body + (f"\n{event.message}" if event.message else "")
        )

    def portfolio_summary(self) -> PortfolioSummary:
        account = self.ports.ledger.account()
        return PortfolioSummary(account.day_pnl, account.equity - self.year_start_equity())

    def year_start_equity(self) -> float:
        """The equity the year's P&L counts from: the first start of day seen in the year (persisted)."""
        year = self.now().astimezone(calendar.NEW_YORK).year
        state = _load(self.ports.store.get_state(YTD_KEY))
        if state.get("year") == year:
            return float(state["start_equity"])
        return self.start_year(year, self.ports.ledger.start_of_day_equity)

    def start_year(self, year: int, equity: float) -> float:
        """Record ``equity`` as the year's start unless the year has one already."""
        state = _load(self.ports.store.get_state(YTD_KEY))
        if state.get("year") == year:
            return float(state["start_equity"])
        payload = {"year": year, "start_equity": equity}
        self.ports.store.set_state(YTD_KEY, json.dumps(payload), self.now())
        return equity

    def notify(self, severity: Severity, title: str, body: str) -> None:
        now = self.now()
        level = str(severity)
        text = f"{title}: {body}".replace("\n", "; ")
        self.ports.bus.publish(NoticeEvent(now, level, text))
        self.ports.alerts.dispatch(RiskAlert(now, AlertCode.AUTOPILOT, level, f"{title}\n{body}", STRATEGY))

    # ------------------------------------------------------------------ what it remembers
    def last_run_day(self) -> date | None:
        return self._last_run

    def last_rebalance_day(self) -> date | None:
        return self._last_rebalance

    def record_run(self, run: AutopilotRun) -> None:
        day = run.session_day
        if self._last_run is None or day > self._last_run:
            self._last_run = day
        if run.outcome is AutopilotOutcome.REBALANCED and (
            self._last_rebalance is None or day > self._last_rebalance
        ):
            self._last_rebalance = day
        record: dict[str, Any] = {
            "last_run_day": _iso(self._last_run),
            "last_rebalance_day": _iso(self._last_rebalance),
            "last_run": to_jsonable(run),
        }
        store = self.ports.store
        store.set_state(AUTOPILOT_KEY, json.dumps(record), self.now())
        self.ports.outbox.audit(  # stamped like every engine entry: wall clock, market time beside it
            AUTOPILOT.user,
            AUTOPILOT.source,
            "autopilot_run",
            {
                "session_day": day.isoformat(),
                "outcome": run.outcome.value,
                "reason": run.reason,
                "trigger": str(run.trigger) if run.trigger else "",
                "orders": [f"{o.side} {o.quantity:g} {o.symbol}" for o in run.orders],
                "orders_sent": run.orders_sent,
                "expected_cost": run.expected_cost,
                "decision_to_sent_s": run.decision_to_sent_s,
                "warnings": list(run.warnings),
                "targets": dict(
                    run.targets
                ),  # the weights decided with: research can be checked against them
            },
        )


def _load(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


def _day(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
