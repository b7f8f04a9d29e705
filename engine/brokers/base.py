"""The Broker protocol: what the order manager needs from any broker.

A broker reports what happens to orders through one callback taking ``BrokerReport``
values, in the order it learns them. Reports may arrive out of order or twice (a fill
before its acknowledgement, a replayed execution after a reconnect); the order manager,
not the adapter, owns deduplication by execution id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from engine.model import Fill, Order


@dataclass(frozen=True, slots=True)
class OrderAcknowledged:
    client_order_id: str
    broker_order_id: str


@dataclass(frozen=True, slots=True)
class OrderFilled:
    fill: Fill


@dataclass(frozen=True, slots=True)
class OrderModified:
    """The broker now works the order with this quantity and limit price."""

    client_order_id: str
    quantity: float
    limit_price: float | None


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


class Broker(Protocol):
    name: str
    trades_options: bool
    """True when the broker takes orders in listed equity options under their OCC symbol
    (``engine.model.options``: quantities in contracts, prices per unit of the underlying) and
    reports their fills and expiries. The engine offers option cards only to such a broker."""

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
