"""A multi-currency account at the simulator, seen through the real ib_insync client: cash per
currency, pairs quoted in other currencies than USD, account values per currency and in BASE,
portfolio P&L in the pair's quote currency.

Quotes: EUR.USD 1.0850 / 1.0851 (mid 1.08505), USD.JPY 150.00 / 150.01 (mid 150.005). Every
number below is worked by hand in the test's docstring.
"""

from __future__ import annotations

import pytest
from ib_insync import IB, Forex, LimitOrder, MarketOrder

from engine.brokers.tws_sim import TwsSimulator
from tests.engine.brokers.tws_sim.conftest import wait_for


def _quote_pairs(sim: TwsSimulator) -> None:
    sim.set_quote("EUR.USD", 1.0850, 1.0851, None, bid_size=1e6, ask_size=1e6)
    sim.set_quote("USD.JPY", 150.00, 150.01, None, bid_size=1e6, ask_size=1e6)


def _values(ib: IB, tag: str) -> dict[str, float]:
    return {v.currency: float(v.value) for v in ib.accountValues() if v.tag == tag}


def _buy_both(ib: IB) -> None:
    eur, jpy = Forex("EURUSD"), Forex("USDJPY")
    ib.qualifyContracts(eur, jpy)
    first = ib.placeOrder(eur, LimitOrder("BUY", 10_000, 1.0851))
    second = ib.placeOrder(jpy, MarketOrder("BUY", 10_000))
    assert wait_for(ib, lambda: first.orderStatus.status == second.orderStatus.status == "Filled")


def test_fills_move_both_currencies_and_values_come_per_currency(ib: IB, sim: TwsSimulator) -> None:
    """Buy 10,000 EUR.USD at 1.0851: EUR +10,000, USD -10,851 - 2.00 commission (0.2 bp is 0.22,
    under the USD 2 minimum). Buy 10,000 USD.JPY at 150.01: USD +10,000 - 2.00, JPY -1,500,100.
    USD 1,000,000 - 10,853 + 9,998 = 999,145. BASE = 999,145 + 10,000 x 1.08505
    - 1,500,100 / 150.005 = 999,145 + 10,850.50 - 10,000.33 = 999,995.17, which is also the net
    liquidation (a pair's position is its currencies' cash, not counted twice)."""
    _quote_pairs(sim)
    _buy_both(ib)
    assert wait_for(ib, lambda: _values(ib, "CashBalance").get("JPY") == -1_500_100.0)
    cash = _values(ib, "CashBalance")
    assert cash["EUR"] == 10_000.0 and cash["USD"] == 999_145.0
    assert cash["BASE"] == pytest.approx(999_995.17, abs=0.005)
    assert _values(ib, "TotalCashBalance") == cash
    rates = _values(ib, "ExchangeRate")
    assert rates["USD"] == 1.0 and rates["EUR"] == pytest.approx(1.08505, rel=1e-8)
    assert rates["JPY"] == pytest.approx(1 / 150.005, rel=1e-7)
    assert _values(ib, "NetLiquidation") == {"USD": pytest.approx(999_995.17, abs=0.005)}
    assert _values(ib, "TotalCashValue") == {"USD": pytest.approx(999_995.17, abs=0.005)}
    book = sim.exchange.accounts["DU1234567"].balances
    assert book == {"USD": pytest.approx(999_145.0), "EUR": 10_000.0, "JPY": -1_500_100.0}


def test_portfolio_pnl_is_in_the_quote_currency(ib: IB, sim: TwsSimulator) -> None:
    """USD.JPY: avgCost (1,500,100 + 2 USD commission x 150.005 = 300.01 JPY) / 10,000
    = 150.040001 JPY; marked at the mid 150.005: value 1,500,050, unrealized -350.01 JPY.
    EUR.USD: avgCost (10,851 + 2) / 10,000 = 1.0853; value 10,850.50; unrealized -2.50 USD.
    Selling the 10,000 USD.JPY at 150.00 realizes 10,000 x (150.00 - 150.040001) - 300.01
    = -700.02 JPY; the JPY balance is then -100 and the ledger's RealizedPnL -700.02 JPY,
    -700.02 / 150.005 = -4.67 in BASE."""
    _quote_pairs(sim)
    _buy_both(ib)
    assert wait_for(ib, lambda: len([p for p in ib.portfolio() if p.position]) == 2)
    lines = {p.contract.localSymbol: p for p in ib.portfolio()}
    jpy, eur = lines["USD.JPY"], lines["EUR.USD"]
    assert jpy.contract.currency == "JPY"
    assert (jpy.marketPrice, jpy.marketValue) == (pytest.approx(150.005), pytest.approx(1_500_050.0))
    assert jpy.averageCost == pytest.approx(150.040001, rel=1e-9)
    assert jpy.unrealizedPNL == pytest.approx(-350.01, abs=1e-6)
    assert eur.averageCost == pytest.approx(1.0853, rel=1e-12)
    assert eur.unrealizedPNL == pytest.approx(-2.50, abs=1e-6)

    sell = ib.placeOrder(Forex("USDJPY"), MarketOrder("SELL", 10_000))
    assert wait_for(ib, lambda: bool(sell.fills) and sell.fills[0].commissionReport.realizedPNL != 0)
    assert sell.fills[0].commissionReport.realizedPNL == pytest.approx(-700.02, abs=1e-6)
    assert wait_for(ib, lambda: _values(ib, "CashBalance").get("JPY") == -100.0)
    realized = _values(ib, "RealizedPnL")
    assert realized["JPY"] == pytest.approx(-700.02, abs=0.005)
    assert realized["BASE"] == pytest.approx(-4.67, abs=0.005)


def test_the_ledger_in_the_account_summary(ib: IB, sim: TwsSimulator) -> None:
    """ib_insync asks for ``$LEDGER:ALL``: every currency's CashBalance and BASE's come back."""
    _quote_pairs(sim)
    _buy_both(ib)
    assert wait_for(ib, lambda: _values(ib, "CashBalance").get("JPY") == -1_500_100.0)
    rows = {(v.tag, v.currency): float(v.value) for v in ib.accountSummary() if v.tag != "AccountType"}
    assert rows[("CashBalance", "EUR")] == 10_000.0
    assert rows[("CashBalance", "JPY")] == -1_500_100.0
    assert rows[("CashBalance", "BASE")] == pytest.approx(999_995.17, abs=0.005)
    assert rows[("NetLiquidation", "USD")] == pytest.approx(999_995.17, abs=0.005)


def test_a_cross_trades_through_a_rate_and_is_refused_without_one(ib: IB, sim: TwsSimulator) -> None:
    """EUR.GBP with no pair linking GBP to USD quoted: refused, naming the missing rate. With
    EUR.USD quoted too (GBP -> USD = 1.08505 / 0.85505 through EUR), buying 10,000 EUR.GBP at
    0.8551 fills: EUR +10,000, GBP -8,551."""
    sim.set_quote("EUR.GBP", 0.8550, 0.8551, None, bid_size=1e6, ask_size=1e6)
    messages: list[str] = []
    ib.errorEvent += lambda req_id, code, msg, contract: messages.append(msg)
    pair = Forex("EURGBP")
    ib.qualifyContracts(pair)
    refused = ib.placeOrder(pair, MarketOrder("BUY", 10_000))
    assert wait_for(ib, lambda: refused.orderStatus.status == "Cancelled")
    assert any("No exchange rate from GBP to the account's base currency USD" in m for m in messages)

    sim.set_quote("EUR.USD", 1.0850, 1.0851, None, bid_size=1e6, ask_size=1e6)
    trade = ib.placeOrder(pair, MarketOrder("BUY", 10_000))
    assert wait_for(ib, lambda: trade.orderStatus.status == "Filled")
    balances = sim.exchange.accounts["DU1234567"].balances
    assert (balances["EUR"], balances["GBP"]) == (10_000.0, pytest.approx(-8_551.0))
    assert balances["USD"] == pytest.approx(1_000_000.0 - 2.0)


def test_borrowing_a_currency_beyond_available_funds_is_refused(sim: TwsSimulator, ib: IB) -> None:
    """1,000,000 USD of funds: selling 1,000,000 EUR not held borrows EUR worth 1,085,050 USD
    (at the mid) + 21.70 commission (0.2 bp of 1,085,100 at the ask) -> refused; selling
    10,000 EUR after buying them borrows nothing."""
    _quote_pairs(sim)
    messages: list[str] = []
    ib.errorEvent += lambda req_id, code, msg, contract: messages.append(msg)
    pair = Forex("EURUSD")
    ib.qualifyContracts(pair)
    big = ib.placeOrder(pair, MarketOrder("SELL", 1_000_000))
    assert wait_for(ib, lambda: big.orderStatus.status == "Cancelled")
    assert any("Insufficient funds: the order needs 1085071.70 USD" in m for m in messages)
    buy = ib.placeOrder(pair, MarketOrder("BUY", 10_000))
    assert wait_for(ib, lambda: buy.orderStatus.status == "Filled")
    sell = ib.placeOrder(pair, MarketOrder("SELL", 10_000))
    assert wait_for(ib, lambda: sell.orderStatus.status == "Filled")
    assert sim.exchange.accounts["DU1234567"].balances["EUR"] == 0.0
