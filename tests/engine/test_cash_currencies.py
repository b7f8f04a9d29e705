"""Cash per currency (issue 20): a fill moves cash in its quote currency and a pair's base
currency too; realized P&L is booked in the quote currency and converted into the account
currency at a stated rate; equity is every currency's cash converted. Hand-worked numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from engine.brokers.paper import PaperBroker
from engine.clock import SimulatedClock
from engine.model import CommissionSchedule, Fill, Order, Quote, Side
from engine.model.cash import Currencies, cash_moves
from engine.model.fx import Mark
from engine.portfolio.ledger import Ledger

T0 = datetime(2017, 7, 3, 14, 0, tzinfo=UTC)
USD = Currencies("USD", {"EURUSD": "USD", "USDJPY": "JPY", "BTCUSD": "USD", "7203": "JPY"})


def fill(n: int, symbol: str, side: Side, qty: float, price: float, commission: float = 0.0) -> Fill:
    return Fill(f"E{n}", f"OT-{n}", symbol, side, qty, price, commission, T0 + timedelta(minutes=n))


def test_the_cash_rule_moves_a_pairs_base_and_quote() -> None:
    (usd, paid), (eur, got) = cash_moves("USD", "EUR", 100_000, 1.1, 1.0, 0.0)
    assert (usd, eur, got) == ("USD", "EUR", 100_000.0) and paid == pytest.approx(-110_000.0)
    assert cash_moves("JPY", None, -100, 2_000.0, 1.0, 500.0) == (("JPY", 199_500.0),)
    assert USD.of("USDJPY") == "JPY" and USD.base_of("USDJPY") == "USD"
    assert USD.of("BTCUSD") == "USD" and USD.base_of("BTCUSD") is None  # a coin is a position
    assert USD.of("AAPL") == "USD" and USD.base_of("AAPL") is None


def test_buying_eurusd_is_plus_euros_minus_dollars_and_equity_counts_it_once() -> None:
    led = Ledger(1_000_000.0, USD)
    led.apply_fill(fill(1, "EURUSD", Side.BUY, 100_000, 1.1000))
    assert led.cash_by_currency() == {"USD": pytest.approx(890_000.0), "EUR": 100_000.0}
    assert led.equity == pytest.approx(1_000_000.0)  # EUR 100,000 at the fill's 1.1000
    led.mark("EURUSD", 1.1050)
    rates = {"EURUSD": Mark(1.1050, T0 + timedelta(hours=1), "test quotes EURUSD mid")}
    led.set_rates(rates.get, lambda: T0 + timedelta(hours=1, seconds=30))
    assert led.equity == pytest.approx(1_000_500.0)  # 100,000 x 0.0050
    account = led.account()
    assert account.unrealized_pnl == pytest.approx(500.0)
    eur = {b.currency: b for b in account.cash_by_currency}["EUR"]
    assert eur.in_account == pytest.approx(110_500.0)
    assert eur.note == "1 EUR = 1.105 USD via EURUSD (test quotes EURUSD mid, 30 s old)"


def test_usdjpy_realized_pnl_is_yen_converted_not_dollars() -> None:
    """Buy 100,000 USDJPY at 110.00, sell at 111.00: +100,000 JPY realized, which is
    100,000 / 111 = 900.90 USD at the closing fill's rate, not 100,000 dollars."""
    led = Ledger(1_000_000.0, USD)
    led.apply_fill(fill(1, "USDJPY", Side.BUY, 100_000, 110.00))
    assert led.cash_by_currency() == {"USD": 1_100_000.0, "JPY": pytest.approx(-11_000_000.0)}
    assert led.equity == pytest.approx(1_000_000.0)  # 1,100,000 - 11,000,000 / 110
    led.apply_fill(fill(2, "USDJPY", Side.SELL, 100_000, 111.00))
    assert led.cash_by_currency() == {"USD": pytest.approx(1_000_000.0), "JPY": pytest.approx(100_000.0)}
    assert led.realized("USDJPY") == pytest.approx(100_000.0)  # in yen, its own currency
    assert led.to_account(led.realized("USDJPY"), "JPY") == pytest.approx(100_000 / 111)
    account = led.account()
    assert account.realized_pnl == pytest.approx(900.9009, abs=1e-3)
    assert account.equity == pytest.approx(1_000_900.9009, abs=1e-3)
    jpy = {b.currency: b for b in account.cash_by_currency}["JPY"]
    assert jpy.note.startswith("1 JPY = 0.00900901 USD via USDJPY^-1 (last fill of USDJPY")


def test_a_tokyo_stock_books_yen_and_without_a_rate_is_left_out_not_guessed() -> None:
    led = Ledger(100_000.0, USD)
    led.apply_fill(fill(1, "7203", Side.BUY, 100, 2_000.0, commission=500.0))
    assert led.cash_by_currency() == {"USD": 100_000.0, "JPY": -200_500.0}
    assert led.rate("JPY") is None
    assert led.equity == pytest.approx(100_000.0)  # the yen book is left out, not counted as dollars
    jpy = {b.currency: b for b in led.account().cash_by_currency}["JPY"]
    assert math.isnan(jpy.in_account) and "no rate from JPY into USD" in jpy.note
    led.set_rates({"USDJPY": Mark(100.0, T0, "test")}.get, lambda: T0)
    # cash -200,500 JPY and the position's 200,000 JPY at 100 JPY per USD: -5 USD (the commission)
    assert led.equity == pytest.approx(100_000.0 - 5.0)
    assert led.account().commissions == pytest.approx(5.0)


def test_a_coin_is_a_position_and_dollars() -> None:
    led = Ledger(100_000.0, USD)
    led.apply_fill(fill(1, "BTCUSD", Side.BUY, 0.5, 40_000.0))
    assert led.cash_by_currency() == {"USD": 80_000.0}
    led.mark("BTCUSD", 42_000.0)
    assert led.equity == pytest.approx(101_000.0)
    assert led.account().cash_by_currency == ()  # one currency: nothing more to show


def quote(symbol: str, price: float, ts: datetime, spread: float) -> Quote:
    return Quote(symbol, ts, price - spread, price + spread, price, 1e9, 1e9, 1e9, 1e9)


def paper(clock: SimulatedClock) -> PaperBroker:
    return PaperBroker(
        clock,
        starting_cash=1_000_000.0,
        commissions=CommissionSchedule(0.0, 0.0, 1.0, 0.0),
        slippage_bps=0.0,
        max_participation=1.0,
        allow_short=False,
        allow_fractional=True,
        settlement_days=1,
        option_rate=0.0,
        currencies=USD,
    )


async def test_the_paper_broker_books_a_coin_as_a_position_paid_in_dollars() -> None:
    broker = paper(SimulatedClock(T0))
    broker.set_reporter(lambda _report: None)
    await broker.connect()
    broker.set_market([quote("BTCUSD", 40_000.0, T0, 0.0)])
    await broker.submit(Order("OT-1", "BTCUSD", Side.BUY, 0.1234))
    broker.on_quote(quote("BTCUSD", 40_000.0, T0, 0.0))
    assert broker.cash_balances() == {"USD": pytest.approx(1_000_000 - 4_936.0)}  # no BTC "cash"
    assert [(p.symbol, p.quantity) for p in await broker.positions()] == [("BTCUSD", 0.1234)]
    assert broker.account_summary().equity == pytest.approx(1_000_000.0)


async def test_the_paper_broker_keeps_cash_per_currency_and_borrows_yen_against_dollars() -> None:
    clock = SimulatedClock(T0)
    broker = paper(clock)
    fills: list[Fill] = []
    broker.set_reporter(lambda r: fills.append(r.fill) if hasattr(r, "fill") else None)
    await broker.connect()
    broker.set_market([quote("EURUSD", 1.1000, T0, 0.0), quote("USDJPY", 110.00, T0, 0.0)])
    for n, (symbol, side) in enumerate([("EURUSD", Side.BUY), ("USDJPY", Side.BUY)], start=1):
        await broker.submit(Order(f"OT-{n}", symbol, side, 100_000))
        broker.on_quote(quote(symbol, 1.1000 if symbol == "EURUSD" else 110.00, T0, 0.0))
    assert [(f.symbol, f.currency) for f in fills] == [("EURUSD", "USD"), ("USDJPY", "JPY")]
    assert broker.cash_balances() == {
        "USD": pytest.approx(1_000_000 - 110_000 + 100_000),
        "EUR": 100_000.0,
        "JPY": pytest.approx(-11_000_000.0),
    }
    summary = broker.account_summary()
    assert summary.equity == pytest.approx(1_000_000.0)  # nothing gained or lost at the fill prices
    assert summary.positions_value == 0.0  # a pair's value is its base balance, not counted twice
    # a yen sale of dollars realizes yen: sell USDJPY at 111.00
    await broker.submit(Order("OT-3", "USDJPY", Side.SELL, 100_000))
    broker.on_quote(quote("USDJPY", 111.00, T0, 0.0))
    assert broker.cash_balances()["JPY"] == pytest.approx(100_000.0)
    ledger = Ledger(1_000_000.0, USD)
    for f in fills:
        ledger.apply_fill(f)
    assert ledger.cash_by_currency() == pytest.approx(broker.cash_balances())  # the two books agree
