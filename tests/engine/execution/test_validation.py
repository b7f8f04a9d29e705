"""Order preprocessing: tick rounding never makes an order more aggressive; bad sizes are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.execution.validation import prepare, round_to_tick
from engine.model import Instrument, OrderRequest, OrderType, Side, TimeInForce
from engine.risk.pretrade import Refusal

STOCK = Instrument("AAPL", tick_size=0.01, fractional=False)
FRACTIONAL = Instrument("AAPL", tick_size=0.01, fractional=True)


def limit(side: Side, price: float, qty: float = 10) -> OrderRequest:
    return OrderRequest("AAPL", side, qty, OrderType.LMT, limit_price=price)


def test_limits_round_to_the_passive_side_of_the_tick() -> None:
    buy = prepare(limit(Side.BUY, 100.019), STOCK)
    sell = prepare(limit(Side.SELL, 100.011), STOCK)
    assert isinstance(buy, OrderRequest) and buy.limit_price == 100.01
    assert isinstance(sell, OrderRequest) and sell.limit_price == 100.02
    on_grid = limit(Side.BUY, 100.25)
    assert prepare(on_grid, STOCK) is on_grid


def test_stops_round_away_from_the_market() -> None:
    buy = prepare(OrderRequest("AAPL", Side.BUY, 1, OrderType.STP, stop_price=100.001), STOCK)
    sell = prepare(OrderRequest("AAPL", Side.SELL, 1, OrderType.STP, stop_price=100.019), STOCK)
    assert isinstance(buy, OrderRequest) and buy.stop_price == 100.01
    assert isinstance(sell, OrderRequest) and sell.stop_price == 100.01


def req(qty: float = 1, otype: OrderType = OrderType.MKT, **kw: object) -> OrderRequest:
    return OrderRequest("AAPL", Side.BUY, qty, otype, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "instrument", "code", "text"),
    [
        (req(2.5), STOCK, "BAD_QUANTITY", "AAPL trades in whole shares; 2.5 is not one"),
        (req(0.0), STOCK, "BAD_QUANTITY", "quantity must be a positive number, got 0.0"),
        (req(float("nan")), STOCK, "BAD_QUANTITY", "quantity must be a positive number"),
        (req(1, OrderType.LMT), STOCK, "BAD_ORDER", "a LMT order needs a positive limit"),
        (
            req(1, OrderType.STP_LMT, limit_price=10.0),
            STOCK,
            "BAD_ORDER",
            "a STP LMT order needs a positive stop",
        ),
        (req(1, limit_price=10.0), STOCK, "BAD_ORDER", "a MKT order takes no limit price"),
        (
            req(1, OrderType.STP, stop_price=9.0, tif=TimeInForce.IOC),
            STOCK,
            "BAD_ORDER",
            "a stop order cannot",
        ),
    ],
)
def test_bad_orders_are_refused_with_a_reason(
    request_: OrderRequest, instrument: Instrument, code: str, text: str
) -> None:
    refusal = prepare(request_, instrument)
    assert isinstance(refusal, Refusal) and refusal.code == code and refusal.message.startswith(text)


def test_fractional_instruments_take_fractions() -> None:
    assert prepare(OrderRequest("AAPL", Side.BUY, 2.5), FRACTIONAL) == OrderRequest("AAPL", Side.BUY, 2.5)


@given(price=st.floats(0.01, 10_000.0), tick=st.sampled_from([0.01, 0.05, 0.25, 1.0]))
def test_rounding_lands_on_the_grid_within_one_tick_on_the_asked_side(price: float, tick: float) -> None:
    down, up = round_to_tick(price, tick, up=False), round_to_tick(price, tick, up=True)
    assert down <= price + 1e-9 and up >= price - 1e-9
    assert price - down < tick + 1e-9 and up - price < tick + 1e-9
    for value in (down, up):
        assert abs(value / tick - round(value / tick)) < 1e-6
