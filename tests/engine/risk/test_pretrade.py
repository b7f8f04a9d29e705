"""Pre-trade checks: each limit refuses with its code; working orders count; nothing is shrunk."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.model import OrderRequest, OrderType, Side, TradingState
from engine.risk.killswitch import HaltState, resume_allowed
from engine.risk.pretrade import BookView, Limits, pre_trade

LIMITS = Limits(
    max_order_value=25_000, max_order_quantity=5_000, max_position_pct=0.15, gross_exposure_limit=1.0
)
BOOK = BookView(
    trading_state=TradingState.ACTIVE,
    halted_reason="",
    equity=100_000.0,
    cash=100_000.0,
    positions={},
    prices={"AAPL": 100.0, "MSFT": 30.0},
    working={},
    working_buy_value=0.0,
    gross_exposure=0.0,
    tradable=frozenset({"AAPL", "MSFT"}),
)


def buy(sym: str, qty: float, **kw: object) -> OrderRequest:
    return OrderRequest(sym, Side.BUY, qty, **kw)  # type: ignore[arg-type]


def code(req: OrderRequest, book: BookView = BOOK, limits: Limits = LIMITS) -> str | None:
    r = pre_trade(req, book, limits)
    return r.code if r else None


def test_accepts_a_normal_order() -> None:
    assert code(buy("AAPL", 100)) is None


@pytest.mark.parametrize(
    ("req", "book", "expected"),
    [
        (buy("AAPL", 10), replace(BOOK, trading_state=TradingState.HALTED, halted_reason="kill"), "HALTED"),
        (buy("TSLA", 10), BOOK, "SYMBOL_NOT_ALLOWED"),
        (buy("AAPL", 6000), BOOK, "MAX_ORDER_QTY"),
        (buy("AAPL", 300), BOOK, "MAX_ORDER_VALUE"),
        (buy("AAPL", 160), BOOK, "MAX_POSITION"),
        (buy("AAPL", 100), replace(BOOK, cash=5_000.0), "INSUFFICIENT_CASH"),
        (OrderRequest("AAPL", Side.SELL, 1), BOOK, "NO_SHORTING"),
        (buy("AAPL", 10, order_type=OrderType.LMT, limit_price=3000.0), BOOK, "MAX_ORDER_VALUE"),
    ],
)
def test_each_limit_refuses_with_its_code(req: OrderRequest, book: BookView, expected: str) -> None:
    assert code(req, book) == expected


def test_working_orders_count_toward_the_position_limit() -> None:
    """Two orders each under the limit whose sum exceeds it: the second is refused."""
    first = buy("AAPL", 100)
    assert code(first) is None
    after_first = replace(BOOK, working={"AAPL": 100.0}, working_buy_value=10_000.0)
    assert code(buy("AAPL", 100), after_first) == "MAX_POSITION"


def test_working_buys_reserve_cash() -> None:
    book = replace(BOOK, cash=20_000.0, working={"MSFT": 300}, working_buy_value=9_000.0)
    assert code(buy("AAPL", 120), book) == "INSUFFICIENT_CASH"


def test_reducing_sell_passes_even_when_over_limit() -> None:
    book = replace(BOOK, positions={"AAPL": 200.0}, gross_exposure=20_000.0)
    assert code(OrderRequest("AAPL", Side.SELL, 200), book) is None


def test_halt_message_says_how_to_resume() -> None:
    r = pre_trade(
        buy("AAPL", 1), replace(BOOK, trading_state=TradingState.HALTED, halted_reason="operator"), LIMITS
    )
    assert r is not None and r.message == "trading halted (operator); type RESUME to lift it"


@given(qty=st.floats(0.01, 10_000), price=st.floats(1.0, 1_000.0), held=st.floats(0, 1_000))
def test_accepted_buys_never_breach_position_or_value_limits(qty: float, price: float, held: float) -> None:
    book = replace(
        BOOK,
        prices={"AAPL": price, "MSFT": 30.0},
        positions={"AAPL": held} if held else {},
        gross_exposure=held * price,
    )
    if pre_trade(buy("AAPL", qty), book, LIMITS) is None:
        assert qty * price <= LIMITS.max_order_value
        assert (held + qty) * price <= LIMITS.max_position_pct * book.equity + 1e-6


def test_kill_state_round_trips_and_fails_safe() -> None:
    assert HaltState.from_json(HaltState(TradingState.HALTED, "x").to_json()).halted
    assert HaltState.from_json("{not json").halted
    assert not HaltState.from_json(None).halted
    assert resume_allowed("RESUME") and not resume_allowed("resume") and not resume_allowed("RESUM")
