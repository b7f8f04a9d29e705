"""Interactive Brokers as a ``Broker``: ib_insync on the engine's own event loop.

One ``IB`` client lives on the engine's loop (``connectAsync``: no nested loops, no thread);
its events become ``BrokerReport`` values for the order manager, which owns deduplication.
The adapter owns the connection: heartbeats (``reqCurrentTime``, whose answer is also the market
clock), reconnection with capped backoff and jitter, TWS's 1100/1101/1102 notices, the nightly
reset window, and the order-id rule: never reuse an id, whatever TWS's ``nextValidId`` says.

Order identity: our client order id is IB's ``orderRef``; IB's order id (text) is the broker
order id. After a reconnect the open orders are matched back to ours by ``orderRef``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time as monotonic_time
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from ib_insync import IB, Contract, ExecutionFilter, Trade
from ib_insync import Fill as IbFill
from ib_insync.objects import CommissionReport

from engine.brokers.base import (
    BrokerError,
    BrokerLink,
    BrokerPosition,
    DepthSink,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderModified,
    OrderRejected,
    Reporter,
    SettlementHook,
)
from engine.brokers.ibkr import parse
from engine.brokers.ibkr.connection import Backoff, ResetWindow
from engine.brokers.ibkr.depth import IbkrDepth
from engine.brokers.ibkr.errors import (
    CONNECTION_LOST,
    RESTORED_DATA_KEPT,
    RESTORED_DATA_LOST,
    describe,
    is_warning,
    last_error,
    modify_refusal,
)
from engine.brokers.ibkr.gate import acknowledged, check_settings, choose_account
from engine.brokers.ibkr.quotes import IbkrQuotes, QuoteSink
from engine.clock import WallClock
from engine.config import IbkrSettings
from engine.model import Fill, Order, Quote

log = logging.getLogger(__name__)

LinkSink = Callable[[BrokerLink], None]
NoticeSink = Callable[[str, str], None]

_DONE_STATES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
_WORKING_STATES = frozenset({"PreSubmitted", "Submitted"})


@dataclass(frozen=True, slots=True)
class _Pending:
    quantity: float
    limit_price: float | None
    stop_price: float | None = None
    trail_amount: float | None = None
    trail_percent: float | None = None


_WALL = WallClock()
"""The machine's clock, by default; tests inject a simulated one."""


class IbkrBroker:
    """The IBKR adapter. ``order_id_floor``: the highest IB order id the engine has stored, so a
    TWS whose ``nextValidId`` went backwards (a reset settings file, another client) never gets
    an id twice."""

    name = "ibkr"
    trades_options = True
    simulated = False
    """IBKR's exchanges are the market: the engine feeds this adapter no quotes and no closes."""
    remembers = True
    """The IBKR account is the record: the engine never hands it a book (``adopt_book``)."""

    def __init__(
        self,
        settings: IbkrSettings,
        *,
        order_id_floor: Callable[[], int] = lambda: 0,
        on_link: LinkSink | None = None,
        on_notice: NoticeSink | None = None,
        on_reconnected: Callable[[], Awaitable[None]] | None = None,
        wall: Callable[[], datetime] = _WALL.now,
        seed: int = 0,
    ) -> None:
        self.settings = settings
        self._order_id_floor = order_id_floor
        self._on_link = on_link
        self._on_notice = on_notice
        self._on_reconnected = on_reconnected
        self._wall = wall
        self._reporter: Reporter | None = None
        self.ib = IB()  # type: ignore[no-untyped-call]
        self._backoff = Backoff(cap=settings.reconnect_max_s, seed=seed)
        self._reset = ResetWindow.parse(settings.nightly_reset)
        self._trades: dict[str, Trade] = {}
        """client order id -> IB's trade for it (this connection's, and open ones matched by orderRef)."""
        self._acknowledged: set[str] = set()
        self._reported_execs: set[str] = set()
        self._pending: dict[str, _Pending] = {}
        self._quantities: dict[str, float] = {}
        """client order id -> the quantity last reported: IBKR shrinks OCA members and sizes
        bracket children by itself, and the change is told as ``OrderModified``."""
        self._contracts: dict[str, Contract] = {}
        self._highest_id = 0
        self._account = ""
        self._link = BrokerLink(
            "disconnected", detail="not connected yet", live_acknowledged=not settings.live
        )
        self._server_time: tuple[datetime, float] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._ever_connected = False
        self._connected_event = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.reconnects = 0
        self._quotes = IbkrQuotes(self.ib, qualify=self.qualify, now=self._quote_time, notice=self._notice)
        self._depth = IbkrDepth(self.ib, settings.depth_symbols, qualify=self.qualify, notice=self._notice)
        ib = self.ib
        ib.orderStatusEvent += self._on_order_status
        ib.openOrderEvent += self._on_open_order
        ib.commissionReportEvent += self._on_commission
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected
        ib.pendingTickersEvent += self._depth.on_tickers  # before the quotes: their step reads it
        ib.pendingTickersEvent += self._quotes.on_tickers
        ib.accountValueEvent += self._on_account_value

    # ------------------------------------------------------------------ protocol: connection
    def set_reporter(self, reporter: Reporter) -> None:
        self._reporter = reporter

    @property
    def connected(self) -> bool:
        return self.ib.isConnected() and self._link.state in ("connected", "degraded")

    @property
    def account(self) -> str:
        return self._account

    @property
    def link(self) -> BrokerLink:
        return self._link

    @property
    def live(self) -> bool:
        return self.settings.live

    @property
    def read_only(self) -> bool:
        return self.settings.read_only

    @property
    def live_acknowledged(self) -> bool:
        return self._link.live_acknowledged

    def acknowledge_live(self, typed: str) -> bool:
        """The operator typed the live account's id; True when it matches (once per run)."""
        if self.settings.live and acknowledged(self.settings, self._account, typed):
            self._set_link(self._link.state, live_acknowledged=True)
        return self._link.live_acknowledged

    async def connect(self) -> None:
        """Connect, or, when TWS cannot be reached, say so and keep trying in the background.

        Contradictions of the live gate (flag, port, account) raise ``LiveGateError``: those
        must stop the start, not be retried.
        """
        if self.connected or (self._supervisor is not None and not self._supervisor.done()):
            return
        self._closing = False
        check_settings(self.settings)
        try:
            await self._connect_once()
        except (OSError, TimeoutError, ConnectionError) as exc:
            self._set_link("disconnected", detail=self._unreachable(exc))
            self._notice("error", self._unreachable(exc))
            self._start_supervisor()
            return
        self._start_supervisor()

    def _unreachable(self, exc: BaseException) -> str:
        s = self.settings
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return describe(502, f"{s.host}:{s.port}, {text}")

    async def _connect_once(self) -> None:
        s = self.settings
        self._set_link("connecting", detail=f"{s.host}:{s.port} client id {s.client_id}")
        await self.ib.connectAsync(
            s.host,
            s.port,
            clientId=s.client_id,
            timeout=s.connect_timeout_s,
            readonly=s.read_only,
            account=s.account,
        )
        try:
            self._account = choose_account(s, self.ib.managedAccounts())
        except Exception:
            self._closing = True
            self.ib.disconnect()  # type: ignore[no-untyped-call]
            raise
        if s.live and acknowledged(s, self._account, s.live_acknowledge):
            self._set_link(self._link.state, live_acknowledged=True)
        self._claim_order_ids()
        self.ib.reqMarketDataType(3 if s.market_data == "delayed" else 1)
        await self._heartbeat_once()
        for trade in self.ib.openTrades():
            if trade.order.orderRef:
                self._trades.setdefault(trade.order.orderRef, trade)
        self._backoff.reset()
        self._ever_connected = True
        figures = self.figures()
        self._set_link(
            "connected",
            detail="",
            net_liquidation=figures.net_liquidation,
            buying_power=figures.buying_power,
        )
        self._connected_event.set()
        # a new connection has no subscription (ib_insync forgot its tickers when the socket
        # closed): every streamed symbol is asked for again, its quotes as its depth
        await self._quotes.subscribe_safely(again=True)
        await self._depth.subscribe()

    def _claim_order_ids(self) -> None:
        """Next id = max(TWS's nextValidId, every id this engine ever used + 1); warn if TWS went back."""
        next_valid = int(self.ib.client._reqIdSeq)
        used = max(self._highest_id, int(self._order_id_floor()))
        if next_valid <= used:
            self._notice(
                "warning",
                f"IBKR's next valid order id {next_valid} is not above the highest id onetap used "
                f"({used}): continuing from {used + 1} so that no id is used twice",
            )
            self.ib.client.updateReqId(used + 1)  # type: ignore[no-untyped-call]

    async def disconnect(self) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        self._depth.cancel()
        if self.ib.isConnected():
            self.ib.disconnect()  # type: ignore[no-untyped-call]
        self._set_link("disconnected", detail="closed by onetap")

    # ------------------------------------------------------------------ supervision
    def _start_supervisor(self) -> None:
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name="ibkr-link")

    async def _supervise(self) -> None:
        """Heartbeat while connected; reconnect (with backoff) while not."""
        while not self._closing:
            if self.ib.isConnected():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):  # a lost connection wakes it at once
                    await asyncio.wait_for(self._wake.wait(), self.settings.heartbeat_s)
                if self._closing or not self.ib.isConnected():
                    continue
                try:
                    await self._heartbeat_once()
                except (TimeoutError, ConnectionError):
                    self._notice("warning", "IBKR stopped answering heartbeats: reconnecting")
                    self.ib.disconnect()  # type: ignore[no-untyped-call]
                continue
            delay = self._backoff.next_delay()
            now = self._wall()
            if self._reset is not None and self._reset.contains(now):
                delay = max(delay, min(self._reset.seconds_left(now), self.settings.reconnect_max_s))
                self._set_link("reconnecting", detail="TWS nightly reset window: waiting for it to end")
            else:
                self._set_link("reconnecting", detail=f"next attempt in {delay:.1f}s")
            await asyncio.sleep(delay)
            if self._closing:
                return
            try:
                await self._connect_once()
            except (OSError, TimeoutError, ConnectionError) as exc:
                self._set_link("reconnecting", detail=self._unreachable(exc))
                continue
            self.reconnects += 1
            self._notice("info", f"reconnected to IBKR ({self._account}); reconciling")
            if self._on_reconnected is not None:
                try:
                    await self._on_reconnected()
                except Exception:
                    log.exception("reconciliation after the reconnect failed")
                    self._notice("error", "reconciliation after the reconnect failed; see the log")

    async def _heartbeat_once(self) -> None:
        server = await asyncio.wait_for(
            self.ib.reqCurrentTimeAsync(), max(self.settings.heartbeat_s, self.settings.connect_timeout_s)
        )
        self._server_time = (server.astimezone(UTC), monotonic_time.monotonic())
        # IBKR's time, not this machine's: the status line shows it beside the market clock
        self._set_link(self._link.state, last_heartbeat=server.astimezone(UTC))

    def server_now(self) -> datetime | None:
        """IBKR's clock: the last heartbeat's server time plus the time since; None before one."""
        if self._server_time is None:
            return None
        at, mono = self._server_time
        return at + timedelta(seconds=monotonic_time.monotonic() - mono)

    def _on_disconnected(self) -> None:
        self._connected_event.clear()
        self._wake.set()
        if self._closing:
            return
        self._set_link("reconnecting", detail="connection lost")
        self._notice("error", "lost the connection to IBKR: reconnecting (working orders stay at IBKR)")
        if self._ever_connected:
            self._start_supervisor()

    def _set_link(self, state: str, **changes: object) -> None:
        link = replace(
            self._link,
            state=state,
            server_version=self.ib.client.serverVersion()
            if self.ib.isConnected()
            else self._link.server_version,
            account=self._account,
            data_type=self.settings.market_data,
            **changes,  # type: ignore[arg-type]
        )
        if link != self._link:
            self._link = link
            if self._on_link is not None:
                self._on_link(link)

    def _notice(self, level: str, text: str) -> None:
        (log.warning if level != "info" else log.info)(text)
        if self._on_notice is not None:
            self._on_notice(level, text)

    # ------------------------------------------------------------------ protocol: orders
    def sending_refused(self) -> str:
        """Why no order may go out now, whatever the link ("" when orders may go)."""
        if self.settings.read_only:
            return "read-only mode: onetap shows the IBKR account but sends no orders"
        if not self._link.live_acknowledged:
            return (
                f"live account {self._account or self.settings.account} not acknowledged yet: "
                "type its id when the console asks (headless: [ibkr] live_acknowledge)"
            )
        return ""

    def _check_can_send(self) -> None:
        refused = self.sending_refused()
        if refused:
            raise BrokerError(refused)
        if not self.connected:
            raise BrokerError(describe(504, f"IBKR link is {self._link.state}"))

    async def qualify(self, symbol: str) -> Contract:
        contract = self._contracts.get(symbol)
        if contract is not None:
            return contract
        try:
            wanted = parse.contract_for(symbol)
        except ValueError as exc:
            raise BrokerError(f"{symbol}: {exc}") from None
        found = await self.ib.qualifyContractsAsync(wanted)
        if not found or not found[0].conId:
            raise BrokerError(describe(200, symbol))
        self._contracts[symbol] = found[0]
        return found[0]

    async def submit(self, order: Order) -> None:
        self._check_can_send()
        contract = await self.qualify(order.symbol)
        self._check_can_send()  # the qualification awaited: the link may have gone meanwhile
        trade = self.ib.placeOrder(contract, parse.ib_order(order, account=self._account))
        self._highest_id = max(self._highest_id, trade.order.orderId)
        self._trades[order.client_order_id] = trade
        self._quantities[order.client_order_id] = float(order.quantity)

    async def place_bracket(self, entry: Order, children: Sequence[Order]) -> None:
        """IBKR's native bracket: the entry and every child but the last go with ``transmit``
        unset and the children name the entry as ``parentId``; the last child transmits the
        chain, so TWS receives all or (a link lost midway) none of it working. The children
        work at IBKR from the entry's first fill, for its filled quantity, whether or not onetap
        is still connected (see ``Broker.place_bracket``)."""
        if not children:
            await self.submit(entry)
            return
        self._check_can_send()
        contract = await self.qualify(entry.symbol)
        self._check_can_send()
        parent = parse.ib_order(entry, account=self._account)
        parent.orderId = self.ib.client.getReqId()
        parent.transmit = False
        placed = [(entry, parent)]
        for n, child in enumerate(children):
            ib_child = parse.ib_order(child, account=self._account)
            ib_child.parentId = parent.orderId
            ib_child.transmit = n == len(children) - 1
            placed.append((child, ib_child))
        for order, ib_order in placed:
            trade = self.ib.placeOrder(contract, ib_order)
            self._highest_id = max(self._highest_id, trade.order.orderId)
            self._trades[order.client_order_id] = trade
            self._quantities[order.client_order_id] = float(order.quantity)

    async def cancel(self, client_order_id: str) -> None:
        if self.settings.read_only:
            raise BrokerError("read-only mode: onetap sends nothing, cancels included")
        trade = self._trades.get(client_order_id)
        if trade is None:
            raise BrokerError(f"IBKR has no working order {client_order_id} known to this connection")
        if not self.connected:
            raise BrokerError(describe(504, f"cancel of {client_order_id} not sent"))
        if trade.orderStatus.status in _DONE_STATES:
            return
        self.ib.cancelOrder(trade.order)

    async def global_cancel(self) -> None:
        """IBKR's global cancel: every open order of every client of this login (the kill switch)."""
        if not self.connected:
            raise BrokerError(describe(504, "global cancel not sent"))
        self.ib.reqGlobalCancel()  # type: ignore[no-untyped-call]

    async def modify(self, client_order_id: str, *, quantity: float, limit_price: float | None) -> None:
        self._check_can_send()
        trade = self._trades.get(client_order_id)
        if trade is None or trade.orderStatus.status in _DONE_STATES:
            raise BrokerError(f"{client_order_id} is no longer working at IBKR")
        filled = float(trade.orderStatus.filled or 0.0)
        if quantity <= filled:
            raise BrokerError(
                f"{client_order_id}: the new quantity {quantity:g} is not above "
                f"what already filled ({filled:g})"
            )
        trade.order.totalQuantity = float(quantity)
        if limit_price is not None:
            trade.order.lmtPrice = float(limit_price)
        self._pending[client_order_id] = _Pending(float(quantity), limit_price)
        self.ib.placeOrder(trade.contract, trade.order)

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
        """TWS modifies by a placeOrder with the same order id: the trade's order, changed, again.

        On a TRAIL order ``stop_price`` is the trailStopPrice and the distance travels as auxPrice
        (amount) or trailingPercent; on STP/STP LMT ``stop_price`` is auxPrice.
        """
        self._check_can_send()
        trade = self._trades.get(client_order_id)
        if trade is None or trade.orderStatus.status in _DONE_STATES:
            raise BrokerError(f"{client_order_id} is no longer working at IBKR")
        ib = trade.order
        trailing = ib.orderType == "TRAIL"
        reason = modify_refusal(ib.orderType, limit_price, stop_price, trail_amount, trail_percent)
        if reason:
            raise BrokerError(f"{client_order_id}: {reason}")
        filled = float(trade.orderStatus.filled or 0.0)
        new_quantity = float(ib.totalQuantity) if quantity is None else float(quantity)
        if new_quantity <= filled:
            raise BrokerError(
                f"{client_order_id}: the new quantity {new_quantity:g} is not above "
                f"what already filled ({filled:g})"
            )
        ib.totalQuantity = new_quantity
        if limit_price is not None:
            ib.lmtPrice = float(limit_price)
        if stop_price is not None:
            if trailing:
                ib.trailStopPrice = float(stop_price)
            else:
                ib.auxPrice = float(stop_price)
        if trail_amount is not None:
            ib.auxPrice, ib.trailingPercent = float(trail_amount), parse.UNSET_DOUBLE
        if trail_percent is not None:
            ib.auxPrice, ib.trailingPercent = parse.UNSET_DOUBLE, float(trail_percent)
        limit = parse.price_or_none(ib.lmtPrice)
        self._pending[client_order_id] = _Pending(
            new_quantity, limit, stop_price, trail_amount, trail_percent
        )
        self.ib.placeOrder(trade.contract, ib)

    async def open_orders(self) -> list[Order]:
        if not self.connected:
            raise BrokerError(describe(504, "cannot read IBKR's open orders"))
        trades = await self.ib.reqAllOpenOrdersAsync()
        out = []
        for trade in trades:
            if trade.orderStatus.status in _DONE_STATES:
                continue
            order = parse.order_from_trade(trade)
            if order.client_order_id:
                self._trades[order.client_order_id] = trade
                self._quantities[order.client_order_id] = order.quantity
            out.append(order)
        return out

    async def executions(self) -> list[Fill]:
        if not self.connected:
            raise BrokerError(describe(504, "cannot read IBKR's executions"))
        fills = await self.ib.reqExecutionsAsync(ExecutionFilter())
        return [parse.fill_from(f) for f in fills if f.execution.orderRef]

    async def positions(self) -> list[BrokerPosition]:
        out = []
        for p in self.ib.positions(self._account):
            symbol = parse.symbol_of(p.contract)
            mult = float(p.contract.multiplier) if p.contract.multiplier else 1.0
            out.append(BrokerPosition(symbol, float(p.position), float(p.avgCost) / (mult or 1.0)))
        return out

    async def cash(self) -> float:
        return self.figures().cash

    # ------------------------------------------------------------------ protocol: capabilities
    # IBKR is a real broker at real exchanges: it enforces its own settlement, quotes options
    # through the feed, expires and settles at the exchange, and its account is the truth.
    def settled_cash(self) -> float | None:
        """None: IBKR enforces its own settlement rule, so the engine does not cap a buy's cash."""
        return None

    def adopt_book(
        self, cash: float, positions: list[BrokerPosition], *, balances: Mapping[str, float] | None = None
    ) -> None:
        """Nothing: the IBKR account is the truth (``remembers`` is True)."""

    def option_quote(self, symbol: str) -> Quote | None:
        """None: option quotes come from the market data feed, not from the adapter."""
        return None

    def option_marks(self) -> dict[str, float]:
        return {}

    def set_option_volatility(self, underlying: str, sigma: float) -> None:
        """Nothing: IBKR prices options itself."""

    def on_quote(self, quote: Quote) -> None:
        """Nothing: the exchange matches orders (``simulated`` is False)."""

    def matching_symbols(self) -> Container[str]:
        """None: the exchange matches orders."""
        return frozenset()

    def set_market(self, quotes: Iterable[Quote]) -> None:
        """Nothing: the exchange's own market."""

    def may_match(self, symbol: str, bid: float, ask: float) -> bool:
        """Never: the exchange matches orders."""
        return False

    def on_session_close(self, day: date, closes: Mapping[str, float] | None = None) -> None:
        """Nothing: the exchange expires DAY orders and settles expiries; reports tell the engine."""

    def set_settlement_hook(self, hook: SettlementHook | None) -> None:
        """Nothing: IBKR makes no orders of its own; expiries arrive as ordinary reports."""

    def settlement_orders(self) -> list[Order]:
        return []

    def set_depth_sink(self, sink: DepthSink | None) -> None:
        """Stream the depth of ``[ibkr] depth_symbols`` into ``sink`` (None: stop), now when
        connected and after every reconnect (``engine.brokers.ibkr.depth``)."""
        self._depth.set_sink(sink)
        if sink is None:
            self._depth.cancel()
        elif self.connected and self._depth.symbols:
            self._spawn(self._depth.subscribe())

    @property
    def depth_subscribed(self) -> tuple[str, ...]:
        """The symbols whose market depth is subscribed on the current connection."""
        return self._depth.subscribed

    def figures(self) -> parse.AccountFigures:
        values = {
            v.tag: v.value
            for v in self.ib.accountValues(self._account)
            if v.tag in parse.SUMMARY_TAGS and v.currency in ("USD", "BASE", "")
        }
        return parse.account_figures(self._account, values)

    def cash_balances(self) -> dict[str, float]:
        """IBKR's cash per currency (TotalCashBalance of each currency held, without BASE)."""
        if not self.connected:
            return {}
        return parse.cash_balances((v.tag, v.value, v.currency) for v in self.ib.accountValues(self._account))

    # ------------------------------------------------------------------ IB events -> reports
    def _report(self, report: object) -> None:
        if self._reporter is not None:
            self._reporter(report)  # type: ignore[arg-type]

    def _known(self, trade: Trade) -> str | None:
        coid = trade.order.orderRef
        if not coid or self._trades.get(coid) is not trade:
            return None
        return str(coid)

    def _on_open_order(self, trade: Trade) -> None:
        coid = self._known(trade)
        if coid is None:
            return
        self._acknowledge(coid, trade)
        pending = self._pending.get(coid)
        quantity = float(trade.order.totalQuantity)
        if pending is not None and math.isclose(quantity, pending.quantity):
            del self._pending[coid]
            self._quantities[coid] = quantity
            self._report(
                OrderModified(
                    coid,
                    pending.quantity,
                    pending.limit_price,
                    stop_price=pending.stop_price,
                    trail_amount=pending.trail_amount,
                    trail_percent=pending.trail_percent,
                )
            )
        elif pending is None and not math.isclose(quantity, self._quantities.get(coid, quantity)):
            # IBKR changed it by itself: an OCA sibling filled in part, or a bracket's parent filled
            self._quantities[coid] = quantity
            limit = parse.price_or_none(trade.order.lmtPrice)
            self._report(
                OrderModified(coid, quantity, limit, reason="changed at IBKR (OCA group or bracket)")
            )

    def _acknowledge(self, coid: str, trade: Trade) -> None:
        if coid in self._acknowledged or trade.orderStatus.status not in _WORKING_STATES | {"Filled"}:
            return
        self._acknowledged.add(coid)
        self._report(OrderAcknowledged(coid, parse.broker_order_id(trade)))

    def _on_order_status(self, trade: Trade) -> None:
        coid = self._known(trade)
        if coid is None:
            return
        status = trade.orderStatus.status
        if status in _WORKING_STATES or status == "Filled":
            self._acknowledge(coid, trade)
            return
        if status not in ("Cancelled", "ApiCancelled", "Inactive"):
            return
        code, text = last_error(trade)
        if code and code != 202 and not is_warning(code):
            reason = describe(code, text)
            if coid in self._acknowledged and status != "Inactive":
                self._report(OrderCancelled(coid, reason))
            else:
                self._report(OrderRejected(coid, reason))
        elif status == "Inactive":
            self._report(OrderRejected(coid, "IBKR made the order inactive"))
        else:
            self._report(OrderCancelled(coid, text or "cancelled at IBKR"))

    def _on_commission(self, trade: Trade, fill: IbFill, report: CommissionReport) -> None:
        coid = trade.order.orderRef
        if not coid or fill.execution.execId in self._reported_execs:
            return
        self._reported_execs.add(fill.execution.execId)
        if self._trades.get(coid) is trade:
            self._acknowledge(coid, trade)
        self._report(OrderFilled(parse.fill_from(fill, coid)))

    def _on_error(self, req_id: int, code: int, text: str, contract: Contract | None) -> None:
        if code == CONNECTION_LOST:
            self._set_link("degraded", detail=describe(code, ""))
            self._notice("error", describe(code, text))
        elif code in (RESTORED_DATA_LOST, RESTORED_DATA_KEPT):
            self._set_link("connected", detail="")
            self._notice("info", describe(code, text))
            if code == RESTORED_DATA_LOST and self._quotes.symbols:
                self._spawn(self._quotes.subscribe_safely(again=True))
            if code == RESTORED_DATA_LOST and self._depth.subscribed:
                self._spawn(self._depth.subscribe())
        elif req_id in self._depth.requests() and not is_warning(code):
            self._notice("error", f"market depth: {describe(code, text)}")
        elif code in (354, 10167, 200, 162) and req_id in self._quotes.requests():
            self._notice("warning" if is_warning(code) else "error", describe(code, text))
        elif not is_warning(code) and req_id < 0:
            self._notice("error", describe(code, text))

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_account_value(self, value: object) -> None:
        """IBKR's own figures of the account, beside onetap's book on the status line."""
        tag = getattr(value, "tag", "")
        if tag in ("NetLiquidation", "BuyingPower") and getattr(value, "account", "") == self._account:
            figures = self.figures()
            self._set_link(
                self._link.state, net_liquidation=figures.net_liquidation, buying_power=figures.buying_power
            )

    # ------------------------------------------------------------------ market data (quotes.py)
    def stream_quotes(self, symbols: Iterable[str], sink: QuoteSink) -> None:
        """Stream quotes for ``symbols`` into ``sink``, now and after every reconnect."""
        self._quotes.stream(symbols, sink)

    async def start_quotes(self) -> None:
        if self.connected:
            await self._quotes.subscribe_safely()

    async def snapshot(self, symbol: str, timeout: float = 5.0) -> Quote | None:
        """One quote now, without a subscription (e.g. an option nobody streams); None if none came."""
        if not self.connected:
            raise BrokerError(describe(504, f"no snapshot of {symbol}"))
        return await self._quotes.snapshot(symbol, timeout)

    async def history(self, symbol: str, duration: str, *, end: datetime | None = None) -> pd.DataFrame:
        """Daily bars (regular hours, trades) up to ``end`` (now by default)."""
        if not self.connected:
            raise BrokerError(describe(504, f"no history for {symbol}"))
        return await self._quotes.history(symbol, duration, end=end)

    def _quote_time(self) -> datetime:
        return self.server_now() or self._wall()
