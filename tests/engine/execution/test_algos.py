"""Execution algos against the real paper broker, a real OrderManager and a real SQLite store.

The harness (``Desk``) wires them the way the engine does: every child request goes through the
order manager (persisted, then sent), every order event reaches ``runner.on_order`` inline,
every quote reaches the broker first and then ``runner.on_quote``, and the parent is persisted
on every change. Quotes are either hand-made (exact expectations) or the seeded replay of a
real shipped session (real U-shaped volume).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.brokers.base import BrokerPosition
from engine.clock import SimulatedClock
from engine.data.calendar import session_open_close
from engine.data.loader import MarketData
from engine.data.replay import volume_path
from engine.execution.algos import (
    AlgoParams,
    AlgoRunner,
    passive_price,
    replay_volume_curve,
    volume_weights,
)
from engine.execution.order_manager import OrderManager
from engine.model import Algo, Fill, Order, OrderRequest, OrderStatus, OrderType, Quote, Side
from engine.model.events import OrderEvent
from engine.store.repository import Store
from tests.defaults import paper_broker, replay_feed

DAY = date(2012, 3, 5)  # a Monday; New York is on EST, the session is 14:30-21:00 UTC
T0 = datetime(2012, 3, 5, 15, 0, tzinfo=UTC)  # 10:00 New York
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Sent:
    at: datetime
    request: OrderRequest
    order: Order


class Desk:
    """OrderManager + PaperBroker + SimulatedClock + Store, and an AlgoRunner on top."""

    def __init__(self, tmp_path: Path, **broker: Any) -> None:
        self.clock = SimulatedClock(T0 - timedelta(hours=1))
        self.store = Store.open(tmp_path / "onetap.db")
        self.broker = paper_broker(self.clock, starting_cash=broker.pop("starting_cash", 1e8), **broker)
        self.om = OrderManager(self.store, self.broker, self.clock, self._publish, lambda _fill: None)
        self.sent: list[Sent] = []
        self.parent_updates: list[Order] = []
        self.runner = AlgoRunner(self._send, self.om.cancel, self._on_parent)
        self.quotes: list[Quote] = []

    async def connect(self) -> Desk:
        await self.broker.connect()
        return self

    def _publish(self, event: object) -> None:
        if isinstance(event, OrderEvent):
            self.runner.on_order(event.order)

    async def _send(self, request: OrderRequest) -> Order:
        order = await self.om.submit(request)
        self.sent.append(Sent(self.clock.now(), request, replace(order)))
        return order

    def _on_parent(self, parent: Order) -> None:
        self.parent_updates.append(parent)
        self.store.update_order(parent)

    async def feed(self, quote: Quote) -> None:
        self.clock.set(quote.ts)
        self.quotes.append(quote)
        self.broker.on_quote(quote)
        await self.runner.on_quote(quote)

    async def start(
        self, algo: Algo, side: Side, qty: float, params: AlgoParams, *, limit: float | None = None
    ) -> Order:
        now = self.clock.now()
        parent = Order(
            client_order_id=self.store.next_client_order_id(),
            symbol="AAPL",
            side=side,
            quantity=qty,
            order_type=OrderType.LMT if limit is not None else OrderType.MKT,
            limit_price=limit,
            card_id="C-1",
            execution_id="X-1",
            created_at=now,
            updated_at=now,
            algo=algo.value,
        )
        self.store.insert_order(parent)
        last = self.quotes[-1] if self.quotes else None
        return await self.runner.start(parent, params, now, last)

    def stored(self, coid: str) -> Order:
        order = self.store.get_order(coid)
        assert order is not None
        return order

    def fills(self, coid: str) -> list[Fill]:
        return self.store.load_fills(client_order_id=coid)

    def close(self) -> None:
        self.store.close()


def quote(ts: datetime, mid: float, last_size: float = 10_000.0, half_spread: float = 0.01) -> Quote:
    return Quote(
        symbol="AAPL",
        ts=ts,
        bid=round(mid - half_spread, 4),
        ask=round(mid + half_spread, 4),
        last=mid,
        bid_size=500.0,
        ask_size=500.0,
        last_size=last_size,
        volume=0.0,
    )


@pytest.fixture
async def desk(tmp_path: Path) -> Any:
    d = await Desk(tmp_path).connect()
    yield d
    d.close()


async def minutes(
    desk: Desk, start: datetime, count: int, mid: float = 100.0, size: float = 10_000.0
) -> None:
    for k in range(count):
        await desk.feed(quote(start + k * MINUTE, mid, size))


def assert_parent_is_sum_of_children(desk: Desk, parent_id: str) -> Order:
    """The stored parent's filled quantity and average price are its children's fills, summed."""
    parent = desk.stored(parent_id)
    fills = [f for s in desk.sent for f in desk.fills(s.order.client_order_id)]
    qty = sum(f.quantity for f in fills)
    assert parent.filled_quantity == pytest.approx(qty)
    if qty > 0:
        assert parent.avg_fill_price == pytest.approx(sum(f.quantity * f.price for f in fills) / qty)
    else:
        assert parent.avg_fill_price is None
    return parent


# --------------------------------------------------------------------------- TWAP
async def test_twap_sends_equal_slices_at_equal_market_intervals_and_fills(desk: Desk) -> None:
    await minutes(desk, T0 - 10 * MINUTE, 11)  # up to and including T0
    params = AlgoParams(window_seconds=1800, slices=6, max_participation=None)
    started = await desk.start(Algo.TWAP, Side.BUY, 600, params)
    assert started.status is OrderStatus.ACKNOWLEDGED
    assert started.arrival_price == pytest.approx(100.0)
    await minutes(desk, T0 + MINUTE, 40)

    assert [s.at for s in desk.sent] == [T0 + timedelta(minutes=5 * k) for k in range(6)]
    assert [s.request.quantity for s in desk.sent] == [100.0] * 6
    for s in desk.sent:
        assert s.request.order_type is OrderType.MKT
        assert s.request.parent_id == started.client_order_id
        assert s.request.arrival_price == pytest.approx(100.0)
        assert (s.request.card_id, s.request.execution_id) == ("C-1", "X-1")
        child = desk.stored(s.order.client_order_id)
        assert child.status is OrderStatus.FILLED
        # A child fills against the quote after it was sent, as any order does.
        assert [f.ts for f in desk.fills(child.client_order_id)] == [s.at + MINUTE]
    parent = assert_parent_is_sum_of_children(desk, started.client_order_id)
    assert parent.status is OrderStatus.FILLED
    assert parent.filled_quantity == 600
    assert parent.avg_fill_price == pytest.approx(100.02)  # ask 100.01 + 1 bp of paper slippage
    assert parent.algo == "TWAP" and parent.arrival_price == pytest.approx(100.0)
    assert desk.runner.parents() == []
    # The parent went ACKNOWLEDGED -> PARTIALLY_FILLED ... -> FILLED, each change reported.
    statuses = [p.status for p in desk.parent_updates]
    assert statuses[0] is OrderStatus.ACKNOWLEDGED and statuses[-1] is OrderStatus.FILLED
    assert OrderStatus.PARTIALLY_FILLED in statuses


async def test_twap_capped_slices_roll_over_and_the_deadline_sweeps_the_rest(desk: Desk) -> None:
    # 100 shares trade a minute: 500 per five-minute slice, so a 10% cap allows 50 a slice.
    await minutes(desk, T0 - 10 * MINUTE, 11, size=100.0)
    params = AlgoParams(window_seconds=1800, slices=6, max_participation=0.10, finish_at_market=True)
    parent = await desk.start(Algo.TWAP, Side.BUY, 600, params)
    await minutes(desk, T0 + MINUTE, 50, size=100.0)

    slices = [s for s in desk.sent if s.at < T0 + timedelta(minutes=30)]
    assert [s.request.quantity for s in slices] == [50.0] * 6  # each capped; the rest rolled on
    assert [s.at for s in slices] == [T0 + timedelta(minutes=5 * k) for k in range(6)]
    (sweep,) = [s for s in desk.sent if s.at >= T0 + timedelta(minutes=30)]
    assert sweep.at == T0 + timedelta(minutes=30)  # the deadline: the rest at market
    assert (sweep.request.order_type, sweep.request.quantity) == (OrderType.MKT, 300.0)
    stored = assert_parent_is_sum_of_children(desk, parent.client_order_id)
    assert stored.status is OrderStatus.FILLED and stored.filled_quantity == 600


async def test_deadline_without_finish_at_market_expires_the_parent(desk: Desk) -> None:
    await minutes(desk, T0 - 5 * MINUTE, 6)
    params = AlgoParams(window_seconds=600, slices=2, max_participation=None, finish_at_market=False)
    # A buy limit under the market never fills: the deadline finds it all unfilled.
    parent = await desk.start(Algo.TWAP, Side.BUY, 200, params, limit=99.0)
    await minutes(desk, T0 + MINUTE, 20)
    assert [(s.at, s.request.quantity, s.request.limit_price) for s in desk.sent] == [
        (T0, 100.0, 99.0),
        (T0 + 5 * MINUTE, 200.0, 99.0),  # the first slice was cancelled and rolled into the second
    ]
    assert desk.stored(desk.sent[0].order.client_order_id).status is OrderStatus.CANCELLED
    assert desk.stored(desk.sent[1].order.client_order_id).status is OrderStatus.CANCELLED
    stored = desk.stored(parent.client_order_id)
    assert stored.status is OrderStatus.EXPIRED
    assert stored.reason == "deadline reached with 200 unfilled"
    assert stored.updated_at == T0 + 10 * MINUTE


# --------------------------------------------------------------------------- LIMIT_AT_MID
async def test_limit_at_mid_reprices_to_the_new_mid_then_goes_to_market_at_the_timeout(desk: Desk) -> None:
    # The market rises 5 cents a minute: a buy resting at the mid never fills.
    mids = [100.0 + 0.05 * k for k in range(12)]
    await desk.feed(quote(T0, mids[0]))
    params = AlgoParams(reprice_seconds=60, max_reprices=3, timeout_seconds=300, max_participation=None)
    parent = await desk.start(Algo.LIMIT_AT_MID, Side.BUY, 100, params)
    for k in range(1, 12):
        await desk.feed(quote(T0 + k * MINUTE, mids[k]))

    got = [(s.at, s.request.order_type, s.request.limit_price, s.request.quantity) for s in desk.sent]
    assert got == [
        (T0, OrderType.LMT, 100.0, 100.0),
        (T0 + 1 * MINUTE, OrderType.LMT, 100.05, 100.0),
        (T0 + 2 * MINUTE, OrderType.LMT, 100.10, 100.0),
        (T0 + 3 * MINUTE, OrderType.LMT, 100.15, 100.0),  # the third and last re-price
        (T0 + 5 * MINUTE, OrderType.MKT, None, 100.0),  # the timeout: the rest at market
    ]
    for s in desk.sent[:4]:
        assert desk.stored(s.order.client_order_id).status is OrderStatus.CANCELLED
    (fill,) = desk.fills(desk.sent[4].order.client_order_id)
    assert fill.ts == T0 + 6 * MINUTE
    assert fill.price == pytest.approx(round((mids[6] + 0.01) * 1.0001, 4))
    stored = assert_parent_is_sum_of_children(desk, parent.client_order_id)
    assert stored.status is OrderStatus.FILLED
    assert stored.arrival_price == pytest.approx(100.0)


async def test_limit_at_mid_rounds_to_the_passive_side_of_the_tick(desk: Desk) -> None:
    assert passive_price(100.005, Side.BUY, 0.01) == 100.0
    assert passive_price(100.005, Side.SELL, 0.01) == 100.01
    assert passive_price(100.0, Side.SELL, 0.01) == 100.0
    assert passive_price(10.37, Side.BUY, 0.05) == 10.35
    desk.broker.adopt_book(cash=1e8, positions=[BrokerPosition("AAPL", 1_000, 90.0)])
    await desk.feed(quote(T0, 100.005, half_spread=0.005))  # bid 100.00, ask 100.01
    params = AlgoParams(max_participation=None)
    await desk.start(Algo.LIMIT_AT_MID, Side.SELL, 100, params)
    assert [(s.request.side, s.request.limit_price) for s in desk.sent] == [(Side.SELL, 100.01)]


# --------------------------------------------------------------------------- IMMEDIATE
async def test_immediate_sends_one_child_exactly_as_the_leg_says(desk: Desk) -> None:
    await desk.feed(quote(T0, 100.0))
    parent = await desk.start(Algo.IMMEDIATE, Side.BUY, 300, AlgoParams(), limit=100.05)
    await minutes(desk, T0 + MINUTE, 3, size=200.0)  # 25% of 200 = 50 a quote at the paper broker
    (sent,) = desk.sent
    assert (sent.request.order_type, sent.request.limit_price, sent.request.quantity) == (
        OrderType.LMT,
        100.05,
        300.0,
    )
    stored = assert_parent_is_sum_of_children(desk, parent.client_order_id)
    assert stored.status is OrderStatus.PARTIALLY_FILLED and stored.filled_quantity == 150


# --------------------------------------------------------------------------- cancel, reject, close
async def test_cancel_parent_cancels_the_working_child_and_stops(desk: Desk) -> None:
    await minutes(desk, T0 - 5 * MINUTE, 6)
    params = AlgoParams(window_seconds=1800, slices=6, max_participation=None)
    parent = await desk.start(Algo.TWAP, Side.BUY, 600, params, limit=99.0)  # rests, never fills
    (first,) = desk.sent
    assert desk.stored(first.order.client_order_id).status is OrderStatus.ACKNOWLEDGED
    await minutes(desk, T0 + MINUTE, 2)

    assert await desk.runner.cancel_parent(parent.client_order_id) == ""
    assert desk.stored(first.order.client_order_id).status is OrderStatus.CANCELLED
    stored = desk.stored(parent.client_order_id)
    assert stored.status is OrderStatus.CANCELLED
    assert stored.reason == "cancelled at the operator's request"
    assert desk.runner.parents() == []
    await minutes(desk, T0 + 3 * MINUTE, 40)
    assert len(desk.sent) == 1  # nothing after the cancel
    assert "not a working algo order" in await desk.runner.cancel_parent(parent.client_order_id)


async def test_a_rejected_child_ends_the_parent_instead_of_retrying_every_slice(desk: Desk) -> None:
    await minutes(desk, T0 - 5 * MINUTE, 6)
    params = AlgoParams(window_seconds=1800, slices=6, max_participation=None)
    parent = await desk.start(Algo.TWAP, Side.SELL, 600, params)  # no position, no shorting
    await minutes(desk, T0 + MINUTE, 40)
    (only,) = desk.sent
    assert desk.stored(only.order.client_order_id).status is OrderStatus.REJECTED
    stored = desk.stored(parent.client_order_id)
    assert stored.status is OrderStatus.REJECTED
    assert stored.reason.startswith(f"child {only.order.client_order_id} rejected: short selling disabled")


async def test_an_operator_cancel_of_a_child_stops_its_parent(desk: Desk) -> None:
    await minutes(desk, T0 - 5 * MINUTE, 6)
    params = AlgoParams(window_seconds=1800, slices=6, max_participation=None)
    parent = await desk.start(Algo.TWAP, Side.BUY, 600, params, limit=99.0)
    assert await desk.om.cancel(desk.sent[0].order.client_order_id) == ""  # the blotter's `c`
    await minutes(desk, T0 + MINUTE, 40)
    assert len(desk.sent) == 1
    assert desk.stored(parent.client_order_id).status is OrderStatus.CANCELLED


async def test_session_close_expires_working_parents(desk: Desk) -> None:
    await minutes(desk, T0 - 5 * MINUTE, 6)
    params = AlgoParams(window_seconds=1800, slices=6, max_participation=None)
    parent = await desk.start(Algo.TWAP, Side.BUY, 600, params)
    await minutes(desk, T0 + MINUTE, 3)  # the first slice fills; the second is not due yet
    desk.broker.on_session_close(DAY)
    (expired,) = await desk.runner.on_session_close(desk.clock.now())
    assert expired.status is OrderStatus.EXPIRED
    assert expired.reason == "expired at the session close with 500 unfilled"
    stored = assert_parent_is_sum_of_children(desk, parent.client_order_id)
    assert stored.status is OrderStatus.EXPIRED and stored.filled_quantity == 100
    await minutes(desk, T0 + 10 * MINUTE, 10)
    assert len(desk.sent) == 1


async def test_start_refuses_what_it_cannot_work(desk: Desk) -> None:
    plain = Order("P-1", "AAPL", Side.BUY, 100)
    with pytest.raises(ValueError, match="algo '' is not one of"):
        await desk.runner.start(plain, AlgoParams(), T0, None)
    with pytest.raises(ValueError, match="quantity must be positive"):
        await desk.runner.start(replace(plain, algo="TWAP", quantity=0), AlgoParams(), T0, None)
    with pytest.raises(ValueError, match="market or limit"):
        stop = replace(plain, algo="VWAP", order_type=OrderType.STP, stop_price=99.0)
        await desk.runner.start(stop, AlgoParams(), T0, None)
    with pytest.raises(ValueError, match="slices must be at least 1, got 0; max_participation must be in"):
        AlgoParams(slices=0, max_participation=1.5)


# --------------------------------------------------------------------------- on a replayed session
def _replay_day(market: MarketData) -> list[Quote]:
    feed = replay_feed(market, SimulatedClock(T0 - timedelta(hours=2)), start=DAY, end=DAY, steps_per_day=390)
    return [q for _ts, quotes in feed.day_quotes(DAY) for q in quotes if q.symbol == "AAPL"]


async def test_vwap_slices_follow_the_intraday_volume_profile(tmp_path: Path, shipped: MarketData) -> None:
    desk = await Desk(tmp_path).connect()
    try:
        quotes = _replay_day(shipped)
        opens, closes = session_open_close(DAY)
        assert quotes[0].ts == opens
        await desk.feed(quotes[0])
        window = (closes - opens).total_seconds()
        params = AlgoParams(window_seconds=window, slices=13, max_participation=None)
        parent = await desk.start(Algo.VWAP, Side.BUY, 13_000, params)
        for q in quotes[1:]:
            await desk.feed(q)

        weights = volume_weights(opens, window, 13, (opens, closes))
        cumulative = [math.floor(13_000 * sum(weights[: k + 1]) + 1e-9) for k in range(12)] + [13_000]
        expected = np.diff([0, *cumulative])
        assert [s.request.quantity for s in desk.sent] == expected.tolist()
        assert [s.at for s in desk.sent] == [opens + timedelta(minutes=30 * k) for k in range(13)]
        # U-shaped: the first and last half hours trade far more than midday.
        assert expected[0] > 2 * expected[6] and expected[-1] > 2 * expected[6]
        stored = assert_parent_is_sum_of_children(desk, parent.client_order_id)
        assert stored.status is OrderStatus.FILLED and stored.filled_quantity == 13_000
    finally:
        desk.close()


@pytest.mark.parametrize("algo", [Algo.TWAP, Algo.VWAP, Algo.LIMIT_AT_MID])
async def test_the_participation_cap_holds_on_every_child(
    tmp_path: Path, shipped: MarketData, algo: Algo
) -> None:
    desk = await Desk(tmp_path).connect()
    try:
        quotes = _replay_day(shipped)
        start_at = next(i for i, q in enumerate(quotes) if q.ts >= T0)
        for q in quotes[: start_at + 1]:
            await desk.feed(q)
        cap = 0.002
        params = AlgoParams(
            window_seconds=3600,
            slices=12,
            reprice_seconds=120,
            max_reprices=100,
            timeout_seconds=3600,
            max_participation=cap,
            finish_at_market=False,
        )
        parent = await desk.start(algo, Side.BUY, 20_000, params)
        for q in quotes[start_at + 1 : start_at + 90]:
            await desk.feed(q)

        lookback = timedelta(seconds=120 if algo is Algo.LIMIT_AT_MID else 300)
        previous: datetime | None = None
        binding = 0
        assert desk.sent, "no child was sent"
        for s in desk.sent:
            since = previous or s.at - lookback
            traded = sum(q.last_size for q in desk.quotes if since < q.ts <= s.at)
            assert s.request.quantity <= cap * traded + 1e-9, (s.at, s.request.quantity, traded)
            binding += s.request.quantity == math.floor(cap * traded)
            previous = s.at
        assert binding >= 3  # the cap, not the schedule, sized these children
        stored = assert_parent_is_sum_of_children(desk, parent.client_order_id)
        assert stored.status is OrderStatus.EXPIRED  # far too big for 0.2% of an hour's volume
        assert 0 < stored.filled_quantity < 20_000
    finally:
        desk.close()


# --------------------------------------------------------------------------- the profile
class _NoNoise:
    """Stands in for the replay's generator: the volume path's weights without their noise."""

    def lognormal(self, mean: float, sigma: float, size: int) -> np.ndarray:
        return np.ones(size)


def test_the_volume_curve_is_the_replay_volume_model_without_noise() -> None:
    n_points = 391  # 390 steps of a full session, open and close included
    sizes, _ = volume_path(1e12, n_points, _NoNoise())  # type: ignore[arg-type]
    share = sizes / sizes.sum()
    x = np.linspace(0.0, 1.0, n_points)
    for a, b in [(0.0, 0.1), (0.1, 0.5), (0.45, 0.55), (0.5, 0.9), (0.9, 1.0)]:
        modelled = replay_volume_curve(b) - replay_volume_curve(a)
        replayed = share[(x > a) & (x <= b)].sum()
        assert modelled == pytest.approx(replayed, abs=0.005)
    assert replay_volume_curve(0.0) == 0.0 and replay_volume_curve(1.0) == pytest.approx(1.0)


def test_the_profile_predicts_replayed_volume_better_than_a_flat_one(shipped: MarketData) -> None:
    quotes = _replay_day(shipped)
    opens, closes = session_open_close(DAY)
    edges = [opens + timedelta(minutes=30 * k) for k in range(14)]
    realized = np.array(
        [sum(q.last_size for q in quotes if a <= q.ts < b) for a, b in itertools.pairwise(edges)]
    )
    realized[-1] += sum(q.last_size for q in quotes if q.ts >= edges[-1])
    realized = realized / realized.sum()
    profile = np.array(volume_weights(opens, (closes - opens).total_seconds(), 13, (opens, closes)))
    flat = np.full(13, 1 / 13)
    assert np.abs(realized - profile).sum() < 0.5 * np.abs(realized - flat).sum()


def test_volume_weights_without_a_session_are_equal() -> None:
    assert volume_weights(T0, 600, 4, None) == (0.25, 0.25, 0.25, 0.25)
    after_close = (T0 - timedelta(hours=10), T0 - timedelta(hours=4))
    assert volume_weights(T0, 600, 2, after_close) == (0.5, 0.5)
