"""The paper broker against hand-worked fills, cash-account rules and a random-sequence property."""

from __future__ import annotations

import asyncio
import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.brokers.base import (
    BrokerError,
    BrokerPosition,
    BrokerReport,
    OrderAcknowledged,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from engine.brokers.paper import PaperAccount
from engine.clock import FixedClock
from engine.model import Fill, Order, OrderStatus, OrderType, Quote, Side, TimeInForce
from tests.defaults import commissions, paper_broker

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
DAY = date(2024, 3, 4)


class Harness:
    """A connected broker, the reports it made and a way to feed it quotes."""

    def __init__(self, **kwargs: Any) -> None:
        self.clock = FixedClock(T0)
        self.broker = paper_broker(self.clock, **kwargs)
        self.reports: list[BrokerReport] = []
        self.broker.set_reporter(self.reports.append)
        self._n = 0

    async def connect(self) -> Harness:
        await self.broker.connect()
        return self

    def quote(
        self,
        symbol: str = "AAPL",
        *,
        bid: float = 99.98,
        ask: float = 100.00,
        last: float | None = None,
        last_size: float = 1_000.0,
    ) -> Quote:
        self.clock.advance(timedelta(seconds=1))
        q = Quote(
            symbol=symbol,
            ts=self.clock.now(),
            bid=bid,
            ask=ask,
            last=(bid + ask) / 2 if last is None else last,
            bid_size=500.0,
            ask_size=500.0,
            last_size=last_size,
            volume=10_000.0,
        )
        self.broker.on_quote(q)
        return q

    async def submit(
        self,
        side: Side,
        qty: float,
        order_type: OrderType = OrderType.MKT,
        *,
        symbol: str = "AAPL",
        limit: float | None = None,
        stop: float | None = None,
        tif: TimeInForce = TimeInForce.DAY,
    ) -> Order:
        self._n += 1
        order = Order(
            client_order_id=f"OT-{self._n}",
            symbol=symbol,
            side=side,
            quantity=qty,
            order_type=order_type,
            limit_price=limit,
            stop_price=stop,
            tif=tif,
            status=OrderStatus.SENT,
            created_at=self.clock.now(),
        )
        await self.broker.submit(order)
        return order

    def fills(self, coid: str | None = None) -> list[Fill]:
        return [
            r.fill
            for r in self.reports
            if isinstance(r, OrderFilled) and (coid is None or r.fill.client_order_id == coid)
        ]

    def last(self) -> BrokerReport:
        return self.reports[-1]


async def harness(**kwargs: Any) -> Harness:
    return await Harness(**kwargs).connect()


# --------------------------------------------------------------------------- market orders
async def test_market_buy_waits_for_the_next_quote_and_fills_at_ask_plus_slippage() -> None:
    h = await harness()
    h.quote(bid=99.98, ask=100.00)
    order = await h.submit(Side.BUY, 100)
    assert h.reports == [OrderAcknowledged(order.client_order_id, "P1")]
    assert await h.broker.cash() == 100_000.0  # nothing fills inside submit

    q = h.quote(bid=99.98, ask=100.00)
    (fill,) = h.fills()
    assert fill.exec_id == "OT-1.1"
    assert fill.quantity == 100
    assert fill.price == 100.01  # 1 bp of slippage on the ask
    assert fill.commission == pytest.approx(1.0)  # 100 * 0.005 = 0.50 -> the $1 minimum
    assert fill.ts == q.ts == h.clock.now()
    assert await h.broker.cash() == pytest.approx(100_000 - 10_001.0 - 1.0)
    assert await h.broker.positions() == [BrokerPosition("AAPL", 100, 100.01)]
    assert await h.broker.open_orders() == []


async def test_market_sell_fills_at_bid_less_slippage_and_flattens() -> None:
    h = await harness()
    h.broker.adopt_book(cash=0.0, positions=[BrokerPosition("AAPL", 100, 90.0)])
    h.quote(bid=100.00, ask=100.02)
    await h.submit(Side.SELL, 100)
    h.quote(bid=100.00, ask=100.02)
    (fill,) = h.fills()
    assert (fill.side, fill.quantity, fill.price) == (Side.SELL, 100, 99.99)
    assert fill.commission == pytest.approx(1.0)
    assert await h.broker.cash() == pytest.approx(9_999.0 - 1.0)
    assert await h.broker.positions() == []


async def test_commission_is_capped_at_a_percentage_of_value() -> None:
    h = await harness()
    h.quote(bid=0.99, ask=1.00)
    await h.submit(Side.BUY, 10)
    h.quote(bid=0.99, ask=1.00)
    (fill,) = h.fills()
    # the $1 minimum would be 10% of a $10 trade; the cap is 1% of value
    assert fill.commission == pytest.approx(0.01 * 10 * 1.0001)


async def test_commission_pct_is_added_to_the_per_share_charge() -> None:
    h = await harness(schedule=commissions(pct=0.001), slippage_bps=0.0)
    h.quote(bid=99.0, ask=100.0)
    await h.submit(Side.BUY, 500)
    h.quote(bid=99.0, ask=100.0, last_size=10_000)
    (fill,) = h.fills()
    assert fill.commission == pytest.approx(2.5 + 50.0)  # 500 * 0.005 + 0.1% of $50,000


# --------------------------------------------------------------------------- limit orders
async def test_limit_buy_waits_until_the_ask_reaches_the_limit_and_never_pays_more() -> None:
    h = await harness()
    h.quote(ask=100.00)
    at_limit = await h.submit(Side.BUY, 10, OrderType.LMT, limit=99.50)
    below = await h.submit(Side.BUY, 10, OrderType.LMT, limit=99.20)
    h.quote(bid=99.70, ask=99.80)
    assert h.fills() == []
    assert [o.status for o in await h.broker.open_orders()] == [OrderStatus.ACKNOWLEDGED] * 2

    h.quote(bid=99.40, ask=99.50)  # ask == limit: slippage would make it 99.5100, the limit wins
    (fill,) = h.fills(at_limit.client_order_id)
    assert fill.price == 99.50
    assert h.fills(below.client_order_id) == []

    h.quote(bid=98.90, ask=99.00)  # well through the limit: the ask plus slippage, under the limit
    (fill,) = h.fills(below.client_order_id)
    assert fill.price == 99.0099
    assert await h.broker.open_orders() == []


async def test_limit_sell_waits_until_the_bid_reaches_the_limit() -> None:
    h = await harness()
    h.broker.adopt_book(cash=0.0, positions=[BrokerPosition("AAPL", 10, 90.0)])
    h.quote()
    await h.submit(Side.SELL, 10, OrderType.LMT, limit=101.0)
    h.quote(bid=100.50, ask=100.60)
    assert h.fills() == []
    h.quote(bid=101.00, ask=101.10)
    (fill,) = h.fills()
    assert fill.price == 101.0  # never below the limit despite slippage


# --------------------------------------------------------------------------- stops
async def test_buy_stop_triggers_when_last_reaches_the_stop_then_fills_as_market() -> None:
    h = await harness()
    h.quote()
    await h.submit(Side.BUY, 10, OrderType.STP, stop=101.0)
    h.quote(bid=100.40, ask=100.60, last=100.50)
    assert h.fills() == []
    h.quote(bid=101.10, ask=101.30, last=101.20)
    (fill,) = h.fills()
    assert fill.price == 101.3101


async def test_sell_stop_triggers_when_last_falls_to_the_stop() -> None:
    h = await harness()
    h.broker.adopt_book(cash=0.0, positions=[BrokerPosition("AAPL", 10, 100.0)])
    h.quote()
    await h.submit(Side.SELL, 10, OrderType.STP, stop=95.0)
    h.quote(bid=95.90, ask=96.10, last=96.0)
    assert h.fills() == []
    h.quote(bid=94.80, ask=95.00, last=94.90)
    (fill,) = h.fills()
    assert fill.price == 94.7905


async def test_buy_stop_limit_triggers_then_waits_for_its_limit() -> None:
    h = await harness()
    h.quote()
    await h.submit(Side.BUY, 10, OrderType.STP_LMT, stop=101.0, limit=101.50)
    h.quote(bid=101.0, ask=101.60, last=101.20)  # triggered; the ask is above the limit
    assert h.fills() == []
    h.quote(bid=101.30, ask=101.40, last=100.90)  # last back below the stop: still triggered
    (fill,) = h.fills()
    assert fill.price == 101.4101


async def test_sell_stop_limit_triggers_then_waits_for_its_limit() -> None:
    h = await harness()
    h.broker.adopt_book(cash=0.0, positions=[BrokerPosition("AAPL", 10, 100.0)])
    h.quote()
    await h.submit(Side.SELL, 10, OrderType.STP_LMT, stop=95.0, limit=94.50)
    h.quote(bid=94.40, ask=94.60, last=94.90)
    assert h.fills() == []
    h.quote(bid=94.60, ask=94.70, last=94.65)
    (fill,) = h.fills()
    assert fill.price == 94.5905


async def test_untriggered_stop_limit_does_not_fill_even_when_the_limit_is_marketable() -> None:
    h = await harness()
    h.quote()
    await h.submit(Side.BUY, 10, OrderType.STP_LMT, stop=105.0, limit=106.0)
    h.quote(bid=99.98, ask=100.00, last=99.99)
    assert h.fills() == []
    assert len(await h.broker.open_orders()) == 1


# --------------------------------------------------------------------------- partial fills
async def test_partial_fills_follow_participation_and_charge_the_minimum_once() -> None:
    h = await harness()
    h.quote(bid=49.99, ask=50.00)
    order = await h.submit(Side.BUY, 25)
    h.quote(bid=49.99, ask=50.00, last_size=40)  # 25% of 40 -> 10 shares
    (open_order,) = await h.broker.open_orders()
    assert open_order.status is OrderStatus.PARTIALLY_FILLED
    assert open_order.filled_quantity == 10
    h.quote(bid=49.99, ask=50.00, last_size=40)
    h.quote(bid=49.99, ask=50.00, last_size=40)
    fills = h.fills(order.client_order_id)
    assert [f.quantity for f in fills] == [10, 10, 5]
    assert sum(f.quantity for f in fills) == order.quantity
    assert [f.commission for f in fills] == pytest.approx([1.0, 0.05, 0.025])
    assert [f.exec_id for f in fills] == ["OT-1.1", "OT-1.2", "OT-1.3"]
    assert await h.broker.open_orders() == []
    assert await h.broker.positions() == [BrokerPosition("AAPL", 25, 50.005)]


async def test_whole_share_participation_rounds_down_and_may_fill_nothing() -> None:
    h = await harness(allow_fractional=False)
    h.quote()
    await h.submit(Side.BUY, 5)
    h.quote(last_size=3)  # 0.75 shares -> 0
    assert h.fills() == []
    h.quote(last_size=10)  # 2.5 -> 2
    assert [f.quantity for f in h.fills()] == [2]


async def test_fractional_participation_is_not_rounded() -> None:
    h = await harness(allow_fractional=True)
    h.quote()
    await h.submit(Side.BUY, 5)
    h.quote(last_size=10)
    assert [f.quantity for f in h.fills()] == [2.5]


async def test_no_traded_size_means_no_fill() -> None:
    h = await harness()
    h.quote()
    await h.submit(Side.BUY, 5)
    h.quote(last_size=0)
    h.quote(last_size=float("nan"))
    assert h.fills() == []


# --------------------------------------------------------------------------- cancel and expiry
async def test_cancel_of_a_partially_filled_order_stops_it_and_releases_its_cash() -> None:
    h = await harness()
    h.quote(bid=49.99, ask=50.00)
    order = await h.submit(Side.BUY, 25)
    assert h.broker.account_summary().reserved_cash > 0
    h.quote(bid=49.99, ask=50.00, last_size=40)
    await h.broker.cancel(order.client_order_id)
    assert h.last() == OrderCancelled(order.client_order_id, "cancelled at the operator's request")
    assert await h.broker.open_orders() == []
    assert h.broker.account_summary().reserved_cash == 0.0
    h.quote(bid=49.99, ask=50.00, last_size=40)
    assert [f.quantity for f in h.fills()] == [10]

    not_working = r"order OT-1 is not working at the paper broker \(status CANCELLED\)"
    with pytest.raises(BrokerError, match=not_working):
        await h.broker.cancel(order.client_order_id)
    with pytest.raises(BrokerError, match=r"order OT-99 is not working .*never submitted"):
        await h.broker.cancel("OT-99")


async def test_global_cancel_cancels_every_working_order_and_nothing_else() -> None:
    h = await harness()
    h.quote()
    filled = await h.submit(Side.BUY, 1)
    h.quote()
    resting = [await h.submit(Side.BUY, 10, OrderType.LMT, limit=90.0 - i) for i in range(2)]
    assert h.broker.sending_refused() == ""
    await h.broker.global_cancel()
    cancelled = [r for r in h.reports if isinstance(r, OrderCancelled)]
    assert [r.client_order_id for r in cancelled] == [o.client_order_id for o in resting]
    assert all(r.reason == "cancelled by a global cancel" for r in cancelled)
    assert await h.broker.open_orders() == []
    assert [f.client_order_id for f in h.fills()] == [filled.client_order_id]


async def test_cancel_of_a_filled_order_names_its_status() -> None:
    h = await harness()
    h.quote()
    order = await h.submit(Side.BUY, 1)
    h.quote()
    with pytest.raises(BrokerError, match=r"\(status FILLED\)"):
        await h.broker.cancel(order.client_order_id)


async def test_day_orders_expire_at_the_session_close_and_gtc_orders_survive() -> None:
    h = await harness()
    h.quote()
    day = await h.submit(Side.BUY, 10, OrderType.LMT, limit=90.0)
    gtc = await h.submit(Side.BUY, 10, OrderType.LMT, limit=90.0, tif=TimeInForce.GTC)
    h.broker.on_session_close(DAY)
    assert h.last() == OrderExpired(day.client_order_id, "DAY order expired at the close of 2024-03-04")
    assert [o.client_order_id for o in await h.broker.open_orders()] == [gtc.client_order_id]
    h.quote(bid=89.0, ask=89.90)
    assert [f.client_order_id for f in h.fills()] == [gtc.client_order_id]


async def test_ioc_remainder_is_cancelled_after_the_first_quote() -> None:
    h = await harness()
    h.quote()
    order = await h.submit(Side.BUY, 25, tif=TimeInForce.IOC)
    h.quote(last_size=40)
    assert [f.quantity for f in h.fills()] == [10]
    report = h.last()
    assert isinstance(report, OrderCancelled) and report.client_order_id == order.client_order_id
    assert "IOC" in report.reason
    assert await h.broker.open_orders() == []


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("qty", "order_type", "limit", "stop", "reason"),
    [
        (0, OrderType.MKT, None, None, "quantity must be positive, got 0"),
        (-5, OrderType.MKT, None, None, "quantity must be positive, got -5"),
        (float("nan"), OrderType.MKT, None, None, "quantity must be positive, got nan"),
        (10, OrderType.LMT, None, None, "LMT order needs a positive limit price, got None"),
        (10, OrderType.LMT, 0.0, None, "LMT order needs a positive limit price, got 0.0"),
        (10, OrderType.STP, None, None, "STP order needs a positive stop price, got None"),
        (10, OrderType.STP_LMT, None, 99.0, "STP LMT order needs a positive limit price, got None"),
        (10, OrderType.STP_LMT, 99.0, None, "STP LMT order needs a positive stop price, got None"),
    ],
)
async def test_malformed_orders_are_rejected_with_the_rule_they_break(
    qty: float, order_type: OrderType, limit: float | None, stop: float | None, reason: str
) -> None:
    h = await harness()
    h.quote()
    order = await h.submit(Side.BUY, qty, order_type, limit=limit, stop=stop)
    assert h.reports == [OrderRejected(order.client_order_id, reason)]
    assert await h.broker.open_orders() == []


async def test_an_unquoted_symbol_is_rejected() -> None:
    h = await harness()
    h.quote("AAPL")
    order = await h.submit(Side.BUY, 1, symbol="XYZ")
    assert h.reports == [OrderRejected(order.client_order_id, "no market data for XYZ")]


async def test_a_bad_tick_is_not_market_data() -> None:
    h = await harness()
    h.quote("XYZ", bid=0.0, ask=10.0)
    h.quote("XYZ", bid=9.9, ask=float("nan"))
    order = await h.submit(Side.BUY, 1, symbol="XYZ")
    assert h.reports == [OrderRejected(order.client_order_id, "no market data for XYZ")]


async def test_fractional_quantities_are_refused_when_disabled_and_accepted_when_enabled() -> None:
    h = await harness(allow_fractional=False)
    h.quote()
    order = await h.submit(Side.BUY, 1.5)
    assert h.reports == [
        OrderRejected(
            order.client_order_id,
            "fractional shares are disabled: quantity 1.5 is not a whole number of shares",
        )
    ]
    h = await harness(allow_fractional=True)
    h.quote()
    order = await h.submit(Side.BUY, 1.5)
    assert h.reports == [OrderAcknowledged(order.client_order_id, "P1")]
    h.quote()
    assert await h.broker.positions() == [BrokerPosition("AAPL", 1.5, 100.01)]


async def test_submit_and_cancel_need_a_connection_and_a_reporter() -> None:
    h = Harness()
    h.quote()
    with pytest.raises(BrokerError, match="not connected"):
        await h.submit(Side.BUY, 1)
    with pytest.raises(BrokerError, match="not connected"):
        await h.broker.cancel("OT-1")
    lonely = paper_broker(FixedClock(T0))
    await lonely.connect()
    with pytest.raises(BrokerError, match="no reporter"):
        await lonely.submit(Order("OT-1", "AAPL", Side.BUY, 1))


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="slippage_bps must be a finite number >= 0"):
        paper_broker(FixedClock(T0), slippage_bps=-1.0)
    with pytest.raises(ValueError, match="settlement_days must be >= 0"):
        paper_broker(FixedClock(T0), settlement_days=-1)


# --------------------------------------------------------------------------- cash account
async def test_a_buy_beyond_settled_cash_is_rejected_with_the_amounts() -> None:
    h = await harness(starting_cash=10_000.0)
    h.quote(bid=99.98, ask=100.00)
    order = await h.submit(Side.BUY, 100)
    # 100 * 100.01 (ask + 1 bp) + $1 commission
    reason = "insufficient settled cash: need $10,002.00, available $10,000.00"
    assert h.reports == [OrderRejected(order.client_order_id, reason)]


async def test_sale_proceeds_are_not_spendable_until_they_settle() -> None:
    h = await harness()
    h.broker.adopt_book(cash=0.0, positions=[BrokerPosition("AAPL", 100, 90.0)])
    h.quote(bid=100.00, ask=100.02)
    await h.submit(Side.SELL, 100)
    h.quote(bid=100.00, ask=100.02)
    account = h.broker.account_summary()
    assert account.cash == pytest.approx(9_998.0)
    assert account.settled_cash == 0.0
    assert account.unsettled_cash == pytest.approx(9_998.0)

    buy = await h.submit(Side.BUY, 10)
    assert h.last() == OrderRejected(
        buy.client_order_id, "insufficient settled cash: need $1,001.30, available $0.00"
    )
    h.broker.on_session_close(DAY)
    assert h.broker.account_summary().settled_cash == pytest.approx(9_998.0)
    buy = await h.submit(Side.BUY, 10)
    assert h.last() == OrderAcknowledged(buy.client_order_id, "P2")


async def test_settlement_takes_as_many_sessions_as_configured_and_a_close_counts_once() -> None:
    h = await harness(starting_cash=0.0, settlement_days=2)
    h.broker.adopt_book(cash=0.0, positions=[BrokerPosition("AAPL", 10, 90.0)])
    h.quote(bid=100.00, ask=100.02)
    await h.submit(Side.SELL, 10)
    h.quote(bid=100.00, ask=100.02)
    h.broker.on_session_close(DAY)
    h.broker.on_session_close(DAY)  # a retried close must not settle early
    assert h.broker.account_summary().settled_cash == 0.0
    h.broker.on_session_close(DAY + timedelta(days=1))
    assert h.broker.account_summary().settled_cash == pytest.approx(10 * 99.99 - 1.0)


async def test_same_day_settlement_makes_proceeds_spendable_at_once() -> None:
    h = await harness(settlement_days=0)
    h.broker.adopt_book(cash=0.0, positions=[BrokerPosition("AAPL", 10, 90.0)])
    h.quote(bid=100.00, ask=100.02)
    await h.submit(Side.SELL, 10)
    h.quote(bid=100.00, ask=100.02)
    assert h.broker.account_summary().settled_cash == pytest.approx(998.9)


async def test_reserved_cash_keeps_two_working_buys_from_overspending() -> None:
    h = await harness(starting_cash=10_000.0)
    h.quote(bid=100.10, ask=100.20)
    first = await h.submit(Side.BUY, 60, OrderType.LMT, limit=100.0)
    assert h.broker.account_summary().reserved_cash == pytest.approx(6_001.0)
    second = await h.submit(Side.BUY, 40, OrderType.LMT, limit=100.0)
    assert h.last() == OrderRejected(
        second.client_order_id, "insufficient settled cash: need $4,001.00, available $3,999.00"
    )
    await h.broker.cancel(first.client_order_id)
    third = await h.submit(Side.BUY, 40, OrderType.LMT, limit=100.0)
    assert h.last() == OrderAcknowledged(third.client_order_id, "P2")


async def test_a_market_buy_meeting_a_higher_price_fills_what_it_can_pay_for() -> None:
    h = await harness(starting_cash=10_000.0, allow_fractional=False)
    h.quote(bid=49.99, ask=50.00)
    order = await h.submit(Side.BUY, 199)  # 199 * 50.005 + 1 = $9,951.995: accepted
    h.quote(bid=59.99, ask=60.00)  # now 60.006 a share: 166 shares + $1 is all $10,000 pays for
    (fill,) = h.fills()
    assert (fill.quantity, fill.price) == (166, 60.006)
    report = h.last()
    assert isinstance(report, OrderCancelled) and report.client_order_id == order.client_order_id
    assert report.reason.startswith("insufficient settled cash: 33 AAPL")
    assert await h.broker.cash() == pytest.approx(10_000 - 166 * 60.006 - 1.0)
    assert await h.broker.cash() >= 0
    assert await h.broker.open_orders() == []


async def test_a_fractional_market_buy_meeting_a_higher_price_spends_the_cash_to_the_cent() -> None:
    h = await harness(starting_cash=10_000.0, allow_fractional=True)
    h.quote(bid=49.99, ask=50.00)
    await h.submit(Side.BUY, 199)
    h.quote(bid=59.99, ask=60.00)
    (fill,) = h.fills()
    assert fill.quantity == pytest.approx((10_000 - 1.0) / 60.006, abs=1e-6)
    assert 0.0 <= await h.broker.cash() < 0.01


# --------------------------------------------------------------------------- short selling
async def test_short_selling_is_refused_when_disabled() -> None:
    h = await harness()
    h.quote()
    order = await h.submit(Side.SELL, 10)
    assert h.last() == OrderRejected(order.client_order_id, "short selling disabled: position 0, sell 10")

    h.broker.adopt_book(cash=0.0, positions=[BrokerPosition("AAPL", 100, 90.0)])
    await h.submit(Side.SELL, 80, OrderType.LMT, limit=200.0)
    order = await h.submit(Side.SELL, 30)
    assert h.last() == OrderRejected(
        order.client_order_id, "short selling disabled: position 100 (80 held by working sells), sell 30"
    )
    order = await h.submit(Side.SELL, 20)
    assert isinstance(h.last(), OrderAcknowledged)


async def test_short_selling_is_allowed_when_enabled() -> None:
    h = await harness(allow_short=True)
    h.quote(bid=100.00, ask=100.02)
    order = await h.submit(Side.SELL, 10)
    assert h.last() == OrderAcknowledged(order.client_order_id, "P1")
    h.quote(bid=100.00, ask=100.02)
    assert await h.broker.positions() == [BrokerPosition("AAPL", -10, 99.99)]
    assert await h.broker.cash() == pytest.approx(100_000 + 999.9 - 1.0)


async def test_large_share_counts_are_written_out_in_reasons() -> None:
    h = await harness()
    h.quote()
    order = await h.submit(Side.SELL, 1_234_567)
    assert h.last() == OrderRejected(
        order.client_order_id, "short selling disabled: position 0, sell 1234567"
    )


# --------------------------------------------------------------------------- identity and restart
async def test_exec_ids_are_unique_and_name_their_order() -> None:
    h = await harness()
    h.quote()
    for _ in range(3):
        await h.submit(Side.BUY, 25)
    for _ in range(3):
        h.quote(last_size=40)
    ids = [f.exec_id for f in h.fills()]
    assert len(ids) == len(set(ids)) == 9
    assert all(f.exec_id.startswith(f"{f.client_order_id}.") for f in h.fills())


async def test_a_repeated_submit_replays_reports_and_never_trades_twice() -> None:
    h = await harness()
    h.quote()
    order = await h.submit(Side.BUY, 10)
    h.quote()
    cash = await h.broker.cash()
    before = list(h.reports)
    await h.broker.submit(order)
    assert h.reports[len(before) :] == before  # the ack and the fill again, same exec id
    h.quote()
    assert await h.broker.cash() == cash
    assert await h.broker.positions() == [BrokerPosition("AAPL", 10, 100.01)]


async def test_a_repeated_submit_of_a_rejected_order_is_rejected_again() -> None:
    h = await harness()
    order = await h.submit(Side.BUY, 10)
    h.quote()
    await h.broker.submit(order)
    assert h.reports == [OrderRejected(order.client_order_id, "no market data for AAPL")] * 2


async def test_restore_rebuilds_cash_and_positions() -> None:
    h = await harness()
    h.broker.adopt_book(
        cash=5_000.0,
        positions=[
            BrokerPosition("MSFT", 10, 300.0),
            BrokerPosition("AAPL", 20, 150.0),
            BrokerPosition("FLAT", 0.0, 0.0),
        ],
    )
    assert await h.broker.cash() == 5_000.0
    assert await h.broker.positions() == [
        BrokerPosition("AAPL", 20, 150.0),
        BrokerPosition("MSFT", 10, 300.0),
    ]
    h.quote("AAPL", bid=159.0, ask=161.0, last=160.0)
    assert h.broker.account_summary() == PaperAccount(
        cash=5_000.0,
        settled_cash=5_000.0,
        reserved_cash=0.0,
        positions_value=20 * 160.0 + 10 * 300.0,  # MSFT unquoted: at cost
        equity=5_000.0 + 3_200.0 + 3_000.0,
    )
    order = await h.submit(Side.SELL, 20)
    assert isinstance(h.last(), OrderAcknowledged) and order.quantity == 20


async def test_restore_keeps_unsettled_cash_when_told_and_refuses_over_working_orders() -> None:
    h = await harness()
    h.broker.adopt_book(cash=5_000.0, settled_cash=1_000.0, positions=[])
    assert h.broker.account_summary().unsettled_cash == pytest.approx(4_000.0)
    h.quote()
    await h.submit(Side.BUY, 1, OrderType.LMT, limit=50.0)
    with pytest.raises(BrokerError, match="1 orders are working"):
        h.broker.adopt_book(cash=0.0, positions=[])
    with pytest.raises(BrokerError, match="cannot restore"):
        paper_broker(FixedClock(T0)).adopt_book(cash=float("nan"), positions=[])


async def test_open_orders_are_copies() -> None:
    h = await harness()
    h.quote()
    order = await h.submit(Side.BUY, 10, OrderType.LMT, limit=50.0)
    (mine,) = await h.broker.open_orders()
    mine.quantity = 1_000
    (again,) = await h.broker.open_orders()
    assert again.quantity == 10 and again.broker_order_id == "P1"
    assert order.status is OrderStatus.SENT  # the engine's order is the engine's to change


# --------------------------------------------------------------------------- property
_SYMBOLS = ("AAA", "BBB")

_quote = st.tuples(
    st.just("quote"),
    st.sampled_from(_SYMBOLS),
    st.floats(5.0, 100.0),  # mid
    st.floats(0.0, 0.01),  # half spread, fraction of mid
    st.floats(-0.02, 0.02),  # last vs mid
    st.floats(0.0, 400.0),  # last size
)
_order = st.tuples(
    st.just("order"),
    st.sampled_from(_SYMBOLS),
    st.sampled_from(Side),
    st.one_of(st.integers(1, 150).map(float), st.integers(1, 150).map(float), st.floats(0.01, 150.0)),
    st.sampled_from(OrderType),
    st.floats(-0.05, 0.05),  # limit / stop offset from the last quote
    st.sampled_from(TimeInForce),
)
_cancel = st.tuples(st.just("cancel"), st.integers(0, 40))
_close = st.tuples(st.just("close"))
_actions = st.lists(
    st.one_of(_quote, _quote, _quote, _quote, _order, _order, _cancel, _close), min_size=20, max_size=80
)


class _Reference:
    """Average-cost bookkeeping done independently, to check the broker's positions against."""

    def __init__(self) -> None:
        self.qty: dict[str, float] = defaultdict(float)
        self.cost: dict[str, float] = defaultdict(float)

    def apply(self, fill: Fill) -> None:
        q = self.qty[fill.symbol]
        signed = fill.side.sign * fill.quantity
        new = q + signed
        if abs(q) < 1e-9 or (q > 0) == (signed > 0):
            self.cost[fill.symbol] = (self.cost[fill.symbol] * q + fill.price * signed) / new
        elif abs(new) < 1e-9:
            self.cost[fill.symbol] = 0.0
        elif (new > 0) != (q > 0):
            self.cost[fill.symbol] = fill.price
        self.qty[fill.symbol] = new


async def _scenario(
    actions: list[tuple[Any, ...]], options: dict[str, Any], seen: Counter[str] | None = None
) -> int:
    """Play the actions, checking the invariants after each; returns how many were played.

    ``seen`` counts what the actions reached (fills, working orders cancelled, rejections), so the
    property test can show its cases exercised the broker, not only refusals."""
    seen = Counter() if seen is None else seen
    h = await harness(**options)
    start = 3_000.0
    held = {"AAA": (200.0, 40.0), "BBB": (50.0, 80.0)}
    h.broker.adopt_book(cash=start, positions=[BrokerPosition(s, q, c) for s, (q, c) in held.items()])
    mids: dict[str, float] = {}
    for sym, (_, cost) in held.items():
        h.quote(sym, bid=cost * 0.999, ask=cost * 1.001, last=cost)
        mids[sym] = cost
    orders: dict[str, Order] = {}
    terminal: set[str] = set()
    day = DAY
    played = 0
    for action in actions:
        before = len(h.reports)
        match action:
            case ("quote", sym, mid, half, off, size):
                h.quote(sym, bid=mid * (1 - half), ask=mid * (1 + half), last=mid * (1 + off), last_size=size)
                mids[sym] = mid
                for report in h.reports[before:]:
                    if isinstance(report, OrderFilled):
                        assert report.fill.quantity <= 0.25 * size + 1e-9  # participation cap
            case ("order", sym, side, qty, order_type, off, tif):
                ref = mids.get(sym, 100.0) * (1 + off)
                limit = ref if order_type in (OrderType.LMT, OrderType.STP_LMT) else None
                stop = ref if order_type in (OrderType.STP, OrderType.STP_LMT) else None
                order = await h.submit(side, qty, order_type, symbol=sym, limit=limit, stop=stop, tif=tif)
                orders[order.client_order_id] = order
                if side is Side.BUY and isinstance(h.last(), OrderAcknowledged):
                    account = h.broker.account_summary()  # an accepted buy fits what is not yet promised
                    assert account.reserved_cash <= account.settled_cash + 1e-6
            case ("cancel", index):
                working = await h.broker.open_orders()
                if working:
                    await h.broker.cancel(working[index % len(working)].client_order_id)
            case ("close",):
                h.broker.on_session_close(day)
                day += timedelta(days=1)
        for report in h.reports[before:]:
            seen[type(report).__name__] += 1
            coid = report.fill.client_order_id if isinstance(report, OrderFilled) else report.client_order_id
            assert coid not in terminal, f"report {report} after {coid} was final"
            if isinstance(report, OrderCancelled | OrderExpired | OrderRejected):
                terminal.add(coid)
        await _check(h, start, held, orders, terminal, allow_short=bool(options["allow_short"]))
        played += 1
    return played


async def _check(
    h: Harness,
    start: float,
    held: dict[str, tuple[float, float]],
    orders: dict[str, Order],
    terminal: set[str],
    *,
    allow_short: bool,
) -> None:
    fills = h.fills()
    account = h.broker.account_summary()
    assert account.cash >= -1e-6
    assert account.settled_cash >= -1e-6
    assert account.settled_cash <= account.cash + 1e-6
    assert account.reserved_cash >= 0.0
    expected_cash = start - sum(f.side.sign * f.quantity * f.price + f.commission for f in fills)
    assert math.isclose(account.cash, expected_cash, rel_tol=1e-9, abs_tol=1e-6)

    assert len({f.exec_id for f in fills}) == len(fills)
    filled: dict[str, float] = defaultdict(float)
    reference = _Reference()
    for sym, (qty, cost) in held.items():
        reference.qty[sym], reference.cost[sym] = qty, cost
    for f in fills:
        assert f.quantity > 0 and f.price > 0 and f.commission >= 0
        filled[f.client_order_id] += f.quantity
        reference.apply(f)
    for coid, qty in filled.items():
        assert qty <= orders[coid].quantity + 1e-9
        if qty >= orders[coid].quantity - 1e-9:
            terminal.add(coid)

    positions = {p.symbol: p for p in await h.broker.positions()}
    for sym in _SYMBOLS:
        got = positions.get(sym)
        assert math.isclose(got.quantity if got else 0.0, reference.qty[sym], abs_tol=1e-6)
        if got is not None:
            assert math.isclose(got.avg_cost, reference.cost[sym], rel_tol=1e-9, abs_tol=1e-6)
        if not allow_short:
            assert reference.qty[sym] >= -1e-6

    working = await h.broker.open_orders()
    assert {o.client_order_id for o in working}.isdisjoint(terminal)
    for o in working:
        assert math.isclose(o.filled_quantity, filled.get(o.client_order_id, 0.0), abs_tol=1e-9)


def test_random_sequences_keep_the_ledger_consistent() -> None:
    """The invariants after every action of random sequences; and the sequences reached fills,
    cancels and expiries (counted), so the invariants were checked on a broker that traded."""
    seen: Counter[str] = Counter()
    _random_sequences(seen)
    assert seen["OrderFilled"] > 0 and seen["OrderCancelled"] > 0 and seen["OrderExpired"] > 0, seen
    assert seen["OrderAcknowledged"] > 0 and seen["OrderRejected"] > 0, seen


@settings(max_examples=300, deadline=None, derandomize=True)  # the same 300 cases every run
@given(
    actions=_actions,
    allow_short=st.booleans(),
    allow_fractional=st.booleans(),
    settlement_days=st.integers(0, 2),
)
def _random_sequences(
    seen: Counter[str],
    actions: list[tuple[Any, ...]],
    allow_short: bool,
    allow_fractional: bool,
    settlement_days: int,
) -> None:
    options = {
        "allow_short": allow_short,
        "allow_fractional": allow_fractional,
        "settlement_days": settlement_days,
    }
    assert asyncio.run(_scenario(actions, options, seen)) == len(actions)


async def test_may_match_says_whether_a_touch_reaches_a_working_order() -> None:
    """The engine asks ``may_match`` before making a quote object for ``on_quote``: False only
    while every working order is a resting limit the touch does not reach (and the quote, had it
    been matched, would have done nothing); True once it reaches one, or for any stop."""
    h = await harness()
    h.quote(ask=100.00)
    assert not h.broker.may_match("AAPL", 99.98, 100.00), "nothing works on AAPL"
    buy = await h.submit(Side.BUY, 10, OrderType.LMT, limit=99.50)
    assert "AAPL" in h.broker.matching_symbols()
    assert not h.broker.may_match("AAPL", 99.70, 99.80)
    h.quote(bid=99.70, ask=99.80)
    assert h.fills() == [], "a touch may_match turns down fills nothing"
    assert h.broker.may_match("AAPL", 99.40, 99.50)
    h.quote(bid=99.40, ask=99.50)
    assert [f.client_order_id for f in h.fills()] == [buy.client_order_id]
    await h.submit(Side.SELL, 5, OrderType.STP, stop=90.0)
    assert h.broker.may_match("AAPL", 99.40, 99.50), "a stop is matched on every quote"
