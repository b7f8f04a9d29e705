"""Which fills opened and closed a card's position, and what its forecast met: numbers by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.model import Fill, Leg, Order, OrderStatus, OrderType, Side, StrategyCard
from engine.model.forecast import ForecastOutcome, OutcomeStatus
from engine.portfolio.forecasts import TradeBook

T0 = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
CARD = StrategyCard(
    card_id="momentum-AAPL-20240102@X-1",
    template="momentum",
    name="Momentum AAPL",
    legs=(Leg("AAPL", Side.BUY, 10),),
    confidence=0.6,
    expected_return=0.02,
    max_risk=50.0,
    reason="test",
    asof=T0,
    details={"expected_cost": 1.5},
)


def _cards(card_id: str, execution_id: str) -> StrategyCard | None:
    return CARD if (card_id, execution_id) == ("momentum-AAPL-20240102", "X-1") else None


def _order(coid: str, side: Side, qty: float, **kw: object) -> Order:
    return Order(coid, "AAPL", side, qty, created_at=T0, **kw)  # type: ignore[arg-type]


def _fill(n: int, coid: str, side: Side, qty: float, price: float, commission: float) -> Fill:
    return Fill(f"E{n}", coid, "AAPL", side, qty, price, commission, T0 + timedelta(minutes=n))


MANUAL_BUY = _order("OT-0", Side.BUY, 5, status=OrderStatus.FILLED)
ENTRY = _order(
    "OT-1", Side.BUY, 10, card_id="momentum-AAPL-20240102", execution_id="X-1", arrival_price=100.0
)
TARGET = _order("OT-2", Side.SELL, 10, order_type=OrderType.LMT, limit_price=103.0, protects="OT-1")
MANUAL_SELL = _order("OT-3", Side.SELL, 11, arrival_price=102.5)


def _filled(order: Order) -> Order:
    return Order(
        **{**{f: getattr(order, f) for f in order.__dataclass_fields__}, "status": OrderStatus.FILLED}
    )


def _run(book: TradeBook) -> list[ForecastOutcome]:
    """A manual 5 @ 99, the card's 10 in two fills, its target sells 4, a manual sale of 11."""
    out: list[ForecastOutcome] = []
    book.order(MANUAL_BUY)
    book.fill(_fill(0, "OT-0", Side.BUY, 5, 99.0, 0.5))
    book.order(ENTRY)
    out += book.fill(_fill(1, "OT-1", Side.BUY, 6, 100.10, 0.6))
    book.order(_filled(ENTRY))
    out += book.fill(_fill(2, "OT-1", Side.BUY, 4, 100.20, 0.4))
    book.order(TARGET)
    out += book.fill(_fill(3, "OT-2", Side.SELL, 4, 103.0, 0.4))
    assert out == [], "a partial exit leaves the trade pending"
    (pending,) = book.open_trades()
    assert (pending.execution_id, pending.opened, pending.held) == ("X-1", 10, 6)
    book.order(MANUAL_SELL)
    out += book.fill(_fill(4, "OT-3", Side.SELL, 11, 102.4, 1.1))
    return out


def test_a_card_trade_closed_in_parts_meets_its_forecast_with_hand_computed_numbers() -> None:
    book = TradeBook(_cards)
    (o,) = _run(book)
    assert o.execution_id == "X-1" and o.card_id == "momentum-AAPL-20240102"
    assert o.status is OutcomeStatus.CLOSED
    # the forecast as the executed card showed it
    assert (o.confidence, o.expected_return, o.max_risk, o.expected_cost) == (0.6, 0.02, 50.0, 1.5)
    # capital: 6 x 100.10 + 4 x 100.20
    assert o.capital == pytest.approx(1001.4)
    # the target sells 4 of the card's oldest piece: 4 x (103 - 100.10) = 11.6; the manual sale
    # closes the manual 5 first, then the card's 2 @ 100.10 and 4 @ 100.20: 4.6 + 8.8
    assert o.gross_pnl == pytest.approx(25.0)
    assert o.entry_commission == pytest.approx(1.0)
    assert o.exit_commission == pytest.approx(0.4 + 1.1 * 6 / 11)
    # entry shortfall vs arrival 100: 6 x 0.10 + 4 x 0.20; the target has no arrival price; the
    # manual sale 11 @ 102.4 vs 102.5 costs 1.10, of which the card's 6/11
    assert o.entry_slippage == pytest.approx(1.4)
    assert o.exit_slippage == pytest.approx(0.6)
    assert o.realized_return == pytest.approx(25.0 / 1001.4)
    assert o.net_return == pytest.approx((25.0 - 2.0) / 1001.4)
    assert o.hit and not o.breached
    assert o.entry_cost == pytest.approx(2.4) and o.realized_cost == pytest.approx(4.0)
    assert (o.opened_at, o.closed_at) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=4))
    assert book.open_trades() == []


def test_folding_the_stored_orders_and_fills_gives_the_same_record_once() -> None:
    live = _run(TradeBook(_cards))
    orders = [MANUAL_BUY, _filled(ENTRY), _filled(TARGET), _filled(MANUAL_SELL)]
    fills = [
        _fill(0, "OT-0", Side.BUY, 5, 99.0, 0.5),
        _fill(1, "OT-1", Side.BUY, 6, 100.10, 0.6),
        _fill(2, "OT-1", Side.BUY, 4, 100.20, 0.4),
        _fill(3, "OT-2", Side.SELL, 4, 103.0, 0.4),
        _fill(4, "OT-3", Side.SELL, 11, 102.4, 1.1),
    ]
    assert TradeBook(_cards).fold(orders, fills) == live


def test_a_closed_position_waits_for_its_working_entry_before_it_is_scored() -> None:
    book = TradeBook(_cards)
    partly = _order(
        "OT-1", Side.BUY, 10, card_id="momentum-AAPL-20240102", execution_id="X-1",
        status=OrderStatus.PARTIALLY_FILLED,
    )  # fmt: skip
    book.order(partly)
    book.fill(_fill(1, "OT-1", Side.BUY, 4, 100.0, 0.0))
    book.order(TARGET)
    assert book.fill(_fill(2, "OT-2", Side.SELL, 4, 99.0, 0.0)) == []  # more of the entry may fill
    (o,) = book.order(_cancelled(partly))
    assert o.gross_pnl == pytest.approx(-4.0) and not o.hit


def _cancelled(order: Order) -> Order:
    return Order(
        **{**{f: getattr(order, f) for f in order.__dataclass_fields__}, "status": OrderStatus.CANCELLED}
    )


def test_an_unwound_execution_is_void_and_an_unfilled_one_leaves_nothing() -> None:
    book = TradeBook(_cards)
    book.order(_filled(ENTRY))
    book.fill(_fill(1, "OT-1", Side.BUY, 10, 100.0, 1.0))
    unwind = _order("OT-9", Side.SELL, 10, card_id="momentum-AAPL-20240102", execution_id="X-1",
                    status=OrderStatus.FILLED)  # fmt: skip
    book.order(unwind)
    (o,) = book.fill(_fill(2, "OT-9", Side.SELL, 10, 99.5, 1.0))
    assert o.status is OutcomeStatus.VOID and o.gross_pnl == pytest.approx(-5.0)
    empty = TradeBook(_cards)
    assert empty.order(_cancelled(ENTRY)) == [] and empty.open_trades() == []


def test_cards_that_forecast_nothing_are_not_tracked() -> None:
    close = StrategyCard(
        card_id="exit-AAPL-20240102", template="exit", name="Close AAPL", legs=(Leg("AAPL", Side.SELL, 5),),
        confidence=0.0, expected_return=0.0, max_risk=0.0, reason="close", asof=T0,
    )  # fmt: skip
    book = TradeBook(lambda _c, _x: close)
    book.order(
        _order("OT-5", Side.SELL, 5, card_id=close.card_id, execution_id="X-5", status=OrderStatus.FILLED)
    )
    assert book.fill(_fill(1, "OT-5", Side.SELL, 5, 100.0, 0.0)) == [] and book.open_trades() == []
