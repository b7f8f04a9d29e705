"""``PaperBroker``: the parts of the paper broker (see ``engine.brokers.paper``) tied into a ``Broker``.

This module decides: it validates (``checks``), journals (``journal``) and applies (``state``)
each change, matches working orders against quotes (``matching``, ``fees``, ``options``), and
reports, in that order, synchronously on the caller's loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.brokers.base import (
    BrokerError,
    BrokerPosition,
    BrokerReport,
    DepthSink,
    OrderAcknowledged,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderModified,
    OrderRejected,
    Reporter,
)
from engine.brokers.paper import linked, matching, records
from engine.brokers.paper.account import EPS, PaperAccount
from engine.brokers.paper.checks import Checks
from engine.brokers.paper.commission import Fees
from engine.brokers.paper.journal import Journal, JournalError
from engine.brokers.paper.matching import Matcher
from engine.brokers.paper.options import SETTLEMENT_PREFIX, OptionMarket, SettlementHook, as_announced
from engine.brokers.paper.state import OrderRecord, PaperJournalState, PaperState, reports_of
from engine.clock import Clock
from engine.config import BrokerSettings
from engine.model import CommissionSchedule, Fill, Order, OrderStatus, OrderType, Quote, TimeInForce
from engine.model.cash import Currencies
from engine.model.codec import to_jsonable
from engine.model.enums import AssetClass
from engine.model.quote_batch import LatestQuotes, as_batch

_INF = math.inf
log = logging.getLogger(__name__)


class PaperBroker:
    """A cash-account broker simulated in process; see ``engine.brokers.paper`` for the rules."""

    name: str = "paper"
    trades_options: bool = True
    """Options trade here at model quotes (``engine.brokers.paper.options``), once they have a volatility."""
    simulated: bool = True
    """The broker is its own market: the engine feeds it every quote and every session close."""
    live: bool = False
    read_only: bool = False

    def __init__(
        self,
        clock: Clock,
        *,
        starting_cash: float,
        commissions: CommissionSchedule,
        slippage_bps: float,
        max_participation: float,
        allow_short: bool,
        allow_fractional: bool,
        settlement_days: int,
        option_rate: float,
        journal: Path | None = None,
        currencies: Currencies | None = None,
        asset_classes: Mapping[str, AssetClass] | None = None,
    ) -> None:
        """Every rule is required: its default lives in ``[broker]`` (config/default.toml and its
        schema) only, and ``from_settings`` is the door from there.

        ``journal``: the file the broker remembers in (see ``engine.brokers.paper``); None forgets.
        ``currencies``: which currency each symbol's cash moves in (``engine.model.cash``); None:
        every symbol but a currency pair trades in USD.
        ``asset_classes``: symbol -> asset class from the market's instruments, the commission
        rule each pays (``engine.brokers.paper.commission``); a symbol not listed goes by its name.
        ``commissions``: the schedule it charges. ``option_rate``: the continuously compounded
        risk-free rate the option model prices with.

        An existing journal is replayed here, so the broker comes back as it was (its opening
        line's starting cash wins over ``starting_cash``). Raises ``JournalError`` naming the
        file and line when the journal is damaged, or when another process holds it.
        """
        numbers = [
            ("starting_cash", starting_cash),
            ("slippage_bps", slippage_bps),
            ("max_participation", max_participation),
        ]
        for label, value in numbers:
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"paper broker: {label} must be a finite number >= 0, got {value!r}")
        if settlement_days < 0:
            raise ValueError(f"paper broker: settlement_days must be >= 0, got {settlement_days}")
        self._clock = clock
        self.currencies = currencies or Currencies()
        self.settlement_days = settlement_days
        self._options = OptionMarket(option_rate)
        self.fees = Fees(commissions, self._options, currencies=self.currencies, classes=asset_classes)
        self._reporter: Reporter | None = None
        self._settlement_hook: SettlementHook | None = None
        self._connected = False
        self._quotes = LatestQuotes()
        """symbol -> its last quote: whole steps kept as batches (``set_market``), objects made when read."""
        self._plain: tuple[tuple[str, ...], npt.NDArray[np.bool_]] | None = None
        """A batch's symbols and which of them are not option symbols (the replay's steps share one tuple)."""
        self._replayed = 0
        # No part holds the broker (no cycle): a broker dropped without close() frees its journal lock.
        self._state = state = PaperState(
            starting_cash,
            options=self._options,
            fees=self.fees,
            reference_price=lambda order: matcher.reference_price(order),
            settlement_days=settlement_days,
            where=str(journal),
            currencies=self.currencies,
        )
        self._matcher = matcher = Matcher(
            state,
            self._quotes,
            self._options,
            self.fees,
            slippage=slippage_bps / 10_000.0,
            max_participation=max_participation,
            allow_fractional=allow_fractional,
        )
        state.market = matcher.market
        self.fees.rate = lambda currency: state.rate(currency, state.market)
        self._checks = Checks(
            state,
            self._quotes,
            self._options,
            clock,
            fees=self.fees,
            reference_price=matcher.reference_price,
            allow_short=allow_short,
            allow_fractional=allow_fractional,
        )
        self._journal: Journal | None = None
        if journal is not None:
            self._journal = Journal(journal)
            try:
                self._replayed = self._state.replay(self._journal, starting_cash, clock.now())
            except BaseException:
                self._journal.close()  # a broker that failed to start holds no lock
                raise

    @classmethod
    def from_settings(
        cls,
        broker: BrokerSettings,
        clock: Clock,
        *,
        journal: Path | None = None,
        currencies: Currencies | None = None,
        asset_classes: Mapping[str, AssetClass] | None = None,
    ) -> PaperBroker:
        """The paper broker ``[broker]`` describes: the one door from the settings to it."""
        return cls(
            clock,
            starting_cash=broker.starting_cash,
            commissions=CommissionSchedule.from_settings(broker),
            slippage_bps=broker.slippage_bps,
            max_participation=broker.max_participation,
            allow_short=broker.allow_short,
            allow_fractional=broker.allow_fractional,
            settlement_days=broker.settlement_days,
            journal=journal,
            option_rate=broker.option_rate,
            currencies=currencies,
            asset_classes=asset_classes,
        )

    account = "paper"
    """The paper desk has one account; a database that met it belongs to it."""

    @property
    def commissions(self) -> CommissionSchedule:
        return self.fees.schedule

    @property
    def slippage(self) -> float:
        """A market order's price is the touch moved this fraction against it (``slippage_bps`` / 1e4)."""
        return self._matcher.slippage

    @property
    def allow_short(self) -> bool:
        return self._checks.allow_short

    @property
    def allow_fractional(self) -> bool:
        return self._checks.allow_fractional

    # ------------------------------------------------------------------ memory
    @property
    def journal_path(self) -> Path | None:
        return self._journal.path if self._journal is not None else None

    @property
    def remembers(self) -> bool:
        """True when the journal held trading history (anything after its opening line) at start.

        The engine hands the broker its own book (``adopt_book``) only when this is False (a new
        journal beside an older database); over a remembered account that would erase it.
        """
        return self._replayed > 1

    def journal_state(self) -> PaperJournalState:
        """What the broker remembers beyond the protocol's queries, as a detached read-only copy."""
        return self._state.snapshot()

    def close(self) -> None:
        """Release the journal file (and its lock); a later change opens it again."""
        if self._journal is not None:
            self._journal.close()

    def _commit(self, record: dict[str, Any]) -> None:
        """Journal a change (on disk before anything else happens), then apply it to the state.

        Raises ``JournalError`` (nothing changed) when the line cannot be written.
        """
        data: dict[str, Any] = to_jsonable(record)
        if self._journal is not None:
            self._journal.append(data)
        self._state.apply(data)

    # ------------------------------------------------------------------ protocol
    def set_reporter(self, reporter: Reporter) -> None:
        self._reporter = reporter

    def set_settlement_hook(self, hook: SettlementHook | None) -> None:
        """Who is told of an expiry settlement order before its ``OrderFilled`` is reported.

        The engine never placed that order, so it records it (as ACKNOWLEDGED, the state the
        hook receives it in) and starts tracking it; the fill that follows then lands on an
        order it knows. ``settlement_orders`` lists them all again, for reconciliation.
        """
        self._settlement_hook = hook

    def acknowledge_live(self, typed: str) -> bool:
        """Always False: a paper account is never a live one, so there is nothing to acknowledge."""
        return False

    async def connect(self) -> None:
        self._connected = True

    async def disconnect(self) -> None:
        """Stop taking requests and release the journal (reopened by the next change, if any)."""
        self._connected = False
        self.close()

    def _require_connected(self) -> None:
        if not self._connected:
            raise BrokerError("the paper broker is not connected: call connect() first")

    async def submit(self, order: Order) -> None:
        """Validate and accept (or reject) at once; fills come only from later quotes.

        Raises ``BrokerError`` only when the order surely did not reach the broker (not
        connected, nowhere to report, the journal could not record it). A second submit of a
        client order id the broker has seen, before or after a restart, replays that order's
        reports instead of trading it again (rule 8: no duplicates).
        """
        self._require_connected()
        if self._reporter is None:
            raise BrokerError("the paper broker has no reporter: call set_reporter() before submitting")
        coid = order.client_order_id
        known = self._state.known(coid)
        if known is not None:
            # Recorded although nothing changes: the journal is the broker's evidence of every
            # order it received, so a sender that repeats itself can be caught at it.
            self._commit({"e": "resubmit", "ts": self._clock.now(), "coid": coid})
            self._replay(known)
            return
        now = self._clock.now()
        reason = self._checks.validate(order)
        if reason:
            rejected = replace(order, status=OrderStatus.REJECTED, reason=reason, updated_at=now)
            self._commit({"e": "reject", "ts": now, "order": rejected})
            self._report(OrderRejected(coid, reason))
            return
        self._accept(order, parent=None)

    def _accept(self, order: Order, *, parent: str | None) -> None:
        """Journal and acknowledge an order that passed its checks (``parent``: a held bracket child).

        A TRAIL order sent without its initial stop gets one from the last trade now, reported
        right after the acknowledgement (``OrderModified``) so the engine knows where it rests.
        """
        now = self._clock.now()
        coid = order.client_order_id
        broker_id = f"P{self._state.next_broker_id}"
        stop = order.stop_price
        quote = self._quotes.get(order.symbol)
        computed = stop is None and order.order_type is OrderType.TRAIL and quote is not None
        if computed and quote is not None:
            stop = linked.trail_level(order, quote.last)
        own = replace(
            order,
            status=OrderStatus.ACKNOWLEDGED,
            broker_order_id=broker_id,
            filled_quantity=0.0,
            avg_fill_price=None,
            updated_at=now,
            reason="",
            stop_price=stop,
        )
        record: dict[str, Any] = {
            "e": "accept",
            "ts": now,
            "order": own,
            "ref_price": self._reference_price(own),
            "triggered": not matching.is_stop(order),
        }
        if parent is not None:
            record["parent"] = parent
        self._commit(record)
        self._report(OrderAcknowledged(coid, broker_id))
        if computed:
            self._report(OrderModified(coid, own.quantity, own.limit_price, stop_price=stop))

    async def place_bracket(self, entry: Order, children: Sequence[Order]) -> None:
        """The entry, with its children held until it fills (see ``Broker.place_bracket`` and
        ``engine.brokers.paper.linked``). A child that is unsound on its own terms rejects the
        whole bracket (nothing is sent); an entry the checks reject rejects its children too."""
        self._require_connected()
        if self._reporter is None:
            raise BrokerError("the paper broker has no reporter: call set_reporter() before submitting")
        coid = entry.client_order_id
        if self._state.known(coid) is not None:
            await self.submit(entry)  # a repeat: replays what happened, children included
            for child in children:
                known = self._state.known(child.client_order_id)
                if known is not None:
                    self._replay(known)
            return
        now = self._clock.now()
        try:
            bad = records.bracket_problem(entry, children, self._checks.shape, self._state.known)
        except ValueError as exc:
            raise BrokerError(str(exc)) from exc
        if bad is not None:
            reason = f"bracket child {bad[0].client_order_id} refused: {bad[1]}"
            entry_rejected = replace(entry, status=OrderStatus.REJECTED, reason=reason, updated_at=now)
            self._commit({"e": "reject", "ts": now, "order": entry_rejected})
            self._report(OrderRejected(coid, reason))
            self._reject_children(children, coid, now)
            return
        await self.submit(entry)
        if coid in self._state.working:
            for child in children:
                self._accept(child, parent=coid)
        else:
            self._reject_children(children, coid, now)

    def _reject_children(self, children: Sequence[Order], entry: str, now: datetime) -> None:
        reason = f"its bracket entry {entry} was rejected"
        for child in children:
            rejected = replace(child, status=OrderStatus.REJECTED, reason=reason, updated_at=now)
            self._commit({"e": "reject", "ts": now, "order": rejected})
            self._report(OrderRejected(child.client_order_id, reason))

    async def cancel(self, client_order_id: str) -> None:
        self._require_connected()
        record = self._state.working.get(client_order_id)
        if record is None:
            final = self._state.final.get(client_order_id)
            status = final.order.status.value if final is not None else "never submitted"
            raise BrokerError(f"order {client_order_id} is not working at the paper broker (status {status})")
        self._cancel(record, "cancelled at the operator's request")

    async def global_cancel(self) -> None:
        """Every working order cancelled (the paper account has no other client)."""
        self._require_connected()
        for record in list(self._state.working.values()):
            self._cancel(record, "cancelled by a global cancel")

    def sending_refused(self) -> str:
        return ""

    async def modify(self, client_order_id: str, *, quantity: float, limit_price: float | None) -> None:
        """Change the quantity and/or limit of a working order in place, as a real broker does."""
        self._require_connected()
        record = self._state.working.get(client_order_id)
        if record is None:
            raise BrokerError(f"order {client_order_id} is not working at the paper broker")
        reason = self._checks.modify(record, quantity, limit_price)
        if reason:
            raise BrokerError(reason)
        self._commit(records.modify_line(self._clock.now(), client_order_id, quantity, limit_price))
        self._report(OrderModified(client_order_id, quantity, limit_price))

    async def modify_order(
        self,
        client_order_id: str,
        *,
        quantity: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        trail_amount: float | None = None,
        trail_percent: float | None = None,
    ) -> None:
        """Change any term of a working order; None leaves it (see ``Broker.modify_order``).

        A new ``stop_price`` on a TRAIL order resets its level (it ratchets on from there); a new
        trailing distance leaves the level where it is until the market tightens it.
        """
        self._require_connected()
        record = self._state.working.get(client_order_id)
        if record is None:
            raise BrokerError(f"order {client_order_id} is not working at the paper broker")
        order = record.order
        new_quantity = order.quantity if quantity is None else quantity
        new_limit = order.limit_price if limit_price is None else limit_price
        reason = self._checks.modify(record, new_quantity, new_limit) or self._checks.terms(
            record, stop_price, trail_amount, trail_percent
        )
        if reason:
            raise BrokerError(reason)
        self._commit(
            records.modify_line(
                self._clock.now(),
                client_order_id,
                new_quantity,
                new_limit,
                stop_price=stop_price,
                trail_amount=trail_amount,
                trail_percent=trail_percent,
            )
        )
        self._report(
            OrderModified(
                client_order_id,
                new_quantity,
                new_limit,
                stop_price=stop_price,
                trail_amount=trail_amount,
                trail_percent=trail_percent,
            )
        )

    async def open_orders(self) -> list[Order]:
        return [replace(r.order) for r in self._state.working.values()]

    async def executions(self) -> list[Fill]:
        """Every fill this broker made, oldest first, across restarts (it remembers them all)."""
        return list(self._state.executions)

    async def positions(self) -> list[BrokerPosition]:
        return self._state.account.positions()

    async def cash(self) -> float:
        return self._state.account.cash

    def settled_cash(self) -> float:
        """Cash a buy may be paid from (sale proceeds not yet settled excluded); O(1) for risk checks."""
        return self._state.account.settled

    # ------------------------------------------------------------------ driven by the engine
    def on_quote(self, quote: Quote) -> None:
        """Take the quote as the market for its symbol and match that symbol's working orders.

        A quote without a positive, finite bid, ask and last is ignored altogether: a bad tick
        must neither fill an order at a nonsense price nor become the price a buy is checked at.
        A journal that cannot be written stops the matching (nothing unrecorded may happen);
        the orders keep working and the next quote tries again.

        The quote of an underlying is also the moment its options' model quotes move: their
        working orders are matched against them right after its own. A quote for an option
        symbol is ignored (paper options are priced by the model only).
        """
        if not all(math.isfinite(v) and v > 0 for v in (quote.bid, quote.ask, quote.last)):
            return
        if self._options.contract(quote.symbol) is not None:
            return
        self._quotes[quote.symbol] = quote
        try:
            working = self._state.by_symbol.get(quote.symbol)
            if working and self._beyond_reach(quote, working):
                working = None  # only resting limits, none of them reached: nothing to match
            # Held bracket children wait for their entry (one it fills now works from the next
            # quote); stops go before targets, as the exit model orders a bar's events.
            records = [r for r in working.values() if not r.held] if working else []
            records.sort(key=lambda r: not matching.is_stop(r.order))
            for record in records:
                if matching.out_of_reach(record, quote):
                    continue  # a resting limit the touch does not reach: nothing happens to it
                if record.order.client_order_id not in self._state.working:
                    continue  # a one-cancels-all sibling's fill cancelled it
                self._trail(record, quote)
                self._match_once(record, quote)
            if self._options.has_volatility(quote.symbol):
                self._match_options(quote)
        except JournalError as exc:
            log.error("paper broker: matching stopped: %s", exc)

    def _beyond_reach(self, quote: Quote, working: Mapping[str, OrderRecord]) -> bool:
        """Every working order of the quote's symbol is a resting limit its touch does not reach
        (what ``matching.out_of_reach`` says of each, asked once per symbol)."""
        return self._touch_beyond(quote.symbol, quote.bid, quote.ask, working)

    def _touch_beyond(self, symbol: str, bid: float, ask: float, working: Mapping[str, OrderRecord]) -> bool:
        cache = self._state.reach
        if symbol in cache:
            bounds = cache[symbol]
        else:
            bounds = cache[symbol] = matching.reach(working.values())
        return bounds is not None and ask > bounds[0] and bid < bounds[1]

    def may_match(self, symbol: str, bid: float, ask: float) -> bool:
        """What ``on_quote`` would find to do with this touch: the symbol's working orders unless
        all are resting limits beyond it, or its options' working orders."""
        working = self._state.by_symbol.get(symbol)
        if working and not self._touch_beyond(symbol, bid, ask, working):
            return True
        return self._options.has_volatility(symbol) and bool(self._state.by_underlying.get(symbol))

    def matching_symbols(self) -> Container[str]:
        """The symbols whose quotes can match an order now: those with working orders, and the
        underlyings of working option orders. A live view, updated as orders work and end."""
        return self._state.interest

    def set_market(self, quotes: Iterable[Quote]) -> None:
        """Take a step's quotes as the market without matching (what ``on_quote`` does first):
        the engine hands ``on_quote`` only the quotes of ``matching_symbols``. The same quotes are
        ignored as there: a bad price, or an option symbol. The step is kept whole, as columns."""
        batch = as_batch(quotes)
        plain = self._plain
        if plain is None or plain[0] is not batch.symbols:
            contract = self._options.contract
            keep = np.fromiter((contract(s) is None for s in batch.symbols), dtype=np.bool_, count=len(batch))
            plain = self._plain = (batch.symbols, keep)
        ok = plain[1].copy()
        for column in (batch.bid, batch.ask, batch.last):
            ok &= (column > 0.0) & (column < _INF)
        self._quotes.add(batch.take(ok))

    def _trail(self, record: OrderRecord, quote: Quote) -> None:
        """Move a TRAIL order's stop with this trade when it tightens it (journaled, reported)."""
        level = linked.ratchet(record, quote.last)
        if level is None:
            return
        coid = record.order.client_order_id
        self._commit({"e": "trail", "ts": self._clock.now(), "coid": coid, "stop_price": level})
        order = record.order
        self._report(
            OrderModified(
                coid, order.quantity, order.limit_price, stop_price=level, reason="trailing stop moved"
            )
        )

    def _match_once(self, record: OrderRecord, quote: Quote) -> None:
        self._match(record, quote)
        if record.order.tif is TimeInForce.IOC and record.order.client_order_id in self._state.working:
            self._cancel(record, "IOC: the unfilled remainder was cancelled after the first quote")

    def _match_options(self, underlying: Quote) -> None:
        """Match the working orders on options of ``underlying`` against their new model quotes
        (found through the broker's index by underlying, not by looking at every working order)."""
        for record in list(self._state.by_underlying.get(underlying.symbol, {}).values()):
            if record.order.client_order_id not in self._state.working or record.held:
                continue
            contract = self._options.contract(record.order.symbol)
            if contract is None:
                continue
            if underlying.ts >= contract.expires_at:
                continue  # no trading after the expiry close; the session close expires the order
            quote = self.option_quote(record.order.symbol)
            if quote is not None:
                self._match_once(record, quote)

    # ------------------------------------------------------------------ options
    def set_option_volatility(self, underlying: str, sigma: float) -> None:
        """The volatility (annualised, 0.25 = 25%) the option model prices ``underlying``'s options at.

        The engine supplies the underlying's realized volatility once a day, before its first
        quote; until an underlying has one its options cannot be traded here. Not journaled:
        like quotes it is market data, given again after a restart.
        """
        self._options.set_volatility(underlying, sigma)

    def option_quote(self, symbol: str) -> Quote | None:
        """The model's quote of an option now, or None (not an option, no volatility, no underlying quote)."""
        return self._options.quote(symbol, self._quotes)

    def option_marks(self) -> dict[str, float]:
        """symbol -> model price of every option held or worked that the model can price now.

        What the engine marks its ledger (and prices its risk checks) with for options, after
        each round of quotes: the replay quotes no option.
        """
        marks: dict[str, float] = {}
        held = self._state.account.holdings
        for symbol in {*held, *(r.order.symbol for r in self._state.working.values())}:
            quote = self.option_quote(symbol)
            if quote is not None:
                marks[symbol] = quote.last
        return marks

    def set_depth_sink(self, sink: DepthSink | None) -> None:
        """Nothing: depth is not available on paper. Its market is one bid and one ask (the
        replay's invented sizes); inventing deeper rows would only measure the invention."""

    def settlement_orders(self) -> list[Order]:
        """Every expiry settlement order made so far, as the settlement hook received it.

        For reconciliation after a crash between the journal line and the engine's own record:
        an order missing from the database is inserted, and its fill is then found among
        ``executions`` and applied like any other missed fill.
        """
        return [
            as_announced(record.order)
            for coid, record in self._state.final.items()
            if coid.startswith(SETTLEMENT_PREFIX)
        ]

    def on_session_close(self, day: date, closes: Mapping[str, float] | None = None) -> None:
        """Expire DAY (and IOC) orders and move sale proceeds one session closer to settlement.

        Idempotent per day: a second call for the same (or an earlier) day changes nothing, so
        a retried end-of-day cannot settle proceeds early. The close and its expiries are one
        journal line, so a crash cannot leave half a close behind.

        Options expiring that day (or before) are settled in cash at intrinsic value against
        the underlying's close: ``closes[underlying]`` when given, else the last trade of its
        latest quote; every order still working on them expires. An option whose underlying
        has no price is left open (logged) and settled at the next close that has one. See
        ``engine.brokers.paper``: real equity options are physically settled.
        """
        last = self._state.last_close
        if last is not None and day <= last:
            return
        record = records.close_line(
            self._state,
            self._options,
            self._clock.now(),
            day,
            closes or {},
            self._quotes,
            self.settlement_days,
        )
        expired: list[tuple[str, str]] = record["expired"]
        then: list[linked.Effect] = record.get("then", [])
        settle: list[list[Any]] = record.get("settlements", [])
        try:
            self._commit(record)
        except JournalError as exc:
            log.error("paper broker: the close of %s was not done: %s", day.isoformat(), exc)
            return
        for coid, reason in expired:
            self._report(OrderExpired(coid, reason))
        self._report_effects(then)
        for coid, *_rest in settle:
            settled = self._state.final[coid]
            if self._settlement_hook is not None:
                self._settlement_hook(as_announced(settled.order))
            self._report(OrderFilled(settled.fills[-1]))

    def adopt_book(
        self,
        cash: float,
        positions: list[BrokerPosition],
        *,
        settled_cash: float | None = None,
        balances: Mapping[str, float] | None = None,
    ) -> None:
        """Take the engine's book (cash and positions) as the paper account's, at engine start.

        For a broker that remembers nothing (no journal, or a new one beside an older
        database); one that replayed its journal must not be restored over (see ``remembers``).
        Restoring over working orders would leave reservations pointing at a ledger they were
        not made against; that is refused. Without ``settled_cash`` all cash counts as settled:
        the engine persists one cash figure, and a restart is treated as a settlement boundary.
        """
        settled = cash if settled_cash is None else settled_cash
        reason = self._checks.book_to_adopt(cash, settled, positions)
        if reason:
            raise BrokerError(reason)
        self._commit(
            {
                "e": "restore",
                "ts": self._clock.now(),
                "cash": cash,
                "settled": settled,
                "positions": [[p.symbol, p.quantity, p.avg_cost] for p in positions if abs(p.quantity) > EPS],
                "balances": {c: a for c, a in (balances or {}).items() if c != self.currencies.account},
            }
        )

    def cash_balances(self) -> dict[str, float]:
        """The account currency's cash and every other currency's balance (``PaperAccount``)."""
        account = self._state.account
        return {self.currencies.account: account.cash, **account.balances}

    def account_summary(self) -> PaperAccount:
        """Options are valued at the model price (x the multiplier), or at cost when it has none."""
        return self._state.summary(self._matcher.market)

    # ------------------------------------------------------------------ matching
    def _reference_price(self, order: Order) -> float:
        return self._matcher.reference_price(order)

    def _match(self, record: OrderRecord, quote: Quote) -> None:
        match = self._matcher.decide(record, quote)
        if match is None:
            return
        if match.trigger:
            self._commit({"e": "trigger", "ts": self._clock.now(), "coid": record.order.client_order_id})
        if match.quantity > EPS:
            self._fill(record, match.quantity, match.price)
        budget = match.unpaid_budget
        if budget is not None and record.order.client_order_id in self._state.working:
            self._cancel(record, matching.unpaid_reason(record.order, match.price, budget))

    def _fill(self, record: OrderRecord, qty: float, price: float) -> None:
        """Decide a fill (quantity, commission, exec id), journal it, apply it, report it."""
        order = record.order
        if order.remaining - qty <= EPS:
            qty = order.remaining
        fill = Fill(
            exec_id=f"{order.client_order_id}.{len(record.fills) + 1}",
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=qty,
            price=price,
            commission=self.fees.fee(order.symbol, qty, price, first=not record.min_charged),
            ts=self._clock.now(),
            currency=self.currencies.of(order.symbol),
        )
        line: dict[str, Any] = {"e": "fill", "ts": fill.ts, "fill": fill, "settle": self.settlement_days}
        then = linked.after_fill(self._state, record, qty)
        if then:
            line["then"] = then
        self._commit(line)
        self._report(OrderFilled(record.fills[-1]))
        self._report_effects(then)

    def _cancel(self, record: OrderRecord, reason: str) -> None:
        coid = record.order.client_order_id
        line: dict[str, Any] = {"e": "cancel", "ts": self._clock.now(), "coid": coid, "reason": reason}
        then = linked.orphans(self._state, coid, "was cancelled")
        if then:
            line["then"] = then
        self._commit(line)
        self._report(OrderCancelled(coid, reason))
        self._report_effects(then)

    def _report_effects(self, effects: list[linked.Effect]) -> None:
        """Tell the engine what a change did to its linked orders (already journaled and applied)."""
        for kind, coid, value, *why in effects:
            if kind == "cancel":
                self._report(OrderCancelled(str(coid), str(value)))
                continue
            order = self._state.working[str(coid)].order
            self._report(
                OrderModified(
                    order.client_order_id,
                    order.quantity,
                    order.limit_price,
                    stop_price=order.stop_price,
                    reason=str(why[0]) if why else "",
                )
            )

    # ------------------------------------------------------------------ reports
    def _replay(self, record: OrderRecord) -> None:
        """Report again everything that happened to an order (its reports are idempotent)."""
        for report in reports_of(record):
            self._report(report)

    def _report(self, report: BrokerReport) -> None:
        if self._reporter is not None:
            self._reporter(report)
