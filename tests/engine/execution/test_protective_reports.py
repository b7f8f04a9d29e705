"""The order manager records what the broker changes on protective orders by itself: a trailing
stop's new level and an OCA sibling's shrunk quantity reach the engine's order and its row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.clock import FixedClock
from engine.execution.order_manager import OrderManager
from engine.model import Fill, OrderRequest, OrderStatus, OrderType, Quote, Side, TimeInForce
from engine.model.events import OrderEvent
from engine.store import Store
from tests.defaults import paper_broker

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


async def test_a_trailing_level_and_an_oca_reduction_are_stored_and_published(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    broker = paper_broker(clock, slippage_bps=0.0, max_participation=0.1)
    store = Store.open(tmp_path / "onetap.db")
    events: list[OrderEvent] = []
    fills: list[Fill] = []
    manager = OrderManager(
        store, broker, clock, lambda e: events.append(e) if isinstance(e, OrderEvent) else None, fills.append
    )
    await broker.connect()

    def quote(last: float, size: float = 1e6) -> None:
        clock.advance(timedelta(seconds=1))
        broker.on_quote(Quote("AAPL", clock.now(), last - 0.01, last + 0.01, last, 500.0, 500.0, size, 1e6))

    quote(100.0)
    entry = await manager.submit(OrderRequest("AAPL", Side.BUY, 100.0))
    quote(100.0)
    assert sum(f.quantity for f in fills) == 100.0
    common = {"tif": TimeInForce.GTC, "oca_group": "OCA-1", "protects": entry.client_order_id}
    trail = await manager.submit(
        OrderRequest("AAPL", Side.SELL, 100.0, OrderType.TRAIL, trail_amount=2.0, **common)
    )  # type: ignore[arg-type]
    target = await manager.submit(
        OrderRequest("AAPL", Side.SELL, 100.0, OrderType.LMT, limit_price=110.0, **common)
    )  # type: ignore[arg-type]
    assert manager.get(trail.client_order_id).stop_price == 98.0  # type: ignore[union-attr]
    quote(105.0)
    assert manager.get(trail.client_order_id).stop_price == 103.0  # type: ignore[union-attr]
    assert store.get_order(trail.client_order_id).stop_price == 103.0  # type: ignore[union-attr]
    assert any(
        e.order.client_order_id == trail.client_order_id and e.order.stop_price == 103.0 for e in events
    )
    quote(102.0, size=300.0)  # the stop fires and sells 30 (10% of 300): the target shrinks to 70
    assert store.get_order(target.client_order_id).quantity == 70.0  # type: ignore[union-attr]
    quote(102.0)
    assert store.get_order(trail.client_order_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    cancelled = store.get_order(target.client_order_id)
    assert cancelled is not None and cancelled.status is OrderStatus.CANCELLED and "OCA-1" in cancelled.reason
    store.close()
