"""``RiskMonitor``: the trading state and its transitions, the gauges, and the portfolio risk report.

It owns the ``RiskController`` (limits, breakers, the kill switch's state) and everything that
follows a transition: the risk event row, the audit entry, the alert, the cancel-all of a
breaker. It hears fills as ``FillBooked`` (loss streaks, reject breaker) and order changes as
``OrderEvent``; nobody calls it to say either happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from engine.actor import Actor
from engine.bus import EventBus
from engine.clock import Clock
from engine.config import Settings
from engine.execution.order_manager import OrderManager
from engine.model import (
    AccountSnapshot,
    AlertCode,
    CommandSource,
    Order,
    OrderStatus,
    RiskState,
    is_option_symbol,
)
from engine.model.events import LimitsEvent, OrderEvent, PortfolioEvent, RiskAlert, RiskEvent, RiskReportEvent
from engine.model.risk import RiskReport
from engine.portfolio.ledger import Ledger
from engine.risk.alerts import AlertDispatcher
from engine.risk.controller import RiskController, RiskTransition
from engine.risk.gauges import historical_var, risk_state
from engine.risk.greeks import OptionPosition, option_positions
from engine.risk.killswitch import STATE_KEY, HaltState
from engine.risk.pretrade import Refusal
from engine.risk.report import compute_risk_report
from engine.runtime.accounting import FillBooked
from engine.runtime.health import WRITE_ERRORS, StoreHealth, stricter
from engine.runtime.kept_limits import keep_limit, restore_limits
from engine.runtime.market_view import MarketView
from engine.runtime.outbox import Outbox
from engine.store.repository import Store

log = logging.getLogger(__name__)


class RiskMonitor:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        clock: Clock,
        bus: EventBus,
        outbox: Outbox,
        alerts: AlertDispatcher,
        ledger: Ledger,
        market: MarketView,
        orders: OrderManager,
        health: StoreHealth,
    ) -> None:
        self._health = health
        self._deferred: list[Callable[[], None]] | None = None
        self._settings = settings
        self._store = store
        self._clock = clock
        self._bus = bus
        self._outbox = outbox
        self._alerts = alerts
        self._ledger = ledger
        self._market = market
        self._orders = orders
        self.controller = RiskController(
            settings.risk,
            allow_short=settings.broker.allow_short,
            sectors=settings.universe.sectors,
            state=stricter(HaltState.from_json(store.get_state(STATE_KEY)), health.read_fallback()),
            persist=self._persist_trading_state,
            on_event=self._on_transition,
        )
        if health.had_fallback:  # a halt a full disk kept beside the database: the database takes it now
            self._persist_trading_state(self.controller.state)
        restore_limits(self.controller, store, outbox, settings.risk.model_dump())
        self.report: RiskReport | None = None
        self._report_running: asyncio.Future[RiskReport | None] | None = None
        self._report_again = False
        self._greeks_problem = ""
        """Why the last risk report left the option Greeks out ("" when it did not): noticed once."""

    def set_limit(self, name: str, value: float, by: Actor, *, session_only: bool = False) -> Refusal | None:
        """``SetLimit``: change the limit now and, unless ``session_only``, keep it for later starts
        (``engine.runtime.kept_limits``)."""
        refusal = self.controller.set_limit(name, value, by, kept=not session_only)
        if refusal is None and not session_only:
            with self._health.guard(f"keeping limit {name}"):
                keep_limit(self._store, name, value, by, self._clock.now())
        return refusal

    # ------------------------------------------------------------------ what it hears
    def on_fill_booked(self, booked: FillBooked) -> None:
        now = self._clock.now()
        self.controller.broker_accepted()
        self.controller.filled(booked.strategy, None, now)
        if booked.realized is not None and booked.owner:
            self.controller.filled(booked.owner, booked.realized, now)
        self.publish_portfolio()
        self._outbox.spawn(self.refresh_report(), "risk-report-on-fill")

    def on_order(self, event: OrderEvent) -> None:
        """Broker rejects in a row trip the reject breaker; an acknowledgement resets the count."""
        o = event.order
        if o.status is OrderStatus.REJECTED:
            self.controller.broker_rejected(o.symbol, o.reason, self._clock.now())
        elif o.status is OrderStatus.ACKNOWLEDGED:
            self.controller.broker_accepted()

    # ------------------------------------------------------------------ gauges
    def risk_state(self, account: AccountSnapshot | None = None) -> RiskState:
        account = account or self._ledger.account()
        r = self.controller.settings
        state = self.controller.state
        own = {p.symbol: p.market_value for p in self._ledger.positions(include_flat=False)}
        values = self._in_account(own)
        if values != own:  # a position in another currency: the gross gauge in the account's
            account = replace(account, gross_exposure=sum(abs(v) for v in values.values()))
        var_95, method = self._gauge_var(values)
        return risk_state(
            account,
            var_95,
            var_method=method,
            trading_state=state.state,
            halted_reason=state.reason,
            halted_at=state.since,
            kill_level=state.kill_level,
            paused_strategies=state.paused,
            gross_limit=r.gross_exposure_limit,
            daily_loss_limit_pct=r.daily_loss_limit_pct,
            drawdown_limit_pct=r.drawdown_limit_pct,
            var_limit_pct=r.var_limit_pct,
        )

    def _in_account(self, values: dict[str, float]) -> dict[str, float]:
        """symbol -> signed position value in the account currency: the VaR inputs and the gross
        exposure. A position in another currency converts at its pair's latest good quote
        (``MarketView.conversions``); one whose rate is stale or missing keeps its own-currency
        value (its orders are refused until the rate returns: FX_RATE_STALE / FX_RATE_MISSING)."""
        rates, _problems = self._market.conversions()
        if not rates:
            return values
        return {s: v * rates.get(s, 1.0) for s, v in values.items()}

    def _gauge_var(self, values: dict[str, float]) -> tuple[float, str]:
        """The gauge's 95% VaR and its method: the configured model's (``[risk] var_method``, the
        one that passes its backtests) from the latest risk report when that report was made for
        the same holdings, rescaled to today's gross value; else the 250-day historical figure
        computed now (a report follows every fill within moments)."""
        report = self.report
        method = self.controller.settings.var_method
        if report is not None and method and report.gross_value > 0 and set(report.symbols) == set(values):
            figure = next((f for f in report.var if f.method == method), None)
            if figure is not None:
                gross = sum(abs(v) for v in values.values())
                return figure.var_95 * gross / report.gross_value, method
        days = self.controller.settings.var_window_days
        return historical_var(values, self._market.daily_returns(days)), "historical"

    def publish_risk(self) -> None:
        self._bus.publish(RiskEvent(self.risk_state()))

    def publish_portfolio(self) -> None:
        account = self._ledger.account()
        self._bus.publish(PortfolioEvent(tuple(self._ledger.positions()), account))
        risk = self.risk_state(account)
        self._bus.publish(RiskEvent(risk))
        self.controller.gauges(risk, self._clock.now())

    def publish_limits(self) -> None:
        self._bus.publish(LimitsEvent(self.controller.limit_values()))

    # ------------------------------------------------------------------ transitions
    @contextlib.contextmanager
    def records_after(self) -> Iterator[None]:
        """Inside, state changes take effect in memory only; their records (the state row, the
        risk event, the audit entry, the alert) follow on leaving. The kill switch acts this way:
        no write, fsync or network call stands between the key and the cancels."""
        if self._deferred is not None:
            yield
            return
        self._deferred = []
        try:
            yield
        finally:
            deferred, self._deferred = self._deferred, None
            for record in deferred:
                record()

    def _persist_trading_state(self, state: HaltState) -> None:
        if self._deferred is not None:
            self._deferred.append(lambda: self._persist_trading_state(state))
            return
        try:
            self._store.set_state(STATE_KEY, state.to_json(), self._clock.now())
        except WRITE_ERRORS as exc:
            self._health.failed("recording the trading state", exc)
            kept = self._health.write_fallback(state)
            where = (
                "kept in the fallback file beside it"
                if kept
                else "NOT kept anywhere: it lasts until a restart"
            )
            self._outbox.notice(
                "error", f"{state.state.value}: the database could not record it; the state is {where}"
            )
            return
        if self._health.had_fallback:
            self._health.clear_fallback()

    def _on_transition(self, t: RiskTransition) -> None:
        """Every change of trading state, pause or limit: a risk event, an audit entry, an alert."""
        if self._deferred is not None:
            self._deferred.append(lambda: self._on_transition(t))
            return
        now = self._clock.now()
        payload = t.payload or {}
        with self._health.guard(f"recording {t.code}"):
            self._store.record_risk_event(now, "risk", t.code, t.message, {"subject": t.subject, **payload})
            self._outbox.audit(
                t.actor.user,
                t.actor.source,
                "risk",
                {"code": t.code, "message": t.message, "subject": t.subject},
            )
        alert = RiskAlert(now, t.code, t.level, t.message, t.subject)
        self._bus.publish(alert)
        self._alerts.dispatch(alert)
        if t.code is AlertCode.LIMIT_CHANGED:
            self.publish_limits()
        state = self.controller.state
        if state.halted and t.level == "error" and t.actor.source is CommandSource.ENGINE:
            # A breaker's halt is a level-1 kill: the positions' protective orders keep working
            # unless [kill] level1_cancels_protection; a flattening halt cancels them first.
            keep_stops = state.kill_level < 2 and not self._settings.kill.level1_cancels_protection
            keep = _protective if keep_stops else None
            self._outbox.spawn(self._orders.cancel_all(keep), "breaker-cancel-all")
        self.publish_risk()

    # ------------------------------------------------------------------ the portfolio risk report
    def _option_inputs(self) -> tuple[OptionPosition, ...]:
        """The held options as the report's Greeks take them; () (noticed once) when one cannot be
        priced: an underlying without a price or a volatility."""
        held = {p.symbol: p.quantity for p in self._ledger.positions(include_flat=False)}
        if not any(is_option_symbol(sym) for sym in held):
            return ()
        try:
            options = option_positions(
                held,
                self._market.prices(),
                self._market.option_vols,
                self._clock.now(),
                self._settings.broker.option_rate,
            )
        except ValueError as exc:
            problem = f"the risk report leaves the option Greeks out: {exc}"
            if problem != self._greeks_problem:
                self._greeks_problem = problem
                self._outbox.notice("error", problem)
            return ()
        self._greeks_problem = ""
        return tuple(options)

    def _report_inputs(self) -> dict[str, Any]:
        """Everything the report needs, copied on the loop so the worker shares nothing live."""
        r = self.controller.settings
        returns = self._market.daily_returns(r.var_window_days)
        history = self._market.daily_returns(max(r.var_history_days, r.var_window_days))
        benchmark = self._settings.universe.benchmark
        return {
            "asof": self._clock.now(),
            "equity": self._ledger.equity,
            "values": self._in_account(
                {p.symbol: p.market_value for p in self._ledger.positions(include_flat=False)}
            ),
            "returns": {s: v for s, v in returns.items() if s != benchmark},
            "benchmark": benchmark,
            "benchmark_returns": returns.get(benchmark),
            "options": self._option_inputs(),
            "seed": r.mc_seed,
            "scenarios": r.mc_scenarios,
            "window_days": r.var_window_days,
            "var_method": r.var_method,
            "history": {s: v for s, v in history.items() if s != benchmark},
        }

    async def refresh_report(self) -> RiskReport | None:
        """Recompute the portfolio risk report on a worker thread and publish it.

        Recomputes never overlap: one asked for while another runs is folded into a single
        rerun when that one finishes (and the caller gets that rerun's report), so a burst of
        fills costs at most two computations.
        """
        if self._report_running is not None:
            self._report_again = True
            return await asyncio.shield(self._report_running)
        self._report_running = asyncio.get_running_loop().create_future()
        result: RiskReport | None = self.report
        try:
            while True:
                self._report_again = False
                work = functools.partial(compute_risk_report, **self._report_inputs())
                try:
                    report = await asyncio.get_running_loop().run_in_executor(None, work)
                except Exception as exc:  # a bad series must not take the engine down
                    log.exception("risk report failed")
                    self._outbox.notice("error", f"portfolio risk report failed: {exc}")
                    return result
                self.report = result = report
                self._bus.publish(RiskReportEvent(report))
                if not self._report_again or self._store.closed:
                    return report
        finally:
            done, self._report_running = self._report_running, None
            done.set_result(result)

    async def run_timer(self) -> None:
        while True:
            await asyncio.sleep(self.controller.settings.recompute_seconds)
            await self.refresh_report()


def _protective(order: Order) -> bool:
    return order.protects is not None
