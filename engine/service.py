"""The Engine: wires data, broker, store, risk, cards and orders, runs the replay, serves commands.

It runs on one asyncio loop (its own thread when embedded in the console, the main
thread headless). Consoles reach it through ``EngineSession`` (engine/protocol.py), in
process or over the Unix socket, with the same encoded messages either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
from collections import deque
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.actor import Actor
from engine.brokers.base import Broker, BrokerError, BrokerLink, BrokerPosition
from engine.brokers.paper import PaperBroker, journal_path_for
from engine.bus import EventBus, Subscription
from engine.clock import SimulatedClock, WallClock
from engine.config import ConfigError, Settings
from engine.data.calendar import NEW_YORK
from engine.data.feed import MarketFeed
from engine.data.loader import DataError, MarketData, load_user_file
from engine.data.replay import ReplayFeed
from engine.data.shipped import load_shipped
from engine.desk import PortfolioDesk
from engine.execution.algos import AlgoParams, AlgoRunner
from engine.execution.costs import CommissionSchedule
from engine.execution.group import Actions, GroupExecution
from engine.execution.order_manager import OrderManager
from engine.execution.plan import plan_card
from engine.execution.recovery import reconcile
from engine.execution.validation import prepare
from engine.model import (
    AccountSnapshot,
    Algo,
    CommandSource,
    ExecutionStatus,
    Fill,
    Instrument,
    Leg,
    OptionContract,
    Order,
    OrderRequest,
    OrderStatus,
    Quote,
    RiskState,
    Side,
    StrategyCard,
    TradingState,
    is_option_symbol,
)
from engine.model.codec import to_jsonable
from engine.model.events import (
    AcknowledgeLive,
    ApproveRecovery,
    CancelAll,
    CancelOrder,
    CardsEvent,
    Command,
    CommandResult,
    ExecuteCard,
    ExecuteRebalance,
    ExecutionEvent,
    Flatten,
    GetPortfolioReport,
    GetSnapshot,
    Kill,
    LimitsEvent,
    MarketEvent,
    ModifyOrder,
    NoticeEvent,
    OrderEvent,
    PortfolioEvent,
    PortfolioReportEvent,
    PreviewRebalance,
    ReconciliationSummary,
    RefusalEvent,
    ResetKill,
    ResumeStrategy,
    RiskAlert,
    RiskEvent,
    RiskReportEvent,
    SetLimit,
    SnapshotEvent,
    StatusEvent,
)
from engine.model.rebalance import RebalancePlan
from engine.model.risk import RiskReport
from engine.portfolio.ledger import Ledger
from engine.portfolio.lots import LotBook
from engine.risk.alerts import AlertDispatcher, notifiers_from_settings
from engine.risk.controller import RiskController, RiskTransition
from engine.risk.gauges import historical_var, risk_state
from engine.risk.greeks import OptionPosition, option_positions
from engine.risk.killswitch import STATE_KEY, HaltState
from engine.risk.pretrade import BookView, Refusal, check_price_band, with_working
from engine.risk.report import compute_risk_report
from engine.signals.indicators import returns as daily_returns
from engine.signals.indicators import rolling_volatility
from engine.store.db import StoreError, default_database_path
from engine.store.repository import Store
from engine.strategies.book import Book
from engine.strategies.book import Limits as BookLimits
from engine.strategies.generator import Context as CardGenContext
from engine.strategies.generator import card_template, propose
from engine.strategies.policy import enabled_templates, generator_policy, template_params
from engine.strategies.scan import BOOK_DAYS, Scan, scan
from engine.strategies.templates.base import Bars

log = logging.getLogger(__name__)

REPLAY_KEY = "replay_last_day"
"""The last session the replay started; a restart continues with the session after it."""
LEDGER_KEY = "ledger_day"
OPENING_KEY = "opening_book"
"""The broker account's cash and positions when this database first met it (IBKR): the book the
fills then build on, so a fresh database starts from the account as it is, not from paper cash."""
PORTFOLIO_EVERY_STEPS = 4
"""Publish portfolio and risk every few quote steps: fresh enough for the eye, cheap for the bus."""
CARDS_EVERY_STEPS = 30
"""Re-size cards at current prices every half hour of market time (about 3 s of a 45 s day)."""
OPTION_VOL_DAYS = 20
"""Options are priced (paper broker quotes, risk report Greeks) at the underlying's realized
volatility over this many daily returns before today, as the options template prices its cards."""


REBALANCE_CASH_SHARE = 0.995
"""A rebalance spends at most this share of the cash it will have: the rest pays commissions and
the price move between the decision and the fills."""


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        database: Path | None = None,
        market: MarketData | None = None,
        paced: bool = True,
    ) -> None:
        """``paced=False`` lets tests step the replay themselves (``step_day``) instead of a timer."""
        self.settings = settings
        self.database = database or _database_path(settings)
        self.bus = EventBus()
        self._paced = paced
        self._market_arg = market
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._stopped = asyncio.Event()
        self._steps = 0
        self.cards: list[StrategyCard] = []
        self._returns_cache: tuple[date | None, dict[str, np.ndarray]] = (None, {})
        self._groups: dict[str, GroupExecution] = {}
        self._group_status: dict[str, tuple[ExecutionStatus, str]] = {}
        self._finished_groups: deque[ExecutionEvent] = deque(maxlen=10)
        self._scan: tuple[date, Scan] | None = None
        self._scanning: date | None = None
        self._logged_rejections: set[tuple[date, str, str]] = set()
        self._template_params = template_params(settings)
        self._generator_policy = generator_policy(settings)
        self._day_histories: dict[str, pd.DataFrame] = {}
        b = settings.broker
        self._commissions = CommissionSchedule(
            b.commission_per_share,
            b.commission_min,
            b.commission_max_pct,
            per_contract=b.commission_per_contract,
        )
        self.risk_report: RiskReport | None = None
        self.reconciliation: ReconciliationSummary | None = None
        self._flatten_due = False
        """Kill level 2 is in force: send the flatten orders with the next quotes (a session opened)."""
        self._day_ended = False
        self._session_hours: tuple[date, tuple[datetime, datetime] | None] | None = None
        """The New York date and its regular session's open and close, looked up once a day."""
        self._report_running: asyncio.Future[RiskReport | None] | None = None
        self._report_again = False
        self._option_vols: dict[str, float] = {}
        """underlying -> annualised volatility options on it are priced at today (set each day start)."""
        self._greeks_problem = ""
        """Why the last risk report left the option Greeks out ("" when it did not): noticed once."""
        self._flatten_after_buyback = False
        """A flatten held shares back until their short calls are bought back: flatten again on that fill."""

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        s = self.settings
        self.store = Store.open(self.database)
        self.market = self._market_arg or (_load_market(s) if s.broker.kind != "ibkr" else _no_market(s))
        last_day = self.store.get_state(REPLAY_KEY)
        resume_after = date.fromisoformat(last_day) if last_day else None
        start = s.replay.start_date
        self._link: BrokerLink | None = None
        if s.broker.kind == "ibkr":
            await self._start_ibkr()
        else:
            self.clock = SimulatedClock(_session_start(start))
            self.feed: MarketFeed = ReplayFeed(
                self.market,
                self.clock,
                start=start,
                end=s.replay.end_date,
                seed=s.replay.seed,
                steps_per_day=s.replay.steps_per_day,
                spread_bps=s.replay.spread_bps,
                resume_after=resume_after,
            )
            self.broker: Broker = self._make_broker()
        self.alerts = AlertDispatcher(
            notifiers_from_settings(s.alerts),
            min_level=s.alerts.min_level,
            timeout_s=s.alerts.timeout_s,
            on_failure=lambda line: self._notice("error", line),
        )
        self.risk = RiskController(
            s.risk,
            allow_short=s.broker.allow_short,
            sectors=s.universe.sectors,
            state=HaltState.from_json(self.store.get_state(STATE_KEY)),
            persist=self._persist_trading_state,
            on_event=self._on_risk_transition,
        )
        self._strategy_of: dict[str, str] = {}
        """client order id -> the template that proposed it (this run's orders)."""
        self._owner: dict[str, str] = {}
        """symbol -> the template whose fills opened the current position (loss streaks count there)."""
        opening = _opening_fills(self.store.get_state(OPENING_KEY))
        self.ledger = Ledger(
            s.broker.starting_cash if opening is None else opening[0] + sum(_cost(f) for f in opening[1])
        )
        self._opening_fills = opening[1] if opening is not None else []
        for fill in [*self._opening_fills, *self.store.load_fills()]:
            self.ledger.apply_fill(fill)
        self.ledger.restore_marks(self.store.load_positions())
        self._restore_ledger_day()
        self.orders = OrderManager(self.store, self.broker, self.clock, self.bus.publish, self._on_fill)
        self.desk = PortfolioDesk(self)
        """The autopilot, the rebalance preview, the tax lots and the harvest cards (engine/desk/)."""
        self.desk.fold_stored_fills()
        self.lots: LotBook = self.desk.book
        """Tax lots (FIFO) of every stored fill, updated on each fill and marked on each quote."""
        if isinstance(self.broker, PaperBroker):
            self.broker.set_settlement_hook(self._record_settlement)
        # Volatility is market data, not journaled: a restart gives it again before the first quote.
        self._set_option_vols(self._vol_day())
        self.algos = AlgoRunner(self._send_child, self._cancel_child, self._on_parent)
        self.bus.on((OrderEvent,), lambda e: self.algos.on_order(e.order) if e.order.parent_id else None)
        self._expire_stored_parents()
        self.bus.on((OrderEvent,), self._on_order_event)
        await self.broker.connect()
        if isinstance(self.broker, PaperBroker) and not self.broker.remembers:
            # A paper account without a journal yet (a database from before journals, or a new one):
            # it adopts the engine's book, and orders it never saw cannot be working there.
            self.broker.restore(
                cash=self.ledger.cash,
                positions=[
                    BrokerPosition(p.symbol, p.quantity, p.avg_cost)
                    for p in self.ledger.positions(include_flat=False)
                ],
            )
            for order in self.orders.expire_all_open(
                "engine restarted: the paper account had no record of it"
            ):
                what = f"{order.client_order_id} {order.side} {order.quantity:g} {order.symbol}"
                self._notice("warning", f"{what} expired at restart")
        self._audit(
            "engine",
            CommandSource.ENGINE,
            "engine_start",
            {"database": str(self.database), "trading_state": self.risk.state.state.value},
        )
        await self._reconcile()
        for issue in self.market.report.issues:
            self._notice("warning" if issue.severity == "warning" else "error", str(issue))
        self._refresh_cards()
        if not self._paced:  # a stepped engine (tests, research) starts with its cards in
            await self._settle()
        self._flatten_due = self.risk.state.kill_level >= 2
        self.bus.publish(LimitsEvent(self.risk.limit_values()))
        if self.feed.finished:
            self._notice("info", "the replay has reached the end of the data; prices are frozen")
        elif self._paced:
            self._tasks.append(asyncio.create_task(self._run_feed(), name="replay-feed"))
        if self._paced:
            self._tasks.append(asyncio.create_task(self._risk_timer(), name="risk-report"))
        self._publish_status()

    async def stop(self) -> None:
        self.feed.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._background:
            await asyncio.wait(set(self._background))
        self._persist_book()
        self._audit("engine", CommandSource.ENGINE, "engine_stop", {})
        await self.broker.disconnect()
        await self.alerts.drain()
        self.store.close()
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def _start_ibkr(self) -> None:
        """Connect to TWS / IB Gateway, then take the market (clock, quotes, bars) from it.

        ib_insync is imported here, not at the top: a paper engine never pays for it. A live-gate
        contradiction stops the start; TWS not running does not (the console starts, says so,
        and the adapter keeps trying).
        """
        from engine.brokers.ibkr.broker import IbkrBroker
        from engine.brokers.ibkr.feed import IbkrFeed
        from engine.brokers.ibkr.gate import LiveGateError
        from engine.brokers.ibkr.history import default_cache_dir, load_market

        s = self.settings
        self.clock = SimulatedClock(WallClock().now())
        broker = IbkrBroker(
            s.ibkr,
            order_id_floor=self._highest_broker_order_id,
            on_link=self._on_broker_link,
            on_notice=self._notice,
            on_reconnected=self._after_reconnect,
            seed=s.replay.seed,
        )
        self.broker = broker
        try:
            await broker.connect()
        except LiveGateError as exc:
            await broker.disconnect()
            raise EngineStartError(str(exc)) from None
        server = broker.server_now()
        if server is not None:  # market time is IBKR's (the simulator's replay time, too)
            self.clock = SimulatedClock(server)
        if self._market_arg is None:
            folder = Path(s.ibkr.history_cache).expanduser() if s.ibkr.history_cache else default_cache_dir()
            self.market, problems = await load_market(
                broker,
                [*s.universe.symbols, s.universe.benchmark],
                duration=s.ibkr.history,
                folder=folder,
                today=self.clock.now().astimezone(NEW_YORK).date(),
                instruments=_instruments(s),
                jump_threshold=s.data.jump_threshold,
            )
            for line in problems:
                self._notice("warning", line)
        self.feed = IbkrFeed(broker, self.market, self.clock)
        if broker.connected and self.store.get_state(OPENING_KEY) is None and not self.store.load_fills():
            await self._adopt_opening_book(broker)

    async def _adopt_opening_book(self, broker: Broker) -> None:
        """A fresh database on a broker account: start from the account's cash and positions."""
        cash = await broker.cash()
        positions = [p for p in await broker.positions() if p.quantity != 0.0]
        payload = {
            "ts": self.clock.now().isoformat(),
            "cash": cash,
            "positions": [[p.symbol, p.quantity, p.avg_cost] for p in positions],
        }
        self.store.set_state(OPENING_KEY, json.dumps(payload), self.clock.now())
        held = ", ".join(f"{p.quantity:g} {p.symbol}" for p in positions) or "no positions"
        self._audit("engine", CommandSource.ENGINE, "opening_book", payload)
        self._notice("info", f"{broker.name}: started from the account as it is: cash {cash:,.2f}, {held}")

    def _acknowledge_live(self, typed: str) -> CommandResult:
        acknowledge = getattr(self.broker, "acknowledge_live", None)
        if acknowledge is None or not self.settings.ibkr.live or self.broker.name != "ibkr":
            return CommandResult(ok=False, message="not trading a live account", code="NOT_LIVE")
        if not acknowledge(typed):
            return self._refuse(
                "acknowledge_live", "LIVE_NOT_ACKNOWLEDGED", "that is not the live account's id", ""
            )
        self._publish_status()
        return CommandResult(ok=True, message="live trading acknowledged for this run")

    def _highest_broker_order_id(self) -> int:
        """The highest numeric broker order id stored: IBKR must never be given one of them again."""
        return self.store.highest_numeric_broker_order_id()

    def _on_broker_link(self, link: BrokerLink) -> None:
        self._link = link
        if hasattr(self, "feed"):
            self._publish_status()

    async def _after_reconnect(self) -> None:
        """The adapter reconnected on its own: reconcile (missed fills once, nothing sent twice)."""
        summary = await self._reconcile()
        changed = summary.fills_applied or summary.lost or summary.external or summary.position_mismatches
        if changed:
            self._notice(
                "warning", "reconnected to the broker: review and approve what changed while it was away"
            )

    def _make_broker(self) -> Broker:
        b = self.settings.broker
        return PaperBroker(
            self.clock,
            starting_cash=b.starting_cash,
            commission_per_share=b.commission_per_share,
            commission_min=b.commission_min,
            commission_max_pct=b.commission_max_pct,
            slippage_bps=b.slippage_bps,
            max_participation=b.max_participation,
            allow_short=b.allow_short,
            allow_fractional=b.allow_fractional,
            settlement_days=b.settlement_days,
            journal=journal_path_for(self.database),
            option_rate=b.option_rate,
            commission_per_contract=b.commission_per_contract,
        )

    # ------------------------------------------------------------------ replay
    async def _run_feed(self) -> None:
        try:
            await self.feed.run(
                self._on_quotes,
                seconds_per_day=self.settings.replay.seconds_per_day,
                on_day_start=self._on_day_start,
                on_day_end=self._on_day_end,
            )
        except Exception:
            log.exception("replay feed failed")
            self._notice("error", "the replay feed stopped on an error; see the log")
            return
        self._notice("info", "the replay reached the end of the data")
        self._publish_status()

    async def step_day(self) -> None:
        """Play the rest of the session in progress, or the next whole one (tests and benchmarks)."""
        self._day_ended = False
        while not self._day_ended and not self.feed.finished:
            await self.step(1)

    async def step(self, steps: int) -> None:
        """Play ``steps`` quote steps (tests and benchmarks), one at a time as the paced feed does:
        after each step the work it started (algo slices, rollbacks, reports) runs to the end, so
        a stepped engine behaves like a paced one, only faster."""
        for _ in range(steps):
            played = self.feed.play_steps(
                self._on_quotes, 1, on_day_start=self._on_day_start, on_day_end=self._on_day_end
            )
            await self._settle()
            if not played:
                break
        await self._settle()

    async def _settle(self) -> None:
        await asyncio.sleep(0)
        while self._background:
            await asyncio.wait(set(self._background))

    def _on_day_start(self, day: date) -> None:
        # A restart continues after the session in progress, never replays it: market time, and
        # the prices the operator already traded at, only move forward.
        self.store.set_state(REPLAY_KEY, day.isoformat(), self.clock.now())
        self._set_option_vols(day)
        self.ledger.start_day()
        self.desk.on_day_start(day)
        self._flatten_due = self.risk.state.kill_level >= 2
        self._persist_ledger_day(day)
        self._refresh_cards()
        self._publish_status()

    def _on_day_end(self, day: date) -> None:
        self._day_ended = True
        if isinstance(self.broker, PaperBroker):
            self.broker.on_session_close(day)
        self._spawn(self.algos.on_session_close(self.clock.now()), "algo-session-close")
        self._persist_book()
        self._publish_portfolio()

    def _on_quotes(self, quotes: tuple[Quote, ...]) -> None:
        for q in quotes:
            self.ledger.mark(q.symbol, q.last)
            if isinstance(self.broker, PaperBroker):
                self.broker.on_quote(q)
        if isinstance(self.broker, PaperBroker):
            # Nothing quotes options in the replay: they are marked at the broker's model price,
            # which moved with their underlyings' quotes just now.
            for sym, mark in self.broker.option_marks().items():
                self.ledger.mark(sym, mark)
        self.bus.publish(MarketEvent(ts=self.clock.now(), quotes=quotes))
        self._spawn(self._algo_quotes(quotes), "algo-quotes")  # after the broker saw them
        self.desk.on_quotes(quotes, self.clock.now())  # lot marks; the autopilot when it may be due
        if self._flatten_due:
            self._flatten_due = False
            self._spawn(self._flatten(), "flatten")
        if self._groups:
            self._group_deadlines()
        self._steps += 1
        if self._steps % PORTFOLIO_EVERY_STEPS == 0:
            self._publish_portfolio()
        if self._steps % CARDS_EVERY_STEPS == 0:
            self._refresh_cards()

    # ------------------------------------------------------------------ book
    def _on_fill(self, fill: Fill) -> None:
        held = self.ledger.quantity(fill.symbol)
        realized_before = self.ledger.realized(fill.symbol)
        self.ledger.apply_fill(fill)
        strategy = self._strategy(fill.client_order_id)
        self.desk.on_fill(fill, strategy)
        closes = held != 0.0 and (held > 0) != (fill.side.sign > 0)
        owner = self._owner.get(fill.symbol, strategy) if closes else strategy
        if not closes and strategy:
            self._owner[fill.symbol] = strategy
        self.risk.broker_accepted()
        self.risk.filled(strategy, None, self.clock.now())
        if closes and owner:
            self.risk.filled(owner, self.ledger.realized(fill.symbol) - realized_before, self.clock.now())
        self._audit(
            "engine",
            CommandSource.ENGINE,
            "fill",
            {
                "exec_id": fill.exec_id,
                "coid": fill.client_order_id,
                "symbol": fill.symbol,
                "side": fill.side.value,
                "qty": fill.quantity,
                "price": fill.price,
            },
        )
        self._publish_portfolio()
        self._spawn(self.refresh_risk_report(), "risk-report-on-fill")
        self._refresh_cards()
        if self._flatten_after_buyback and fill.side is Side.BUY and is_option_symbol(fill.symbol):
            # The shares a flatten held back for this call can go now: at the next quotes.
            self._flatten_after_buyback = False
            self._flatten_due = self.risk.state.kill_level >= 2

    def _record_settlement(self, order: Order) -> None:
        """The paper broker's hook: it settled an expired option with an order the engine never placed.

        The order is recorded (as the broker announces it: acknowledged, nothing filled) and
        tracked, so the ``OrderFilled`` that follows lands on a known order and reaches the
        ledger through ``_on_fill`` like any fill.
        """
        stored = self.store.get_order(order.client_order_id)
        if stored is None:
            self._store_settlement(order)
        self.orders.track(order if stored is None else stored)

    def _record_missed_settlements(self) -> None:
        """Before reconciling: settlement orders the broker made that the database never recorded.

        A crash between the broker's close (journaled) and the engine's record of it leaves the
        settlement's fill among the broker's executions with no order of ours; recorded here,
        reconciliation applies that fill as a missed one instead of calling it external.
        """
        if not isinstance(self.broker, PaperBroker):
            return
        for order in self.broker.settlement_orders():
            if self.store.get_order(order.client_order_id) is None:
                self._store_settlement(order)

    def _store_settlement(self, order: Order) -> None:
        self.store.insert_order(order)
        self.bus.publish(OrderEvent(replace(order)))

    # ------------------------------------------------------------------ options
    def _vol_day(self) -> date:
        """The session whose volatility applies now: the one in progress or next; after the last,
        the day after it (its whole history is known)."""
        day = self.feed.current_day or self.feed.next_day()
        return day if day is not None else self.feed.sessions[-1] + timedelta(days=1)

    def _set_option_vols(self, day: date) -> None:
        """Give every universe symbol's options today's volatility: the realized volatility of
        ``OPTION_VOL_DAYS`` daily returns before ``day`` (annualised). A symbol with too little
        history, or a gap in it, keeps the volatility it had (none: its options cannot trade)."""
        for sym in self.settings.universe.symbols:
            close = self.feed.history(sym, before=day)["close"].to_numpy(dtype=np.float64)
            if len(close) <= OPTION_VOL_DAYS:
                continue
            sigma = float(rolling_volatility(close[-(OPTION_VOL_DAYS + 1) :], OPTION_VOL_DAYS)[-1])
            if not math.isfinite(sigma):
                continue
            if isinstance(self.broker, PaperBroker):
                self.broker.set_option_volatility(sym, sigma)
            self._option_vols[sym] = sigma

    def _option_inputs(self) -> tuple[OptionPosition, ...]:
        """The held options as the risk report's Greeks take them; () (noticed once) when one
        cannot be priced: an underlying without a price or a volatility."""
        held = {p.symbol: p.quantity for p in self.ledger.positions(include_flat=False)}
        if not any(is_option_symbol(sym) for sym in held):
            return ()
        try:
            options = option_positions(
                held, self._prices(), self._option_vols, self.clock.now(), self.settings.broker.option_rate
            )
        except ValueError as exc:
            problem = f"the risk report leaves the option Greeks out: {exc}"
            if problem != self._greeks_problem:
                self._greeks_problem = problem
                self._notice("error", problem)
            return ()
        self._greeks_problem = ""
        return tuple(options)

    def _strategy(self, client_order_id: str) -> str:
        """The template behind an order: remembered at submit, else read from its card id."""
        known = self._strategy_of.get(client_order_id)
        if known is not None:
            return known
        order = self.orders.get(client_order_id)
        return card_template(order.card_id) if order is not None and order.card_id else ""

    def _publish_portfolio(self) -> None:
        account = self.ledger.account()
        self.bus.publish(PortfolioEvent(tuple(self.ledger.positions()), account))
        risk = self._risk(account)
        self.bus.publish(RiskEvent(risk))
        self.risk.gauges(risk, self.clock.now())

    def _risk(self, account: AccountSnapshot | None = None) -> RiskState:
        account = account or self.ledger.account()
        r = self.risk.settings
        values = {p.symbol: p.market_value for p in self.ledger.positions(include_flat=False)}
        return risk_state(
            account,
            historical_var(values, self._daily_returns()),
            trading_state=self.risk.state.state,
            halted_reason=self.risk.state.reason,
            halted_at=self.risk.state.since,
            kill_level=self.risk.state.kill_level,
            paused_strategies=self.risk.state.paused,
            gross_limit=r.gross_exposure_limit,
            daily_loss_limit_pct=r.daily_loss_limit_pct,
            drawdown_limit_pct=r.drawdown_limit_pct,
            var_limit_pct=r.var_limit_pct,
        )

    def _daily_returns(self) -> dict[str, np.ndarray]:
        """Last 250 sessions of returns before today, per symbol; computed once a day."""
        day = self.feed.current_day
        cached_day, cached = self._returns_cache
        if cached_day == day and cached:
            return cached
        out: dict[str, np.ndarray] = {}
        window = self.risk.settings.var_window_days
        for sym in [*self.settings.universe.symbols, self.settings.universe.benchmark]:
            if sym not in self.market.bars:  # a broker's history may lack one (IBKR: an index)
                continue
            hist = self._history(sym)
            if len(hist) > 1:
                r = daily_returns(hist["close"].to_numpy(dtype=np.float64)[-(window + 1) :])[1:]
                out[sym] = r
        self._returns_cache = (day, out)
        return out

    # ------------------------------------------------------------------ portfolio risk report
    def _report_inputs(self) -> dict[str, Any]:
        """Everything the report needs, copied on the loop so the worker shares nothing live."""
        returns = self._daily_returns()
        benchmark = self.settings.universe.benchmark
        r = self.risk.settings
        return {
            "asof": self.clock.now(),
            "equity": self.ledger.equity,
            "values": {p.symbol: p.market_value for p in self.ledger.positions(include_flat=False)},
            "returns": {s: v for s, v in returns.items() if s != benchmark},
            "benchmark": benchmark,
            "benchmark_returns": returns.get(benchmark),
            "options": self._option_inputs(),
            "seed": r.mc_seed,
            "scenarios": r.mc_scenarios,
            "window_days": r.var_window_days,
        }

    async def refresh_risk_report(self) -> RiskReport | None:
        """Recompute the portfolio risk report on a worker thread and publish it.

        Recomputes never overlap: one asked for while another runs is folded into a single
        rerun when that one finishes (and the caller gets that rerun's report), so a burst of
        fills costs at most two computations.
        """
        if self._report_running is not None:
            self._report_again = True
            return await asyncio.shield(self._report_running)
        self._report_running = asyncio.get_running_loop().create_future()
        result: RiskReport | None = self.risk_report
        try:
            while True:
                self._report_again = False
                inputs = self._report_inputs()
                work = functools.partial(compute_risk_report, **inputs)
                try:
                    report = await asyncio.get_running_loop().run_in_executor(None, work)
                except Exception as exc:  # a bad series must not take the engine down
                    log.exception("risk report failed")
                    self._notice("error", f"portfolio risk report failed: {exc}")
                    return result
                self.risk_report = result = report
                self.bus.publish(RiskReportEvent(report))
                if not self._report_again or self.store.closed:
                    return report
        finally:
            done, self._report_running = self._report_running, None
            done.set_result(result)

    async def _risk_timer(self) -> None:
        while True:
            await asyncio.sleep(self.risk.settings.recompute_seconds)
            await self.refresh_risk_report()

    def _history(self, symbol: str) -> pd.DataFrame:
        day = self.feed.current_day or self.feed.next_day() or self.settings.replay.start_date
        return self.feed.history(symbol, before=day)

    def _prices(self, options: Iterable[str] = ()) -> dict[str, float]:
        """symbol -> the price risk checks and sizing use: the last trade, else the last close.

        Options are at the paper broker's model price: every one held or worked, and those named
        in ``options`` (about to be ordered); a held one it cannot price now (no quote of its
        underlying yet after a restart) keeps the ledger's last mark.
        """
        prices = {sym: q.last for sym, q in self.feed.latest_quotes().items()}
        for sym in self.settings.universe.symbols:
            if sym not in prices:
                hist = self._history(sym)
                if len(hist):
                    prices[sym] = float(hist["close"].iloc[-1])
        if isinstance(self.broker, PaperBroker):
            prices.update(self.broker.option_marks())
            for sym in options:
                quote = self.broker.option_quote(sym) if sym not in prices else None
                if quote is not None:
                    prices[sym] = quote.last
        for pos in self.ledger.positions(include_flat=False):
            if pos.symbol not in prices and is_option_symbol(pos.symbol) and pos.last > 0:
                prices[pos.symbol] = pos.last
        return prices

    def _persist_book(self) -> None:
        self.store.save_positions(self.ledger.positions())

    def _persist_ledger_day(self, day: date) -> None:
        payload = {
            "day": day.isoformat(),
            "start_of_day_equity": self.ledger.start_of_day_equity,
            "peak_equity": self.ledger.peak_equity,
        }
        self.store.set_state(LEDGER_KEY, json.dumps(payload), self.clock.now())

    def _restore_ledger_day(self) -> None:
        raw = self.store.get_state(LEDGER_KEY)
        if raw:
            data = json.loads(raw)
            self.ledger.start_of_day_equity = float(data["start_of_day_equity"])
            self.ledger.peak_equity = max(float(data["peak_equity"]), self.ledger.equity)

    # ------------------------------------------------------------------ cards
    def _refresh_cards(self) -> None:
        """Re-size, re-validate and re-rank the session's candidates at current prices.

        The scan behind them (setups, track records, calibration) runs once a session on a
        worker thread (``_scan_session``); until it is in, the previous session's cards are
        withdrawn rather than offered at stale sizes.
        """
        day = self.feed.current_day or self.feed.next_day()
        if day is None:
            return
        if self._scan is None or self._scan[0] != day:
            if self._scanning != day:
                self._scanning = day
                self._spawn(self._scan_session(day), "card-scan")
            if self.cards:
                self.cards = []
                self.bus.publish(CardsEvent(asof=self.clock.now(), cards=()))
            return
        proposal = propose(self._scan[1], self._card_context(day), self._plan_card)
        self.cards = [*proposal.cards, *self.desk.harvest_cards(day)]
        for key, why in proposal.reasons:
            if (day, key, why.code) not in self._logged_rejections:
                self._logged_rejections.add((day, key, why.code))
                log.info("card %s not shown: %s (%s)", key, why.code, why.message)
        self.store.save_cards(self.cards)
        rejected = tuple(sorted(proposal.rejected.items()))
        self.bus.publish(CardsEvent(asof=self.clock.now(), cards=tuple(self.cards), rejected=rejected))

    async def _scan_session(self, day: date) -> None:
        s = self.settings
        histories = {sym: self.feed.history(sym, before=day) for sym in s.universe.symbols}
        panel = {sym: Bars.from_frame(sym, df) for sym, df in histories.items() if len(df)}
        work = functools.partial(
            scan, panel, enabled_templates(s), self._template_params, s.cards.calibration
        )
        try:
            found = await asyncio.get_running_loop().run_in_executor(None, work)
        except Exception as exc:  # a template failing must not take the engine down
            log.exception("card scan failed")
            self._notice("error", f"strategy card scan for {day} failed: {exc}")
            return
        finally:
            self._scanning = None
        self._day_histories = histories
        self._scan = (day, found)
        self._refresh_cards()

    def _plan_card(self, card: StrategyCard) -> StrategyCard:
        return plan_card(card, self.feed.latest_quotes(), self._day_histories, self._commissions)

    def _card_context(self, day: date) -> CardGenContext:
        account = self.ledger.account()
        prices = self._prices()
        histories = self._day_histories
        adv_shares: dict[str, float] = {}
        adv_value: dict[str, float] = {}
        returns: dict[str, np.ndarray] = {}
        for sym, df in histories.items():
            tail = df.tail(20)
            if len(tail):
                adv_shares[sym] = float(tail["volume"].mean())
                adv_value[sym] = float((tail["close"] * tail["volume"]).mean())
            close = df["close"].to_numpy(dtype=float)[-(BOOK_DAYS + 1) :]
            if len(close) == BOOK_DAYS + 1:
                returns[sym] = close[1:] / close[:-1] - 1.0
        r = self.risk.settings
        b = self.settings.broker
        book = Book(
            equity=account.equity,
            cash=account.cash - self.orders.working_buy_value(prices),
            positions={p.symbol: p.quantity for p in self.ledger.positions(include_flat=False)},
            prices=prices,
            sectors=self.settings.universe.sectors,
            limits=BookLimits(
                max_position_pct=r.max_position_pct,
                max_sector_pct=r.max_sector_pct,
                max_order_value=r.max_order_value,
                gross_exposure_limit=r.gross_exposure_limit,
                max_adv_share=self.settings.cards.max_adv_share,
            ),
            adv_shares=adv_shares,
            adv_value=adv_value,
            working_symbols=frozenset(self.orders.working_by_symbol()),
            allow_short=b.allow_short,
            allow_fractional=b.allow_fractional,
            can_trade_options=self.broker.trades_options,
            returns=returns,
        )
        held_by: dict[str, int] = {}
        for sym in book.positions:
            owner = self._owner.get(sym)
            if owner:
                held_by[owner] = held_by.get(owner, 0) + 1
        return CardGenContext(
            asof=self.clock.now(),
            session_day=day,
            book=book,
            policy=self._generator_policy,
            market_open=None,
            paused=frozenset(self.risk.state.paused),
            template_positions=held_by,
        )

    # ------------------------------------------------------------------ commands
    async def handle(self, command: Command, actor: Actor) -> CommandResult:
        """Serve one command. Refusals are results (ok=False) and RefusalEvents, never exceptions."""
        self._audit(
            actor.user, actor.source, "command", {"command": type(command).__name__, **_fields(command)}
        )
        match command:
            case ExecuteCard(card_id=card_id, override_duplicate=override):
                return await self._execute_card(card_id, actor, override=override)
            case Kill(reason=reason):
                return await self._kill(reason, actor, level=1)
            case Flatten(reason=reason):
                return await self._kill(reason, actor, level=2)
            case ResetKill(confirmation=text):
                return self._reset_kill(text, actor)
            case CancelOrder(client_order_id=coid):
                return await self._cancel(coid)
            case ModifyOrder(client_order_id=coid, quantity=quantity, limit_price=limit):
                return await self._modify(coid, quantity, limit)
            case CancelAll():
                n = await self.orders.cancel_all()
                return CommandResult(ok=True, message=f"cancel sent for {n} open order(s)")
            case SetLimit(name=name, value=value):
                return self._answer("set_limit", self.risk.set_limit(name, value, actor), name)
            case ApproveRecovery():
                return self._approve_recovery(actor)
            case ResumeStrategy(template=template):
                return self._answer("resume_strategy", self.risk.unpause(template, actor), template)
            case AcknowledgeLive(account=typed):
                return self._acknowledge_live(typed)
            case PreviewRebalance() | ExecuteRebalance():
                return await self.desk.serve(command, actor)
            case GetPortfolioReport() | GetSnapshot():
                return self._query(command)
        return CommandResult(
            ok=False, message=f"unknown command {type(command).__name__}", code="UNKNOWN_COMMAND"
        )

    def _query(self, command: GetPortfolioReport | GetSnapshot) -> CommandResult:
        """Commands that only read: the snapshot (sent by the session itself) and reports."""
        if isinstance(command, GetPortfolioReport):
            return self._portfolio_report(command.since)
        return CommandResult(ok=True)

    def _portfolio_report(self, since: date | None) -> CommandResult:
        """Start the portfolio report of [since, the session in progress]; it is published as a
        ``PortfolioReportEvent`` (a notice when it fails) when built. The fills are read here, on
        the loop; the replay and the arithmetic run on a worker thread, so the loop never waits.

        Today is marked at the current prices (the last trade, else the last close), earlier
        sessions at their closes. ``since`` None: the later of the year's start and the first fill.
        """
        from engine.model.lots import trade_date
        from engine.portfolio.report import build_portfolio_report, closes_from_bars, sectors_of, tag_fills

        day = self.feed.current_day
        if day is None:
            return CommandResult(ok=False, message="no session has been played yet", code="NO_SESSION")
        fills = self.store.load_fills()
        tagged = tag_fills(fills, self.store.load_orders(), self.store.load_cards())
        first = min((trade_date(f.ts) for f in fills), default=day)
        start = since if since is not None else min(max(date(day.year, 1, 1), first), day)
        closes = closes_from_bars(self.market.bars, day - timedelta(days=1))
        prices = self._prices()
        closes.loc[pd.Timestamp(day)] = [prices.get(sym, math.nan) for sym in closes.columns]
        work = functools.partial(
            build_portfolio_report,
            tagged,
            closes,
            start=start,
            end=day,
            starting_cash=self.ledger.starting_cash,
            sectors=sectors_of(self.market.instruments, self.settings.universe.sectors),
            universe=self.settings.universe.symbols,
            benchmark_weights=self.settings.universe.benchmark_weights or None,
        )

        async def build() -> None:
            try:
                report = await asyncio.get_running_loop().run_in_executor(None, work)
            except Exception as exc:  # a gap in the data must not take the engine down
                log.exception("portfolio report failed")
                self._notice("error", f"portfolio report failed: {exc}")
                return
            self.bus.publish(PortfolioReportEvent(report))

        self._spawn(build(), "portfolio-report")
        return CommandResult(ok=True)

    def snapshot(self) -> SnapshotEvent:
        account = self.ledger.account()
        recent = self.store.load_orders(limit=200)
        live = {o.client_order_id: o for o in self.orders.open_orders()}
        orders = tuple(replace(live.get(o.client_order_id, o)) for o in recent)
        return SnapshotEvent(
            status=self._status(),
            positions=tuple(self.ledger.positions()),
            account=account,
            orders=orders,
            cards=tuple(self.cards),
            risk=self._risk(account),
            quotes=tuple(self.feed.latest_quotes().values()),
            risk_report=self.risk_report,
            limits=self.risk.limit_values(),
            reconciliation=self.reconciliation,
            executions=(
                *self._finished_groups,
                *(g.event(self.clock.now()) for g in self._groups.values()),
            ),
        )

    def subscribe(self) -> Subscription:
        return self.bus.subscribe()

    async def _execute_card(self, card_id: str, actor: Actor, *, override: bool = False) -> CommandResult:
        card = next((c for c in self.cards if c.card_id == card_id), None)
        if card is None:
            return self._refuse(
                "execute_card",
                "CARD_STALE",
                f"card {card_id} is no longer offered (the market moved on)",
                card_id,
            )
        return await self._execute(card, actor, override=override)

    async def rebalance_to(
        self, weights: Mapping[str, float], actor: Actor, *, strategy: str, min_value: float = 0.0
    ) -> CommandResult:
        """Trade the book toward target weights of equity (symbols not named are left alone), as one
        group execution: sells first, then buys, every leg through the same checks as a card's.

        Quantities come from the current prices (the quote's mid, else the last close); a trade
        worth less than ``min_value`` is skipped. Research's walk-forward and permutation targets,
        and later the rebalancer, trade through here rather than through a path of their own.
        """
        equity = self.ledger.account().equity
        prices = self._prices()
        held = {p.symbol: p.quantity for p in self.ledger.positions(include_flat=False)}
        legs: list[Leg] = []
        for symbol, weight in sorted(weights.items()):
            price = prices.get(symbol)
            if price is None or not price > 0:
                return self._refuse("rebalance", "NO_PRICE", f"no price for {symbol}", strategy)
            delta = weight * equity / price - held.get(symbol, 0.0)
            if abs(delta) * price < max(min_value, 1e-9):
                continue
            legs.append(Leg(symbol, Side.BUY if delta > 0 else Side.SELL, round(abs(delta), 4)))
        if not legs:
            return CommandResult(ok=True, message=f"{strategy}: already at its targets")
        # no leverage: buys are scaled to the cash there will be after the sells (less a margin
        # for costs and the move to the fill), as the backtester's cash account does
        cash = self.ledger.account().cash + sum(
            leg.quantity * prices[leg.symbol] for leg in legs if leg.side is Side.SELL
        )
        buying = sum(leg.quantity * prices[leg.symbol] for leg in legs if leg.side is Side.BUY)
        budget = REBALANCE_CASH_SHARE * max(cash, 0.0)
        if buying > budget > 0:
            scale = budget / buying
            legs = [
                replace(leg, quantity=round(leg.quantity * scale, 4)) if leg.side is Side.BUY else leg
                for leg in legs
            ]
        legs.sort(key=lambda leg: 0 if leg.side is Side.SELL else 1)
        card = self._group_card(strategy, legs, prices, reason="trade to target weights")
        return await self._execute(card, actor)

    async def execute_plan(self, plan: RebalancePlan, actor: Actor, *, strategy: str) -> CommandResult:
        """Send a ``RebalancePlan``'s orders as they are, as one group execution.

        The planner already sized, costed and cash-scaled them and put the sells first, so
        nothing is recomputed here: the operator (preview) or the autopilot decided on exactly
        these orders. They go through the same card path as ``rebalance_to``: atomic (a leg
        refused or unfilled rolls the group back), risk-checked leg by leg, persisted and audited.
        """
        if plan.empty:
            return CommandResult(ok=True, message=f"{strategy}: the plan has no order")
        legs = [Leg(o.symbol, o.side, o.quantity) for o in plan.orders]
        prices = {o.symbol: o.price for o in plan.orders}
        card = self._group_card(strategy, legs, prices, reason=f"rebalance plan ({plan.trigger})")
        return await self._execute(card, actor)

    def _group_card(
        self, strategy: str, legs: list[Leg], prices: Mapping[str, float], *, reason: str
    ) -> StrategyCard:
        """One card holding a rebalance's legs, saved so its id names its template after a restart.

        A card because a card is what ``_execute`` runs as one group: rebalances decided outside
        the card generator get the same atomicity, checks and audit trail as a card the operator
        picks.
        """
        now = self.clock.now()
        card = StrategyCard(
            card_id=f"rebalance-{strategy}-{now:%Y%m%d%H%M%S}",
            template=strategy,
            name=f"Rebalance {strategy}",
            legs=tuple(legs),
            confidence=0.0,
            expected_return=0.0,
            max_risk=0.0,
            reason=reason,
            asof=now,
            details={f"ref_price:{leg.symbol}": prices[leg.symbol] for leg in legs},
        )
        self.store.save_cards([card])
        return card

    async def _execute(self, card: StrategyCard, actor: Actor, *, override: bool = False) -> CommandResult:
        """Check, persist and send a card's legs as one group (see ``GroupExecution``)."""
        card_id = card.card_id
        closed = self.broker.sending_refused()
        if closed:  # read-only, or a live account not yet acknowledged: refused before any order exists
            return self._refuse("execute_card", "BROKER_CLOSED", f"{card.name}: {closed}", card_id)
        now = self.clock.now()
        book = self._book_view(leg.symbol for leg in card.legs)
        quotes = self.feed.latest_quotes()
        requests = [
            OrderRequest(
                symbol=leg.symbol,
                side=leg.side,
                quantity=leg.quantity,
                order_type=leg.order_type,
                limit_price=leg.limit_price,
                card_id=card.card_id,
                strategy=card.template,
                # the card's stop is a price of the stock: never a stop for an option's premium
                protective_stop=(
                    card.stop_price if len(card.legs) == 1 and not is_option_symbol(leg.symbol) else None
                ),
                override_duplicate=override,
                arrival_price=self._arrival_price(leg.symbol, quotes),
            )
            for leg in card.legs
        ]
        prepared: list[OrderRequest] = []
        for req in requests:  # tick grid, lot rules, order types: before risk sees the prices
            ready = prepare(req, self.market.instruments.get(req.symbol))
            if isinstance(ready, Refusal):
                return self._refuse("execute_card", ready.code, f"{card.name}: {ready.message}", card_id)
            prepared.append(ready)
        requests = prepared
        for req in requests:  # every leg is checked with the legs before it counted as working
            refusal = self.risk.check(req, book, now)
            if refusal is not None:
                self.store.record_risk_event(
                    now,
                    "pre_trade",
                    refusal.code,
                    refusal.message,
                    {"card_id": card_id, "symbol": req.symbol},
                )
                return self._refuse("execute_card", refusal.code, f"{card.name}: {refusal.message}", card_id)
            book = with_working(book, req)
        execution_id = f"X-{self.store.next_client_order_id()}"
        self.store.insert_execution(execution_id, card.card_id, ExecutionStatus.PENDING, now)
        self._audit(
            actor.user, actor.source, "execute_card", {"card_id": card_id, "execution_id": execution_id}
        )
        deadline = now + timedelta(minutes=card.deadline_minutes)
        group = GroupExecution.start(
            execution_id, card, [replace(req, execution_id=execution_id) for req in requests], deadline
        )
        self._groups[execution_id] = group
        self._publish_group(group)
        for index, (state, leg) in enumerate(zip(group.legs, card.legs, strict=True)):
            if group.finished or group.rolling_back:
                break  # an earlier leg was refused: the rest are never sent
            if leg.algo is Algo.IMMEDIATE:
                order = await self._send(state.request)
            else:
                order = await self._start_algo(state.request, leg, card)
            await self._run_group_actions(group, group.sent(index, order))
        legs = ", ".join(f"{leg.side} {leg.quantity:g} {leg.symbol}" for leg in card.legs)
        return CommandResult(ok=True, message=f"{card.name}: sent {legs}")

    def _arrival_price(self, symbol: str, quotes: dict[str, Quote]) -> float | None:
        """The mid when the order is decided: the feed's quote, or for an option the broker's model quote."""
        quote = quotes.get(symbol)
        if quote is None and isinstance(self.broker, PaperBroker) and is_option_symbol(symbol):
            quote = self.broker.option_quote(symbol)
        return quote.mid if quote is not None else None

    # ------------------------------------------------------------------ group executions
    def _publish_group(self, group: GroupExecution) -> None:
        """Persist the execution's status when it changed and publish its progress either way."""
        now = self.clock.now()
        persisted = self._group_status.get(group.execution_id)
        if persisted != (group.status, group.message):
            self.store.update_execution(group.execution_id, group.status, now, group.message)
            self._group_status[group.execution_id] = (group.status, group.message)
        self.bus.publish(group.event(now))
        if group.finished:
            self._groups.pop(group.execution_id, None)
            self._group_status.pop(group.execution_id, None)
            self._finished_groups.append(group.event(now))
            if group.status is not ExecutionStatus.COMPLETED:
                level = "error" if group.status is ExecutionStatus.FAILED else "warning"
                self._notice(level, f"{group.card.name}: {group.status.value}: {group.message}")

    async def _run_group_actions(self, group: GroupExecution, actions: Actions) -> None:
        """Carry out what a group execution decided: cancel working legs, unwind filled ones."""
        for coid in actions.cancel:
            await self._cancel_any(coid)
        for index, request in actions.unwind:
            if self.risk.state.state is TradingState.HALTED and self.risk.state.kill_level < 2:
                # the kill switch means "send nothing more": the filled part stays for the operator
                # (level 2, flatten, closes it), rather than new orders appearing after the kill
                group.unwind_refused(index, "HALTED", "kill switch engaged: not unwound")
                continue
            refusal = self.risk.check(request, self._book_view(), self.clock.now())
            if refusal is not None:
                group.unwind_refused(index, refusal.code, refusal.message)
                continue
            order = await self._send(request)
            more = group.unwind_sent(index, order)
            if more.cancel or more.unwind:
                await self._run_group_actions(group, more)
        self._publish_group(group)

    def _group_update(self, order: Order) -> None:
        group = self._groups.get(order.execution_id or "")
        if group is None:
            return
        actions = group.observe(order)
        if actions.cancel or actions.unwind:
            self._spawn(self._run_group_actions(group, actions), f"group-{group.execution_id}")
        else:
            self._publish_group(group)

    def _group_deadlines(self) -> None:
        now = self.clock.now()
        for group in list(self._groups.values()):
            actions = group.tick(now)
            if actions.cancel or actions.unwind:
                self._spawn(self._run_group_actions(group, actions), f"group-{group.execution_id}")

    async def _send(self, request: OrderRequest) -> Order:
        """Hand a checked order to the order manager, counting it against throttles and duplicates."""
        self.risk.sent(request, self.clock.now())
        order = await self.orders.submit(request)
        if request.strategy:
            self._strategy_of[order.client_order_id] = request.strategy
        return order

    async def _modify(self, coid: str, quantity: float | None, limit: float | None) -> CommandResult:
        """Change a working order in place, through the same checks a new order meets."""
        now = self.clock.now()
        order = next((o for o in self.orders.open_orders() if o.client_order_id == coid), None)
        if order is None:
            return self._refuse("modify_order", "NOT_OPEN", f"{coid} is not a working order", coid)
        new = OrderRequest(
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity if quantity is None else quantity,
            order_type=order.order_type,
            limit_price=order.limit_price if limit is None else limit,
            stop_price=order.stop_price,
            tif=order.tif,
            strategy=self._strategy(coid),
            override_duplicate=True,
            reduce_only=False,
        )
        ready = prepare(new, self.market.instruments.get(order.symbol))
        if isinstance(ready, Refusal):
            return self._refuse("modify_order", ready.code, ready.message, coid)
        refusal = self.risk.check_modify(now) or check_price_band(ready, self._book_view(), self.risk.limits)
        added = ready.quantity - order.quantity
        if refusal is None and added > 0:  # more size: the added part meets every limit
            refusal = self.risk.check(replace(ready, quantity=added), self._book_view(), now)
        if refusal is not None:
            return self._refuse("modify_order", refusal.code, refusal.message, coid)
        err = await self.orders.modify(coid, ready.quantity, ready.limit_price)
        if err:
            return self._refuse("modify_order", "MODIFY_FAILED", err, coid)
        self.risk.modify_sent(now)
        price = f" @ {ready.limit_price:g}" if ready.limit_price is not None else ""
        return CommandResult(
            ok=True, message=f"{coid} now {ready.side} {ready.quantity:g} {ready.symbol}{price}"
        )

    async def _cancel(self, coid: str) -> CommandResult:
        now = self.clock.now()
        refusal = self.risk.check_cancel(now)
        if refusal is not None:
            return self._refuse("cancel_order", refusal.code, refusal.message, coid)
        err = await self._cancel_any(coid)
        if err:
            return CommandResult(ok=False, message=err, code="CANCEL_FAILED")
        self.risk.cancel_sent(now)
        return CommandResult(ok=True, message=f"cancel sent for {coid}")

    def _book_view(self, options: Iterable[str] = ()) -> BookView:
        """The engine's half of the pre-trade picture; the risk controller adds its own state.

        ``options``: symbols about to be ordered, priced at the model when they are options.
        """
        account = self.ledger.account()
        prices = self._prices(options)
        cash = account.cash
        if isinstance(self.broker, PaperBroker):
            cash = min(cash, self.broker.settled_cash)  # T+1: unsettled is not cash
        return BookView(
            trading_state=self.risk.state.state,
            halted_reason=self.risk.state.reason,
            equity=account.equity,
            cash=cash,
            positions={p.symbol: p.quantity for p in self.ledger.positions(include_flat=False)},
            prices=prices,
            working=self.orders.working_by_symbol(),
            working_buy_value=self.orders.working_buy_value(prices),
            gross_exposure=account.gross_exposure,
            tradable=frozenset(
                s
                for s in self.settings.universe.symbols
                if self.market.instruments.get(s) is None or self.market.instruments[s].tradable
            ),
            market_open=self._market_open(),
        )

    def _market_open(self) -> bool:
        """Within the XNYS regular session by the engine's clock (the replay's market time)."""
        from engine.data.calendar import is_session, session_open_close

        now = self.clock.now()
        day = now.astimezone(NEW_YORK).date()
        if self._session_hours is None or self._session_hours[0] != day:
            self._session_hours = (day, session_open_close(day) if is_session(day) else None)
        hours = self._session_hours[1]
        return hours is not None and hours[0] <= now <= hours[1]

    async def _kill(self, reason: str, actor: Actor, *, level: int) -> CommandResult:
        """The kill switch: HALTED at once, then every working order cancelled (never throttled).

        Level 2 then closes every position with reduce-only market orders; positions that cannot
        be closed now (the market is shut) are retried at the next session's open.
        """
        with self.store.batch("kill switch"):  # one fsync for the whole burst, not four per order
            self.risk.halt(
                reason, actor, self.clock.now(), level=level, code="KILL" if level < 2 else "FLATTEN"
            )
            n = await self.orders.cancel_all()
        # also every order the engine does not know (at IBKR: typed into TWS, another client's)
        try:
            await self.broker.global_cancel()
        except BrokerError as exc:
            self._notice("error", f"kill switch: global cancel not sent: {exc}")
        for parent in self.algos.parents():  # between slices a parent has no child to cancel
            await self.algos.cancel_parent(parent.client_order_id, "kill switch", now=self.clock.now())
        if self.risk.state.kill_level >= 2:
            sent = await self._flatten()
            return CommandResult(ok=True, message=f"HALTED; cancel sent for {n} open order(s); {sent}")
        return CommandResult(ok=True, message=f"HALTED; cancel sent for {n} open order(s)")

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run engine work as a task the engine holds (and awaits at stop), never fire-and-forget."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reconnect_broker(self) -> None:
        """Connect the broker again; the cancels a kill switch still owes go out before anything else."""
        await self.broker.connect()
        await self._reconcile()  # owed cancels go out first of all, inside

    async def _reconcile(self) -> ReconciliationSummary:
        """Compare the database with the broker, then decide whether trading may go on.

        A clean result (nothing missed, lost, foreign or different) lets trading go on at once.
        Anything else is RECOVERING until an operator approves the summary, or, for a headless
        engine configured so, approved here, except position mismatches and database problems,
        which always need a person.
        """
        self._record_missed_settlements()
        summary = await reconcile(
            store=self.store,
            broker=self.broker,
            orders=self.orders,
            ledger_positions={p.symbol: p.quantity for p in self.ledger.positions(include_flat=False)},
            now=self.clock.now(),
        )
        clean = not (summary.fills_applied or summary.lost or summary.external or summary.position_mismatches)
        automatic = self.settings.engine.auto_approve_recovery and not summary.position_mismatches
        if not summary.problems and (clean or automatic):
            summary = replace(summary, approved=True)
        else:
            self.risk.enter_recovery(_recovery_reason(summary), self.clock.now())
        self.reconciliation = summary
        self._audit("engine", CommandSource.ENGINE, "reconciliation", _fields_of(summary))
        self.bus.publish(summary)
        return summary

    def _approve_recovery(self, actor: Actor) -> CommandResult:
        summary = self.reconciliation
        if summary is not None and summary.problems:
            return self._refuse(
                "approve_recovery",
                "RECOVERY_PROBLEMS",
                "the database failed its checks; trading stays refused: " + "; ".join(summary.problems),
                "",
            )
        refusal = self.risk.approve_recovery(actor)
        if refusal is not None:
            return self._refuse("approve_recovery", refusal.code, refusal.message, "")
        if summary is not None:
            self.reconciliation = replace(summary, approved=True)
            self.bus.publish(self.reconciliation)
        self.bus.publish(RiskEvent(self._risk()))
        return CommandResult(ok=True, message="reconciliation approved; trading resumes")

    # ------------------------------------------------------------------ algos
    async def _algo_quotes(self, quotes: tuple[Quote, ...]) -> None:
        for quote in quotes:
            await self.algos.on_quote(quote)

    async def _send_child(self, request: OrderRequest) -> Order:
        """An algo's child: through the risk checks like any order (the parent passed the duplicate
        guard already); a refusal comes back as a REJECTED order, as the runner expects."""
        request = replace(request, override_duplicate=True)
        now = self.clock.now()
        refusal = self.risk.check(request, self._book_view((request.symbol,)), now)
        if refusal is not None:
            return Order(
                client_order_id=f"refused-{request.parent_id}",
                symbol=request.symbol,
                side=request.side,
                quantity=request.quantity,
                status=OrderStatus.REJECTED,
                reason=f"[{refusal.code}] {refusal.message}",
                parent_id=request.parent_id,
                created_at=now,
                updated_at=now,
            )
        return await self._send(request)

    async def _cancel_child(self, client_order_id: str) -> str:
        return await self.orders.cancel(client_order_id)

    def _on_parent(self, parent: Order) -> None:
        """A parent order changed (its children filled, it finished): record and show it."""
        self.store.update_order(parent)
        self.bus.publish(OrderEvent(replace(parent)))

    def _expire_stored_parents(self) -> None:
        """Algo parents are worked in memory: after a restart their remainder is not worked on."""
        now = self.clock.now()
        for order in self.store.load_orders(open_only=True):
            if order.algo:
                order.status = OrderStatus.EXPIRED
                order.reason = "engine restarted: the algo stopped; its filled part stands"
                order.updated_at = now
                self.store.update_order(order)
                self._notice(
                    "warning", f"algo order {order.client_order_id} {order.symbol} expired at restart"
                )

    async def _start_algo(self, request: OrderRequest, leg: Leg, card: StrategyCard) -> Order:
        """Record the parent (write-ahead, like any order) and hand it to the runner."""
        now = self.clock.now()
        quote = self.feed.latest_quotes().get(request.symbol)
        instrument = self.market.instruments.get(request.symbol)
        window = max(card.deadline_minutes * 60.0 * 0.8, 120.0)  # leave the sweep time to fill
        params = AlgoParams(
            window_seconds=window,
            timeout_seconds=min(300.0, window),
            tick_size=instrument.tick_size if instrument is not None else 0.01,
        )
        parent = Order(
            client_order_id=self.store.next_client_order_id(),
            symbol=request.symbol,
            side=request.side,
            quantity=request.quantity,
            order_type=request.order_type,
            limit_price=request.limit_price,
            card_id=request.card_id,
            execution_id=request.execution_id,
            created_at=now,
            updated_at=now,
            algo=str(leg.algo),
            arrival_price=quote.mid if quote is not None else None,
        )
        self.store.insert_order(parent)
        self.risk.sent(request, now)
        self._strategy_of[parent.client_order_id] = card.template
        return await self.algos.start(parent, params, now, quote, strategy=card.template)

    async def _cancel_any(self, client_order_id: str) -> str:
        """Cancel an order or, for an algo parent, the whole algo (its working child with it)."""
        if self.algos.get(client_order_id) is not None:
            return await self.algos.cancel_parent(client_order_id, now=self.clock.now())
        return await self.orders.cancel(client_order_id)

    async def _flatten(self) -> str:
        """Send a reduce-only market order for every position that has none working.

        Options go first. Shares that written calls still need as cover are held back (the
        broker, and the pre-trade checks, refuse a sale that would leave a call naked) until the
        calls are bought back: the fill of that buy-back flattens again at the next quotes.
        """
        book = self._book_view()
        now = self.clock.now()
        working = self.orders.working_by_symbol()
        positions = sorted(
            self.ledger.positions(include_flat=False), key=lambda p: not is_option_symbol(p.symbol)
        )
        covering = {
            contract.underlying
            for contract, quantity in (
                (OptionContract.parse(p.symbol), p.quantity) for p in positions if is_option_symbol(p.symbol)
            )
            if contract.right == "C" and quantity < 0
        }
        sent, refused, waiting = [], [], []
        for pos in positions:
            if abs(working.get(pos.symbol, 0.0)) > 1e-9:
                continue
            if pos.symbol in covering and pos.quantity > 0:
                waiting.append(pos.symbol)
                continue
            req = OrderRequest(
                symbol=pos.symbol,
                side=Side.SELL if pos.quantity > 0 else Side.BUY,
                quantity=abs(pos.quantity),
                reduce_only=True,
            )
            refusal = self.risk.check(req, book, now)
            if refusal is not None:
                refused.append(f"{pos.symbol} ({refusal.code})")
                continue
            await self._send(req)
            sent.append(f"{req.side} {req.quantity:g} {req.symbol}")
        if refused:
            self._notice("warning", f"flatten: not sent now, retried at the next open: {', '.join(refused)}")
        self._flatten_after_buyback = bool(waiting)
        held = (
            f"; {', '.join(waiting)} held until the calls written on them are bought back" if waiting else ""
        )
        return (f"flatten sent {', '.join(sent)}" if sent else "flatten: nothing to send now") + held

    def _persist_trading_state(self, state: HaltState) -> None:
        self.store.set_state(STATE_KEY, state.to_json(), self.clock.now())

    def _on_risk_transition(self, t: RiskTransition) -> None:
        """Every change of trading state, pause or limit: a risk event, an audit entry, an alert."""
        now = self.clock.now()
        payload = t.payload or {}
        self.store.record_risk_event(now, "risk", t.code, t.message, {"subject": t.subject, **payload})
        self._audit(
            t.actor.user,
            t.actor.source,
            "risk",
            {"code": t.code, "message": t.message, "subject": t.subject},
        )
        alert = RiskAlert(now, t.code, t.level, t.message, t.subject)
        self.bus.publish(alert)
        self.alerts.dispatch(alert)
        if t.code == "LIMIT_CHANGED":
            self.bus.publish(LimitsEvent(self.risk.limit_values()))
        if self.risk.state.halted and t.level == "error" and t.actor.source is CommandSource.ENGINE:
            self._spawn(self.orders.cancel_all(), "breaker-cancel-all")
        self.bus.publish(RiskEvent(self._risk()))

    def _reset_kill(self, text: str, actor: Actor) -> CommandResult:
        if self.risk.state.state is TradingState.ACTIVE:
            return CommandResult(ok=True, message="trading is already active")
        refusal = self.risk.resume(text, actor)
        if refusal is not None:
            return self._refuse("reset_kill", refusal.code, refusal.message, "")
        # The breakers measure new losses from the moment the operator took responsibility:
        # without this, a breaker would trip again at once on the loss that tripped it.
        self.ledger.start_day()
        self.ledger.peak_equity = self.ledger.equity
        self._persist_ledger_day(self.feed.current_day or self.settings.replay.start_date)
        self.bus.publish(RiskEvent(self._risk()))
        return CommandResult(ok=True, message="trading resumed")

    def _answer(self, action: str, refusal: Refusal | None, subject: str) -> CommandResult:
        if refusal is not None:
            return self._refuse(action, refusal.code, refusal.message, subject)
        return CommandResult(ok=True, message=f"{action.replace('_', ' ')}: {subject} done")

    def _refuse(self, action: str, code: str, message: str, subject: str) -> CommandResult:
        self.bus.publish(RefusalEvent(self.clock.now(), action, code, message, subject))
        self._audit(
            "engine", CommandSource.ENGINE, "refused", {"action": action, "code": code, "message": message}
        )
        return CommandResult(ok=False, message=message, code=code)

    # ------------------------------------------------------------------ status and audit
    def _status(self) -> StatusEvent:
        day = self.feed.current_day
        feed = "ended" if self.feed.finished else ("paused" if not self._paced else "running")
        link = self._link
        ib = self.settings.ibkr
        live = self.broker.name == "ibkr" and ib.live
        return StatusEvent(
            ts=self.clock.now(),
            broker=self.broker.name,
            mode=("live" if live else "paper")
            + (" read-only" if self.broker.name == "ibkr" and ib.read_only else ""),
            feed="live" if self.broker.name == "ibkr" else feed,
            session_day=day.isoformat() if day else "",
            speed=self.settings.replay.seconds_per_day,
            link=link.state if link else "",
            server_version=link.server_version if link else 0,
            account=link.account if link else "",
            data_type=link.data_type if link else "",
            heartbeat=link.last_heartbeat if link else None,
            link_detail=link.detail if link else "",
            live_acknowledged=link.live_acknowledged if link else True,
            broker_equity=link.net_liquidation if link else 0.0,
            buying_power=link.buying_power if link else 0.0,
        )

    def _publish_status(self) -> None:
        self.bus.publish(self._status())

    def _notice(self, level: str, message: str) -> None:
        self.bus.publish(NoticeEvent(self.clock.now(), level, message))

    def _audit(self, actor: str, source: CommandSource, action: str, payload: dict[str, Any]) -> None:
        self.store.append_audit(self.clock.now(), actor, source.value, action, payload)

    def _on_order_event(self, event: OrderEvent) -> None:
        """Audit every order change; broker rejects in a row trip the reject breaker."""
        o = event.order
        if o.status is OrderStatus.REJECTED:
            self.risk.broker_rejected(o.symbol, o.reason, self.clock.now())
        elif o.status is OrderStatus.ACKNOWLEDGED:
            self.risk.broker_accepted()
        if o.execution_id:
            self._group_update(o)
        self._audit(
            "engine",
            CommandSource.ENGINE,
            "order",
            {
                "coid": o.client_order_id,
                "status": o.status.value,
                "symbol": o.symbol,
                "side": o.side.value,
                "qty": o.quantity,
                "filled": o.filled_quantity,
                "reason": o.reason,
            },
        )


class EngineStartError(Exception):
    """The engine cannot start as configured; the message says what to change."""


STARTUP_ERRORS: tuple[type[Exception], ...] = (
    BrokerError,
    ConfigError,
    DataError,
    EngineStartError,
    StoreError,
    ValueError,
    OSError,
)
"""What "cannot start as configured" looks like: the CLI prints one line and exits 2, never a traceback."""


def _recovery_reason(summary: ReconciliationSummary) -> str:
    parts = [
        f"{len(summary.fills_applied)} missed fill(s) applied" if summary.fills_applied else "",
        f"{len(summary.lost)} order(s) LOST" if summary.lost else "",
        f"{len(summary.external)} EXTERNAL order(s)" if summary.external else "",
        f"{len(summary.position_mismatches)} position mismatch(es)" if summary.position_mismatches else "",
        f"database problems: {'; '.join(summary.problems)}" if summary.problems else "",
    ]
    return "reconciliation found " + ", ".join(p for p in parts if p) + "; review and approve it"


def _fields_of(summary: ReconciliationSummary) -> dict[str, Any]:
    data = to_jsonable(summary)
    data.pop("type", None)
    return dict(data)


def _fields(command: Command) -> dict[str, Any]:
    data = to_jsonable(command)
    data.pop("type", None)
    return dict(data)


def _database_path(settings: Settings) -> Path:
    return Path(settings.store.database).expanduser() if settings.store.database else default_database_path()


def _load_market(settings: Settings) -> MarketData:
    symbols = [*settings.universe.symbols, settings.universe.benchmark]
    threshold = settings.data.jump_threshold
    if settings.data.source == "file":
        if not settings.data.path:
            raise EngineStartError('[data] source = "file" needs [data] path to a CSV or Parquet file')
        return load_user_file(Path(settings.data.path).expanduser(), jump_threshold=threshold)
    return load_shipped(symbols, jump_threshold=threshold)


def _opening_fills(raw: str | None) -> tuple[float, list[Fill]] | None:
    """The opening book as (cash, fills at average cost, commission-free) the ledger and lots fold first."""
    if not raw:
        return None
    data = json.loads(raw)
    ts = datetime.fromisoformat(data["ts"])
    fills = [
        Fill(
            exec_id=f"opening:{symbol}",
            client_order_id="opening",
            symbol=symbol,
            side=Side.BUY if quantity > 0 else Side.SELL,
            quantity=abs(float(quantity)),
            price=float(avg_cost),
            commission=0.0,
            ts=ts,
        )
        for symbol, quantity, avg_cost in data["positions"]
    ]
    return float(data["cash"]), fills


def _cost(fill: Fill) -> float:
    """Cash a fill moved (positive for a buy), in money (x the contract multiplier)."""
    from engine.model import contract_multiplier

    return fill.side.sign * fill.quantity * fill.price * contract_multiplier(fill.symbol)


def _instruments(settings: Settings) -> dict[str, Instrument]:
    """What each configured symbol is: the shipped description where there is one, else a stock
    in its configured sector."""
    from engine.data.shipped import INSTRUMENTS

    out: dict[str, Instrument] = {}
    for symbol in [*settings.universe.symbols, settings.universe.benchmark]:
        known = INSTRUMENTS.get(symbol)
        sector = settings.universe.sectors.get(symbol, "")
        out[symbol] = known if known is not None else Instrument(symbol, sector=sector)
    return out


def _no_market(settings: Settings) -> MarketData:
    """Placeholder until the broker's bars arrive (an IBKR engine loads them after connecting)."""
    return MarketData(bars={}, instruments=_instruments(settings))


def _session_start(day: date) -> datetime:
    from engine.data.calendar import is_session, next_session, session_open_close

    return session_open_close(day if is_session(day) else next_session(day))[0]


def halt_offline(
    settings: Settings, reason: str, user: str, *, database: Path | None = None, level: int = 1
) -> Path:
    """Engage the kill switch in the database of an engine that is not running.

    The next start comes up HALTED, exactly as if the switch had been pressed live (level 2:
    and flattens every position once the market has prices). Paused strategies stay paused.
    """
    path = database or _database_path(settings)
    store = Store.open(path)
    try:
        now = WallClock().now()
        before = HaltState.from_json(store.get_state(STATE_KEY))
        halt = HaltState(
            TradingState.HALTED, reason, now, f"{user} (cli)", max(level, before.kill_level), before.paused
        )
        store.set_state(STATE_KEY, halt.to_json(), now)
        store.record_risk_event(now, "halt", "HALTED", reason, {"by": halt.by, "offline": True})
        store.append_audit(now, user, CommandSource.CLI.value, "halt", {"reason": reason, "offline": True})
    finally:
        store.close()
    return path
