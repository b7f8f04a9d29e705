"""The live card pipeline: a session's scan (once, on a worker), then sizing, checks and ranking
at current prices: at once after a fill, else off the loop every ``RESIZE_EVERY`` of market time or
on a material move (``[cards] material_move``). A re-size sizes at the prices of
``card_memo.SizingPrices`` (a symbol's price moves there only once it moved materially) and builds
again only the cards whose inputs moved (``card_memo.CardMemo``); when nothing moved it does
nothing at all. ``onetap cards`` runs the same steps on history
(``engine.strategies.pipeline``: the scan and the book are made in one place for both)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.bus import EventBus
from engine.clock import Clock
from engine.config import Settings
from engine.execution.costs import CommissionSchedule
from engine.execution.order_manager import OrderManager
from engine.execution.plan import plan_card
from engine.model import Quote, StrategyCard
from engine.model.events import CardsEvent
from engine.model.quote_batch import as_batch
from engine.portfolio.ledger import Ledger
from engine.rl.live import live_templates
from engine.runtime.accounting import Accounting, FillBooked
from engine.runtime.card_memo import CardMemo, SizingPrices
from engine.runtime.health import StoreHealth
from engine.runtime.market_view import MarketView
from engine.runtime.outbox import Outbox
from engine.runtime.risk_monitor import RiskMonitor
from engine.store.repository import Store
from engine.strategies.generator import Context, Proposal, propose
from engine.strategies.held_back import held_back, held_back_codes
from engine.strategies.pipeline import Liquidity, card_book, liquidity, scan_histories
from engine.strategies.policy import enabled_templates, generator_policy
from engine.strategies.scan import Candidate, Scan


class ScanAbandoned(Exception):
    """The engine is stopping: the scan on the worker thread gives up at its next template."""


log = logging.getLogger(__name__)
T = TypeVar("T")


RESIZE_EVERY = timedelta(minutes=30)
"""Cards are re-sized at current prices once per half hour of market time, whatever a quote step
is (a replay minute, or one IBKR ticker batch, many a second; it used to be every 30 steps, which
on IBKR was many times a second and 63% of a step's time at 500 symbols), ..."""

MATERIAL_MOVE = 0.01
"""... or sooner when a symbol they were sized on (a leg of a shown card, a held position) has
moved 1% (the default of ``[cards] material_move``) since. A candidate not shown that such a move
would lift comes in at the next half hour; a move changes a card's size by less than the 5%
headroom it keeps under a limit, so a shown card is never far from its current size. A fill
re-sizes at once (the book changed). Between those, a step costs one array comparison and writes
nothing; at the half hour only the cards whose symbols (or book) moved that much are built again."""


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
        health: StoreHealth | None = None,
    ) -> None:
        self._settings = settings
        self._health = health
        """A failed write of cards sized off the loop makes the engine degraded, as on the loop."""
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
        self._held_back: tuple[tuple[str, int], ...] = ()
        """Templates the session's data cannot feed (volume), for the cards pane's held-back line."""
        self._liquidity: Liquidity | None = None
        self._logged_rejections: set[tuple[date, str, str]] = set()
        self._policy = generator_policy(settings)
        self._live_templates = live_templates(settings)
        """Templates from a layer above the strategies (the ``rl`` one; its model loads at the scan)."""
        self._stopping = threading.Event()
        self._scan_result: asyncio.Future[Any] | None = None
        self._generation = 0
        """Bumped by every re-size: a proposal made off the loop for an older one is dropped."""
        self._resizing = False
        self._sized_at: datetime | None = None
        self._sized_prices: dict[str, float] = {}
        self._ref_key: tuple[tuple[str, ...], dict[str, float], npt.NDArray[np.float64]] | None = None
        self.more_candidates: Callable[[], Sequence[Candidate]] = tuple
        """Candidates beside the session scan's: the live intraday set cards entering now
        (``runtime/set_cards.py``), sized, checked, ranked and saved as the scan's are."""
        self._saved: dict[str, StrategyCard] = {}
        """What the store holds of each card: a re-size writes only the cards that changed."""
        self._material = settings.cards.material_move
        self._view = SizingPrices(self._material)
        self._memo = CardMemo()
        self._inputs: object = None
        """What the shown cards were sized on (prices' version, book, candidates): a re-size on
        market time that finds it unchanged does nothing."""

    def stop(self) -> None:
        """Abandon a running scan: the engine's stop does not wait for it (a scan takes many
        seconds, and a thread cannot be cancelled). Its thread is a daemon that gives up at its
        next template; the scan only reads histories, so nothing is left half-written."""
        self._stopping.set()
        if self._scan_result is not None and not self._scan_result.done():
            self._scan_result.set_exception(ScanAbandoned())

    @property
    def sized_at(self) -> datetime | None:
        """Market time the shown cards were sized at (None: not yet this session)."""
        return self._sized_at

    def find(self, card_id: str) -> StrategyCard | None:
        return next((c for c in self.cards if c.card_id == card_id), None)

    def _scanned(self, day: date) -> Scan | None:
        """The session's scan once it is in; else start it (off the loop) and withdraw the previous
        session's cards rather than offer them at stale sizes."""
        if self._scan is not None and self._scan[0] == day:
            return self._scan[1]
        if self._scanning != day:
            self._scanning = day
            self._outbox.spawn(self._scan_session(day), "card-scan")
        if self.cards:
            self.cards = []
            self._bus.publish(CardsEvent(asof=self._clock.now(), cards=()))
        return None

    def refresh(self, touched: Sequence[str] = ()) -> None:
        """Re-size, re-validate and re-rank the session's candidates at current prices, now, on the
        loop: after a fill the cards must show the new book before anything reads them (the
        ``touched`` symbols, a fill's, are taken at their current price whatever it moved). A
        proposal being made off the loop meanwhile is dropped when it arrives."""
        day = self._market.session_day()
        if day is None:
            return
        found = self._scanned(day)
        if found is None:
            return
        self._generation += 1
        quotes = self._take(touched)
        ctx = self.context(day)
        found = self._with_more(found)
        self._inputs = self._inputs_of(ctx, found)
        build, check, done = self._memo.builder(quotes)
        proposal = propose(found, ctx, self._planner(quotes), build, check)
        done()
        self._apply(day, ctx, proposal)

    def _take(self, touched: Sequence[str] = ()) -> dict[str, Quote]:
        """Move the sizing prices (``SizingPrices``) to the market where it moved materially; the
        quotes to plan at."""
        _prices, quotes = self._view.take(self._market.prices(), self._market.latest_quotes(), touched)
        return quotes

    def _inputs_of(self, ctx: Context, found: Scan) -> object:
        book = ctx.book
        return (
            self._view.version,
            book.equity,
            book.cash,
            tuple(sorted(book.positions.items())),
            book.working_symbols,
            ctx.paused,
            tuple(sorted(ctx.template_positions.items())),
            ctx.asof.date(),
            tuple(map(id, found.candidates)),
        )

    def on_quotes(self, quotes: Sequence[Quote], now: datetime) -> None:
        """Every quote step: re-size (off the loop) when ``RESIZE_EVERY`` of market time has passed
        since the cards were sized, or a quote moved a symbol they were sized on by
        ``MATERIAL_MOVE``; otherwise nothing is sized and nothing is written."""
        if self._scan is None or self._resizing:
            return
        due = self._sized_at is None or now - self._sized_at >= RESIZE_EVERY
        if not due and self._sized_prices:
            batch = as_batch(quotes)
            ref = self._references(batch.symbols)
            with np.errstate(invalid="ignore"):  # NaN: a symbol the cards were not sized on
                due = bool(np.any(np.abs(batch.last - ref) >= self._material * ref))
        if due:
            self.resize()

    def _with_more(self, found: Scan) -> Scan:
        more = tuple(self.more_candidates())
        return replace(found, candidates=(*found.candidates, *more)) if more else found

    def _references(self, symbols: tuple[str, ...]) -> npt.NDArray[np.float64]:
        """The prices the cards were sized at, lined up with a step's symbols (NaN: not sized on
        it); kept while neither the sizing nor the feed's symbols change."""
        key = self._ref_key
        if key is None or key[0] is not symbols or key[1] is not self._sized_prices:
            sized = self._sized_prices
            ref = np.fromiter((sized.get(s, math.nan) for s in symbols), dtype=np.float64, count=len(symbols))
            self._ref_key = key = (symbols, sized, ref)
        return key[2]

    def resize(self) -> None:
        """Re-size at current prices off the loop: the book is read here (cheap), the proposal is
        made on a worker thread, and its cards replace the shown ones unless a newer re-size (a
        fill's) or a new session came first."""
        day = self._market.session_day()
        if day is None or self._scan is None or self._scan[0] != day:
            return
        quotes = self._take()
        ctx = self.context(day)
        found = self._with_more(self._scan[1])
        inputs = self._inputs_of(ctx, found)
        if inputs == self._inputs:  # nothing a card is sized on moved materially: nothing to do
            self._sized_at = self._clock.now()
            return
        self._inputs = inputs
        self._generation += 1
        work = functools.partial(self._propose, found, ctx, quotes)
        self._resizing = True
        self._outbox.spawn(self._propose_off_loop(self._generation, day, ctx, work), "card-resize")

    def _propose(self, found: Scan, ctx: Context, quotes: Mapping[str, Quote]) -> Proposal:
        build, check, done = self._memo.builder(quotes)
        proposal = propose(found, ctx, self._planner(quotes), build, check)
        done()
        return proposal

    async def _propose_off_loop(
        self, generation: int, day: date, ctx: Context, work: Callable[[], Proposal]
    ) -> None:
        try:
            proposal = await _in_thread(work, "card-resize")
        except Exception as exc:  # a template failing must not take the engine down
            log.exception("card re-size failed")
            self._outbox.notice("error", f"strategy cards for {day} could not be re-sized: {exc}")
            return
        finally:
            self._resizing = False
        if generation != self._generation or self._scan is None or self._scan[0] != day:
            return  # stale: a fill re-sized the cards meanwhile, or another session began
        with self._health.guard("saving the cards") if self._health is not None else contextlib.nullcontext():
            self._apply(day, ctx, proposal)

    def _apply(self, day: date, ctx: Context, proposal: Proposal) -> None:
        """Show the proposal: log new rejections once, write the cards that changed, publish."""
        self.cards = [*proposal.cards, *self._extra_cards(day)]
        for key, why in proposal.reasons:
            if (day, key, why.code) not in self._logged_rejections:
                self._logged_rejections.add((day, key, why.code))
                log.info("card %s not shown: %s (%s)", key, why.code, why.message)
        self._sized_at = self._clock.now()
        prices = ctx.book.prices
        watched = {leg.symbol for c in self.cards for leg in c.legs} | set(ctx.book.positions)
        self._sized_prices = {s: prices[s] for s in watched if prices.get(s, 0.0) > 0}
        changed = [c for c in self.cards if not _same(self._saved.get(c.card_id), c)]
        if changed:
            self._store.save_cards(changed)
            self._saved.update((c.card_id, c) for c in changed)
        rejected = (*sorted(proposal.rejected.items()), *self._held_back)
        self._bus.publish(CardsEvent(asof=self._clock.now(), cards=tuple(self.cards), rejected=rejected))

    def on_fill_booked(self, booked: FillBooked) -> None:
        self.refresh((booked.fill.symbol,))

    async def _scan_session(self, day: date) -> None:
        """The session's histories, scan and liquidity, all on a worker thread: the loop (the
        feed, the console) goes on while they are computed; the first cards are sized off the
        loop too. A scan for a session that has meanwhile ended is dropped."""
        # a replayed intraday set's symbol has its cards from its own bars (``runtime/set_cards.py``)
        symbols = [s for s in self._settings.universe.symbols if s not in self._market.market.intraday]
        feed = self._market.feed
        loop = asyncio.get_running_loop()
        progress = self._progress_reporter(loop)
        settings = self._settings
        bench = settings.universe.benchmark
        # the benchmark's state is a meta-label feature; a broker's history may lack it (IBKR: an index)
        with_bench = bench in self._market.market.bars
        live = self._live_templates

        def work() -> tuple[dict[str, pd.DataFrame], Scan, Liquidity]:
            histories = {sym: feed.history(sym, before=day) for sym in symbols}
            benchmark = feed.history(bench, before=day) if with_bench else None
            found = scan_histories(settings, histories, progress, benchmark, live)
            return histories, found, liquidity(histories)

        self._scan_result = result = loop.create_future()
        threading.Thread(target=_run_scan, args=(work, result, loop), name="card-scan", daemon=True).start()
        try:
            histories, found, liq = await result
        except ScanAbandoned:
            return
        except Exception as exc:  # a template failing must not take the engine down
            log.exception("card scan failed")
            self._outbox.notice("error", f"strategy card scan for {day} failed: {exc}")
            return
        finally:
            if self._scanning == day:
                self._scanning = None
        if self._market.session_day() != day:
            return  # the session it was for is over: its cards would be stale
        for name, why in found.held_back.items():  # the others' cards are shown; this one says why not
            log.warning("template %s held back for %s: %s", name, day, why)
            self._outbox.notice("error", f"template {name} held back for {day}: {why}")
        self._histories = histories
        self._held_back = held_back_codes(held_back(enabled_templates(self._settings), histories))
        self._liquidity = liq
        self._scan = (day, found)
        self._memo.clear()
        self._inputs = None
        self._sized_at = None
        self.resize()

    def _progress_reporter(self, loop: asyncio.AbstractEventLoop) -> Callable[[int, int, str], None]:
        """Called on the worker thread: publish how far the scan is (on the engine's loop), or
        give up if the engine is stopping."""

        def progress(done: int, total: int, _template: str) -> None:
            if self._stopping.is_set():
                raise ScanAbandoned
            event = CardsEvent(asof=self._clock.now(), cards=(), scanned=done, to_scan=total)
            loop.call_soon_threadsafe(self._bus.publish, event)

        return progress

    def _planner(self, quotes: Mapping[str, Quote]) -> Callable[[StrategyCard], StrategyCard]:
        """The execution plan and cost of a card at these quotes (a snapshot: the planner may run
        on a worker thread while the loop takes new quotes)."""
        histories, commissions = self._histories, self._commissions

        def plan(card: StrategyCard) -> StrategyCard:
            return plan_card(card, quotes, histories, commissions)

        return plan

    def context(self, day: date) -> Context:
        """What the cards are sized on: the book at the sizing prices (``SizingPrices``; the market
        itself before the first re-size)."""
        account = self._ledger.account()
        prices = dict(self._view.prices) if self._view.prices else self._market.prices()
        positions = {p.symbol: p.quantity for p in self._ledger.positions(include_flat=False)}
        cash = account.cash - self._orders.working_buy_value(prices)
        working = frozenset(self._orders.working_by_symbol())
        composition = (tuple(sorted(positions.items())), working, cash)
        book = card_book(
            self._settings,
            self._histories,
            equity=self._view.equity(account.equity, composition),
            cash=cash,
            positions=positions,
            prices=prices,
            working_symbols=working,
            can_trade_options=self._can_trade_options,
            known=self._liquidity,
            specs=self._market.market.specs,
        )
        return Context(
            asof=self._clock.now(),
            session_day=day,
            book=book,
            policy=self._policy,
            market_open=None,
            paused=frozenset(self._risk.controller.state.paused),
            template_positions=self._accounting.positions_by_owner(),
            account_currency=self._settings.risk.account_currency,
        )


def _same(saved: StrategyCard | None, card: StrategyCard) -> bool:
    """Whether the stored row already says what ``card`` says (its sizing time aside)."""
    return saved is not None and replace(saved, asof=card.asof) == card


async def _in_thread(work: Callable[[], Proposal], name: str) -> Proposal:
    loop = asyncio.get_running_loop()
    result: asyncio.Future[Proposal] = loop.create_future()
    threading.Thread(target=_run_scan, args=(work, result, loop), name=name, daemon=True).start()
    return await result


def _run_scan(work: Callable[[], T], result: asyncio.Future[T], loop: asyncio.AbstractEventLoop) -> None:
    """The scan on its own daemon thread (not the loop's executor, whose threads the interpreter
    waits for at exit), its outcome handed to the engine's loop unless that is gone."""

    def settle(value: T | None, error: BaseException | None) -> None:
        if result.done():
            return  # abandoned by ``stop``
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(value)  # type: ignore[arg-type]

    try:
        found: T | None = work()
        error: BaseException | None = None
    except Exception as exc:
        found, error = None, exc
    with contextlib.suppress(RuntimeError):  # the loop closed: the engine stopped meanwhile
        loop.call_soon_threadsafe(settle, found, error)
