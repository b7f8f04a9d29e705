"""The embedded paper broker: a broker with its own cash-account ledger, driven by replayed quotes.

It is the product's default broker, so it behaves like one rather than like a backtest shortcut:
orders are acknowledged when accepted and fill only against quotes that arrive afterwards (the
broker knows prices from quotes alone), fills are limited by the volume that actually traded,
commissions and slippage are charged, and sale proceeds settle T+N so a cash account cannot
spend money it does not yet have. Reports go to the reporter synchronously and in order, on the
caller's loop, exactly as the order manager expects from any adapter.

It also remembers, as a real broker does. With a journal file every change of its state (an
order accepted or rejected, a stop triggered, a fill, a cancel, a session close with its
expiries, a restore) is appended as one JSON line and fsynced *before* the report leaves, and
the state is changed only by applying that line. A broker built over an existing journal
replays it and is in exactly the state it was in when the process died: its working orders,
fills, positions, cash, unsettled proceeds and every client order id it has seen (so a
re-submitted id replays its reports instead of trading twice). After a crash the engine
reconciles against that memory (``engine.execution.recovery``). Quotes are market data, not
broker state, and are not journaled: after a restart the broker waits for the next quote.

Listed equity options trade here too, under their OCC symbol (``engine.model.options``), once
the engine has given the underlying a volatility (``set_option_volatility``). Nothing quotes
options in the replay, so the broker makes their market from a model: Black-Scholes
(``engine.risk.greeks.black_scholes``) on the underlying's latest mid, that volatility, the
``option_rate`` and the time left to the expiry close at the underlying quote's timestamp,
with a half-spread of max(0.025, 1% of the model price), the bid rounded down and the ask up
to a uniform 0.01 tick (the penny tick; listed options above 3.00 mostly trade in 0.05, which
this does not model). An option order is matched when its underlying quotes: a market buy
fills at the model ask and a sell at the model bid (no slippage on top: the spread is the
cost; a sell with a zero bid waits), a limit when the model crosses it, always in full (there
is no option volume to participate in), in whole contracts. Money is quantity x price x
``contract_multiplier`` (100); commission is ``commission_per_contract`` with the same
per-order minimum as shares (no value cap, no percentage). The only short option allowed is a
covered call: the shares held, less working sells, must cover every short call on them x 100;
a short put or an uncovered call is refused whatever ``allow_short`` says, and so is a sale of
shares that a short call needs.

At the close of an option's expiry day (``on_session_close``) every position in it is settled
in cash at its intrinsic value against the underlying's close (the last trade of its latest
quote, or the close the engine passes), x the multiplier: a long is sold and a short bought
back at that price, with no commission, by a broker-made order whose id starts with
``SETTLEMENT_PREFIX``. That is a simplification: real US equity options are physically
settled (exercise delivers the shares at the strike); the money and the equity are the same,
the share position is not. The settlement is part of the close's one journal line and is
reported as an ``OrderFilled`` like any fill, preceded by the settlement hook (see
``set_settlement_hook``) so the engine can record the order that fill belongs to.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from engine.brokers.base import (
    BrokerError,
    BrokerPosition,
    BrokerReport,
    OrderAcknowledged,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderModified,
    OrderRejected,
    Reporter,
)
from engine.clock import Clock
from engine.model import (
    Fill,
    OptionContract,
    Order,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    is_option_symbol,
)
from engine.model.codec import DecodeError, from_jsonable, to_jsonable
from engine.risk.greeks import black_scholes

log = logging.getLogger(__name__)

#: Quantities and money closer than this are equal: floats summed over many partial fills drift.
EPS = 1e-9
#: Fill prices are rounded to this many decimals (a hundredth of a cent).
PRICE_DECIMALS = 4
#: The smallest fractional share the broker will compute an affordable quantity in.
FRACTION_STEP = 1e-6
#: Model option quotes are rounded to this tick (bid down, ask up).
OPTION_TICK = 0.01
#: The model's half-spread: this much at least, in premium per unit of the underlying ...
OPTION_MIN_HALF_SPREAD = 0.025
#: ... or this fraction of the model price when that is more.
OPTION_HALF_SPREAD_PCT = 0.01
#: Client order ids of the broker's own expiry settlements start with this (never the engine's "OT-").
SETTLEMENT_PREFIX = "EXPIRY-"

SettlementHook = Callable[[Order], None]
"""Told of a settlement order (ACKNOWLEDGED, nothing filled) just before its fill is reported."""


@dataclass(frozen=True, slots=True)
class PaperAccount:
    """The paper broker's own view of the account, for the console and for reconciliation.

    ``reserved_cash`` is what working buys may still spend; it is part of ``settled_cash``,
    so what a new buy may use is ``buying_power``.
    """

    cash: float
    settled_cash: float
    reserved_cash: float
    positions_value: float
    equity: float

    @property
    def unsettled_cash(self) -> float:
        return self.cash - self.settled_cash

    @property
    def buying_power(self) -> float:
        return max(self.settled_cash - self.reserved_cash, 0.0)


@dataclass(slots=True)
class _Record:
    """What the broker keeps per order: its own copy (the engine's Order is the engine's) and fills.

    Final records are kept too, so a cancel of a finished order can say why it failed and a
    repeated submit of the same client order id replays what happened instead of trading twice.
    """

    order: Order
    ref_price: float = 0.0
    triggered: bool = False
    min_charged: bool = False
    commission: float = 0.0
    fills: list[Fill] = field(default_factory=list)


@dataclass(slots=True)
class _Book:
    quantity: float = 0.0
    avg_cost: float = 0.0


@dataclass(slots=True)
class _Pending:
    """Sale proceeds waiting for ``sessions_left`` more session closes before they may be spent."""

    sessions_left: int
    amount: float


class PaperBroker:
    """A cash-account broker simulated in process; see the module docstring for the rules."""

    name: str = "paper"
    trades_options: bool = True
    """Options trade here at model quotes (see the module docstring), once they have a volatility."""

    def __init__(
        self,
        clock: Clock,
        *,
        starting_cash: float = 100_000.0,
        commission_per_share: float = 0.005,
        commission_min: float = 1.0,
        commission_max_pct: float = 0.01,
        commission_pct: float = 0.0,
        slippage_bps: float = 1.0,
        max_participation: float = 0.25,
        allow_short: bool = False,
        allow_fractional: bool = True,
        settlement_days: int = 1,
        journal: Path | None = None,
        option_rate: float = 0.0,
        commission_per_contract: float = 0.65,
    ) -> None:
        """``journal``: the file the broker remembers in (see the module docstring); None forgets.

        ``option_rate``: the continuously compounded risk-free rate the option model prices
        with; ``commission_per_contract``: an option's commission per contract (IB's 0.65).

        An existing journal is replayed here, so the broker comes back as it was (its opening
        line's starting cash wins over ``starting_cash``). Raises ``JournalError`` naming the
        file and line when the journal is damaged, or when another process holds it.
        """
        for label, value in (
            ("starting_cash", starting_cash),
            ("commission_per_share", commission_per_share),
            ("commission_min", commission_min),
            ("commission_max_pct", commission_max_pct),
            ("commission_pct", commission_pct),
            ("slippage_bps", slippage_bps),
            ("max_participation", max_participation),
            ("commission_per_contract", commission_per_contract),
        ):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"paper broker: {label} must be a finite number >= 0, got {value!r}")
        if settlement_days < 0:
            raise ValueError(f"paper broker: settlement_days must be >= 0, got {settlement_days}")
        if not math.isfinite(option_rate):
            raise ValueError(f"paper broker: option_rate must be a finite number, got {option_rate!r}")
        self._clock = clock
        self.commission_per_share = commission_per_share
        self.commission_min = commission_min
        self.commission_max_pct = commission_max_pct
        self.commission_pct = commission_pct
        self.slippage = slippage_bps / 10_000.0
        self.max_participation = max_participation
        self.allow_short = allow_short
        self.allow_fractional = allow_fractional
        self.settlement_days = settlement_days
        self.option_rate = option_rate
        self.commission_per_contract = commission_per_contract
        self._reporter: Reporter | None = None
        self._settlement_hook: SettlementHook | None = None
        self._option_vols: dict[str, float] = {}
        self._contracts: dict[str, OptionContract | None] = {}
        self._connected = False
        self._cash = starting_cash
        self._settled = starting_cash
        self._pending: list[_Pending] = []
        self._books: dict[str, _Book] = {}
        self._quotes: dict[str, Quote] = {}
        self._working: dict[str, _Record] = {}
        self._final: dict[str, _Record] = {}
        self._executions: list[Fill] = []
        self._next_broker_id = 1
        self._last_close: date | None = None
        self._replayed = 0
        self._journal: _Journal | None = None
        if journal is not None:
            self._journal = _Journal(journal)
            try:
                self._replay_journal(starting_cash)
            except BaseException:
                self._journal.close()  # a broker that failed to start holds no lock
                raise

    # ------------------------------------------------------------------ memory
    @property
    def journal_path(self) -> Path | None:
        return self._journal.path if self._journal is not None else None

    @property
    def remembers(self) -> bool:
        """True when the journal held trading history (anything after its opening line) at start.

        The engine restores the broker from its own ledger only when this is False (a new
        journal beside an older database); over a remembered account that would erase it.
        """
        return self._replayed > 1

    def close(self) -> None:
        """Release the journal file (and its lock); a later change opens it again."""
        if self._journal is not None:
            self._journal.close()

    def _replay_journal(self, starting_cash: float) -> None:
        assert self._journal is not None
        records = self._journal.open()
        if records and records[0][1]["e"] != "open":
            raise JournalError(
                f"{self._journal.path}:{records[0][0]}: the journal does not start with its opening line; "
                "it is damaged or not a paper broker journal"
            )
        for lineno, record in records:
            try:
                self._apply(record, first=lineno == records[0][0])
            except JournalError:
                raise
            except (KeyError, IndexError, TypeError, ValueError) as exc:  # DecodeError is a ValueError
                raise JournalError(
                    f"{self._journal.path}:{lineno}: a {record.get('e')!r} record cannot be replayed "
                    f"({type(exc).__name__}: {exc}); the paper broker's journal is damaged"
                ) from exc
        self._replayed = len(records)
        if not records:
            opening: dict[str, Any] = {
                "e": "open",
                "ts": self._clock.now().isoformat(),
                "v": JOURNAL_VERSION,
                "cash": starting_cash,
            }
            self._journal.append(opening)
            self._apply(opening, first=True)

    def _commit(self, record: dict[str, Any]) -> None:
        """Journal a change (on disk before anything else happens), then apply it to the state.

        The state only ever changes through ``_apply``, live and on replay alike, so the broker
        rebuilt from its journal is the broker that wrote it. Raises ``JournalError`` (nothing
        changed) when the line cannot be written.
        """
        data: dict[str, Any] = to_jsonable(record)
        if self._journal is not None:
            self._journal.append(data)
        self._apply(data)

    def _apply(self, rec: dict[str, Any], *, first: bool = False) -> None:
        kind = rec["e"]
        if kind == "open":
            if not first:
                raise ValueError("an opening record in the middle of the journal")
            if int(rec["v"]) > JOURNAL_VERSION:
                raise JournalError(
                    f"{self.journal_path}: written by a newer onetap (journal version {rec['v']}, "
                    f"this one reads {JOURNAL_VERSION})"
                )
            self._cash = self._settled = float(rec["cash"])
            return
        ts = _ts(rec["ts"])
        match kind:
            case "accept":
                order: Order = _decode(rec["order"], Order)
                self._check_new(order.client_order_id)
                ref, triggered = float(rec["ref_price"]), bool(rec["triggered"])
                self._working[order.client_order_id] = _Record(order, ref_price=ref, triggered=triggered)
                self._next_broker_id += 1
            case "reject":
                rejected: Order = _decode(rec["order"], Order)
                self._check_new(rejected.client_order_id)
                self._final[rejected.client_order_id] = _Record(rejected)
            case "trigger":
                self._working[rec["coid"]].triggered = True
            case "fill":
                # The settlement period of the day it traded, not of today's configuration.
                self._apply_fill(_decode(rec["fill"], Fill), int(rec.get("settle", self.settlement_days)))
            case "cancel":
                self._finish(self._working[rec["coid"]], OrderStatus.CANCELLED, str(rec["reason"]), ts)
            case "modify":
                record = self._working[rec["coid"]]
                limit = None if rec["limit_price"] is None else float(rec["limit_price"])
                record.order = replace(
                    record.order, quantity=float(rec["quantity"]), limit_price=limit, updated_at=ts
                )
                record.ref_price = self._reference_price(record.order)
            case "close":
                self._apply_close(date.fromisoformat(rec["day"]), rec["expired"], ts)
                self._apply_settlements(rec, ts)
            case "restore":
                self._apply_restore(rec)
            case "resubmit":
                if rec["coid"] not in self._working and rec["coid"] not in self._final:
                    raise ValueError(f"order {rec['coid']} resubmitted but never submitted")
            case _:
                raise ValueError(f"unknown record type {kind!r}")

    def _check_new(self, coid: str) -> None:
        if coid in self._working or coid in self._final:
            raise ValueError(f"order {coid} is recorded twice")

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

    async def connect(self) -> None:
        self._connected = True

    async def disconnect(self) -> None:
        """Stop taking requests and release the journal (reopened by the next change, if any)."""
        self._connected = False
        self.close()

    async def submit(self, order: Order) -> None:
        """Validate and accept (or reject) at once; fills come only from later quotes.

        Raises ``BrokerError`` only when the order surely did not reach the broker (not
        connected, nowhere to report, the journal could not record it). A second submit of a
        client order id the broker has seen, before or after a restart, replays that order's
        reports instead of trading it again (rule 8: no duplicates).
        """
        if not self._connected:
            raise BrokerError("the paper broker is not connected: call connect() first")
        if self._reporter is None:
            raise BrokerError("the paper broker has no reporter: call set_reporter() before submitting")
        coid = order.client_order_id
        known = self._working.get(coid) or self._final.get(coid)
        if known is not None:
            # Recorded although nothing changes: the journal is the broker's evidence of every
            # order it received, so a sender that repeats itself can be caught at it.
            self._commit({"e": "resubmit", "ts": self._clock.now(), "coid": coid})
            self._replay(known)
            return
        now = self._clock.now()
        reason = self._validate(order)
        if reason:
            rejected = replace(order, status=OrderStatus.REJECTED, reason=reason, updated_at=now)
            self._commit({"e": "reject", "ts": now, "order": rejected})
            self._report(OrderRejected(coid, reason))
            return
        broker_id = f"P{self._next_broker_id}"
        own = replace(
            order,
            status=OrderStatus.ACKNOWLEDGED,
            broker_order_id=broker_id,
            filled_quantity=0.0,
            avg_fill_price=None,
            updated_at=now,
            reason="",
        )
        self._commit(
            {
                "e": "accept",
                "ts": now,
                "order": own,
                "ref_price": self._reference_price(order),
                "triggered": not _is_stop(order),
            }
        )
        self._report(OrderAcknowledged(coid, broker_id))

    async def cancel(self, client_order_id: str) -> None:
        if not self._connected:
            raise BrokerError("the paper broker is not connected: call connect() first")
        record = self._working.get(client_order_id)
        if record is None:
            final = self._final.get(client_order_id)
            status = final.order.status.value if final is not None else "never submitted"
            raise BrokerError(f"order {client_order_id} is not working at the paper broker (status {status})")
        self._cancel(record, "cancelled at the operator's request")

    async def global_cancel(self) -> None:
        """Every working order cancelled (the paper account has no other client)."""
        if not self._connected:
            raise BrokerError("the paper broker is not connected: call connect() first")
        for record in list(self._working.values()):
            self._cancel(record, "cancelled by a global cancel")

    def sending_refused(self) -> str:
        return ""

    async def modify(self, client_order_id: str, *, quantity: float, limit_price: float | None) -> None:
        """Change the quantity and/or limit of a working order in place, as a real broker does."""
        if not self._connected:
            raise BrokerError("the paper broker is not connected: call connect() first")
        record = self._working.get(client_order_id)
        if record is None:
            raise BrokerError(f"order {client_order_id} is not working at the paper broker")
        order = record.order
        if not (math.isfinite(quantity) and quantity > order.filled_quantity + EPS):
            raise BrokerError(
                f"the new quantity {_shares(quantity)} must be above what already filled "
                f"({_shares(order.filled_quantity)})"
            )
        option = self._contract(order.symbol) is not None
        if option and quantity != math.floor(quantity):
            raise BrokerError(f"options trade in whole contracts: {_shares(quantity)} is not whole")
        if not self.allow_fractional and quantity != math.floor(quantity):
            raise BrokerError(f"fractional shares are disabled: {_shares(quantity)} is not whole")
        limited = order.order_type in (OrderType.LMT, OrderType.STP_LMT)
        if limit_price is not None and not limited:
            raise BrokerError(f"a {order.order_type.value} order has no limit price to change")
        if limited and not _positive(limit_price):
            raise BrokerError(f"a {order.order_type.value} order needs a positive limit price")
        if order.side is Side.BUY:
            proposed = replace(order, quantity=quantity, limit_price=limit_price)
            price = self._reference_price(proposed)
            remaining = quantity - order.filled_quantity
            need = self._cost(order.symbol, remaining, price, first=not record.min_charged)
            available = self._settled - self._reserved(exclude=record)
            if need > available + EPS:
                raise BrokerError(
                    f"insufficient settled cash for the change: need ${need:,.2f}, "
                    f"available ${max(available, 0.0):,.2f}"
                )
        elif quantity > order.quantity + EPS:
            # More to sell may write calls (or leave the ones written uncovered): check it as new.
            more = replace(order, quantity=quantity - order.filled_quantity)
            reason = self._check_cover(more, exclude=record)
            if reason:
                raise BrokerError(reason)
        self._commit(
            {
                "e": "modify",
                "ts": self._clock.now(),
                "coid": client_order_id,
                "quantity": quantity,
                "limit_price": limit_price,
            }
        )
        self._report(OrderModified(client_order_id, quantity, limit_price))

    async def open_orders(self) -> list[Order]:
        return [replace(r.order) for r in self._working.values()]

    async def executions(self) -> list[Fill]:
        """Every fill this broker made, oldest first, across restarts (it remembers them all)."""
        return list(self._executions)

    async def positions(self) -> list[BrokerPosition]:
        return [
            BrokerPosition(sym, book.quantity, book.avg_cost)
            for sym, book in sorted(self._books.items())
            if abs(book.quantity) > EPS
        ]

    async def cash(self) -> float:
        return self._cash

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
        if self._contract(quote.symbol) is not None:
            return
        self._quotes[quote.symbol] = quote
        try:
            for record in [r for r in self._working.values() if r.order.symbol == quote.symbol]:
                self._match_once(record, quote)
            if quote.symbol in self._option_vols:
                self._match_options(quote)
        except JournalError as exc:
            log.error("paper broker: matching stopped: %s", exc)

    def _match_once(self, record: _Record, quote: Quote) -> None:
        self._match(record, quote)
        if record.order.tif is TimeInForce.IOC and record.order.client_order_id in self._working:
            self._cancel(record, "IOC: the unfilled remainder was cancelled after the first quote")

    def _match_options(self, underlying: Quote) -> None:
        """Match the working orders on options of ``underlying`` against their new model quotes."""
        for record in list(self._working.values()):
            contract = self._contract(record.order.symbol)
            if contract is None or contract.underlying != underlying.symbol:
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
        if not (math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"paper broker: the volatility of {underlying} must be >= 0, got {sigma!r}")
        self._option_vols[underlying] = sigma

    def option_quote(self, symbol: str) -> Quote | None:
        """The model's quote of an option now, or None (not an option, no volatility, no underlying quote).

        Stamped with the underlying quote's time; ``last`` is the model price itself, rounded to
        a hundredth of a cent, and the sizes are 0 (no option volume is modelled).
        """
        contract = self._contract(symbol)
        if contract is None:
            return None
        sigma = self._option_vols.get(contract.underlying)
        underlying = self._quotes.get(contract.underlying)
        if sigma is None or underlying is None:
            return None
        model = black_scholes(
            contract.right,
            underlying_price=underlying.mid,
            strike=contract.strike,
            expiry_years=contract.years_to_expiry(underlying.ts),
            volatility=sigma,
            rate=self.option_rate,
        )
        price = model.price
        half = max(OPTION_MIN_HALF_SPREAD, OPTION_HALF_SPREAD_PCT * price)
        return Quote(
            symbol=symbol,
            ts=underlying.ts,
            bid=max(_tick_down(price - half), 0.0),
            ask=_tick_up(price + half),
            last=round(price, PRICE_DECIMALS),
            bid_size=0.0,
            ask_size=0.0,
            last_size=0.0,
            volume=0.0,
        )

    def option_marks(self) -> dict[str, float]:
        """symbol -> model price of every option held or worked that the model can price now.

        What the engine marks its ledger (and prices its risk checks) with for options, after
        each round of quotes: the replay quotes no option.
        """
        marks: dict[str, float] = {}
        for symbol in {*self._books, *(r.order.symbol for r in self._working.values())}:
            quote = self.option_quote(symbol)
            if quote is not None:
                marks[symbol] = quote.last
        return marks

    def settlement_orders(self) -> list[Order]:
        """Every expiry settlement order made so far, as the settlement hook received it.

        For reconciliation after a crash between the journal line and the engine's own record:
        an order missing from the database is inserted, and its fill is then found among
        ``executions`` and applied like any other missed fill.
        """
        return [
            _as_announced(record.order)
            for coid, record in self._final.items()
            if coid.startswith(SETTLEMENT_PREFIX)
        ]

    def _contract(self, symbol: str) -> OptionContract | None:
        """The option ``symbol`` names, None for anything else (parsed once per symbol)."""
        try:
            return self._contracts[symbol]
        except KeyError:
            contract = OptionContract.parse(symbol) if is_option_symbol(symbol) else None
            self._contracts[symbol] = contract
            return contract

    def _multiplier(self, symbol: str) -> float:
        contract = self._contract(symbol)
        return contract.multiplier if contract is not None else 1.0

    def _market(self, symbol: str) -> Quote | None:
        """The quote an order on ``symbol`` trades against now: the last one, or the option model's."""
        if self._contract(symbol) is None:
            return self._quotes.get(symbol)
        return self.option_quote(symbol)

    def on_session_close(self, day: date, closes: Mapping[str, float] | None = None) -> None:
        """Expire DAY (and IOC) orders and move sale proceeds one session closer to settlement.

        Idempotent per day: a second call for the same (or an earlier) day changes nothing, so
        a retried end-of-day cannot settle proceeds early. The close and its expiries are one
        journal line, so a crash cannot leave half a close behind.

        Options expiring that day (or before) are settled in cash at intrinsic value against
        the underlying's close: ``closes[underlying]`` when given, else the last trade of its
        latest quote; every order still working on them expires. An option whose underlying
        has no price is left open (logged) and settled at the next close that has one. See the
        module docstring: real equity options are physically settled.
        """
        if self._last_close is not None and day <= self._last_close:
            return
        expired = [
            (r.order.client_order_id, self._expiry_reason(r.order, day))
            for r in self._working.values()
            if r.order.tif is not TimeInForce.GTC or self._expires_by(r.order.symbol, day)
        ]
        record: dict[str, Any] = {"e": "close", "ts": self._clock.now(), "day": day, "expired": expired}
        settle = self._settlements(day, closes or {})
        if settle:
            record["settlements"] = settle
            record["settle_days"] = self.settlement_days
        try:
            self._commit(record)
        except JournalError as exc:
            log.error("paper broker: the close of %s was not done: %s", day.isoformat(), exc)
            return
        for coid, reason in expired:
            self._report(OrderExpired(coid, reason))
        for coid, *_rest in settle:
            settled = self._final[coid]
            if self._settlement_hook is not None:
                self._settlement_hook(_as_announced(settled.order))
            self._report(OrderFilled(settled.fills[-1]))

    def _expires_by(self, symbol: str, day: date) -> bool:
        contract = self._contract(symbol)
        return contract is not None and contract.expiry <= day

    def _expiry_reason(self, order: Order, day: date) -> str:
        if self._expires_by(order.symbol, day):
            return f"{order.symbol} expired at the close of {day.isoformat()}"
        return f"{order.tif.value} order expired at the close of {day.isoformat()}"

    def _settlements(self, day: date, closes: Mapping[str, float]) -> list[list[Any]]:
        """[client id, symbol, side, contracts, intrinsic price, underlying close] per expiring position."""
        out: list[list[Any]] = []
        for symbol, book in sorted(self._books.items()):
            contract = self._contract(symbol)
            if contract is None or contract.expiry > day or abs(book.quantity) <= EPS:
                continue
            close = closes.get(contract.underlying)
            if close is None:
                quote = self._quotes.get(contract.underlying)
                close = quote.last if quote is not None else None
            if close is None or not (math.isfinite(close) and close > 0):
                log.error(
                    "paper broker: %s expired on %s but %s has no price; it stays open until a close has one",
                    symbol,
                    contract.expiry.isoformat(),
                    contract.underlying,
                )
                continue
            coid = f"{SETTLEMENT_PREFIX}{day.isoformat()}-{symbol.replace(' ', '')}"
            side = Side.SELL if book.quantity > 0 else Side.BUY
            intrinsic = round(contract.intrinsic(close), PRICE_DECIMALS)
            out.append([coid, symbol, side.value, abs(book.quantity), intrinsic, close])
        return out

    def restore(
        self, *, cash: float, positions: list[BrokerPosition], settled_cash: float | None = None
    ) -> None:
        """Rebuild the ledger at engine start from what the engine persisted.

        For a broker that remembers nothing (no journal, or a new one beside an older
        database); one that replayed its journal must not be restored over (see ``remembers``).
        Restoring over working orders would leave reservations pointing at a ledger they were
        not made against; that is refused. Without ``settled_cash`` all cash counts as settled:
        the engine persists one cash figure, and a restart is treated as a settlement boundary.
        """
        if self._working:
            raise BrokerError(
                f"cannot restore the paper ledger while {len(self._working)} orders are working"
            )
        settled = cash if settled_cash is None else settled_cash
        if not (math.isfinite(cash) and math.isfinite(settled)):
            raise BrokerError(f"cannot restore the paper ledger: cash {cash!r}, settled cash {settled!r}")
        for pos in positions:
            if not (math.isfinite(pos.quantity) and math.isfinite(pos.avg_cost)):
                raise BrokerError(
                    f"cannot restore the paper ledger: position {pos.symbol} "
                    f"quantity {pos.quantity!r} avg cost {pos.avg_cost!r}"
                )
        self._commit(
            {
                "e": "restore",
                "ts": self._clock.now(),
                "cash": cash,
                "settled": settled,
                "positions": [[p.symbol, p.quantity, p.avg_cost] for p in positions if abs(p.quantity) > EPS],
            }
        )

    @property
    def settled_cash(self) -> float:
        """Cash a buy may be paid from (sale proceeds not yet settled excluded); O(1) for risk checks."""
        return self._settled

    def account_summary(self) -> PaperAccount:
        """Options are valued at the model price (x the multiplier), or at cost when it has none."""
        value = 0.0
        for sym, book in self._books.items():
            quote = self._market(sym)
            price = quote.last if quote is not None else book.avg_cost
            value += book.quantity * price * self._multiplier(sym)
        return PaperAccount(
            cash=self._cash,
            settled_cash=self._settled,
            reserved_cash=self._reserved(),
            positions_value=value,
            equity=self._cash + value,
        )

    # ------------------------------------------------------------------ validation
    def _validate(self, order: Order) -> str:
        """The reason an order is refused, or "" when it may work."""
        qty = order.quantity
        if not (math.isfinite(qty) and qty > 0):
            return f"quantity must be positive, got {_shares(qty)}"
        contract = self._contract(order.symbol)
        if contract is not None and qty != math.floor(qty):
            return f"options trade in whole contracts: quantity {_shares(qty)} is not whole"
        if not self.allow_fractional and qty != math.floor(qty):
            return f"fractional shares are disabled: quantity {_shares(qty)} is not a whole number of shares"
        if order.order_type in (OrderType.LMT, OrderType.STP_LMT) and not _positive(order.limit_price):
            return f"{order.order_type.value} order needs a positive limit price, got {order.limit_price}"
        if _is_stop(order) and not _positive(order.stop_price):
            return f"{order.order_type.value} order needs a positive stop price, got {order.stop_price}"
        if contract is not None:
            reason = self._check_option_market(order, contract)
            if reason:
                return reason
        elif order.symbol not in self._quotes:
            return f"no market data for {order.symbol}"
        if order.side is Side.BUY:
            return self._check_cash(order)
        return self._check_position(order)

    def _check_option_market(self, order: Order, contract: OptionContract) -> str:
        """Why the option cannot be traded now ("" when it can): expired, or nothing to price it with."""
        now = self._clock.now()
        underlying = self._quotes.get(contract.underlying)
        if now >= contract.expires_at or (underlying is not None and underlying.ts >= contract.expires_at):
            return f"{order.symbol} expired on {contract.expiry.isoformat()}"
        if contract.underlying not in self._option_vols:
            return (
                f"no option quote model for {order.symbol}: no volatility for {contract.underlying} yet "
                "(the engine supplies it daily)"
            )
        if underlying is None:
            return f"no market data for {contract.underlying}, the underlying of {order.symbol}"
        return ""

    def _check_cash(self, order: Order) -> str:
        price = self._reference_price(order)
        need = self._cost(order.symbol, order.quantity, price, first=True)
        available = self._settled - self._reserved()
        if need > available + EPS:
            return f"insufficient settled cash: need ${need:,.2f}, available ${max(available, 0.0):,.2f}"
        return ""

    def _check_position(self, order: Order) -> str:
        if self.allow_short or self._contract(order.symbol) is not None:
            return self._check_cover(order)
        book = self._books.get(order.symbol)
        position = book.quantity if book is not None else 0.0
        held = self._selling(order.symbol)
        if order.quantity > position - held + EPS:
            held_text = f" ({_shares(held)} held by working sells)" if held > EPS else ""
            sell = _shares(order.quantity)
            return f"short selling disabled: position {_shares(position)}{held_text}, sell {sell}"
        return self._check_cover(order)

    def _selling(self, symbol: str, exclude: _Record | None = None) -> float:
        """What working sells of ``symbol`` may still take from its position."""
        return sum(
            r.order.remaining
            for r in self._working.values()
            if r is not exclude and r.order.symbol == symbol and r.order.side is Side.SELL
        )

    def _available(self, symbol: str, exclude: _Record | None = None) -> float:
        """The position less what working sells may take from it (negative when short)."""
        book = self._books.get(symbol)
        return (book.quantity if book is not None else 0.0) - self._selling(symbol, exclude)

    def _check_cover(self, order: Order, exclude: _Record | None = None) -> str:
        """A sell may write options only as covered calls, and may not uncover the calls written.

        For an option: selling what is held (less working sells) is closing and always fine;
        beyond that a put is refused, and a call only when the underlying's shares, less their
        working sells, cover every short call on it after this order (x the multiplier).
        For shares: the sale must leave those calls covered.
        """
        contract = self._contract(order.symbol)
        if contract is None:
            need = self._call_cover(order.symbol, exclude=exclude)
            if need <= EPS:
                return ""
            shares = self._available(order.symbol, exclude)
            if shares - order.quantity < need - EPS:
                return (
                    f"the sale would uncover written calls: they need {_shares(need)} {order.symbol} "
                    f"shares, {_shares(max(shares, 0.0))} are free to sell them from"
                )
            return ""
        held = self._available(order.symbol, exclude)
        if order.quantity <= held + EPS:
            return ""
        writes = order.quantity - max(held, 0.0)
        if contract.right == "P":
            return (
                f"naked option selling is not allowed: selling {_shares(order.quantity)} {order.symbol} "
                f"would write {_shares(writes)} puts; only covered calls may be written"
            )
        need = self._call_cover(contract.underlying, extra=(order.symbol, order.quantity), exclude=exclude)
        shares = self._available(contract.underlying, exclude)
        if need > shares + EPS:
            return (
                f"naked option selling is not allowed: selling {_shares(order.quantity)} {order.symbol} "
                f"would leave calls uncovered: they need {_shares(need)} {contract.underlying} shares "
                f"({contract.multiplier:g} per contract), {_shares(max(shares, 0.0))} are held "
                "(working sells deducted)"
            )
        return ""

    def _call_cover(
        self, underlying: str, *, extra: tuple[str, float] | None = None, exclude: _Record | None = None
    ) -> float:
        """Shares of ``underlying`` its written calls need: every short call (working sells and
        ``extra`` = (symbol, quantity sold) included) x its multiplier."""
        symbols = {*self._books, *(r.order.symbol for r in self._working.values())}
        if extra is not None:
            symbols.add(extra[0])
        need = 0.0
        for symbol in symbols:
            contract = self._contract(symbol)
            if contract is None or contract.right != "C" or contract.underlying != underlying:
                continue
            after = self._available(symbol, exclude)
            if extra is not None and symbol == extra[0]:
                after -= extra[1]
            need += max(-after, 0.0) * contract.multiplier
        return need

    def _reference_price(self, order: Order) -> float:
        """The per-share price a buy's cash is checked and reserved at.

        A limit caps the price, so the limit is exact. A market order would pay the current ask
        plus slippage; a buy stop fires at or above its stop, so the higher of the two is used.
        Sells reserve no cash, but the value is kept for symmetry of the record.
        """
        if order.order_type in (OrderType.LMT, OrderType.STP_LMT) and order.limit_price is not None:
            return order.limit_price
        if self._contract(order.symbol) is not None:
            return self._option_reference(order)
        quote = self._quotes.get(order.symbol)
        ask = quote.ask if quote is not None else 0.0
        if order.order_type is OrderType.STP and order.stop_price is not None and order.side is Side.BUY:
            ask = max(ask, order.stop_price)
        return ask * (1.0 + self.slippage)

    def _option_reference(self, order: Order) -> float:
        """An option market buy pays the model ask (no slippage on top); a stop, at least its stop."""
        quote = self.option_quote(order.symbol)
        ask = quote.ask if quote is not None else 0.0
        if order.order_type is OrderType.STP and order.stop_price is not None and order.side is Side.BUY:
            ask = max(ask, order.stop_price)
        return ask

    def _reserved(self, exclude: _Record | None = None) -> float:
        """Settled cash promised to working buys (their remaining quantity at the reference price)."""
        total = 0.0
        for record in self._working.values():
            if record is exclude or record.order.side is not Side.BUY:
                continue
            remaining = record.order.remaining
            if remaining > EPS:
                total += self._cost(
                    record.order.symbol, remaining, record.ref_price, first=not record.min_charged
                )
        return total

    # ------------------------------------------------------------------ matching
    def _match(self, record: _Record, quote: Quote) -> None:
        order = record.order
        if not record.triggered:
            stop = order.stop_price or 0.0
            hit = quote.last >= stop if order.side is Side.BUY else quote.last <= stop
            if not hit:
                return
            self._commit({"e": "trigger", "ts": self._clock.now(), "coid": order.client_order_id})
        option = self._contract(order.symbol) is not None
        price = self._option_fill_price(order, quote) if option else self._fill_price(order, quote)
        if price is None:
            return
        qty = order.remaining if option else min(order.remaining, self._participation(quote))
        if qty <= EPS:
            return
        if order.side is Side.BUY:
            budget = self._settled - self._reserved(exclude=record)
            payable = self._payable(record, qty, price, budget)
            if payable < qty - EPS:
                self._fill_and_drop(record, payable, price, budget)
                return
        self._fill(record, qty, price)

    def _fill_price(self, order: Order, quote: Quote) -> float | None:
        """The price this quote fills the order at, or None when the limit is not reached."""
        limited = order.order_type in (OrderType.LMT, OrderType.STP_LMT)
        limit = order.limit_price or 0.0
        if order.side is Side.BUY:
            if limited and quote.ask > limit:
                return None
            price = round(quote.ask * (1.0 + self.slippage), PRICE_DECIMALS)
            return min(price, limit) if limited else price
        if limited and quote.bid < limit:
            return None
        price = round(quote.bid * (1.0 - self.slippage), PRICE_DECIMALS)
        return max(price, limit) if limited else price

    @staticmethod
    def _option_fill_price(order: Order, quote: Quote) -> float | None:
        """The model ask for a buy, the model bid for a sell (none when the bid is zero), or the limit's
        side of it; None when the limit is not reached."""
        limited = order.order_type in (OrderType.LMT, OrderType.STP_LMT)
        limit = order.limit_price or 0.0
        if order.side is Side.BUY:
            if limited and quote.ask > limit + EPS:
                return None
            return quote.ask
        if quote.bid <= 0.0 or (limited and quote.bid < limit - EPS):
            return None
        return quote.bid

    def _participation(self, quote: Quote) -> float:
        size = quote.last_size if math.isfinite(quote.last_size) else 0.0
        cap = max(self.max_participation * size, 0.0)
        return cap if self.allow_fractional else math.floor(cap)

    def _payable(self, record: _Record, qty: float, price: float, budget: float) -> float:
        """How much of ``qty`` this buy can pay for at ``price`` out of ``budget``.

        The budget is settled cash less what other working buys reserved: this order may use
        its own reservation and any free cash, never another order's.
        """
        first = not record.min_charged
        if self._cost(record.order.symbol, qty, price, first=first) <= budget + EPS:
            return qty
        if self._contract(record.order.symbol) is not None:
            return min(self._max_contracts(record.order.symbol, budget, price, first=first), qty)
        return min(self._max_quantity(budget, price, first=first), qty)

    def _fill_and_drop(self, record: _Record, payable: float, price: float, budget: float) -> None:
        """Fill what can be paid for and cancel the rest of the order.

        A market or stop buy reserved cash at the price when it was placed and can meet a
        higher one; a cash account cannot go negative, so it trades what it can pay for and
        drops the remainder rather than wait on prices that may never come back.
        """
        order = record.order
        if payable > EPS:
            self._fill(record, payable, price)
        if order.client_order_id in self._working:
            reason = (
                f"insufficient settled cash: {_shares(order.remaining)} {order.symbol} at ${price:,.4f} "
                f"cannot be paid from ${max(budget, 0.0):,.2f}; the remainder was cancelled"
            )
            self._cancel(record, reason)

    def _max_quantity(self, budget: float, price: float, *, first: bool) -> float:
        """The most shares whose cost plus commission fits the budget.

        Cost is ``q*p*(1+pct) + min(max(m, s*q), cap*q*p)``: the minimum of two increasing
        functions, so the affordable set is ``q <= max(limit of either branch)``, solved in
        closed form and then rounded down to the share step (whole or fractional).
        """
        if budget <= 0:
            return 0.0
        grow = price * (1.0 + self.commission_pct)
        minimum = self.commission_min if first else 0.0
        capped = budget / (grow + price * self.commission_max_pct)
        uncapped = min((budget - minimum) / grow, budget / (grow + self.commission_per_share))
        step = FRACTION_STEP if self.allow_fractional else 1.0
        qty = math.floor(max(capped, uncapped, 0.0) / step) * step
        while qty > 0 and qty * price + self._commission(qty, price, first=first) > budget + EPS:
            qty = max(qty - step, 0.0)
        return qty

    def _max_contracts(self, symbol: str, budget: float, price: float, *, first: bool) -> float:
        """The most whole contracts whose cost plus commission fits the budget."""
        if budget <= 0:
            return 0.0
        qty = float(math.floor(budget / (price * self._multiplier(symbol) + self.commission_per_contract)))
        while qty > 0 and self._cost(symbol, qty, price, first=first) > budget + EPS:
            qty -= 1.0
        return qty

    def _cost(self, symbol: str, qty: float, price: float, *, first: bool) -> float:
        """What buying ``qty`` of ``symbol`` at ``price`` takes from cash, commission included."""
        contract = self._contract(symbol)
        if contract is None:
            return qty * price + self._commission(qty, price, first=first)
        return qty * price * contract.multiplier + self._option_commission(qty, first=first)

    def _fee(self, symbol: str, qty: float, price: float, *, first: bool) -> float:
        if self._contract(symbol) is None:
            return self._commission(qty, price, first=first)
        return self._option_commission(qty, first=first)

    def _option_commission(self, qty: float, *, first: bool) -> float:
        """Per contract, with the per-order minimum on the first fill (as shares); no value cap."""
        base = self.commission_per_contract * qty
        return max(self.commission_min, base) if first else base

    def _commission(self, qty: float, price: float, *, first: bool) -> float:
        """Per share with a per-order minimum (charged on the first fill only), capped by value."""
        value = qty * price
        base = self.commission_per_share * qty
        if first:
            base = max(self.commission_min, base)
        return min(base, self.commission_max_pct * value) + self.commission_pct * value

    def _fill(self, record: _Record, qty: float, price: float) -> None:
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
            commission=self._fee(order.symbol, qty, price, first=not record.min_charged),
            ts=self._clock.now(),
        )
        self._commit({"e": "fill", "ts": fill.ts, "fill": fill, "settle": self.settlement_days})
        self._report(OrderFilled(record.fills[-1]))

    def _cancel(self, record: _Record, reason: str) -> None:
        coid = record.order.client_order_id
        self._commit({"e": "cancel", "ts": self._clock.now(), "coid": coid, "reason": reason})
        self._report(OrderCancelled(coid, reason))

    # ------------------------------------------------------------------ applying journal records
    def _apply_fill(self, fill: Fill, settlement_days: int) -> None:
        record = self._working[fill.client_order_id]
        order = record.order
        qty, price, commission = fill.quantity, fill.price, fill.commission
        record.min_charged = True
        record.commission += commission
        value = qty * price
        money = value if self._contract(order.symbol) is None else value * self._multiplier(order.symbol)
        if order.side is Side.BUY:
            self._cash -= money + commission
            self._settled -= money + commission
        else:
            proceeds = money - commission
            self._cash += proceeds
            if settlement_days == 0:
                self._settled += proceeds
            else:
                self._pending.append(_Pending(settlement_days, proceeds))
        _apply_to_book(self._books.setdefault(order.symbol, _Book()), order.side.sign * qty, price)
        if abs(self._books[order.symbol].quantity) <= EPS:
            del self._books[order.symbol]
        filled = order.filled_quantity + qty
        order.avg_fill_price = ((order.avg_fill_price or 0.0) * order.filled_quantity + value) / filled
        order.filled_quantity = order.quantity if order.quantity - filled <= EPS else filled
        order.updated_at = fill.ts
        record.fills.append(fill)
        self._executions.append(fill)
        if order.remaining <= EPS:
            self._finish(record, OrderStatus.FILLED, "", fill.ts)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED

    def _apply_close(self, day: date, expired: list[Any], ts: datetime) -> None:
        self._last_close = day
        for coid, reason in expired:
            self._finish(self._working[coid], OrderStatus.EXPIRED, str(reason), ts)
        still: list[_Pending] = []
        for pending in self._pending:
            pending.sessions_left -= 1
            if pending.sessions_left <= 0:
                self._settled += pending.amount
            else:
                still.append(pending)
        self._pending = still

    def _apply_settlements(self, rec: dict[str, Any], ts: datetime) -> None:
        """A close's option expiry settlements (absent from closes with none, as in older journals)."""
        settle_days = int(rec.get("settle_days", self.settlement_days))
        for settlement in rec.get("settlements", []):
            self._apply_settlement(settlement, settle_days, ts)

    def _apply_settlement(self, settlement: list[Any], settlement_days: int, ts: datetime) -> None:
        """Close one expired option position at its intrinsic value: a broker-made order and its fill."""
        coid, symbol, side_text, quantity, price, close = settlement
        self._check_new(str(coid))
        contract = self._contract(str(symbol))
        if contract is None:
            raise ValueError(f"settlement of {symbol!r}, which is not an option")
        side, qty, intrinsic = Side(side_text), float(quantity), float(price)
        order = Order(
            client_order_id=str(coid),
            symbol=str(symbol),
            side=side,
            quantity=qty,
            status=OrderStatus.ACKNOWLEDGED,
            broker_order_id=str(coid),
            created_at=ts,
            updated_at=ts,
        )
        self._working[order.client_order_id] = _Record(order, ref_price=intrinsic, min_charged=True)
        fill = Fill(
            exec_id=f"{coid}.1",
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=side,
            quantity=qty,
            price=intrinsic,
            commission=0.0,
            ts=ts,
        )
        self._apply_fill(fill, settlement_days)
        order.reason = (
            f"cash-settled at expiry: intrinsic value {intrinsic:,.4f} against the "
            f"{contract.underlying} close {float(close):,.4f}"
        )

    def _apply_restore(self, rec: dict[str, Any]) -> None:
        books: dict[str, _Book] = {}
        for symbol, quantity, avg_cost in rec["positions"]:
            book = books.setdefault(str(symbol), _Book())
            _apply_to_book(book, float(quantity), float(avg_cost))
        self._cash = float(rec["cash"])
        self._settled = float(rec["settled"])
        self._pending = []
        self._books = books

    # ------------------------------------------------------------------ bookkeeping
    def _finish(self, record: _Record, status: OrderStatus, reason: str, ts: datetime) -> None:
        order = record.order
        order.status = status
        order.reason = reason
        order.updated_at = ts
        self._working.pop(order.client_order_id, None)
        self._final[order.client_order_id] = record

    def _replay(self, record: _Record) -> None:
        """Report again everything that happened to an order (its reports are idempotent)."""
        order = record.order
        coid = order.client_order_id
        if order.status is OrderStatus.REJECTED:
            self._report(OrderRejected(coid, order.reason))
            return
        self._report(OrderAcknowledged(coid, order.broker_order_id or ""))
        for fill in record.fills:
            self._report(OrderFilled(fill))
        if order.status is OrderStatus.CANCELLED:
            self._report(OrderCancelled(coid, order.reason))
        elif order.status is OrderStatus.EXPIRED:
            self._report(OrderExpired(coid, order.reason))

    def _report(self, report: BrokerReport) -> None:
        if self._reporter is not None:
            self._reporter(report)


def _as_announced(order: Order) -> Order:
    """A settlement order as the engine first records it: acknowledged, nothing filled yet."""
    return replace(
        order,
        status=OrderStatus.ACKNOWLEDGED,
        filled_quantity=0.0,
        avg_fill_price=None,
        updated_at=order.created_at,
    )


def _tick_down(price: float) -> float:
    """``price`` rounded down to the option tick (a hair of float noise is not a tick)."""
    return round(math.floor(price / OPTION_TICK + 1e-9) * OPTION_TICK, 2)


def _tick_up(price: float) -> float:
    return round(math.ceil(price / OPTION_TICK - 1e-9) * OPTION_TICK, 2)


def _is_stop(order: Order) -> bool:
    return order.order_type in (OrderType.STP, OrderType.STP_LMT)


def _shares(qty: float) -> str:
    """A share count as a trader writes it: 100, 2.5, 1234567 (never 1.23457e+06)."""
    text = f"{qty:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _apply_to_book(book: _Book, signed_qty: float, price: float) -> None:
    """Average cost on adds; unchanged on reductions; the fill price when a position flips."""
    if abs(book.quantity) <= EPS or (book.quantity > 0) == (signed_qty > 0):
        total = book.quantity + signed_qty
        book.avg_cost = (book.avg_cost * book.quantity + price * signed_qty) / total
        book.quantity = total
        return
    remaining = book.quantity + signed_qty
    if abs(remaining) <= EPS:
        book.quantity, book.avg_cost = 0.0, 0.0
    elif (remaining > 0) != (book.quantity > 0):
        book.quantity, book.avg_cost = remaining, price
    else:
        book.quantity = remaining


# --------------------------------------------------------------------------- journal
JOURNAL_VERSION = 1
"""Written in the opening line; a journal from a newer onetap is refused rather than misread."""
_JOURNAL_MODE = 0o600
_DIR_MODE = 0o700


class JournalError(BrokerError):
    """The journal cannot be read back or written; the message names the file (and the line)."""


def journal_path_for(database: Path) -> Path:
    """Where the engine keeps the paper broker's journal: beside the database, one per database."""
    return Path(database).with_suffix(".paper.jsonl")


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a journal, read-only (for tools and tests; the broker replays its own).

    A torn last line (a crash mid-write) is left out, as the broker leaves it out; any other
    line that is not a JSON object raises ``JournalError`` naming the file and line.
    """
    records, _torn = _parse(path, Path(path).read_bytes())
    return [record for _line, record in records]


def _parse(path: Path, data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], tuple[int, int] | None]:
    """(line number, record) for every complete line, and (line number, offset) of a torn last line."""
    records: list[tuple[int, dict[str, Any]]] = []
    offset = 0
    lineno = 0
    while offset < len(data):
        lineno += 1
        end = data.find(b"\n", offset)
        last = end == -1
        raw = data[offset:] if last else data[offset:end]
        try:
            record = json.loads(raw)
        except ValueError:  # JSONDecodeError, and UnicodeDecodeError from a cut multi-byte character
            if last:
                return records, (lineno, offset)
            raise JournalError(
                f"{path}:{lineno}: not a JSON line; the paper broker's journal is damaged "
                "(move it aside to start the paper account afresh)"
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("e"), str):
            raise JournalError(f"{path}:{lineno}: not a journal record (expected an object with 'e')")
        records.append((lineno, record))
        offset = len(data) if last else end + 1
    return records, None


class _Journal:
    """An append-only file of JSON lines, each on disk (fsynced) before ``append`` returns.

    The file is created 0600 in a 0700 folder (it holds the account), and locked while open so
    that a second engine on the same database cannot interleave its own history into it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._size = 0

    def open(self) -> list[tuple[int, dict[str, Any]]]:
        """Lock the file (creating it) and return its records; a torn last line is cut off."""
        fd = self._lock()
        data = _read_all(fd)
        records, torn = _parse(self.path, data)
        if torn is not None:
            lineno, offset = torn
            log.warning(
                "%s:%d: a torn last line (the process stopped mid-write) was ignored and cut off; "
                "the broker never reported what it would have recorded",
                self.path,
                lineno,
            )
            os.ftruncate(fd, offset)
            os.fsync(fd)
            data = data[:offset]
        elif data and not data.endswith(b"\n"):
            # A whole record whose newline was lost: keep it, and end it so the next one starts clean.
            os.write(fd, b"\n")
            os.fsync(fd)
            data += b"\n"
        self._size = len(data)
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and fsync it; on failure cut back what was written and raise JournalError."""
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        fd = self._fd if self._fd is not None else self._reopen()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._size)  # a half line would read as damage in the middle later
            raise JournalError(
                f"{self.path}: cannot write the paper broker's journal ({exc.strerror}); "
                "nothing was done and nothing was reported"
            ) from exc
        self._size += len(data)

    @property
    def size(self) -> int:
        return self._size

    def close(self) -> None:
        """Release the file and its lock; the next ``append`` opens it again."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __del__(self) -> None:
        # A broker dropped without close() must not keep the lock for the life of the process.
        with contextlib.suppress(OSError):
            self.close()

    def _reopen(self) -> int:
        fd = self._lock()
        self._size = os.fstat(fd).st_size
        return fd

    def _lock(self) -> int:
        _make_private_dir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, _JOURNAL_MODE)
            created = True
        except FileExistsError:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            created = False
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot create the paper broker's journal: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise JournalError(
                f"{self.path}: the paper broker's journal is in use by another process "
                "(is another onetap engine running on this database?)"
            ) from None
        os.fchmod(fd, _JOURNAL_MODE)  # umask-proof, and an older file is made private too
        if created:
            _fsync_dir(self.path.parent)
        self._fd = fd
        return fd


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks: list[bytes] = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _make_private_dir(folder: Path) -> None:
    if not folder.exists():
        folder.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)


def _fsync_dir(folder: Path) -> None:
    # Makes the new file's name durable; some filesystems cannot fsync a directory, which is harmless.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _decode(data: Any, cls: type[Any]) -> Any:
    value = from_jsonable(data)
    if not isinstance(value, cls):
        raise DecodeError(f"expected {cls.__name__}, found {type(value).__name__}")
    return value


def _ts(text: Any) -> datetime:
    ts = datetime.fromisoformat(str(text))
    if ts.tzinfo is None:
        raise ValueError(f"time {text!r} carries no zone")
    return ts
