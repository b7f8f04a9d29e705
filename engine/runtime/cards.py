"""The live card pipeline: a session's scan (once, on a worker), then sizing, checks and ranking
at current prices, as often as prices move. ``onetap cards`` runs the same steps on history
(``engine.strategies.pipeline``: the scan and the book are made in one place for both)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from datetime import date

import pandas as pd

from engine.bus import EventBus
from engine.clock import Clock
from engine.config import Settings
from engine.execution.costs import CommissionSchedule
from engine.execution.order_manager import OrderManager
from engine.execution.plan import plan_card
from engine.model import StrategyCard
from engine.model.events import CardsEvent
from engine.portfolio.ledger import Ledger
from engine.rl.live import live_templates
from engine.runtime.accounting import Accounting, FillBooked
from engine.runtime.market_view import MarketView
from engine.runtime.outbox import Outbox
from engine.runtime.risk_monitor import RiskMonitor
from engine.store.repository import Store
from engine.strategies.generator import Context, propose
from engine.strategies.pipeline import card_book, scan_histories
from engine.strategies.policy import generator_policy
from engine.strategies.scan import Scan


class ScanAbandoned(Exception):
    """The engine is stopping: the scan on the worker thread gives up at its next template."""


log = logging.getLogger(__name__)


class CardPipeline:
    def __init__(
        self,
        settings: Settings,
        *,
        bus: EventBus,
        clock: Clock,
        outbox: Outbox,
        store: Store,
        market: MarketView,
        ledger: Ledger,
        orders: OrderManager,
        risk: RiskMonitor,
        accounting: Accounting,
        commissions: CommissionSchedule,
        can_trade_options: bool,
        extra_cards: Callable[[date], list[StrategyCard]],
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._clock = clock
        self._outbox = outbox
        self._store = store
        self._market = market
        self._ledger = ledger
        self._orders = orders
        self._risk = risk
        self._accounting = accounting
        self._commissions = commissions
        self._can_trade_options = can_trade_options
        self._extra_cards = extra_cards
        """More cards for the day beside the generator's (the tax-loss harvest proposals)."""
        self.cards: list[StrategyCard] = []
        self._scan: tuple[date, Scan] | None = None
        self._scanning: date | None = None
        self._histories: dict[str, pd.DataFrame] = {}
        self._logged_rejections: set[tuple[date, str, str]] = set()
        self._policy = generator_policy(settings)
        self._live_templates = live_templates(settings)
        """Templates from a layer above the strategies (the ``rl`` one; its model loads at the scan)."""
        self._stopping = threading.Event()
        self._scan_result: asyncio.Future[Scan] | None = None

    def stop(self) -> None:
        """Abandon a running scan: the engine's stop does not wait for it (a scan takes many
        seconds, and a thread cannot be cancelled). Its thread is a daemon that gives up at its
        next template; the scan only reads histories, so nothing is left half-written."""
        self._stopping.set()
        if self._scan_result is not None and not self._scan_result.done():
            self._scan_result.set_exception(ScanAbandoned())

    def find(self, card_id: str) -> StrategyCard | None:
        return next((c for c in self.cards if c.card_id == card_id), None)

    def refresh(self) -> None:
        """Re-size, re-validate and re-rank the session's candidates at current prices.

        The scan behind them runs once a session on a worker thread; until it is in, the previous
        session's cards are withdrawn rather than offered at stale sizes.
        """
        day = self._market.session_day()
        if day is None:
            return
        if self._scan is None or self._scan[0] != day:
            if self._scanning != day:
                self._scanning = day
                self._outbox.spawn(self._scan_session(day), "card-scan")
            if self.cards:
                self.cards = []
                self._bus.publish(CardsEvent(asof=self._clock.now(), cards=()))
            return
        proposal = propose(self._scan[1], self.context(day), self._plan)
        self.cards = [*proposal.cards, *self._extra_cards(day)]
        for key, why in proposal.reasons:
            if (day, key, why.code) not in self._logged_rejections:
                self._logged_rejections.add((day, key, why.code))
                log.info("card %s not shown: %s (%s)", key, why.code, why.message)
        self._store.save_cards(self.cards)
        rejected = tuple(sorted(proposal.rejected.items()))
        self._bus.publish(CardsEvent(asof=self._clock.now(), cards=tuple(self.cards), rejected=rejected))

    def on_fill_booked(self, _booked: FillBooked) -> None:
        self.refresh()

    async def _scan_session(self, day: date) -> None:
        histories = {
            sym: self._market.feed.history(sym, before=day) for sym in self._settings.universe.symbols
        }
        loop = asyncio.get_running_loop()
        work = functools.partial(
            scan_histories, self._settings, histories, self._progress_reporter(loop), self._live_templates
        )
        self._scan_result = result = loop.create_future()
        threading.Thread(target=_run_scan, args=(work, result, loop), name="card-scan", daemon=True).start()
        try:
            found = await result
        except ScanAbandoned:
            return
        except Exception as exc:  # a template failing must not take the engine down
            log.exception("card scan failed")
            self._outbox.notice("error", f"strategy card scan for {day} failed: {exc}")
            return
        finally:
            self._scanning = None
        for name, why in found.held_back.items():  # the others' cards are shown; this one says why not
            log.warning("template %s held back for %s: %s", name, day, why)
            self._outbox.notice("error", f"template {name} held back for {day}: {why}")
        self._histories = histories
        self._scan = (day, found)
        self.refresh()

    def _progress_reporter(self, loop: asyncio.AbstractEventLoop) -> Callable[[int, int, str], None]:
        """Called on the worker thread: publish how far the scan is (on the engine's loop), or
        give up if the engine is stopping."""

        def progress(done: int, total: int, _template: str) -> None:
            if self._stopping.is_set():
                raise ScanAbandoned
            event = CardsEvent(asof=self._clock.now(), cards=(), scanned=done, to_scan=total)
            loop.call_soon_threadsafe(self._bus.publish, event)

        return progress

    def _plan(self, card: StrategyCard) -> StrategyCard:
        return plan_card(card, self._market.latest_quotes(), self._histories, self._commissions)

    def context(self, day: date) -> Context:
        account = self._ledger.account()
        prices = self._market.prices()
        book = card_book(
            self._settings,
            self._histories,
            equity=account.equity,
            cash=account.cash - self._orders.working_buy_value(prices),
            positions={p.symbol: p.quantity for p in self._ledger.positions(include_flat=False)},
            prices=prices,
            working_symbols=frozenset(self._orders.working_by_symbol()),
            can_trade_options=self._can_trade_options,
        )
        return Context(
            asof=self._clock.now(),
            session_day=day,
            book=book,
            policy=self._policy,
            market_open=None,
            paused=frozenset(self._risk.controller.state.paused),
            template_positions=self._accounting.positions_by_owner(),
        )


def _run_scan(
    work: Callable[[], Scan], result: asyncio.Future[Scan], loop: asyncio.AbstractEventLoop
) -> None:
    """The scan on its own daemon thread (not the loop's executor, whose threads the interpreter
    waits for at exit), its outcome handed to the engine's loop unless that is gone."""

    def settle(value: Scan | None, error: BaseException | None) -> None:
        if result.done():
            return  # abandoned by ``stop``
        if error is not None:
            result.set_exception(error)
        else:
            assert value is not None
            result.set_result(value)

    try:
        found: Scan | None = work()
        error: BaseException | None = None
    except Exception as exc:
        found, error = None, exc
    with contextlib.suppress(RuntimeError):  # the loop closed: the engine stopped meanwhile
        loop.call_soon_threadsafe(settle, found, error)
