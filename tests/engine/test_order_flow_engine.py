"""Order flow computed live in the engine: each quote step's MarketEvent carries the readings of
the symbols it quoted, equal to a tracker fed the same good quotes, and marked as invented sizes."""

from __future__ import annotations

from engine.kernel import Engine
from engine.model import Quote
from engine.model.codec import dumps, loads
from engine.model.events import MarketEvent
from engine.runtime.order_flow import HORIZON, WINDOW, OrderFlowBook
from engine.signals.orderflow import OrderFlowTracker


async def test_market_events_carry_order_flow_equal_to_a_tracker(engine: Engine) -> None:
    events: list[MarketEvent] = []
    seen: list[Quote] = []
    engine.bus.on(MarketEvent, events.append)
    engine.bus.on(MarketEvent, lambda e: seen.extend(q for q in e.quotes if q.symbol == "AAPL"))
    await engine.step(12)
    assert events and all(e.flow for e in events)
    last = next(f for f in reversed([f for e in events for f in e.flow]) if f.symbol == "AAPL")
    tracker = OrderFlowTracker(WINDOW, HORIZON)
    for q in seen:
        tracker.on_quote(q.bid, q.ask, q.bid_size, q.ask_size, q.last, q.last_size, q.volume)
    expected = tracker.figures()
    assert last.updates == expected.updates == len(seen)
    assert last.ofi == expected.ofi
    assert last.quote_imbalance == expected.quote_imbalance
    assert last.sizes_invented, "the paper replay invents its sizes: the reading must say so"
    wire = loads(dumps(events[-1]))
    assert wire == events[-1]  # the readings cross the socket intact


def test_the_book_skips_a_quote_it_cannot_use() -> None:
    """An index quote (bid = ask = last, sizes 0) gives a reading with no imbalance; a quote without
    a bid gives none at all, and a negative size is skipped rather than stopping the step."""
    from datetime import UTC, datetime

    t = datetime(2024, 1, 2, 15, tzinfo=UTC)
    book = OrderFlowBook(sizes_invented=False)
    (index,) = book.update([Quote("SPX", t, 4700.0, 4700.0, 4700.0, 0.0, 0.0, 0.0, 0.0)])
    assert index.quote_imbalance is None and index.ofi == 0.0 and not index.sizes_invented
    assert book.update([Quote("X", t, 0.0, 10.0, 10.0, 1.0, 1.0, 0.0, 0.0)]) == ()
    assert book.update([Quote("Y", t, 9.0, 10.0, 10.0, -1.0, 1.0, 0.0, 0.0)]) == ()
    ok = book.update([Quote("Y", t, 9.0, 10.0, 10.0, 3.0, 1.0, 0.0, 0.0)])
    assert ok[0].quote_imbalance == 0.5
