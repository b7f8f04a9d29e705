"""The Broker protocol: what the order manager needs from any broker.

A broker reports what happens to orders through one callback taking ``BrokerReport``
values, in the order it learns them. Reports may arrive out of order or twice (a fill
before its acknowledgement, a replayed execution after a reconnect); the order manager,
not the adapter, owns deduplication by execution id.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from engine.model import Fill, Order, Quote


@dataclass(frozen=True, slots=True)
class OrderAcknowledged:
    client_order_id: str
    broker_order_id: str


@dataclass(frozen=True, slots=True)
class OrderFilled:
    fill: Fill


@dataclass(frozen=True, slots=True)
class OrderModified:
    """The broker now works the order with this quantity and limit price.

    ``stop_price``, ``trail_amount`` and ``trail_percent``: None means unchanged. The broker sends
    this report on its own too, with no request behind it: a TRAIL order's stop ratcheted
    (``stop_price`` is the new trailing level), a one-cancels-all sibling filled in part (the
    quantity shrank), or a bracket's parent filled (a held child now works the parent's filled
    quantity).
    """

    client_order_id: str
    quantity: float
    limit_price: float | None
    stop_price: float | None = None
    trail_amount: float | None = None
    trail_percent: float | None = None
    reason: str = ""
    """Why the broker changed the order by itself ("" for a change the engine asked for)."""


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    client_order_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OrderRejected:
    client_order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class OrderExpired:
    client_order_id: str
    reason: str = ""


BrokerReport = OrderAcknowledged | OrderFilled | OrderModified | OrderCancelled | OrderRejected | OrderExpired
Reporter = Callable[[BrokerReport], None]


class BrokerError(Exception):
    """The broker could not take a request; the message says what to do."""


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    symbol: str
    quantity: float
    avg_cost: float


@dataclass(frozen=True, slots=True)
class BrokerLink:
    """The connection to a remote broker, as the operator's status line shows it.

    ``state``: connected, reconnecting, disconnected, or degraded (connected to TWS, which lost
    IBKR's servers). An embedded broker has no link to show and reports none.
    """

    state: str
    server_version: int = 0
    account: str = ""
    data_type: str = ""
    last_heartbeat: datetime | None = None
    detail: str = ""
    live_acknowledged: bool = True
    """False while a live account waits for the operator to type its id (nothing is sent till then)."""
    net_liquidation: float = 0.0
    """The account's value as the broker reports it (0 until it has): onetap's own book is beside it."""
    buying_power: float = 0.0


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A symbol's market depth as the broker holds it now: the sizes of its rows, best first.

    Sizes only: the depth imbalance (``engine.signals.orderflow``) weighs the rows' sizes.
    """

    symbol: str
    bid_sizes: tuple[float, ...]
    ask_sizes: tuple[float, ...]


DepthSink = Callable[[DepthSnapshot], None]

SettlementHook = Callable[[Order], None]
"""Told of a broker-made settlement order (ACKNOWLEDGED, nothing filled) just before its fill is reported."""


class Broker(Protocol):
    """Everything the engine needs from a broker; the engine asks these, never which broker it has.

    The capabilities below the order calls say what a broker is and can do (``simulated``,
    ``live``, ``read_only``, ``remembers``) and give the engine what only some brokers have:
    a broker without the capability answers with the neutral value its docstring names (None,
    an empty list, a no-op), never an error.
    """

    name: str

    @property
    def account(self) -> str:
        """The account orders go to ("" until a remote broker has told which): a database belongs
        to one broker and one account (``engine.runtime.startup.check_identity``)."""
        ...

    trades_options: bool
    """True when the broker takes orders in listed equity options under their OCC symbol
    (``engine.model.options``: quantities in contracts, prices per unit of the underlying) and
    reports their fills and expiries. The engine offers option cards only to such a broker."""

    @property
    def simulated(self) -> bool:
        """True when the broker is its own market (paper): the engine must feed it every quote
        (``on_quote``) and every session close (``on_session_close``), or nothing ever fills or
        settles. False for a broker at a real exchange (IBKR), which learns prices elsewhere."""
        ...

    @property
    def live(self) -> bool:
        """True when orders spend real money (a live IBKR account); paper is never live."""
        ...

    @property
    def read_only(self) -> bool:
        """True when the broker is connected to show the account only: it sends nothing."""
        ...

    @property
    def remembers(self) -> bool:
        """True when the broker itself is the record of the account (IBKR always; paper when its
        journal held history at start). When False the engine hands it its own book at start
        (``adopt_book``), and orders the broker never saw cannot be working there."""
        ...

    def set_reporter(self, reporter: Reporter) -> None:
        """Where reports go. Set once, before ``connect``."""
        ...

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def submit(self, order: Order) -> None:
        """Send an order; raises ``BrokerError`` when it surely did not reach the broker."""
        ...

    async def cancel(self, client_order_id: str) -> None: ...

    async def global_cancel(self) -> None:
        """Cancel every order working at the broker, the engine's or not (the kill switch's last word)."""
        ...

    def sending_refused(self) -> str:
        """Why no new order may go to this broker now, whatever its link ("" when orders may go):
        checked before a card's orders are even written, so a refusal leaves nothing behind."""
        ...

    async def modify(self, client_order_id: str, *, quantity: float, limit_price: float | None) -> None:
        """Change a working order in place (same id); the change is confirmed by ``OrderModified``.

        Raises ``BrokerError`` when the broker refuses it (the order is no longer working, the new
        quantity is not above what already filled, the money is not there).
        """
        ...

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
        """Change any of a working order's terms in place (same id); None leaves a term as it is.

        For protective orders: move a stop (``stop_price``; on a TRAIL order it resets the
        trailing level) or a target (``limit_price``), change a trailing distance (giving one of
        ``trail_amount``/``trail_percent`` clears the other), or make the quantity follow the
        position. Confirmed by ``OrderModified``; raises ``BrokerError`` when refused (the order
        is not working, a term does not belong to its type, a stop already triggered, the new
        quantity is not above what filled).
        """
        ...

    async def place_bracket(self, entry: Order, children: Sequence[Order]) -> None:
        """Send an entry with its protective orders attached, as one native bracket.

        The children (a stop and/or a target, usually one OCA group) are held by the broker and
        work only once the entry fills, each for the entry's filled quantity so far (a partial
        entry fill activates them for what filled; later fills grow them, reported as
        ``OrderModified``). An entry cancelled or expired with nothing filled cancels them.
        Each child is acknowledged like any order (``OrderAcknowledged``) when held.

        When the engine should use it: a single-order entry whose protection is known before it
        is sent (a plain card leg, not an algo's parent or a multi-leg group), so the protection
        lives at the broker from the first fill even if onetap is down (IBKR: ``parentId`` +
        ``transmit``). Otherwise (algo entries, protection decided after the fill, a re-placed
        protection after a restart) send the entry with ``submit`` and each protective order
        with ``submit`` as it is needed. Raises ``BrokerError`` like ``submit``: a refused entry
        leaves no child behind.
        """
        ...

    async def open_orders(self) -> list[Order]:
        """Orders working at the broker now; ``client_order_id`` is the engine's id (IBKR's orderRef)."""
        ...

    async def executions(self) -> list[Fill]:
        """Executions since the broker's session began; the order manager deduplicates by exec id.

        Reconciliation reads them after a crash or reconnect to find fills the engine never
        heard of. A broker may return fills the engine already has (it usually will); one that
        forgets older executions (IBKR keeps the day's) bounds what a long outage can recover.
        """
        ...

    async def positions(self) -> list[BrokerPosition]: ...

    async def cash(self) -> float: ...

    # ------------------------------------------------------------------ capabilities
    def settled_cash(self) -> float | None:
        """Cash that may be spent now under the broker's settlement rule (paper: T+N, sale proceeds
        excluded until they settle); the engine caps a buy's cash at it. None when the broker
        enforces its own rule and the engine must not cap (IBKR)."""
        ...

    def acknowledge_live(self, typed: str) -> bool:
        """The operator typed the live account's id: True when it matches and live orders may go.

        Asked only when ``live`` is True (the engine answers "not trading a live account"
        otherwise). Always False for a broker that has no live account (paper)."""
        ...

    def adopt_book(
        self, cash: float, positions: list[BrokerPosition], *, balances: Mapping[str, float] | None = None
    ) -> None:
        """Take the engine's book as the account's, at start, when ``remembers`` is False:
        ``cash`` in the account currency, ``balances`` in each other currency (issue 20).

        A no-op for a broker whose account is the truth (IBKR). Raises ``BrokerError`` when the
        book cannot be taken (orders working, numbers that are not finite)."""
        ...

    def cash_balances(self) -> dict[str, float]:
        """currency -> the account's cash in it, every currency it holds (IB's ``CashBalance`` per
        currency; paper: its own book), for reconciliation per currency. ``{}`` when the broker
        has not said (not connected yet)."""
        ...

    def set_depth_sink(self, sink: DepthSink | None) -> None:
        """Where market depth goes (each change of a subscribed symbol's book, as a snapshot).

        IBKR streams the depth of ``[ibkr] depth_symbols`` (reqMktDepth) into it, again after every
        reconnect. A no-op for a broker without depth: the paper broker's market has one bid and
        one ask, so it serves none, and the depth imbalance reading stays absent (not zero)."""
        ...

    # ------------------------------------------------------------------ options
    def option_quote(self, symbol: str) -> Quote | None:
        """The broker's own quote of an option (paper: its model's), or None when it makes none
        (IBKR: option quotes come from the feed)."""
        ...

    def option_marks(self) -> dict[str, float]:
        """symbol -> the broker's own price of every option it holds or works and can price now,
        for marking the ledger after each round of quotes; ``{}`` when it prices none (IBKR)."""
        ...

    def set_option_volatility(self, underlying: str, sigma: float) -> None:
        """The annualised volatility the broker's option model prices ``underlying``'s options at
        (given daily, before the first quote). A no-op for a broker without a model (IBKR); one
        with a model raises ``ValueError`` for a negative or non-finite ``sigma``."""
        ...

    # ------------------------------------------------------------------ venue hooks (simulated)
    def on_quote(self, quote: Quote) -> None:
        """A quote for the simulated market to match working orders against (see ``simulated``).
        A no-op at a real exchange (IBKR)."""
        ...

    def matching_symbols(self) -> Container[str]:
        """The symbols whose quotes can match an order in the simulated market now, as a live
        view (it changes as orders work and end). The engine hands ``on_quote`` only their quotes,
        one by one, and every other quote of a step at once to ``set_market``: a step of 500
        symbols with a few working orders matches a few quotes, not 500. Empty at a real exchange."""
        ...

    def set_market(self, quotes: Iterable[Quote]) -> None:
        """Quotes the simulated market takes as its prices without matching anything (their
        symbols have nothing working). A no-op at a real exchange (IBKR)."""
        ...

    def may_match(self, symbol: str, bid: float, ask: float) -> bool:
        """Whether ``on_quote`` with this touch (of a quote ``set_market`` has taken) could do
        anything now: False when every order working on ``symbol`` is a resting limit it does
        not reach and nothing is to be matched on its options. The engine asks it before making
        the quote object; a live answer, like ``matching_symbols``. False at a real exchange."""
        ...

    def on_session_close(self, day: date, closes: Mapping[str, float] | None = None) -> None:
        """The session of ``day`` closed: expire DAY orders, move unsettled cash a session on,
        settle expiring options (against ``closes`` when given). Idempotent per day. A no-op at
        a real exchange (IBKR), which does this itself."""
        ...

    def set_settlement_hook(self, hook: SettlementHook | None) -> None:
        """Who is told of a broker-made settlement order (an option expiry) before its fill is
        reported, so the engine can record the order the fill belongs to. A no-op for a broker
        that makes none (IBKR: expiries arrive as ordinary reports)."""
        ...

    def settlement_orders(self) -> list[Order]:
        """Every settlement order the broker made, as the hook received it (for reconciliation
        after a crash); ``[]`` for a broker that makes none (IBKR)."""
        ...
