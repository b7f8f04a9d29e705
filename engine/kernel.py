"""The composition root: builds the engine's collaborators, wires them, starts and stops them.

Nothing here decides anything about trading. ``start`` assembles every part (each fully built
by its constructor), lists in one place what happens on an order change, a fill, a quote and a
session's start and end, then connects the broker, reconciles and starts the feed. The engine
runs on one asyncio loop (its own thread when embedded in the console, the main thread
headless); consoles reach it through ``EngineSession`` (engine/protocol.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, get_args

from engine.actor import ENGINE, Actor
from engine.brokers.base import Broker, BrokerLink, BrokerPosition
from engine.bus import EventBus, Subscription
from engine.clock import SimulatedClock, WallClock
from engine.config import Settings
from engine.data.calendar import NEW_YORK
from engine.data.feed import MarketFeed
from engine.data.loader import MarketData
from engine.data.replay import ReplayFeed
from engine.desk import PortfolioDesk
from engine.desk.host import DeskPorts
from engine.execution.costs import CommissionSchedule
from engine.execution.order_manager import OrderManager
from engine.model import CommandSource, Quote
from engine.model.events import (
    Command,
    CommandResult,
    Event,
    FillEvent,
    MarketEvent,
    OrderEvent,
    ReconciliationSummary,
    SnapshotEvent,
)
from engine.model.rebalance import RebalancePlan
from engine.model.risk import RiskReport
from engine.portfolio.ledger import Ledger
from engine.portfolio.lots import LotBook
from engine.risk.alerts import AlertDispatcher, notifiers_from_settings
from engine.risk.controller import RiskController
from engine.runtime.accounting import (
    OPENING_KEY,
    Accounting,
    FillBooked,
    OrderAttribution,
    fold_ledger,
    opening_book_payload,
)
from engine.runtime.cards import CardPipeline
from engine.runtime.commands import CommandRouter
from engine.runtime.dispatch import Dispatcher
from engine.runtime.groups import GroupRunner
from engine.runtime.health import StoreHealth
from engine.runtime.kill import KillSwitch
from engine.runtime.market_view import MarketView
from engine.runtime.outbox import Outbox
from engine.runtime.portfolio_report import PortfolioReporter
from engine.runtime.reconciler import Reconciler
from engine.runtime.risk_monitor import RiskMonitor
from engine.runtime.startup import (
    EngineStartError,
    check_identity,
    instruments,
    load_market,
    session_start,
)
from engine.runtime.status import StatusBoard
from engine.runtime.trading import Trading
from engine.store.lock import DatabaseLock
from engine.store.paths import database_path
from engine.store.repository import Store

REPLAY_KEY = "replay_last_day"
"""The last session the replay started; a restart continues with the session after it."""
PORTFOLIO_EVERY_STEPS = 4
"""Publish portfolio and risk every few quote steps: fresh enough for the eye, cheap for the bus."""
CARDS_EVERY_STEPS = 30
"""Re-size cards at current prices every half hour of market time (about 3 s of a 45 s day)."""
WIRE_EVENTS: tuple[type, ...] = get_args(Event)
"""What crosses the socket; in-process events (``FillBooked``) stay inside."""


@dataclass(slots=True)
class Parts:
    """Every collaborator of a started engine, each fully built."""

    store: Store
    clock: SimulatedClock
    data: MarketData
    feed: MarketFeed
    broker: Broker
    outbox: Outbox
    alerts: AlertDispatcher
    ledger: Ledger
    orders: OrderManager
    market: MarketView
    risk: RiskMonitor
    desk: PortfolioDesk
    accounting: Accounting
    dispatcher: Dispatcher
    groups: GroupRunner
    cards: CardPipeline
    trading: Trading
    kill: KillSwitch
    reconciler: Reconciler
    status: StatusBoard
    commands: CommandRouter
    health: StoreHealth


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
        self.database = database or database_path(settings)
        self.bus = EventBus()
        self._paced = paced
        self._market_arg = market
        self._parts: Parts | None = None
        self._lock = DatabaseLock(self.database)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._steps = 0
        self._day_ended = False
        # A remote broker talks before the parts exist (connect comes first): these forward.
        self._link: BrokerLink | None = None
        self._early_notices: list[tuple[str, str]] = []

    # ------------------------------------------------------------------ the parts, by name
    @property
    def parts(self) -> Parts:
        if self._parts is None:
            raise RuntimeError("the engine is not started: call and await start() first")
        return self._parts

    store = property(lambda self: self.parts.store)
    clock = property(lambda self: self.parts.clock)
    market = property(lambda self: self.parts.data)
    feed = property(lambda self: self.parts.feed)
    broker = property(lambda self: self.parts.broker)
    ledger = property(lambda self: self.parts.ledger)
    orders = property(lambda self: self.parts.orders)
    desk = property(lambda self: self.parts.desk)
    alerts = property(lambda self: self.parts.alerts)

    @property
    def risk(self) -> RiskController:
        return self.parts.risk.controller

    @property
    def lots(self) -> LotBook:
        """Tax lots (FIFO) of every stored fill, updated on each fill and marked on each quote."""
        return self.parts.desk.book

    @property
    def cards(self) -> list[Any]:
        return self.parts.cards.cards

    @property
    def risk_report(self) -> RiskReport | None:
        return self.parts.risk.report

    @property
    def reconciliation(self) -> ReconciliationSummary | None:
        return self.parts.reconciler.summary

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        s = self.settings
        self._lock.acquire()  # one engine per database, whatever the broker
        try:
            store = Store.open(self.database)
        except BaseException:
            self._lock.release()
            raise
        try:
            if s.broker.kind == "ibkr":
                clock, data, feed, broker = await self._connect_ibkr(store)
            else:
                clock, data, feed, broker = self._paper_market(store)
            self._parts = parts = self._assemble(store, clock, data, feed, broker)
            check_identity(store, broker, self.database, clock.now())
        except BaseException:
            store.close()
            self._lock.release()
            raise
        self._wire(parts)
        for level, message in self._early_notices:
            parts.outbox.notice(level, message)
        await self._open(parts)

    def _paper_market(self, store: Store) -> tuple[SimulatedClock, MarketData, MarketFeed, Broker]:
        from engine.brokers.paper import PaperBroker, journal_path_for

        s = self.settings
        data = self._market_arg or load_market(s)
        last_day = store.get_state(REPLAY_KEY)
        clock = SimulatedClock(session_start(s.replay.start_date))
        feed = ReplayFeed(
            data,
            clock,
            start=s.replay.start_date,
            end=s.replay.end_date,
            seed=s.replay.seed,
            steps_per_day=s.replay.steps_per_day,
            spread_bps=s.replay.spread_bps,
            resume_after=date.fromisoformat(last_day) if last_day else None,
        )
        b = s.broker
        broker = PaperBroker(
            clock,
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
        return clock, data, feed, broker

    async def _connect_ibkr(self, store: Store) -> tuple[SimulatedClock, MarketData, MarketFeed, Broker]:
        """Connect to TWS / IB Gateway, then take the market (clock, quotes, bars) from it.

        ib_insync is imported here, not at the top: a paper engine never pays for it. A live-gate
        contradiction stops the start; TWS not running does not (the console starts, says so,
        and the adapter keeps trying).
        """
        from engine.brokers.ibkr.broker import IbkrBroker
        from engine.brokers.ibkr.feed import IbkrFeed
        from engine.brokers.ibkr.gate import LiveGateError
        from engine.brokers.ibkr.history import default_cache_dir
        from engine.brokers.ibkr.history import load_market as load_ibkr_market

        s = self.settings
        broker = IbkrBroker(
            s.ibkr,
            order_id_floor=store.highest_numeric_broker_order_id,
            on_link=self._on_link,
            on_notice=self._notice,
            on_reconnected=self._after_reconnect,
            seed=s.replay.seed,
        )
        try:
            await broker.connect()
        except LiveGateError as exc:
            await broker.disconnect()
            raise EngineStartError(str(exc)) from None
        server = broker.server_now()  # market time is IBKR's (the simulator's replay time, too)
        clock = SimulatedClock(server if server is not None else WallClock().now())
        data = self._market_arg
        if data is None:
            folder = Path(s.ibkr.history_cache).expanduser() if s.ibkr.history_cache else default_cache_dir()
            data, problems = await load_ibkr_market(
                broker,
                [*s.universe.symbols, s.universe.benchmark],
                duration=s.ibkr.history,
                folder=folder,
                today=clock.now().astimezone(NEW_YORK).date(),
                instruments=instruments(s),
                jump_threshold=s.data.jump_threshold,
            )
            for line in problems:
                self._notice("warning", line)
        if broker.connected and store.get_state(OPENING_KEY) is None and not store.load_fills():
            await self._adopt_opening_book(store, broker, clock)
        return clock, data, IbkrFeed(broker, data, clock), broker

    async def _adopt_opening_book(self, store: Store, broker: Broker, clock: SimulatedClock) -> None:
        """A fresh database on a broker account: start from the account's cash and positions."""
        cash = await broker.cash()
        positions = [p for p in await broker.positions() if p.quantity != 0.0]
        payload = opening_book_payload(
            clock.now(), cash, [(p.symbol, p.quantity, p.avg_cost) for p in positions]
        )
        store.set_state(OPENING_KEY, json.dumps(payload), clock.now())
        store.append_audit(clock.now(), "engine", CommandSource.ENGINE.value, "opening_book", payload)
        held = ", ".join(f"{p.quantity:g} {p.symbol}" for p in positions) or "no positions"
        self._notice("info", f"{broker.name}: started from the account as it is: cash {cash:,.2f}, {held}")

    def _assemble(
        self, store: Store, clock: SimulatedClock, data: MarketData, feed: MarketFeed, broker: Broker
    ) -> Parts:
        """Build every collaborator, each from what it needs; the order is the dependency order."""
        s, bus = self.settings, self.bus
        outbox = Outbox(bus, clock, store)
        health = StoreHealth(self.database, outbox.notice)
        alerts = AlertDispatcher(
            notifiers_from_settings(s.alerts),
            min_level=s.alerts.min_level,
            timeout_s=s.alerts.timeout_s,
            on_failure=lambda line: outbox.notice("error", line),
        )
        ledger, opening = fold_ledger(store, s.broker.starting_cash)
        orders = OrderManager(store, broker, clock, bus.publish, _no_fill_callback)
        market = MarketView(s, feed=feed, market=data, broker=broker, ledger=ledger, clock=clock)
        risk = RiskMonitor(
            s,
            store=store,
            clock=clock,
            bus=bus,
            outbox=outbox,
            alerts=alerts,
            ledger=ledger,
            market=market,
            orders=orders,
            health=health,
        )
        b = s.broker
        commissions = CommissionSchedule(
            b.commission_per_share,
            b.commission_min,
            b.commission_max_pct,
            per_contract=b.commission_per_contract,
        )
        trading: Trading | None = None

        async def execute_plan(plan: RebalancePlan, actor: Actor, strategy: str) -> CommandResult:
            assert trading is not None  # built below, before anything can run
            return await trading.execute_plan(plan, actor, strategy=strategy)

        desk = PortfolioDesk(
            DeskPorts(
                settings=s,
                clock=clock,
                store=store,
                bus=bus,
                outbox=outbox,
                market=market,
                data=data,
                ledger=ledger,
                orders=orders,
                alerts=alerts,
                trading_state=lambda: risk.controller.state.state,
                execute_plan=execute_plan,
                opening_fills=tuple(opening),
            ),
            commissions,
        )
        attribution = OrderAttribution(orders)
        accounting = Accounting(
            ledger=ledger,
            store=store,
            broker=broker,
            orders=orders,
            attribution=attribution,
            bus=bus,
            clock=clock,
            outbox=outbox,
            on_lots=desk.on_fill,
        )
        dispatcher = Dispatcher(
            s,
            orders=orders,
            risk=risk,
            market=market,
            data=data,
            ledger=ledger,
            store=store,
            clock=clock,
            outbox=outbox,
            attribution=attribution,
            publish=bus.publish,
        )
        groups = GroupRunner(
            dispatcher=dispatcher, risk=risk, store=store, bus=bus, clock=clock, outbox=outbox
        )
        cards = CardPipeline(
            s,
            bus=bus,
            clock=clock,
            outbox=outbox,
            store=store,
            market=market,
            ledger=ledger,
            orders=orders,
            risk=risk,
            accounting=accounting,
            commissions=commissions,
            can_trade_options=broker.trades_options,
            extra_cards=desk.harvest_cards,
        )
        trading = Trading(
            dispatcher=dispatcher,
            groups=groups,
            cards=cards,
            risk=risk,
            market=market,
            data=data,
            broker=broker,
            store=store,
            clock=clock,
            outbox=outbox,
            attribution=attribution,
            ledger=ledger,
            commissions=commissions,
            health=health,
        )
        kill = KillSwitch(
            dispatcher=dispatcher,
            broker=broker,
            risk=risk,
            ledger=ledger,
            store=store,
            clock=clock,
            outbox=outbox,
            health=health,
        )
        reconciler = Reconciler(
            s,
            store=store,
            broker=broker,
            orders=orders,
            ledger=ledger,
            accounting=accounting,
            risk=risk,
            bus=bus,
            clock=clock,
            outbox=outbox,
        )
        status = StatusBoard(s, broker=broker, feed=feed, clock=clock, bus=bus, paced=self._paced)
        status.link = self._link
        reporter = PortfolioReporter(
            s, store=store, market=market, data=data, ledger=ledger, bus=bus, outbox=outbox
        )
        commands = CommandRouter(
            s,
            trading=trading,
            kill=kill,
            orders=orders,
            risk=risk,
            reconciler=reconciler,
            desk=desk,
            reporter=reporter,
            accounting=accounting,
            market=market,
            broker=broker,
            status=status,
            outbox=outbox,
            health=health,
            clock=clock,
        )
        return Parts(
            store=store,
            clock=clock,
            data=data,
            feed=feed,
            broker=broker,
            outbox=outbox,
            alerts=alerts,
            ledger=ledger,
            orders=orders,
            market=market,
            risk=risk,
            desk=desk,
            accounting=accounting,
            dispatcher=dispatcher,
            groups=groups,
            cards=cards,
            trading=trading,
            kill=kill,
            reconciler=reconciler,
            status=status,
            commands=commands,
            health=health,
        )

    def _wire(self, p: Parts) -> None:
        """What happens when: every reaction to an order change and a fill, in the order it runs.

        All of these persist or audit, so all are critical: an error propagates to the writer
        and rolls its batch back (a fill is never booked without its audit entry, nor the reverse).
        """
        on = self.bus.on
        on(OrderEvent, p.dispatcher.on_child_order, critical=True)  # an algo's child moved
        on(OrderEvent, p.risk.on_order, critical=True)  # reject breaker
        on(OrderEvent, p.groups.on_order, critical=True)  # the card's group execution
        on(OrderEvent, self._audit_order, critical=True)  # the audit chain
        on(FillEvent, lambda e: p.accounting.on_fill(e.fill), critical=True)  # ledger, lots, audit
        on(FillBooked, p.risk.on_fill_booked, critical=True)  # loss streaks, gauges, risk report
        on(FillBooked, p.kill.on_fill_booked, critical=True)  # a flatten waiting on a buy-back
        on(FillBooked, p.cards.on_fill_booked, critical=True)  # cards re-sized on the new book

    async def _open(self, p: Parts) -> None:
        """Restore, connect, reconcile, then let the market run."""
        s = self.settings
        p.accounting.restore_day()
        p.desk.fold_stored_fills()
        # Volatility is market data, not journaled: a restart gives it again before the first quote.
        p.market.set_option_vols(p.market.vol_day())
        p.dispatcher.expire_stored_parents()
        if s.broker.kind != "ibkr":
            await p.broker.connect()
        if not p.broker.remembers:
            # A paper account without a journal yet (a database from before journals, or a new one):
            # it adopts the engine's book, and orders it never saw cannot be working there.
            p.broker.adopt_book(
                p.ledger.cash,
                [
                    BrokerPosition(q.symbol, q.quantity, q.avg_cost)
                    for q in p.ledger.positions(include_flat=False)
                ],
            )
            for order in p.orders.expire_all_open("engine restarted: the paper account had no record of it"):
                what = f"{order.client_order_id} {order.side} {order.quantity:g} {order.symbol}"
                p.outbox.notice("warning", f"{what} expired at restart")
        p.outbox.audit(
            "engine",
            CommandSource.ENGINE,
            "engine_start",
            {"database": str(self.database), "trading_state": p.risk.controller.state.state.value},
        )
        await p.reconciler.reconcile()
        for issue in p.data.report.issues:
            p.outbox.notice("warning" if issue.severity == "warning" else "error", str(issue))
        p.cards.refresh()
        if not self._paced:  # a stepped engine (tests, research) starts with its cards in
            await p.outbox.settle()
        p.kill.on_session_open()
        p.risk.publish_limits()
        if p.feed.finished:
            p.outbox.notice("info", "the replay has reached the end of the data; prices are frozen")
        elif self._paced:
            self._tasks.append(asyncio.create_task(self._run_feed(), name="replay-feed"))
        if self._paced:
            self._tasks.append(asyncio.create_task(p.risk.run_timer(), name="risk-report"))
        p.status.publish()

    async def stop(self) -> None:
        p = self.parts
        p.feed.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await p.outbox.settle()
        p.accounting.persist_book()
        p.outbox.audit("engine", CommandSource.ENGINE, "engine_stop", {})
        await p.broker.disconnect()
        await p.alerts.drain()
        p.store.close()
        self._lock.release()
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    # ------------------------------------------------------------------ the broker's voice
    def _notice(self, level: str, message: str) -> None:
        if self._parts is None:
            self._early_notices.append((level, message))
        else:
            self._parts.outbox.notice(level, message)

    def _on_link(self, link: BrokerLink) -> None:
        self._link = link
        if self._parts is not None:
            self._parts.status.on_link(link)

    async def _after_reconnect(self) -> None:
        p = self._parts
        if p is None:
            return
        try:  # an account first seen now (TWS was not running at start) must be this database's
            check_identity(p.store, p.broker, self.database, p.clock.now())
        except EngineStartError as exc:
            p.risk.controller.halt(str(exc), ENGINE, p.clock.now(), code="WRONG_ACCOUNT")
            p.outbox.notice("error", str(exc))
            return
        await p.reconciler.after_reconnect()

    async def reconnect_broker(self) -> None:
        """Connect the broker again; the cancels a kill switch still owes go out before anything else."""
        await self.parts.broker.connect()
        await self.parts.reconciler.reconcile()  # owed cancels go out first of all, inside

    def _audit_order(self, event: OrderEvent) -> None:
        o = event.order
        self.parts.outbox.audit(
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

    # ------------------------------------------------------------------ the market's clock
    async def _run_feed(self) -> None:
        p = self.parts
        try:
            await p.feed.run(
                self._on_quotes,
                seconds_per_day=self.settings.replay.seconds_per_day,
                on_day_start=self._on_day_start,
                on_day_end=self._on_day_end,
            )
        except Exception:
            import logging

            logging.getLogger(__name__).exception("replay feed failed")
            p.outbox.notice("error", "the replay feed stopped on an error; see the log")
            return
        p.outbox.notice("info", "the replay reached the end of the data")
        p.status.publish()

    async def step_day(self) -> None:
        """Play the rest of the session in progress, or the next whole one (tests and benchmarks)."""
        self._day_ended = False
        while not self._day_ended and not self.parts.feed.finished:
            await self.step(1)

    async def step(self, steps: int) -> None:
        """Play ``steps`` quote steps (tests and benchmarks), one at a time as the paced feed does:
        after each step the work it started (algo slices, rollbacks, reports) runs to the end, so
        a stepped engine behaves like a paced one, only faster."""
        p = self.parts
        for _ in range(steps):
            played = p.feed.play_steps(
                self._on_quotes, 1, on_day_start=self._on_day_start, on_day_end=self._on_day_end
            )
            await p.outbox.settle()
            if not played:
                break
        await p.outbox.settle()

    async def settle(self) -> None:
        """Wait for the work already started (tests: a round trip before checking what did not happen)."""
        await self.parts.outbox.settle()

    def _on_day_start(self, day: date) -> None:
        p = self.parts
        guard = p.health.guard
        # A restart continues after the session in progress, never replays it: market time, and
        # the prices the operator already traded at, only move forward.
        with guard(f"recording the start of {day}"):
            p.store.set_state(REPLAY_KEY, day.isoformat(), p.clock.now())
        p.market.set_option_vols(day)
        p.ledger.start_day()
        with guard(f"starting the portfolio day {day}"):
            p.desk.on_day_start(day)
        p.kill.on_session_open()
        with guard(f"recording the equity marks of {day}"):
            p.accounting.persist_day(day)
        with guard("saving the cards"):
            p.cards.refresh()
        p.status.publish()

    def _on_day_end(self, day: date) -> None:
        p = self.parts
        self._day_ended = True
        with p.health.guard(f"closing the session {day} at the broker"):
            p.broker.on_session_close(day)
        p.outbox.spawn(p.dispatcher.algos.on_session_close(p.clock.now()), "algo-session-close")
        with p.health.guard("recording the positions"):
            p.accounting.persist_book()
        p.risk.publish_portfolio()

    def _on_quotes(self, quotes: tuple[Quote, ...]) -> None:
        """One quote step. A write that fails in it (a fill on a full disk) makes the engine
        degraded; it never stops the feed, the marks or the kill switch."""
        p = self.parts
        guard = p.health.guard
        for q in quotes:
            p.ledger.mark(q.symbol, q.last)
            with guard(f"a fill on the {q.symbol} quote"):
                p.broker.on_quote(q)
        # Nothing quotes options in the replay: they are marked at the broker's model price,
        # which moved with their underlyings' quotes just now.
        for sym, mark in p.broker.option_marks().items():
            p.ledger.mark(sym, mark)
        self.bus.publish(MarketEvent(ts=p.clock.now(), quotes=quotes))
        p.outbox.spawn(self._algo_quotes(quotes), "algo-quotes")  # after the broker saw them
        p.desk.on_quotes(quotes, p.clock.now())  # lot marks; the autopilot when it may be due
        p.kill.on_quotes()
        p.groups.check_deadlines()
        self._steps += 1
        if self._steps % PORTFOLIO_EVERY_STEPS == 0:
            p.risk.publish_portfolio()
        if self._steps % CARDS_EVERY_STEPS == 0:
            with guard("saving the cards"):
                p.cards.refresh()

    async def _algo_quotes(self, quotes: tuple[Quote, ...]) -> None:
        with self.parts.health.guard("an algo slice"):
            await self.parts.dispatcher.algo_quotes(quotes)

    # ------------------------------------------------------------------ the doors
    async def handle(self, command: Command, actor: Actor) -> CommandResult:
        """Serve one command. Refusals are results (ok=False) and RefusalEvents, never exceptions."""
        return await self.parts.commands.handle(command, actor)

    def snapshot(self) -> SnapshotEvent:
        p = self.parts
        account = p.ledger.account()
        recent = p.store.load_orders(limit=200)
        live = {o.client_order_id: o for o in p.orders.open_orders()}
        from dataclasses import replace

        return SnapshotEvent(
            status=p.status.event(),
            positions=tuple(p.ledger.positions()),
            account=account,
            orders=tuple(replace(live.get(o.client_order_id, o)) for o in recent),
            cards=tuple(p.cards.cards),
            risk=p.risk.risk_state(account),
            quotes=tuple(p.feed.latest_quotes().values()),
            risk_report=p.risk.report,
            limits=p.risk.controller.limit_values(),
            reconciliation=p.reconciler.summary,
            executions=p.groups.events(),
        )

    def subscribe(self) -> Subscription:
        """The events a console sees (what crosses the socket), queued for it."""
        return self.bus.subscribe(*WIRE_EVENTS)

    async def refresh_risk_report(self) -> RiskReport | None:
        return await self.parts.risk.refresh_report()

    async def rebalance_to(
        self, weights: Mapping[str, float], actor: Actor, *, strategy: str, min_value: float = 0.0
    ) -> CommandResult:
        return await self.parts.trading.rebalance_to(weights, actor, strategy=strategy, min_value=min_value)

    async def execute_plan(self, plan: RebalancePlan, actor: Actor, *, strategy: str) -> CommandResult:
        return await self.parts.trading.execute_plan(plan, actor, strategy=strategy)


def _no_fill_callback(_fill: Any) -> None:
    """The order manager's direct fill callback is unused: accounting hears ``FillEvent`` on the bus."""
