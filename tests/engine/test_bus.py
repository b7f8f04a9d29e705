"""The bus: inline handlers see everything; subscribers coalesce quotes and never lose order events."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.bus import EventBus
from engine.model import Order, Quote, Side
from engine.model.events import MarketEvent, NoticeEvent, OrderEvent

TS = datetime(2012, 1, 3, 15, tzinfo=UTC)


def q(sym: str, last: float) -> Quote:
    return Quote(sym, TS, last - 0.01, last + 0.01, last, 1, 1, 1, 1)


def test_market_events_coalesce_latest_wins_per_symbol() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish(MarketEvent(TS, (q("A", 1.0), q("B", 2.0))))
    bus.publish(OrderEvent(Order("OT-1", "A", Side.BUY, 1.0)))
    bus.publish(MarketEvent(TS, (q("A", 1.5),)))
    items = sub.drain()
    assert len(items) == 2
    market = items[0]
    assert isinstance(market, MarketEvent)
    assert {x.symbol: x.last for x in market.quotes} == {"A": 1.5, "B": 2.0}
    assert isinstance(items[1], OrderEvent)


def test_overflow_closes_subscription_instead_of_dropping_silently() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxsize=3)
    for i in range(5):
        bus.publish(NoticeEvent(TS, "info", str(i)))
    assert sub.overflowed
    assert sub.closed


def test_handler_failure_does_not_stop_others() -> None:
    bus = EventBus()
    seen: list[str] = []

    def bad(_e: object) -> None:
        raise RuntimeError("boom")

    bus.on(NoticeEvent, bad)
    bus.on(NoticeEvent, lambda e: seen.append(e.message))
    bus.publish(NoticeEvent(TS, "info", "hello"))
    assert seen == ["hello"]


async def test_async_iteration_yields_in_order() -> None:
    bus = EventBus()
    sub = bus.subscribe(NoticeEvent)
    bus.publish(NoticeEvent(TS, "info", "a"))
    bus.publish(MarketEvent(TS, ()))
    bus.publish(NoticeEvent(TS, "info", "b"))
    got = [await sub.__anext__(), await sub.__anext__()]
    assert [g.message for g in got] == ["a", "b"]
