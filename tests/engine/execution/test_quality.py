"""Execution quality by hand: shortfall, fill rate, times to fill, grouping of algo children."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.execution.costs import CostEstimate
from engine.execution.quality import execution_quality, executions_quality, order_quality
from engine.model import Fill, Order, OrderStatus, Side

T0 = datetime(2012, 3, 5, 15, 0, tzinfo=UTC)


def order(coid: str, side: Side, qty: float, **kw: object) -> Order:
    return Order(coid, kw.pop("symbol", "AAPL"), side, qty, created_at=T0, **kw)  # type: ignore[arg-type]


def fill(coid: str, n: int, qty: float, price: float, seconds: float, commission: float = 1.0) -> Fill:
    return Fill(
        f"{coid}.{n}", coid, "AAPL", Side.BUY, qty, price, commission, T0 + timedelta(seconds=seconds)
    )


def test_buy_shortfall_fill_rate_and_times() -> None:
    o = order("A", Side.BUY, 200, arrival_price=100.0, status=OrderStatus.PARTIALLY_FILLED)
    q = order_quality(o, [fill("A", 2, 50, 100.20, 120, 0.25), fill("A", 1, 100, 100.05, 60)])
    assert q.filled_quantity == 150
    assert q.avg_fill_price == pytest.approx((100 * 100.05 + 50 * 100.20) / 150)  # 100.10
    assert q.slippage_bps == pytest.approx(10.0)  # (100.10 - 100) / 100 * 1e4
    assert q.fill_rate == pytest.approx(0.75)
    assert (q.time_to_first_fill_s, q.time_to_last_fill_s) == (60.0, 120.0)
    assert q.commission == pytest.approx(1.25)
    assert q.slippage_cost == pytest.approx(15.0)  # 0.10 * 150
    assert q.realized_cost == pytest.approx(16.25)
    assert q.fills == 2


def test_sell_shortfall_is_positive_when_sold_below_arrival() -> None:
    o = order("S", Side.SELL, 100, arrival_price=50.0)
    q = order_quality(o, [Fill("S.1", "S", "AAPL", Side.SELL, 100, 49.95, 1.0, T0)])
    assert q.slippage_bps == pytest.approx(10.0)  # (50 - 49.95) / 50 * 1e4
    better = order_quality(o, [Fill("S.1", "S", "AAPL", Side.SELL, 100, 50.05, 1.0, T0)])
    assert better.slippage_bps == pytest.approx(-10.0)


def test_without_arrival_or_fills_the_figures_are_unknown_not_zero() -> None:
    q = order_quality(order("N", Side.BUY, 100), [])
    assert (q.slippage_bps, q.avg_fill_price, q.time_to_first_fill_s) == (None, None, None)
    assert q.fill_rate == 0.0 and q.realized_cost == 0.0
    assert order_quality(order("M", Side.BUY, 100, arrival_price=10.0), []).slippage_bps is None
    # fills not loaded: the order's own figures
    loaded = order("L", Side.BUY, 100, arrival_price=10.0, filled_quantity=100, avg_fill_price=10.01)
    assert order_quality(loaded, []).slippage_bps == pytest.approx(10.0)


def test_children_fold_into_their_parent_and_executions_weight_by_value() -> None:
    parent = order("P", Side.BUY, 300, algo="TWAP", arrival_price=100.0, execution_id="X-1", card_id="C-1")
    kids = [
        order("P.a", Side.BUY, 100, parent_id="P", arrival_price=100.0, execution_id="X-1"),
        order("P.b", Side.BUY, 200, parent_id="P", arrival_price=100.0, execution_id="X-1"),
    ]
    kids[1].created_at = T0 + timedelta(minutes=5)
    leg2 = Order(
        "M", "MSFT", Side.SELL, 1_000, arrival_price=30.0, execution_id="X-1", card_id="C-1", created_at=T0
    )
    alone = order("Z", Side.BUY, 10, arrival_price=20.0)
    fills = [
        fill("P.a", 1, 100, 100.10, 60),
        fill("P.b", 1, 200, 100.25, 360, 1.5),
        Fill("M.1", "M", "MSFT", Side.SELL, 500, 29.97, 2.5, T0 + timedelta(seconds=30)),
    ]
    (x, z) = executions_quality(
        [parent, *kids, leg2, alone],
        fills,
        expected={"X-1": CostEstimate(10.0, 5.0, 5.0, 20.0, 3.5, 60_000.0)},
    )
    p, m = x.orders
    assert [c.client_order_id for c in x.children] == ["P.a", "P.b"]
    assert p.client_order_id == "P" and p.filled_quantity == 300
    assert p.avg_fill_price == pytest.approx(100.20)  # (100 * 100.10 + 200 * 100.25) / 300
    assert p.slippage_bps == pytest.approx(20.0)
    assert (p.time_to_first_fill_s, p.time_to_last_fill_s) == (60.0, 360.0)
    assert p.commission == pytest.approx(2.5)
    assert m.slippage_bps == pytest.approx(10.0) and m.fill_rate == 0.5

    # value-weighted over the legs: P 300 * 100 = 30,000 at arrival, M 500 * 30 = 15,000 filled
    assert x.execution_id == "X-1" and x.card_id == "C-1"
    assert x.symbols == ("AAPL", "MSFT") and x.sides == (Side.BUY, Side.SELL)
    assert x.slippage_bps == pytest.approx((60.0 + 15.0) / 45_000 * 1e4)  # 16.667
    assert x.fill_rate == pytest.approx((30_000 + 15_000) / (30_000 + 30_000))
    assert (x.arrival_price, x.avg_fill_price) == (None, None)  # two symbols: no single price
    assert x.commission == pytest.approx(5.0)
    assert x.realized_cost == pytest.approx(80.0)  # 60 + 15 shortfall + 5 commission
    assert x.realized_cost_bps == pytest.approx(80.0 / 45_000 * 1e4)
    assert x.cost_vs_expected_bps == pytest.approx(80.0 / 45_000 * 1e4 - 3.5)
    assert (x.time_to_first_fill_s, x.time_to_last_fill_s) == (30.0, 360.0)

    assert z.execution_id is None and z.key == "Z" and z.expected is None
    assert z.fill_rate == 0.0 and z.slippage_bps is None and z.realized_cost == 0.0


def test_single_symbol_execution_has_prices_and_a_child_without_its_parent_stands_alone() -> None:
    child = order("C", Side.BUY, 100, parent_id="GONE", arrival_price=10.0, execution_id="X-9")
    (x,) = executions_quality([child], [fill("C", 1, 100, 10.02, 5)])
    assert x.orders[0].client_order_id == "C" and x.children == ()
    assert (x.arrival_price, x.avg_fill_price) == (10.0, pytest.approx(10.02))
    assert x.slippage_bps == pytest.approx(20.0)
    with pytest.raises(ValueError, match="at least one order"):
        execution_quality([])
