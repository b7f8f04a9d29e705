"""``SessionDriver``: what happens on every quote step and at each session's start and end.

The feed calls it (paced by a timer, or stepped by tests and research); it marks the book,
lets the broker's simulated market match, and ticks the parts that run on market time (algos,
the autopilot, flatten retries, group deadlines, the cards). A failed write in any of it makes
the engine degraded (``StoreHealth``); it never stops the feed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from engine.brokers.base import Broker
from engine.bus import EventBus
from engine.clock import Clock
from engine.config import Settings
from engine.data.feed import MarketFeed
from engine.desk import PortfolioDesk
from engine.model import Quote
from engine.model.events import MarketEvent
from engine.model.quote_batch import QuoteBatch, as_batch
from engine.portfolio.ledger import Ledger
from engine.runtime.accounting import Accounting
from engine.runtime.cards import CardPipeline
from engine.runtime.day_roll import DAY_ROLL_KEY, DayRoller
from engine.runtime.dispatch import Dispatcher
from engine.runtime.groups import GroupRunner
from engine.runtime.health import StoreHealth
from engine.runtime.kill import KillSwitch
from engine.runtime.market_view import MarketView
from engine.runtime.markets import REPLAY_KEY
from engine.runtime.outbox import Outbox
from engine.runtime.recorder import SessionRecorder
from engine.runtime.risk_monitor import RiskMonitor
from engine.runtime.status import StatusBoard
from engine.store.repository import Store

log = logging.getLogger(__name__)

PORTFOLIO_EVERY_STEPS = 4
"""Publish portfolio and risk every few quote steps: fresh enough for the eye, cheap for the bus."""


class SessionDriver:
    def __init__(
        self,
        settings: Settings,
        *,
        feed: MarketFeed,
        broker: Broker,
        store: Store,
        clock: Clock,
        bus: EventBus,
        outbox: Outbox,
        health: StoreHealth,
        ledger: Ledger,
        market: MarketView,
        accounting: Accounting,
        desk: PortfolioDesk,
        dispatcher: Dispatcher,
        groups: GroupRunner,
        kill: KillSwitch,
        risk: RiskMonitor,
        cards: CardPipeline,
        status: StatusBoard,
        recorder: SessionRecorder | None = None,
    ) -> None:
        self._settings = settings
        self._feed = feed
        self._broker = broker
        self._store = store
        self._clock = clock
        self._bus = bus
        self._outbox = outbox
        self._health = health
        self._ledger = ledger
        self._market = market
        self._accounting = accounting
        self._desk = desk
        self._dispatcher = dispatcher
        self._groups = groups
        self._kill = kill
        self._risk = risk
        self._cards = cards
        self._status = status
        self._recorder = recorder
        if recorder is not None:
            market.depth_taps.append(recorder.depth)  # depth is an input too: replays read it
        self._steps = 0
        self._day_ended = False
        self.per_quote = False
        """True: match every quote on its own, the way the engine did before steps were batched
        (the reference the batched path is tested against; never set in production)."""
        traded = {
            s: market.market.instruments[s]
            for s in settings.universe.symbols
            if s in market.market.instruments
        }
        last = store.get_state(DAY_ROLL_KEY)
        self.day_roll = DayRoller.for_universe(
            settings.risk.day_boundary,
            traded,
            self._roll_loss_day,
            date.fromisoformat(last) if last else None,
            remember=self._remember_loss_day,
        )
        """A round-the-clock universe's daily-loss day rolls at its stated boundary, not at the
        feed's session starts (``engine.runtime.day_roll``)."""

    async def run(self) -> None:
        """The paced feed: one session every ``[replay] seconds_per_day``, until the data ends."""
        try:
            await self._feed.run(
                self.on_quotes,
                seconds_per_day=self._settings.replay.seconds_per_day,
                on_day_start=self.on_day_start,
                on_day_end=self.on_day_end,
            )
        except Exception:
            log.exception("replay feed failed")
            self._outbox.notice("error", "the replay feed stopped on an error; see the log")
            return
        self._outbox.notice("info", "the replay reached the end of the data")
        self._status.publish()

    async def step_day(self) -> None:
        """Play the rest of the session in progress, or the next whole one (tests and benchmarks)."""
        self._day_ended = False
        while not self._day_ended and not self._feed.finished:
            await self.step(1)

    async def step(self, steps: int) -> None:
        """Play ``steps`` quote steps one at a time, as the paced feed does: after each step the
        work it started (algo slices, rollbacks, reports) runs to the end, so a stepped engine
        behaves like a paced one, only faster."""
        for _ in range(steps):
            played = self._feed.play_steps(
                self.on_quotes, 1, on_day_start=self.on_day_start, on_day_end=self.on_day_end
            )
            await self._outbox.settle()
            if not played:
                break
        await self._outbox.settle()

    def on_day_start(self, day: date) -> None:
        if self._recorder is not None:
            self._recorder.day_start(day)
        guard = self._health.guard
        # A restart continues after the session in progress, never replays it: market time, and
        # the prices the operator already traded at, only move forward.
        with guard(f"recording the start of {day}"):
            self._store.set_state(REPLAY_KEY, day.isoformat(), self._clock.now())
        self._market.set_option_vols(day)
        if not self.day_roll.active:
            self._ledger.start_day()
        with guard(f"starting the portfolio day {day}"):
            self._desk.on_day_start(day)
        self._kill.on_session_open()
        with guard(f"recording the equity marks of {day}"):
            self._accounting.persist_day(day)
        with guard("saving the cards"):
            self._cards.refresh()
        self._status.publish()

    def _roll_loss_day(self, day: date) -> None:
        self._ledger.start_day()
        with self._health.guard(f"recording the equity marks of {day}"):
            self._accounting.persist_day(day)
        self._risk.publish_risk()

    def _remember_loss_day(self, day: date) -> None:
        with self._health.guard(f"recording the daily-loss day {day}"):
            self._store.set_state(DAY_ROLL_KEY, day.isoformat(), self._clock.now())

    def on_day_end(self, day: date) -> None:
        if self._recorder is not None:
            self._recorder.day_end(day)
        self._day_ended = True
        with self._health.guard(f"closing the session {day} at the broker"):
            self._broker.on_session_close(day)
        self._outbox.spawn(self._dispatcher.algos.on_session_close(self._clock.now()), "algo-session-close")
        with self._health.guard("recording the positions"):
            self._accounting.persist_book()
        self._risk.publish_portfolio()

    def on_quotes(self, quotes: Sequence[Quote]) -> None:
        """One quote step. A write that fails in it (a fill on a full disk) makes the engine
        degraded; it never stops the feed, the marks or the kill switch.

        The step is one batch (``QuoteBatch``: columns; quote objects only where one is needed):
        screened at once, the market handed to the broker at once, and only the quotes that can
        match something (``Broker.matching_symbols``) go through the broker's matching one by
        one. Those are still taken in arrival order, each after the marks of the quotes before
        it and its own, so a limit or a stop touched mid-step fills at its own quote's price and
        time and a fill's risk checks see the book as of that quote.
        """
        guard = self._health.guard
        batch = as_batch(quotes)
        if self._recorder is not None:
            self._recorder.quotes(batch)  # the input as it came, before any screening
        batch = self._screen(batch)
        self.day_roll.check(self._clock.now())  # before the step's marks: the day opens at the last ones
        if self.per_quote:
            self._match_each(batch)
        else:
            self._match_batch(batch)
        # Nothing quotes options in the replay: they are marked at the broker's model price,
        # which moved with their underlyings' quotes just now.
        for sym, mark in self._broker.option_marks().items():
            self._ledger.mark(sym, mark)
        now = self._clock.now()
        self._bus.publish(MarketEvent(ts=now, quotes=batch, flow=self._market.flow.update(batch)))
        self._outbox.spawn(self._algo_quotes(batch), "algo-quotes")  # after the broker saw them
        self._desk.on_quotes(batch, now)  # lot marks; the autopilot when it may be due
        self._kill.on_quotes()
        self._groups.check_deadlines()
        self._steps += 1
        if self._steps % PORTFOLIO_EVERY_STEPS == 0:
            self._risk.publish_portfolio()
        with guard("re-sizing the cards"):  # on market time or a material move (runtime/cards.py)
            self._cards.on_quotes(batch, now)

    def _match_batch(self, batch: QuoteBatch) -> None:
        mark = self._ledger.mark
        marked = self._ledger.marked_symbols()  # the symbols a mark changes anything for
        matching = self._broker.matching_symbols()  # live: a fill may end orders mid-step
        self._broker.set_market(batch)
        symbols, lasts = batch.symbols, batch.last
        if not matching:  # nothing can match: the marks alone, in order
            for i in batch.in_order(marked):
                mark(symbols[i], float(lasts[i]))
            return
        may_match = self._broker.may_match  # a touch beyond every resting limit: no quote made
        bids, asks = batch.bid.tolist(), batch.ask.tolist()
        for i, symbol in enumerate(symbols):
            if symbol in marked:
                mark(symbol, float(lasts[i]))
            if symbol in matching and may_match(symbol, bids[i], asks[i]):
                with self._health.guard(f"a fill on the {symbol} quote"):
                    self._broker.on_quote(batch[i])

    def _match_each(self, quotes: QuoteBatch) -> None:
        """The reference path: every quote marked and matched on its own (tests compare the two)."""
        for q in quotes:
            self._ledger.mark(q.symbol, q.last)
            with self._health.guard(f"a fill on the {q.symbol} quote"):
                self._broker.on_quote(q)

    def _screen(self, quotes: QuoteBatch) -> QuoteBatch:
        """Hold bad quotes out, and tell the operator once when a symbol goes bad or recovers."""
        before = set(self._market.quotes.held_out())
        good, flags = self._market.screen(quotes)
        after = self._market.quotes.held_out()
        for symbol in sorted(set(after) - before):
            self._outbox.notice("warning", f"quote held out: {after[symbol].describe()}")
        for symbol in sorted(before - set(after)):
            self._outbox.notice("info", f"{symbol}: good quotes again")
        if before != set(after):
            self._status.publish()
        if flags:
            log.debug("held out %d quote(s): %s", len(flags), "; ".join(f.describe() for f in flags[:5]))
        return good

    async def _algo_quotes(self, quotes: QuoteBatch) -> None:
        with self._health.guard("an algo slice"):
            await self._dispatcher.algo_quotes(quotes)
