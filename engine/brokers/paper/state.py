"""Everything the paper broker remembers, and the one way it changes: applying a journal line.

Live and on replay alike the broker changes its state only through ``PaperState.apply``, so a
broker rebuilt from its journal is the broker that wrote it: its working orders, fills, cash,
unsettled proceeds, positions, and every client order id it has seen. Queries the broker's
checks need about that state (cash reserved by working buys, shares promised to working sells)
live here too; quotes are market data and are not part of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

from engine.brokers.base import (
    BrokerReport,
    OrderAcknowledged,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from engine.brokers.paper.account import EPS, Account, PaperAccount
from engine.brokers.paper.commission import Fees
from engine.brokers.paper.journal import JOURNAL_VERSION, Journal, JournalError, decode, parse_ts
from engine.brokers.paper.options import OptionMarket
from engine.model import Fill, Order, OrderStatus, Quote, Side
from engine.model.cash import Currencies, cash_moves
from engine.model.fx import Mark, RateRefused, conversion_rate

_FAR = datetime(9999, 1, 1, tzinfo=UTC)
"""The broker checks no rate's age (the engine's pre-trade checks do): measured from far ahead."""


@dataclass(slots=True)
class OrderRecord:
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
    parent: str | None = None
    """A bracket child: the client order id of the entry it protects (``place_bracket``)."""
    held: bool = False
    """A bracket child whose entry has not filled yet: acknowledged, but not working."""


@dataclass(frozen=True, slots=True)
class PaperOrderState:
    """One order as the paper broker holds it: a copy of its order, its fills, whether its stop fired."""

    order: Order
    fills: tuple[Fill, ...]
    triggered: bool


@dataclass(frozen=True, slots=True)
class PendingProceeds:
    """Sale proceeds that settle after ``sessions_left`` more session closes (T+N)."""

    sessions_left: int
    amount: float


@dataclass(frozen=True, slots=True)
class PaperJournalState:
    """What the paper broker remembers beyond the ``Broker`` queries (orders, fills, cash, positions).

    Read-only and detached (a copy, taken at once): what a tool needs to show why a buy waits
    for settled cash, whether a resting stop has fired, which session closed last and what
    became of a finished order, and what a test compares before and after a journal replay.
    ``next_broker_id`` is the number of the next broker order id (``P<n>``).
    """

    working: Mapping[str, PaperOrderState]
    final: Mapping[str, PaperOrderState]
    pending: tuple[PendingProceeds, ...]
    next_broker_id: int
    last_close: date | None


class PaperState:
    """The account and the orders; ``apply`` is its only writer (see the module docstring).

    ``reference_price``: the price a buy's cash is reserved at (the broker's rule, from quotes
    it sees now); ``settlement_days``: the period of fills journaled before it was recorded.
    """

    def __init__(
        self,
        cash: float,
        *,
        options: OptionMarket,
        fees: Fees,
        reference_price: Callable[[Order], float],
        settlement_days: int,
        where: str,
        currencies: Currencies,
    ) -> None:
        self.account = Account(cash)
        self.currencies = currencies
        self.market: Callable[[str], Quote | None] = lambda _symbol: None
        """The broker's latest quote of a symbol (set by the broker): the rates of the pairs."""
        self.working: dict[str, OrderRecord] = {}
        self.by_symbol: dict[str, dict[str, OrderRecord]] = {}
        """symbol -> its working orders (a quote matches only its own symbol's, not every order)."""
        self.by_underlying: dict[str, dict[str, OrderRecord]] = {}
        """underlying -> the working orders on its options: an underlying's quote moves their model
        quotes, and must not look at every working order to find them (issue 18: 20 M contract
        look-ups in one run)."""
        self.reach: dict[str, tuple[float, float] | None] = {}
        """symbol -> (the highest buy limit, the lowest sell limit) of its working orders when all
        of them are resting share limits (None: some are not), computed on demand and dropped
        whenever the symbol's orders change: a quote whose touch reaches neither matches nothing
        (``matching.beyond_reach``)."""
        self.interest: set[str] = set()
        """The symbols whose quote can match something here (keys of ``by_symbol`` and
        ``by_underlying``), kept as they change: the engine asks it for every quote of a step."""
        self.final: dict[str, OrderRecord] = {}
        self.executions: list[Fill] = []
        self.next_broker_id = 1
        self.last_close: date | None = None
        self._options = options
        self._fees = fees
        self._reference_price = reference_price
        self._settlement_days = settlement_days
        self._where = where

    def replay(self, journal: Journal, starting_cash: float, now: datetime) -> int:
        """Lock and read ``journal``, apply every line; a new one gets its opening line.

        Returns how many lines were replayed. Raises ``JournalError`` naming the file and line
        when a line cannot be applied.
        """
        records = journal.open()
        if records and records[0][1]["e"] != "open":
            raise JournalError(
                f"{journal.path}:{records[0][0]}: the journal does not start with its opening line; "
                "it is damaged or not a paper broker journal"
            )
        for lineno, record in records:
            try:
                self.apply(record, first=lineno == records[0][0])
            except JournalError:
                raise
            except (KeyError, IndexError, TypeError, ValueError) as exc:  # DecodeError is a ValueError
                raise JournalError(
                    f"{journal.path}:{lineno}: a {record.get('e')!r} record cannot be replayed "
                    f"({type(exc).__name__}: {exc}); the paper broker's journal is damaged"
                ) from exc
        if not records:
            opening: dict[str, Any] = {
                "e": "open",
                "ts": now.isoformat(),
                "v": JOURNAL_VERSION,
                "cash": starting_cash,
            }
            journal.append(opening)
            self.apply(opening, first=True)
        return len(records)

    def known(self, coid: str) -> OrderRecord | None:
        return self.working.get(coid) or self.final.get(coid)

    # ------------------------------------------------------------------ applying journal records
    def apply(self, rec: dict[str, Any], *, first: bool = False) -> None:
        kind = rec["e"]
        if kind == "open":
            if not first:
                raise ValueError("an opening record in the middle of the journal")
            if int(rec["v"]) > JOURNAL_VERSION:
                raise JournalError(
                    f"{self._where}: written by a newer onetap (journal version {rec['v']}, "
                    f"this one reads {JOURNAL_VERSION})"
                )
            self.account.open(float(rec["cash"]))
            return
        ts = parse_ts(rec["ts"])
        match kind:
            case "accept":
                order: Order = decode(rec["order"], Order)
                self._check_new(order.client_order_id)
                ref, triggered = float(rec["ref_price"]), bool(rec["triggered"])
                parent = rec.get("parent")
                self._work(
                    OrderRecord(
                        order, ref_price=ref, triggered=triggered, parent=parent, held=parent is not None
                    )
                )
                self.next_broker_id += 1
            case "reject":
                rejected: Order = decode(rec["order"], Order)
                self._check_new(rejected.client_order_id)
                self.final[rejected.client_order_id] = OrderRecord(rejected)
            case "trigger":
                self.working[rec["coid"]].triggered = True
            case "fill":
                # The settlement period of the day it traded, not of today's configuration.
                self._apply_fill(decode(rec["fill"], Fill), int(rec.get("settle", self._settlement_days)))
                self._apply_effects(rec.get("then", []), ts)
            case "cancel":
                self.finish(self.working[rec["coid"]], OrderStatus.CANCELLED, str(rec["reason"]), ts)
                self._apply_effects(rec.get("then", []), ts)
            case "modify" | "trail":
                self._apply_modify(rec, ts)
            case "close":
                self._apply_close(date.fromisoformat(rec["day"]), rec["expired"], ts)
                self._apply_effects(rec.get("then", []), ts)
                self._apply_settlements(rec, ts)
            case "restore":
                self.account.reset(
                    float(rec["cash"]),
                    float(rec["settled"]),
                    ((str(s), float(q), float(c)) for s, q, c in rec["positions"]),
                    {str(c): float(a) for c, a in rec.get("balances", {}).items()},
                )
            case "resubmit":
                if rec["coid"] not in self.working and rec["coid"] not in self.final:
                    raise ValueError(f"order {rec['coid']} resubmitted but never submitted")
            case _:
                raise ValueError(f"unknown record type {kind!r}")

    def _apply_modify(self, rec: dict[str, Any], ts: datetime) -> None:
        """A change of terms asked for ("modify"), or a trailing stop's level moved ("trail")."""
        record = self.working[rec["coid"]]
        if rec["e"] == "trail":
            record.order.stop_price = float(rec["stop_price"])
            record.order.updated_at = ts
            return
        limit = None if rec["limit_price"] is None else float(rec["limit_price"])
        changes: dict[str, Any] = {}
        for key in ("stop_price", "trail_amount", "trail_percent"):
            if key in rec:  # absent from older journals and from quantity/limit changes
                changes[key] = None if rec[key] is None else float(rec[key])
        record.order = replace(
            record.order, quantity=float(rec["quantity"]), limit_price=limit, updated_at=ts, **changes
        )
        self._reindex(record)
        record.ref_price = self._reference_price(record.order)

    def _work(self, record: OrderRecord) -> None:
        coid = record.order.client_order_id
        self.working[coid] = record
        self._index(record)

    def _reindex(self, record: OrderRecord) -> None:
        """``record`` replaced its order object: the index must hold the record, not the old order."""
        self._index(record)

    def _index(self, record: OrderRecord) -> None:
        symbol, coid = record.order.symbol, record.order.client_order_id
        self.by_symbol.setdefault(symbol, {})[coid] = record
        self.reach.pop(symbol, None)
        self.interest.add(symbol)
        contract = self._options.contract(symbol)
        if contract is not None:
            self.by_underlying.setdefault(contract.underlying, {})[coid] = record
            self.interest.add(contract.underlying)

    def _apply_effects(self, effects: list[Any], ts: datetime) -> None:
        """What one change did to the orders linked to it (``engine.brokers.paper.linked``), applied
        with the change's own journal line so a crash cannot leave half of it: ``["work", coid,
        quantity, why]`` (a bracket child works, or an OCA sibling shrank, to that quantity) and
        ``["cancel", coid, reason]``."""
        for kind, coid, value, *_why in effects:
            record = self.working[str(coid)]
            if kind == "work":
                record.order.quantity = float(value)
                record.order.updated_at = ts
                record.held = False
                self.reach.pop(record.order.symbol, None)
                record.ref_price = self._reference_price(record.order)
            elif kind == "cancel":
                self.finish(record, OrderStatus.CANCELLED, str(value), ts)
            else:
                raise ValueError(f"unknown linked-order effect {kind!r}")

    def _check_new(self, coid: str) -> None:
        if coid in self.working or coid in self.final:
            raise ValueError(f"order {coid} is recorded twice")

    def _apply_fill(self, fill: Fill, settlement_days: int) -> None:
        record = self.working[fill.client_order_id]
        order = record.order
        qty, price, commission = fill.quantity, fill.price, fill.commission
        record.min_charged = True
        record.commission += commission
        value = qty * price
        self._move_cash(fill, order.side.sign * qty, settlement_days)
        self.account.book(order.symbol, order.side.sign * qty, price)
        filled = order.filled_quantity + qty
        order.avg_fill_price = ((order.avg_fill_price or 0.0) * order.filled_quantity + value) / filled
        order.filled_quantity = order.quantity if order.quantity - filled <= EPS else filled
        order.updated_at = fill.ts
        record.fills.append(fill)
        self.executions.append(fill)
        if order.remaining <= EPS:
            self.finish(record, OrderStatus.FILLED, "", fill.ts)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED

    def _move_cash(self, fill: Fill, signed_qty: float, settlement_days: int) -> None:
        """The fill's cash in each currency it moves (``engine.model.cash``): the account
        currency's as a cash account pays and receives it (a sale's proceeds settle T+N, a pair's
        at once), any other currency's into its balance."""
        symbol, currencies = fill.symbol, self.currencies
        base = currencies.base_of(symbol)
        moves = cash_moves(
            fill.currency or currencies.of(symbol),
            base,
            signed_qty,
            fill.price,
            self._options.multiplier(symbol),
            fill.commission,
        )
        for currency, amount in moves:
            if currency != currencies.account:
                self.account.move(currency, amount)
            elif amount < 0:
                self.account.pay(-amount)
            else:
                self.account.receive(amount, 0 if base is not None else settlement_days)

    def _apply_close(self, day: date, expired: list[Any], ts: datetime) -> None:
        self.last_close = day
        for coid, reason in expired:
            self.finish(self.working[coid], OrderStatus.EXPIRED, str(reason), ts)
        self.account.session_closed()

    def _apply_settlements(self, rec: dict[str, Any], ts: datetime) -> None:
        """A close's option expiry settlements (absent from closes with none, as in older journals)."""
        settle_days = int(rec.get("settle_days", self._settlement_days))
        for settlement in rec.get("settlements", []):
            self._apply_settlement(settlement, settle_days, ts)

    def _apply_settlement(self, settlement: list[Any], settlement_days: int, ts: datetime) -> None:
        """Close one expired option position at its intrinsic value: a broker-made order and its fill."""
        coid, symbol, side_text, quantity, price, close = settlement
        self._check_new(str(coid))
        contract = self._options.contract(str(symbol))
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
        self._work(OrderRecord(order, ref_price=intrinsic, min_charged=True))
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

    def finish(self, record: OrderRecord, status: OrderStatus, reason: str, ts: datetime) -> None:
        order = record.order
        order.status = status
        order.reason = reason
        order.updated_at = ts
        self.working.pop(order.client_order_id, None)
        self.reach.pop(order.symbol, None)
        same_symbol = self.by_symbol.get(order.symbol)
        if same_symbol is not None:
            same_symbol.pop(order.client_order_id, None)
            if not same_symbol:
                del self.by_symbol[order.symbol]
                if order.symbol not in self.by_underlying:
                    self.interest.discard(order.symbol)
        contract = self._options.contract(order.symbol)
        if contract is not None:
            same_underlying = self.by_underlying.get(contract.underlying)
            if same_underlying is not None:
                same_underlying.pop(order.client_order_id, None)
                if not same_underlying:
                    del self.by_underlying[contract.underlying]
                    if contract.underlying not in self.by_symbol:
                        self.interest.discard(contract.underlying)
        self.final[order.client_order_id] = record

    # ------------------------------------------------------------------ queries
    def snapshot(self) -> PaperJournalState:
        """A detached copy of the orders, pending proceeds and counters (see ``PaperJournalState``)."""

        def copied(records: dict[str, OrderRecord]) -> Mapping[str, PaperOrderState]:
            return MappingProxyType(
                {
                    coid: PaperOrderState(replace(r.order), tuple(r.fills), r.triggered)
                    for coid, r in records.items()
                }
            )

        return PaperJournalState(
            working=copied(self.working),
            final=copied(self.final),
            pending=tuple(PendingProceeds(p.sessions_left, p.amount) for p in self.account.pending),
            next_broker_id=self.next_broker_id,
            last_close=self.last_close,
        )

    def summary(self, market: Callable[[str], Quote | None]) -> PaperAccount:
        """Holdings valued at ``market(symbol)``'s last (options: the model's, x multiplier), or at cost."""
        account, currencies = self.account, self.currencies
        value = 0.0
        for sym, holding in account.holdings.items():
            if currencies.base_of(sym) is not None:
                continue  # a pair's value is its base currency's balance, counted below
            quote = market(sym)
            price = quote.last if quote is not None else holding.avg_cost
            value += (
                holding.quantity
                * price
                * self._options.multiplier(sym)
                * self.rate(currencies.of(sym), market)
            )
        foreign = sum(amount * self.rate(c, market) for c, amount in account.balances.items())
        return PaperAccount(
            cash=account.cash,
            settled_cash=account.settled,
            reserved_cash=self.reserved(),
            positions_value=value,
            equity=account.cash + foreign + value,
            balances=MappingProxyType(dict(account.balances)),
        )

    def in_account(self, symbol: str, cost: float) -> float:
        """What paying ``cost`` (in ``symbol``'s currency) takes from the account currency's cash:
        a foreign currency's balance pays first, the rest is borrowed against the account
        currency at the current rate (inf when there is none: nothing can be paid)."""
        currency = self.currencies.of(symbol)
        if currency == self.currencies.account:
            return cost
        short = max(cost - max(self.account.balances.get(currency, 0.0), 0.0), 0.0)
        if short <= 0.0:
            return 0.0
        rate = self.rate(currency, self.market)
        return short * rate if rate > 0 else math.inf

    def budget_in(self, symbol: str, budget: float) -> float:
        """``budget`` of the account currency's settled cash as what it pays in ``symbol``'s
        currency: that currency's own balance, plus the budget converted (``in_account`` inverted)."""
        currency = self.currencies.of(symbol)
        if currency == self.currencies.account:
            return budget
        rate = self.rate(currency, self.market)
        held = max(self.account.balances.get(currency, 0.0), 0.0)
        return held + (budget / rate if rate > 0 else 0.0)

    def rate(self, currency: str, market: Callable[[str], Quote | None]) -> float:
        """Account currency per unit of ``currency`` at the broker's latest quotes of the pairs
        (mid), else 0.0: the broker counts no value it cannot price (the engine's risk checks
        refuse trading an instrument whose currency has no rate)."""
        if currency == self.currencies.account:
            return 1.0

        def marks(pair: str) -> Mark | None:
            quote = market(pair)
            if quote is None or not quote.last > 0:
                return None
            mid = quote.mid if quote.bid > 0 and quote.ask > 0 else quote.last
            return Mark(mid, quote.ts, "paper quotes")

        try:
            return conversion_rate(currency, self.currencies.account, marks, _FAR, math.inf).rate
        except RateRefused:
            return 0.0

    def reserved(self, exclude: OrderRecord | None = None) -> float:
        """Settled cash promised to working buys (their remaining quantity at the reference price).

        A one-cancels-all group counts once, at its dearest member: its members can never all
        fill (one filling cancels or shrinks the others). Held bracket children promise nothing yet.
        """
        total = 0.0
        groups: dict[str, float] = {}
        for record in self.working.values():
            if record is exclude or record.held or record.order.side is not Side.BUY:
                continue
            remaining = record.order.remaining
            if remaining > EPS:
                cost = self.in_account(
                    record.order.symbol,
                    self._fees.cost(
                        record.order.symbol, remaining, record.ref_price, first=not record.min_charged
                    ),
                )
                group = record.order.oca_group
                if group is None:
                    total += cost
                else:
                    groups[group] = max(groups.get(group, 0.0), cost)
        return total + sum(groups.values())

    def selling(self, symbol: str, exclude: OrderRecord | None = None, *, oca: str | None = None) -> float:
        """What working sells of ``symbol`` may still take from its position.

        A one-cancels-all group (a protective stop and its target) counts once, at its largest
        remaining: one filling cancels or shrinks the others, so together they never sell more.
        Members of the group ``oca`` are left out (a new member is checked on its own), and so are
        held bracket children (they sell nothing until their entry fills).
        """
        total = 0.0
        groups: dict[str, float] = {}
        for r in self.by_symbol.get(symbol, {}).values():
            if r is exclude or r.held or r.order.side is not Side.SELL:
                continue
            group = r.order.oca_group
            if group is None:
                total += r.order.remaining
            elif group != oca:
                groups[group] = max(groups.get(group, 0.0), r.order.remaining)
        return total + sum(groups.values())

    def available(self, symbol: str, exclude: OrderRecord | None = None) -> float:
        """The position less what working sells may take from it (negative when short)."""
        return self.account.quantity(symbol) - self.selling(symbol, exclude)


def reports_of(record: OrderRecord) -> list[BrokerReport]:
    """Everything that happened to an order, as the reports that told it (for a repeated submit)."""
    order = record.order
    coid = order.client_order_id
    if order.status is OrderStatus.REJECTED:
        return [OrderRejected(coid, order.reason)]
    reports: list[BrokerReport] = [OrderAcknowledged(coid, order.broker_order_id or "")]
    reports += [OrderFilled(fill) for fill in record.fills]
    if order.status is OrderStatus.CANCELLED:
        reports.append(OrderCancelled(coid, order.reason))
    elif order.status is OrderStatus.EXPIRED:
        reports.append(OrderExpired(coid, order.reason))
    return reports
