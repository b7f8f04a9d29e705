"""The ledger against hand-worked examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.model import Fill, Side
from engine.portfolio.ledger import Ledger

TS = datetime(2012, 1, 3, 15, tzinfo=UTC)


def fill(side: Side, qty: float, price: float, commission: float = 1.0, n: int = 0) -> Fill:
    return Fill(f"E{n}", "OT-1", "AAPL", side, qty, price, commission, TS)


def test_buy_add_partial_sell() -> None:
    led = Ledger(10_000.0)
    led.apply_fill(fill(Side.BUY, 10, 100.0))
    led.apply_fill(fill(Side.BUY, 10, 110.0))
    pos = led.positions()[0]
    assert pos.quantity == 20 and pos.avg_cost == pytest.approx(105.0)
    pos = led.apply_fill(fill(Side.SELL, 5, 120.0))
    # realized: 5 * (120 - 105) - 3 commissions
    assert pos.realized_pnl == pytest.approx(75.0 - 3.0)
    assert pos.quantity == 15 and pos.avg_cost == pytest.approx(105.0)
    assert led.cash == pytest.approx(10_000 - 1000 - 1100 + 600 - 3)


def test_marks_drive_unrealized_and_day_pnl() -> None:
    led = Ledger(10_000.0)
    led.apply_fill(fill(Side.BUY, 10, 100.0, 0.0))
    led.start_day()
    assert led.mark("AAPL", 103.0)
    acct = led.account()
    assert acct.unrealized_pnl == pytest.approx(30.0)
    assert acct.day_pnl == pytest.approx(30.0)
    assert acct.equity == pytest.approx(10_030.0)
    assert not led.mark("MSFT", 1.0)


def test_close_to_flat_resets_cost() -> None:
    led = Ledger(1000.0)
    led.apply_fill(fill(Side.BUY, 2, 10.0, 0.0))
    pos = led.apply_fill(fill(Side.SELL, 2, 12.0, 0.0))
    assert pos.quantity == 0 and pos.avg_cost == 0 and pos.realized_pnl == pytest.approx(4.0)


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 50), st.floats(1.0, 500.0)), max_size=30))
def test_equity_identity(trades: list[tuple[bool, int, float]]) -> None:
    """equity = starting cash + realized + unrealized, whatever the sequence of fills."""
    led = Ledger(1_000_000.0)
    for i, (buy, qty, price) in enumerate(trades):
        led.apply_fill(fill(Side.BUY if buy else Side.SELL, qty, price, 0.5, i))
    led.mark("AAPL", 123.0)
    acct = led.account()
    assert acct.equity == pytest.approx(
        1_000_000.0 + acct.realized_pnl + acct.unrealized_pnl, rel=1e-9, abs=1e-6
    )


def test_realized_by_symbol_matches_the_position_and_is_zero_for_an_unknown_one() -> None:
    ledger = Ledger(10_000.0)
    ledger.apply_fill(fill(Side.BUY, 10, 100.0, n=1))
    position = ledger.apply_fill(fill(Side.SELL, 4, 110.0, n=2))
    assert ledger.realized("AAPL") == position.realized_pnl == pytest.approx(4 * 10.0 - 2.0)
    assert ledger.realized("NOPE") == 0.0


# --------------------------------------------------------------------------- options
PUT = "AAPL  240315P00100000"
CALL = "AAPL  240315C00105000"


def option_fill(
    side: Side, qty: float, price: float, commission: float = 0.65, n: int = 0, symbol: str = PUT
) -> Fill:
    return Fill(f"O{n}", "OT-9", symbol, side, qty, price, commission, TS)


def test_an_option_moves_cash_and_value_by_its_multiplier() -> None:
    led = Ledger(10_000.0)
    pos = led.apply_fill(option_fill(Side.BUY, 2, 3.50, 1.30))
    assert (pos.quantity, pos.avg_cost, pos.last) == (2, 3.50, 3.50)  # contracts, premium per share
    assert led.cash == pytest.approx(10_000.0 - 2 * 3.50 * 100 - 1.30)
    assert led.market_value(PUT) == pytest.approx(700.0)
    assert led.market_values() == {PUT: pytest.approx(700.0)}
    led.start_day()
    assert led.positions()[0].day_open_value == pytest.approx(700.0)
    assert led.mark(PUT, 4.25)
    assert led.market_value(PUT) == pytest.approx(850.0)
    assert led.unrealized(PUT) == pytest.approx(2 * 0.75 * 100)
    acct = led.account()
    assert acct.unrealized_pnl == pytest.approx(150.0)
    assert acct.gross_exposure == pytest.approx(850.0)
    assert acct.equity == pytest.approx(10_000.0 - 1.30 + 150.0)
    assert acct.day_pnl == pytest.approx(150.0)
    pos = led.apply_fill(option_fill(Side.SELL, 2, 4.25, 1.30, n=1))
    assert pos.quantity == 0 and pos.realized_pnl == pytest.approx(2 * 0.75 * 100 - 2.60)
    assert led.cash == pytest.approx(10_000.0 + 150.0 - 2.60)
    assert led.market_value(PUT) == 0.0 and led.market_values() == {}


def test_stocks_and_options_side_by_side_keep_the_equity_identity() -> None:
    led = Ledger(50_000.0)
    led.apply_fill(fill(Side.BUY, 100, 100.0, n=1))
    led.apply_fill(option_fill(Side.SELL, 1, 2.00, n=2, symbol=CALL))  # a covered call written
    led.mark("AAPL", 104.0)
    led.mark(CALL, 0.50)
    acct = led.account()
    assert led.market_value("AAPL") == pytest.approx(10_400.0)
    assert led.market_value(CALL) == pytest.approx(-50.0)
    assert led.unrealized(CALL) == pytest.approx(150.0)  # short: the premium fell from 2.00 to 0.50
    assert acct.unrealized_pnl == pytest.approx(400.0 + 150.0)
    assert acct.gross_exposure == pytest.approx(10_400.0 + 50.0)
    assert acct.equity == pytest.approx(50_000.0 + acct.realized_pnl + acct.unrealized_pnl)
