"""The simulated broker + exchange: orders, matching against the current quote, fills, ids.

Synchronous and socket-free: every change is announced through ``emit`` (see ``events``) and the
server turns those into messages. Orders live here, not in a connection, so they keep working
(and filling as quotes move) while their client is disconnected, as at a real broker.

Matching rules (against the latest quote of the order's contract):
* MKT buys at the ask, sells at the bid.
* LMT is marketable when the touch is at or better than the limit; it then fills at the better
  of the two (the touch), otherwise it rests until a later quote crosses it.
* STP triggers when the last trade (or the touch on the order's side) reaches the stop, then
  works as MKT; STP LMT then works as LMT at its limit.
* Liquidity per quote update: at most ``max_fill_per_quote`` and, with ``fill_at_displayed_size``,
  at most the displayed size of the side taken; fills of one update share it in time priority.
  Larger orders fill over several updates (partial fills, cumulative quantities).
* An order for a contract without a quote rests until the first quote (MKT included); the cash
  check then only uses the limit price, if any.
* TRAIL (``aux_price`` the distance in money, else ``trailing_percent``): the stop starts at
  ``trail_stop_price`` (or the last trade less the distance) and follows the last trade, never
  loosening; each move is announced (openOrder with the new trailStopPrice, a simulator courtesy
  onetap uses to show the level), then it triggers and works as STP.
* OCA groups (``ocaGroup``): ``ocaType`` 1 cancels the other members on any fill of one; 2 and 3
  reduce them by the amount filled (cancelled once nothing is left). Fills here are synchronous,
  so "with block" and "without block" behave alike.
* Brackets: an order with ``transmit`` unset is held, unseen, until an order of its chain
  (its parent, or a child of it) arrives with ``transmit`` set; then the chain is placed, parent
  first. Children (``parentId``) rest PreSubmitted and are never matched until their parent
  fills; each parent fill sets them to the parent's filled quantity (less what their OCA group
  already exited). A parent cancelled with nothing filled cancels its children.
* Forex and futures prices must sit on the contract's tick (IDEALPRO's half pip, 0.25 for ES):
  an order off it is rejected (201) with TWS's error 110 text (ib_insync takes a bare 110 for a
  warning and would leave the order pending).
* Funds (``funds.requirement``, in the account's base currency, less what working orders already
  ask): a stock or option buy needs its cost; a pair needs the part of the currency it spends
  that the account does not hold (it may borrow that much, up to its available funds); a future
  needs the initial margin of the contracts it adds (``money.FUTURE_MARGINS``), refused with
  TWS's margin text. Any listed pair trades once a quote links its quote currency to the base
  currency (``money.exchange_rate``).
* A future past its last trading day (the clock's New York date after ``lastTradeDate``) is
  refused, naming the contract and the day.
* ``end_session`` settles futures at each contract's mark (its last trade, else its mid): the
  daily variation margin moves into cash (``ledger.Account.settle``).
* IOC cancels what did not fill at once; DAY orders are cancelled by ``end_session``; GTC orders
  keep working across sessions and across client disconnects (they live here, not in a session).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from engine.brokers.tws_sim.commission import CommissionSchedule, order_total, shipped_schedule
from engine.brokers.tws_sim.commission import execution as execution_commission
from engine.brokers.tws_sim.contracts import ContractSpec
from engine.brokers.tws_sim.events import (
    BookChanged,
    Event,
    Execution,
    OrderChanged,
    OrderError,
    OrderFilled,
    Quote,
    QuoteChanged,
    SimOrder,
    WhatIf,
)
from engine.brokers.tws_sim.funds import requirement
from engine.brokers.tws_sim.incoming import ExecFilter, OrderRequest
from engine.brokers.tws_sim.ledger import Account
from engine.brokers.tws_sim.money import exchange_rate, margin_of
from engine.brokers.tws_sim.timefmt import EXCHANGE_ZONE
from engine.clock import WallClock

ORDER_TYPES = ("MKT", "LMT", "STP", "STP LMT", "TRAIL")
STOPS = ("STP", "STP LMT", "TRAIL")
TIFS = ("DAY", "GTC", "IOC")
TICK_CHECKED = ("CASH", "FUT")


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """Who trades and how the book behaves; every field has a test-friendly default."""

    accounts: tuple[str, ...] = ("DU1234567",)
    cash: float = 1_000_000.0
    base_currency: str = "USD"
    max_fill_per_quote: float | None = None
    fill_at_displayed_size: bool = False
    commission: CommissionSchedule = field(default_factory=shipped_schedule)
    first_order_id: int = 1
    first_perm_id: int = 1_000_001
    exec_id_prefix: str = "0000e1a7"


_WALL = WallClock()
"""The machine's clock, by default; tests inject a simulated one."""


def _expiry_problem(spec: ContractSpec, today: date) -> str | None:
    """A future whose last trading day has passed cannot be traded."""
    if spec.sec_type == "FUT" and spec.expiry and f"{today:%Y%m%d}" > spec.expiry:
        return (
            f"The contract {spec.key} has expired: its last trading day was "
            f"{spec.expiry[:4]}-{spec.expiry[4:6]}-{spec.expiry[6:]}"
        )
    return None


class Exchange:
    """Accounts, orders and executions shared by every connection of one simulator."""

    def __init__(
        self,
        config: ExchangeConfig,
        emit: Callable[[Event], None],
        clock: Callable[[], datetime] = _WALL.now,
    ) -> None:
        if not config.accounts:
            raise ValueError("the simulator needs at least one account")
        self.config = config
        self._emit = emit
        self._clock = clock
        self.accounts = {name: Account(name, config.cash, config.base_currency) for name in config.accounts}
        self.quotes: dict[str, Quote] = {}
        self.orders: dict[tuple[int, int], SimOrder] = {}
        self.executions: list[Execution] = []
        self._liquidity: dict[str, list[float]] = {}
        self._next_id = config.first_order_id
        self._next_perm = config.first_perm_id
        self._exec_seq = 0
        self.reject_next: str | None = None
        self._untransmitted: dict[tuple[int, int], tuple[OrderRequest, ContractSpec]] = {}
        """Orders sent with transmit unset, waiting for their chain's transmitting order."""

    # ------------------------------------------------------------------ ids
    @property
    def next_valid_id(self) -> int:
        """One global id, at least one above every order id any client has used."""
        return self._next_id

    def see_order_id(self, order_id: int) -> None:
        self._next_id = max(self._next_id, order_id + 1)

    # ------------------------------------------------------------------ quotes
    def quote(self, key: str) -> Quote | None:
        return self.quotes.get(key)

    def set_quote(self, key: str, quote: Quote) -> None:
        """A new top of book: tell subscribers, refresh this update's liquidity, match."""
        self.quotes[key] = quote
        limit = self.config.max_fill_per_quote if self.config.max_fill_per_quote is not None else math.inf
        bid_room, ask_room = limit, limit
        if self.config.fill_at_displayed_size:
            bid_room, ask_room = min(limit, quote.bid_size), min(limit, quote.ask_size)
        self._liquidity[key] = [bid_room, ask_room]
        self._emit(QuoteChanged(key, quote))
        self._match(key)

    # ------------------------------------------------------------------ orders
    def open_orders(self, client_id: int | None = None) -> list[SimOrder]:
        """Working orders, of one client or (None) of all, oldest first."""
        return [
            o for o in self.orders.values() if o.is_open and (client_id is None or o.client_id == client_id)
        ]

    def place(self, client_id: int, request: OrderRequest, spec: ContractSpec) -> None:
        """A new order, or a modification when (client_id, order_id) is still working.

        An order without ``transmit`` is held unseen; one with it transmits its held chain first
        (the parent it names, then that parent's held children, oldest first).
        """
        self.see_order_id(request.order_id)
        existing = self.orders.get((client_id, request.order_id))
        if existing is not None:
            if existing.is_open:
                self._modify(existing, request)
            else:
                self._error(client_id, request.order_id, 103, "Duplicate order id")
            return
        if not request.transmit:
            self._untransmitted[(client_id, request.order_id)] = (request, spec)
            return
        self._untransmitted.pop((client_id, request.order_id), None)
        root = request.parent_id or request.order_id
        chain = [
            key
            for key, (held, _) in sorted(self._untransmitted.items())
            if key[0] == client_id and (key[1] == root or held.parent_id == root)
        ]
        for key in chain:
            held, held_spec = self._untransmitted.pop(key)
            self._place_one(client_id, held, held_spec)
        self._place_one(client_id, request, spec)

    def _place_one(self, client_id: int, request: OrderRequest, spec: ContractSpec) -> None:
        parent: SimOrder | None = None
        if request.parent_id:
            parent = self.orders.get((client_id, request.parent_id))
            if parent is None:
                self._error(
                    client_id, request.order_id, 135, f"Can't find order with id ={request.parent_id}"
                )
                return
        if self._tick_problem(client_id, request, spec):
            return
        account = request.account or self.config.accounts[0]
        problem = self._problem(account, request, spec, parent)
        if problem is not None:
            self._error(client_id, request.order_id, 201, f"Order rejected - reason:{problem}")
            return
        order = SimOrder(
            order_id=request.order_id,
            client_id=client_id,
            perm_id=self._next_perm,
            spec=spec,
            action=request.action,
            quantity=request.quantity,
            order_type=request.order_type,
            lmt_price=request.lmt_price,
            aux_price=request.aux_price,
            tif=request.tif,
            account=account,
            order_ref=request.order_ref,
            outside_rth=request.outside_rth,
            oca_group=request.oca_group,
            oca_type=request.oca_type,
            parent_id=request.parent_id,
            trailing_percent=request.trailing_percent,
            trail_stop_price=request.trail_stop_price,
        )
        if order.order_type == "TRAIL" and order.trail_stop_price is None:
            quote = self.quotes.get(spec.key)
            if quote is not None and quote.last > 0:
                order.trail_stop_price = self._trail_level(order, quote.last)
        if parent is not None:
            if parent.filled > 0:
                order.quantity = self._child_quantity(parent, order)
            else:
                order.held, order.status = True, "PreSubmitted"
            if not parent.is_open and parent.filled <= 0:
                order.status = "Cancelled"
        self._next_perm += 1
        self.orders[(client_id, order.order_id)] = order
        self._emit(OrderChanged(order))
        self._match(spec.key)
        if order.tif == "IOC" and order.is_open:
            self._cancel(order)

    def _problem(
        self, account: str, request: OrderRequest, spec: ContractSpec, parent: SimOrder | None
    ) -> str | None:
        """Why the order is refused (the first reason found), or None."""
        problem = self._validate(request) or _expiry_problem(
            spec, self._clock().astimezone(EXCHANGE_ZONE).date()
        )
        if problem is None and self.reject_next is not None:
            problem, self.reject_next = self.reject_next, None
        if problem is None and account not in self.accounts:
            problem = f"Invalid account {account}"
        if problem is None:
            problem = self._rate_problem(account, spec)
        if problem is None and parent is None:  # a child protects a position its parent buys
            problem = self._cash_problem(account, request, spec)
        return problem

    def what_if(self, request: OrderRequest, spec: ContractSpec) -> WhatIf:
        """Preview an order without placing it: its margin and commission (a cash account)."""
        account = request.account or self.config.accounts[0]
        price = self._estimate(request.order_type, request.lmt_price, request.aux_price, spec.key) or 0.0
        value = request.quantity * price * spec.multiplier
        commission = order_total(self.config.commission, spec.sec_type, request.quantity, value)
        book = self.accounts.get(account)
        equity = book.values(self.quote)["EquityWithLoanValue"] if book is not None else 0.0
        margin = value if request.action == "BUY" else 0.0
        if spec.sec_type == "FUT":
            margin = request.quantity * margin_of(spec)[0]
        return WhatIf(equity, margin, -commission, commission)

    def preview_order(self, client_id: int, request: OrderRequest, spec: ContractSpec) -> SimOrder:
        """The order a whatIf reply describes (never stored, never matched)."""
        return SimOrder(
            request.order_id, client_id, 0, spec, request.action, request.quantity, request.order_type,
            request.lmt_price, request.aux_price, request.tif, request.account or self.config.accounts[0],
            request.order_ref, status="PreSubmitted",
        )  # fmt: skip

    def _tick_problem(self, client_id: int, request: OrderRequest, spec: ContractSpec) -> bool:
        """A rejection for a forex or futures price off the contract's tick; True when sent."""
        if spec.sec_type not in TICK_CHECKED:
            return False
        for price in (request.lmt_price, request.aux_price if request.order_type != "TRAIL" else None):
            if price is not None and abs(price / spec.min_tick - round(price / spec.min_tick)) > 1e-6:
                self._error(
                    client_id,
                    request.order_id,
                    201,
                    "Order rejected - reason:The price does not conform to the minimum price variation "
                    f"for this contract ({spec.min_tick:g}).",
                )
                return True
        return False

    def _validate(self, request: OrderRequest) -> str | None:
        if request.action not in ("BUY", "SELL"):
            return f"Invalid action {request.action!r}"
        if not (request.quantity > 0 and math.isfinite(request.quantity)):
            return "Order quantity must be positive"
        if request.order_type not in ORDER_TYPES:
            return f"Order type {request.order_type!r} is not supported by the simulator"
        if request.tif not in TIFS:
            return f"Time in force {request.tif!r} is not supported by the simulator"
        if request.order_type in ("LMT", "STP LMT") and request.lmt_price is None:
            return "Limit price is missing"
        if request.order_type in ("STP", "STP LMT") and request.aux_price is None:
            return "Stop price is missing"
        if request.order_type == "TRAIL" and request.aux_price is None and request.trailing_percent is None:
            return "A TRAIL order needs a trailing amount (auxPrice) or a trailingPercent"
        return None

    def rate(self, currency: str, account: str) -> float | None:
        """Base-currency units of ``account`` per unit of ``currency``, from the quotes now."""
        return exchange_rate(currency, self.accounts[account].base, self.quote)

    def _rate_problem(self, account: str, spec: ContractSpec) -> str | None:
        base = self.accounts[account].base
        if self.rate(spec.currency, account) is None:
            return (
                f"No exchange rate from {spec.currency} to the account's base currency {base}: "
                f"the simulator needs a quote of a pair linking them to trade {spec.key}"
            )
        return None

    def _requirement(
        self, account: str, spec: ContractSpec, action: str, quantity: float, price: float
    ) -> float:
        return requirement(
            self.accounts[account], spec, action, quantity, price, self.config.commission, self.quote
        )

    def _cash_problem(self, account: str, request: OrderRequest, spec: ContractSpec) -> str | None:
        """An order must be covered by available funds not already promised to working orders."""
        if request.action != "BUY" and spec.sec_type not in ("FUT", "CASH"):
            return None
        price = self._estimate(request.order_type, request.lmt_price, request.aux_price, spec.key)
        if price is None:
            return None
        book = self.accounts[account]
        reserved = sum(
            self._requirement(
                account, o.spec, o.action, o.remaining,
                self._estimate(o.order_type, o.lmt_price, o.aux_price, o.spec.key) or 0.0,
            )
            for o in self.open_orders()
            if o.account == account and not o.held
        )  # fmt: skip
        cost = self._requirement(account, spec, request.action, request.quantity, price)
        values = book.values(self.quote)
        available = values["AvailableFunds"] - reserved
        if cost <= available + 1e-9:
            return None
        if spec.sec_type == "FUT":
            return (
                "YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY WITH "
                f"LOAN VALUE [{values['EquityWithLoanValue']:.2f} {book.base}] MUST EXCEED THE INITIAL "
                f"MARGIN [{values['InitMarginReq'] + reserved + cost:.2f} {book.base}]"
            )
        return (
            f"Insufficient funds: the order needs {cost:.2f} {book.base}, available funds are "
            f"{available:.2f} {book.base}"
        )

    def _estimate(self, order_type: str, lmt: float | None, aux: float | None, key: str) -> float | None:
        if order_type in ("LMT", "STP LMT") and lmt is not None:
            return lmt
        quote = self.quotes.get(key)
        if quote is not None and quote.ask > 0:
            return quote.ask
        return aux if order_type == "STP" else None

    def _modify(self, order: SimOrder, request: OrderRequest) -> None:
        if self._tick_problem(order.client_id, request, order.spec):
            return
        if request.quantity < order.filled or request.order_type not in ORDER_TYPES:
            self._error(order.client_id, order.order_id, 201, "Order rejected - reason:Invalid modification")
            return
        order.quantity = request.quantity
        order.lmt_price = request.lmt_price
        order.aux_price = request.aux_price
        order.order_type = request.order_type
        order.tif = request.tif
        order.order_ref = request.order_ref
        order.oca_group, order.oca_type = request.oca_group, request.oca_type
        order.trailing_percent = request.trailing_percent
        if request.trail_stop_price is not None:
            order.trail_stop_price = request.trail_stop_price
        self._emit(OrderChanged(order))
        self._match(order.spec.key)

    def cancel(self, client_id: int, order_id: int) -> None:
        order = self.orders.get((client_id, order_id))
        if order is None:
            self._error(
                client_id, order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found."
            )
        elif not order.is_open:
            self._error(
                client_id,
                order_id,
                10148,
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {order.status}.",
            )
        else:
            self._cancel(order)

    def global_cancel(self) -> None:
        for order in self.open_orders():
            self._cancel(order)

    def end_session(self) -> None:
        """The close: DAY orders expire (cancelled), GTC orders keep working, futures settle."""
        for order in self.open_orders():
            if order.tif != "GTC":
                self._cancel(order)
        self.settle()

    def settle(self, prices: dict[str, float] | None = None) -> None:
        """The daily settlement of every account's futures at ``prices`` (key -> settlement
        price; by default each contract's mark now): variation margin moves into cash."""
        if prices is None:
            prices = {key: q.mark for key, q in self.quotes.items() if q.mark > 0}
        for name, book in self.accounts.items():
            for key in book.settle(prices):
                self._emit(BookChanged(name, key))

    def _cancel(self, order: SimOrder) -> None:
        order.status = "Cancelled"
        self._emit(OrderChanged(order, open_order=False, cancelled_notice=True))
        if order.filled <= 0:
            for child in self._children(order):
                if child.is_open:
                    self._cancel(child)

    def _children(self, parent: SimOrder) -> list[SimOrder]:
        return [
            o
            for o in self.orders.values()
            if o.parent_id == parent.order_id and o.client_id == parent.client_id
        ]

    def _child_quantity(self, parent: SimOrder, child: SimOrder) -> float:
        """A child works the parent's filled quantity, less what its OCA group already exited."""
        if child.oca_group:
            exited = sum(o.filled for o in self._children(parent) if o.oca_group == child.oca_group)
        else:
            exited = child.filled
        return round(child.filled + parent.filled - exited, 8)

    def _after_fill(self, order: SimOrder, qty: float) -> None:
        """A fill's consequences for linked orders: bracket children work, OCA members go or shrink."""
        for child in self._children(order):
            if child.is_open:
                child.quantity = self._child_quantity(order, child)
                if child.held:
                    child.held, child.status = False, "Submitted"
                self._emit(OrderChanged(child))
        if not order.oca_group:
            return
        members = [
            o
            for o in self.orders.values()
            if o is not order and o.is_open and not o.held and o.oca_group == order.oca_group
            and o.account == order.account
        ]  # fmt: skip
        for other in members:
            if order.oca_type == 1 or order.status == "Filled" or other.remaining - qty <= 1e-9:
                self._cancel(other)
            else:
                other.quantity = round(other.quantity - qty, 8)
                self._emit(OrderChanged(other))

    @staticmethod
    def _trail_level(order: SimOrder, last: float) -> float:
        distance = (
            order.aux_price if order.aux_price is not None else last * (order.trailing_percent or 0.0) / 100
        )
        return round(last - distance if order.action == "SELL" else last + distance, 2)

    def _error(self, client_id: int, order_id: int, code: int, message: str) -> None:
        self._emit(OrderError(client_id, order_id, code, message))

    # ------------------------------------------------------------------ matching
    def _match(self, key: str) -> None:
        quote = self.quotes.get(key)
        if quote is None:
            return
        working = [o for o in self.orders.values() if o.is_open and not o.held and o.spec.key == key]
        for order in working:
            if order.is_open:  # an OCA member's fill may have cancelled it
                self._work(order, quote)

    def _work(self, order: SimOrder, quote: Quote) -> None:
        if order.order_type == "TRAIL" and not order.triggered and quote.last > 0:
            level = self._trail_level(order, quote.last)
            current = order.trail_stop_price
            if current is None or (level > current if order.action == "SELL" else level < current):
                order.trail_stop_price = level
                self._emit(OrderChanged(order))
        if order.order_type in STOPS and not order.triggered:
            if not self._stop_reached(order, quote):
                return
            order.triggered = True
        price = self._fill_price(order, quote)
        if price is None:
            return
        room = self._liquidity.setdefault(order.spec.key, [math.inf, math.inf])
        side = 1 if order.action == "BUY" else 0
        qty = min(order.remaining, room[side])
        if qty <= 0:
            return
        room[side] -= qty
        self._fill(order, qty, price)

    @staticmethod
    def _stop_reached(order: SimOrder, quote: Quote) -> bool:
        level = order.trail_stop_price if order.order_type == "TRAIL" else order.aux_price
        if level is None:
            return False
        stop = level
        if order.action == "BUY":
            return (quote.last > 0 and quote.last >= stop) or (quote.ask > 0 and quote.ask >= stop)
        return (quote.last > 0 and quote.last <= stop) or (quote.bid > 0 and quote.bid <= stop)

    @staticmethod
    def _fill_price(order: SimOrder, quote: Quote) -> float | None:
        touch = quote.ask if order.action == "BUY" else quote.bid
        if touch <= 0:
            return None
        if order.order_type in ("MKT", "STP", "TRAIL"):
            return touch
        limit = order.lmt_price if order.lmt_price is not None else touch
        if order.action == "BUY":
            return min(limit, touch) if touch <= limit else None
        return max(limit, touch) if touch >= limit else None

    def _fill(self, order: SimOrder, qty: float, price: float) -> None:
        before_qty, before_value = order.filled, order.filled_value
        value = qty * price * order.spec.multiplier
        rate = self.rate(order.spec.currency, order.account) or 0.0
        in_base = rate if order.spec.sec_type == "CASH" else 1.0  # IDEALPRO bills the base currency
        commission = execution_commission(
            self.config.commission,
            order.spec.sec_type,
            before_qty,
            before_value * order.spec.multiplier * in_base,
            qty,
            value * in_base,
        )
        order.filled = round(order.filled + qty, 8)
        order.filled_value += qty * price
        order.last_fill_price = price
        if order.remaining <= 1e-9:
            order.status = "Filled"
        realized = self.accounts[order.account].apply_fill(
            order.spec, order.sign * qty, price, commission, quote_rate=rate
        )
        self._exec_seq += 1
        execution = Execution(
            exec_id=f"{self.config.exec_id_prefix}.{self._exec_seq:08x}.01.01",
            order_id=order.order_id,
            client_id=order.client_id,
            perm_id=order.perm_id,
            spec=order.spec,
            account=order.account,
            side="BOT" if order.action == "BUY" else "SLD",
            shares=qty,
            price=price,
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            order_ref=order.order_ref,
            time=self._clock(),
            commission=commission,
            realized_pnl=realized,
        )
        self.executions.append(execution)
        self._emit(OrderFilled(order, execution))
        self._emit(BookChanged(order.account, order.spec.key))
        self._after_fill(order, qty)

    # ------------------------------------------------------------------ queries
    def query_executions(self, flt: ExecFilter, since: datetime | None) -> list[Execution]:
        """Executions matching reqExecutions' filter (empty / 0 fields match everything)."""
        side = {"BUY": "BOT", "SELL": "SLD"}.get(flt.side.upper(), flt.side.upper())
        return [
            e
            for e in self.executions
            if (not flt.client_id or e.client_id == flt.client_id)
            and (not flt.account or e.account == flt.account)
            and (not flt.symbol or e.spec.symbol == flt.symbol)
            and (not flt.sec_type or e.spec.sec_type == flt.sec_type)
            and (not side or e.side == side)
            and (since is None or e.time >= since)
        ]
