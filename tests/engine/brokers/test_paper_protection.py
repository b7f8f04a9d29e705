"""Protective orders at the paper broker: OCA groups, stop-limits, trailing stops, brackets, gaps, GTC.

The broker is driven as the engine drives it (orders through its API, quotes through ``on_quote``,
closes through ``on_session_close``); every test first asserts the thing under test happened.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.brokers.base import (
    BrokerError,
    BrokerReport,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderModified,
    OrderRejected,
)
from engine.brokers.paper import PaperBroker, read_journal
from engine.brokers.paper import journal as paper_journal
from engine.clock import FixedClock
from engine.model import Order, OrderStatus, OrderType, Quote, Side, TimeInForce
from tests.defaults import paper_broker

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
OCA = "OCA-OT-000001"


class Desk:
    """A connected paper broker with no slippage, its reports, and a quote feed."""

    def __init__(self, journal: Path | None = None, clock: FixedClock | None = None, **kwargs: Any) -> None:
        self.clock = clock or FixedClock(T0)
        settings: dict[str, Any] = {"slippage_bps": 0.0, "max_participation": 1.0, **kwargs}
        self.broker: PaperBroker = paper_broker(self.clock, journal=journal, **settings)
        self.reports: list[BrokerReport] = []
        self.broker.set_reporter(self.reports.append)
        self._n = 0

    async def connect(self) -> Desk:
        await self.broker.connect()
        return self

    def quote(self, last: float, *, size: float = 10_000.0, symbol: str = "AAPL") -> None:
        self.clock.advance(timedelta(seconds=1))
        self.broker.on_quote(
            Quote(symbol, self.clock.now(), last - 0.01, last + 0.01, last, 500.0, 500.0, size, 10_000.0)
        )

    def order(self, side: Side, qty: float, order_type: OrderType = OrderType.MKT, **terms: Any) -> Order:
        self._n += 1
        terms.setdefault("tif", TimeInForce.GTC if terms.get("oca_group") else TimeInForce.DAY)
        return Order(f"OT-{self._n:06d}", terms.pop("symbol", "AAPL"), side, qty, order_type, **terms)

    async def buy_position(self, qty: float = 100.0, price: float = 100.0) -> Order:
        self.quote(price)
        entry = self.order(Side.BUY, qty)
        await self.broker.submit(entry)
        self.quote(price)
        assert self.filled(entry.client_order_id) == qty
        return entry

    async def protect(
        self, entry: Order, *, stop: Order | None = None, target: float | None = 110.0
    ) -> list[Order]:
        """A stop and a target in one OCA group, as the protection manager sends them."""
        qty = entry.quantity
        orders = [stop or self.order(Side.SELL, qty, OrderType.STP, stop_price=95.0, oca_group=OCA)]
        if target is not None:
            orders.append(self.order(Side.SELL, qty, OrderType.LMT, limit_price=target, oca_group=OCA))
        for order in orders:
            await self.broker.submit(order)
            assert self.acked(order.client_order_id)
        return orders

    def of(self, coid: str) -> list[BrokerReport]:
        return [r for r in self.reports if _coid(r) == coid]

    def acked(self, coid: str) -> bool:
        return any(isinstance(r, OrderAcknowledged) for r in self.of(coid))

    def filled(self, coid: str) -> float:
        return sum(r.fill.quantity for r in self.of(coid) if isinstance(r, OrderFilled))

    def fill_prices(self, coid: str) -> list[float]:
        return [r.fill.price for r in self.of(coid) if isinstance(r, OrderFilled)]

    def cancelled(self, coid: str) -> str | None:
        return next((r.reason for r in self.of(coid) if isinstance(r, OrderCancelled)), None)

    def modified(self, coid: str) -> list[OrderModified]:
        return [r for r in self.of(coid) if isinstance(r, OrderModified)]

    async def working(self) -> dict[str, Order]:
        return {o.client_order_id: o for o in await self.broker.open_orders()}


def _coid(report: BrokerReport) -> str:
    return report.fill.client_order_id if isinstance(report, OrderFilled) else report.client_order_id


async def desk(**kwargs: Any) -> Desk:
    return await Desk(**kwargs).connect()


# --------------------------------------------------------------------------- OCA: stop and target
async def test_the_stop_hits_and_the_target_is_cancelled() -> None:
    d = await desk()
    entry = await d.buy_position()
    stop, target = await d.protect(entry)
    d.quote(96.0)
    assert d.filled(stop.client_order_id) == 0.0
    d.quote(94.9)
    assert d.filled(stop.client_order_id) == 100.0
    assert d.fill_prices(stop.client_order_id) == [94.89]  # the bid of the quote that triggered it
    reason = d.cancelled(target.client_order_id)
    assert reason is not None and OCA in reason and stop.client_order_id in reason
    assert await d.working() == {}
    assert await d.broker.positions() == []


async def test_the_target_hits_and_the_stop_is_cancelled() -> None:
    d = await desk()
    entry = await d.buy_position()
    stop, target = await d.protect(entry)
    d.quote(110.5)
    assert d.filled(target.client_order_id) == 100.0
    assert d.fill_prices(target.client_order_id) == [110.49]
    reason = d.cancelled(stop.client_order_id)
    assert reason is not None and target.client_order_id in reason
    assert await d.working() == {}


async def test_a_stop_and_target_together_are_allowed_on_a_long_without_short_selling() -> None:
    """The OCA group sells the position once, so the second member is not refused as a short sale;
    a third, unrelated sell of the same shares still is."""
    d = await desk(allow_short=False)
    entry = await d.buy_position()
    await d.protect(entry)
    extra = d.order(Side.SELL, 100.0, OrderType.LMT, limit_price=120.0)
    await d.broker.submit(extra)
    rejected = [r for r in d.of(extra.client_order_id) if isinstance(r, OrderRejected)]
    assert rejected and "short selling disabled" in rejected[0].reason


async def test_a_partial_fill_of_the_stop_reduces_the_target() -> None:
    """IB ocaType 3, reduce without block: the target shrinks by what the stop sold."""
    d = await desk(max_participation=0.1)
    entry = await d.buy_position(price=100.0)
    stop, target = await d.protect(entry)
    d.quote(94.0, size=300.0)  # 10% of 300: the stop sells 30
    assert d.filled(stop.client_order_id) == 30.0
    (shrunk,) = d.modified(target.client_order_id)
    assert shrunk.quantity == 70.0 and OCA in shrunk.reason
    working = await d.working()
    assert working[target.client_order_id].quantity == 70.0
    assert working[stop.client_order_id].remaining == 70.0
    d.quote(94.0, size=10_000.0)
    assert d.filled(stop.client_order_id) == 100.0
    assert d.cancelled(target.client_order_id) is not None
    assert await d.broker.positions() == []


# --------------------------------------------------------------------------- stop types
async def test_a_gap_through_the_stop_fills_at_the_open_not_at_the_stop() -> None:
    d = await desk()
    entry = await d.buy_position()
    stop, _target = await d.protect(entry)
    d.broker.on_session_close(date(2024, 3, 4))
    assert stop.client_order_id in await d.working()  # GTC: the close did not expire it
    d.quote(90.0)  # the next session's first quote, far below the 95 stop
    assert d.fill_prices(stop.client_order_id) == [89.99]


async def test_a_stop_limit_gapped_through_its_limit_rests_and_fills_when_the_price_comes_back() -> None:
    d = await desk()
    entry = await d.buy_position()
    stop = d.order(Side.SELL, 100.0, OrderType.STP_LMT, stop_price=95.0, limit_price=94.5, oca_group=OCA)
    (stop,) = await d.protect(entry, stop=stop, target=None)
    d.quote(93.0)
    assert d.filled(stop.client_order_id) == 0.0
    assert stop.client_order_id in await d.working()
    d.quote(94.6)
    assert d.fill_prices(stop.client_order_id) == [94.59]


async def test_a_trailing_stop_ratchets_with_the_price_never_loosens_then_fires() -> None:
    d = await desk()
    entry = await d.buy_position()
    trail = d.order(Side.SELL, 100.0, OrderType.TRAIL, trail_amount=2.0, oca_group=OCA)
    (trail,) = await d.protect(entry, stop=trail, target=None)
    coid = trail.client_order_id
    assert d.modified(coid)[0].stop_price == 98.0  # the initial level, from the last trade 100
    for last in (101.0, 103.5, 102.0, 104.0):
        d.quote(last)
    levels = [m.stop_price for m in d.modified(coid)]
    assert levels == [98.0, 99.0, 101.5, 102.0]  # 102 -> 100 would loosen it: not reported
    assert (await d.working())[coid].stop_price == 102.0
    d.quote(102.5)
    assert d.filled(coid) == 0.0
    d.quote(101.9)
    assert d.fill_prices(coid) == [101.89]


async def test_a_trailing_percent_stop_protecting_a_short_moves_down() -> None:
    d = await desk(allow_short=True)
    d.quote(100.0)
    short = d.order(Side.SELL, 10.0)
    await d.broker.submit(short)
    d.quote(100.0)
    trail = d.order(Side.BUY, 10.0, OrderType.TRAIL, trail_percent=5.0, stop_price=104.0)
    await d.broker.submit(trail)
    d.quote(90.0)
    assert d.modified(trail.client_order_id)[-1].stop_price == 94.5
    d.quote(95.0)
    assert d.filled(trail.client_order_id) == 10.0


async def test_malformed_trailing_orders_are_refused_with_the_reason() -> None:
    d = await desk()
    await d.buy_position()
    both = d.order(Side.SELL, 10.0, OrderType.TRAIL, trail_amount=1.0, trail_percent=1.0)
    neither = d.order(Side.SELL, 10.0, OrderType.TRAIL)
    huge = d.order(Side.SELL, 10.0, OrderType.TRAIL, trail_percent=150.0)
    for order, words in ((both, "exactly one"), (neither, "exactly one"), (huge, "below 100")):
        await d.broker.submit(order)
        (rejected,) = [r for r in d.of(order.client_order_id) if isinstance(r, OrderRejected)]
        assert words in rejected.reason


# --------------------------------------------------------------------------- modify
async def test_modify_order_moves_a_stop_and_a_target_and_shrinks_them() -> None:
    d = await desk()
    entry = await d.buy_position()
    stop, target = await d.protect(entry)
    await d.broker.modify_order(stop.client_order_id, stop_price=97.0, quantity=60.0)
    await d.broker.modify_order(target.client_order_id, limit_price=108.0)
    (moved,) = d.modified(stop.client_order_id)
    assert (moved.quantity, moved.stop_price) == (60.0, 97.0)
    working = await d.working()
    assert (working[stop.client_order_id].stop_price, working[stop.client_order_id].quantity) == (97.0, 60.0)
    assert working[target.client_order_id].limit_price == 108.0
    with pytest.raises(BrokerError, match="no trailing distance"):
        await d.broker.modify_order(target.client_order_id, trail_amount=1.0)
    d.quote(96.5)
    assert d.filled(stop.client_order_id) == 60.0
    assert d.cancelled(target.client_order_id) is not None  # the stop filled whole: OCA
    with pytest.raises(BrokerError, match="not working"):
        await d.broker.modify_order(stop.client_order_id, stop_price=90.0)


# --------------------------------------------------------------------------- brackets
async def test_a_bracket_holds_its_children_until_the_entry_fills_then_they_follow_its_fills() -> None:
    d = await desk(max_participation=0.1)
    d.quote(100.0)
    entry = d.order(Side.BUY, 100.0, OrderType.LMT, limit_price=100.5)
    stop = d.order(
        Side.SELL, 100.0, OrderType.STP, stop_price=95.0, oca_group=OCA, protects=entry.client_order_id
    )
    target = d.order(
        Side.SELL, 100.0, OrderType.LMT, limit_price=110.0, oca_group=OCA, protects=entry.client_order_id
    )
    await d.broker.place_bracket(entry, [stop, target])
    assert all(d.acked(o.client_order_id) for o in (entry, stop, target))
    d.quote(94.0, size=0.0)  # no volume: the entry does not fill, and the held stop must not fire
    assert d.filled(stop.client_order_id) == 0.0
    d.quote(100.0, size=400.0)  # the entry fills 40
    assert d.filled(entry.client_order_id) == 40.0
    assert [m.quantity for m in d.modified(stop.client_order_id)] == [40.0]
    assert [m.quantity for m in d.modified(target.client_order_id)] == [40.0]
    d.quote(100.0, size=600.0)  # 60 more
    assert [m.quantity for m in d.modified(stop.client_order_id)] == [40.0, 100.0]
    d.quote(94.0, size=10_000.0)
    assert d.filled(stop.client_order_id) == 100.0
    assert d.cancelled(target.client_order_id) is not None
    assert await d.broker.positions() == []


async def test_a_bracket_entry_cancelled_unfilled_cancels_its_children() -> None:
    d = await desk()
    d.quote(100.0)
    entry = d.order(Side.BUY, 100.0, OrderType.LMT, limit_price=90.0)
    stop = d.order(Side.SELL, 100.0, OrderType.STP, stop_price=85.0, oca_group=OCA)
    await d.broker.place_bracket(entry, [stop])
    await d.broker.cancel(entry.client_order_id)
    reason = d.cancelled(stop.client_order_id)
    assert reason is not None and entry.client_order_id in reason
    assert await d.working() == {}


async def test_a_bracket_with_a_malformed_child_sends_nothing() -> None:
    d = await desk()
    d.quote(100.0)
    entry = d.order(Side.BUY, 100.0)
    bad = d.order(Side.SELL, 100.0, OrderType.STP, oca_group=OCA)  # no stop price
    await d.broker.place_bracket(entry, [bad])
    assert isinstance(d.of(entry.client_order_id)[-1], OrderRejected)
    assert isinstance(d.of(bad.client_order_id)[-1], OrderRejected)
    d.quote(100.0)
    assert await d.broker.positions() == []


# --------------------------------------------------------------------------- restart
async def test_gtc_protection_and_its_trailing_level_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "paper.jsonl"
    d = await desk(journal=path)
    entry = await d.buy_position()
    trail = d.order(Side.SELL, 100.0, OrderType.TRAIL, trail_amount=2.0, oca_group=OCA)
    trail, target = await d.protect(entry, stop=trail)
    d.quote(105.0)
    assert (await d.working())[trail.client_order_id].stop_price == 103.0
    d.broker.on_session_close(date(2024, 3, 4))
    d.broker.close()
    assert "trail" in [r["e"] for r in read_journal(path)]

    again = await desk(journal=path, clock=FixedClock(T0 + timedelta(days=1)))
    working = await again.working()
    assert set(working) == {trail.client_order_id, target.client_order_id}
    assert working[trail.client_order_id].stop_price == 103.0
    assert working[trail.client_order_id].status is OrderStatus.ACKNOWLEDGED
    again.quote(104.0)  # 102 would loosen the stop: it stays at 103
    assert again.modified(trail.client_order_id) == []
    again.quote(102.5)
    assert again.filled(trail.client_order_id) == 100.0
    assert again.cancelled(target.client_order_id) is not None


async def test_a_full_disk_at_the_stop_fill_leaves_neither_the_fill_nor_the_oca_cancel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fill and what it does to its group are one journal line: a write that fails changes
    nothing; the next quote does both."""
    d = await desk(journal=tmp_path / "paper.jsonl")
    entry = await d.buy_position()
    stop, target = await d.protect(entry)
    reports = len(d.reports)

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(paper_journal.os, "fsync", full)
    d.quote(94.0)  # logged: matching stopped
    assert len(d.reports) == reports
    assert set(await d.working()) == {stop.client_order_id, target.client_order_id}
    monkeypatch.undo()
    d.quote(94.0)
    assert d.filled(stop.client_order_id) == 100.0
    assert d.cancelled(target.client_order_id) is not None
    d.broker.close()
    again = await desk(journal=tmp_path / "paper.jsonl", clock=FixedClock(T0 + timedelta(days=1)))
    assert await again.working() == {}
    assert await again.broker.positions() == []
