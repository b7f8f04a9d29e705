"""FX and futures money in the account currency (issue 20, item 1), against hand-worked figures.

Rates used throughout (all marked at NOW unless a test ages them): EURUSD 1.1000, USDJPY 150.00,
GBPUSD 1.2500, EURGBP 0.8500. A USD account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from engine.brokers.ibkr import contracts as ib_contracts
from engine.model import AssetClass, Fill, OrderRequest, RefusalCode, Side, TradingState
from engine.model.fx import (
    Mark,
    RateRefused,
    card_pip_details,
    conversion_rate,
    exposure_in_account,
    lot_step,
    pip_value,
    pip_value_in_quote,
    pips_between,
    pnl_in_account,
    pnl_in_quote,
    round_to_lot,
    round_to_tick,
    size_from_stop,
)
from engine.model.instruments import CURRENCIES, FUTURE_ROOTS, InstrumentSpec, spec_for_symbol
from engine.portfolio.ledger import Ledger
from engine.risk.pretrade import BookView, Limits, check_conversion, check_order_size, pre_trade

NOW = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
MAX_AGE = 300.0
EURUSD, USDJPY, EURGBP = (spec_for_symbol(s) for s in ("EURUSD", "USDJPY", "EURGBP"))


def marks_at(ts: datetime = NOW, **prices: float) -> Callable[[str], Mark | None]:
    table = {"EURUSD": 1.1000, "USDJPY": 150.00, "GBPUSD": 1.2500, "EURGBP": 0.8500} | prices
    return lambda pair: Mark(table[pair], ts, "test") if pair in table else None


MARKS = marks_at()


def test_specs_of_bare_symbols_carry_the_fx_and_futures_conventions() -> None:
    assert (EURUSD.asset_class, EURUSD.currency, EURUSD.pip_size, EURUSD.calendar) == (
        AssetClass.FX,
        "USD",
        0.0001,
        "24/5",
    )
    assert (USDJPY.currency, USDJPY.pip_size) == ("JPY", 0.01)
    assert EURGBP.currency == "GBP"
    es = spec_for_symbol("ESZ26")
    assert (es.asset_class, es.multiplier, es.tick_size, es.exchange) == (
        AssetClass.FUTURE,
        50.0,
        0.25,
        "CME",
    )
    assert spec_for_symbol("AAPL").asset_class is AssetClass.STOCK


def test_the_ibkr_adapter_reads_currencies_and_roots_from_the_instrument_model() -> None:
    assert ib_contracts.CURRENCIES is CURRENCIES
    assert ib_contracts.FUTURE_ROOTS is FUTURE_ROOTS
    contract = ib_contracts.contract_of("ESZ26")
    assert contract is not None and contract.multiplier == "50"


# ------------------------------------------------------------------------------------ pip value
def test_pip_value_eurusd_is_ten_dollars_per_standard_lot() -> None:
    assert pip_value_in_quote(EURUSD) == pytest.approx(10.0)
    value, rate = pip_value(EURUSD, "USD", MARKS, NOW, MAX_AGE)
    assert value == pytest.approx(10.0)
    assert rate.route == ()  # quoted in the account currency: no conversion


def test_pip_value_usdjpy_is_1000_yen_converted_at_usdjpy() -> None:
    assert pip_value_in_quote(USDJPY) == pytest.approx(1_000.0)
    value, rate = pip_value(USDJPY, "USD", MARKS, NOW, MAX_AGE)
    assert value == pytest.approx(1_000.0 / 150.0)  # 6.6667 USD
    assert rate.route == ("USDJPY^-1",) and rate.age_s == 0.0
    assert "USDJPY^-1" in rate.describe() and "0 s old" in rate.describe()


def test_pip_value_of_a_cross_converts_through_its_quote_currency_pair() -> None:
    value, rate = pip_value(EURGBP, "USD", MARKS, NOW, MAX_AGE)
    assert value == pytest.approx(10.0 * 1.25)  # 10 GBP x GBPUSD
    assert rate.route == ("GBPUSD",)


def test_a_route_through_usd_when_no_direct_pair_is_quoted() -> None:
    rate = conversion_rate("JPY", "GBP", MARKS, NOW, MAX_AGE)  # JPY->USD->GBP
    assert rate.route == ("USDJPY^-1", "GBPUSD^-1")
    assert rate.rate == pytest.approx(1 / 150.0 / 1.25)


def test_a_mini_lot_pip_value_and_pips_between() -> None:
    assert pip_value_in_quote(EURUSD, 10_000) == pytest.approx(1.0)
    assert pips_between(EURUSD, 1.1000, 1.1037) == 37.0
    assert pips_between(USDJPY, 150.00, 149.25) == 75.0
    with pytest.raises(ValueError, match="not a currency pair"):
        pip_value_in_quote(spec_for_symbol("AAPL"))


# ------------------------------------------------------------------------------------ P&L
def test_pnl_in_the_account_currency_for_eurusd_usdjpy_and_a_cross() -> None:
    eur, _ = pnl_in_account(EURUSD, 100_000, 1.1000, 1.1050, "USD", MARKS, NOW, MAX_AGE)
    assert eur == pytest.approx(500.0)  # 50 pips x 10 USD
    marks = marks_at(USDJPY=151.00)
    assert pnl_in_quote(USDJPY, 100_000, 150.00, 151.00) == pytest.approx(100_000.0)  # JPY
    jpy, rate = pnl_in_account(USDJPY, 100_000, 150.00, 151.00, "USD", marks, NOW, MAX_AGE)
    assert jpy == pytest.approx(100_000.0 / 151.0)  # converted at the current rate: 662.25
    assert rate.rate == pytest.approx(1 / 151.0)
    cross, _ = pnl_in_account(EURGBP, -50_000, 0.8500, 0.8450, "USD", MARKS, NOW, MAX_AGE)
    assert cross == pytest.approx(250.0 * 1.25)  # short 50k, 50 pips: 250 GBP = 312.50 USD


def test_exposure_in_the_account_currency() -> None:
    value, _ = exposure_in_account(USDJPY, -100_000, 150.00, "USD", MARKS, NOW, MAX_AGE)
    assert value == pytest.approx(100_000.0)  # 15,000,000 JPY
    value, _ = exposure_in_account(EURGBP, 100_000, 0.85, "USD", MARKS, NOW, MAX_AGE)
    assert value == pytest.approx(85_000 * 1.25)


def test_a_future_pnl_uses_its_multiplier_in_the_ledger() -> None:
    ts = NOW
    led = Ledger(100_000.0)
    led.apply_fill(Fill("F1", "OT-1", "ESZ26", Side.BUY, 2, 5_000.00, 0.0, ts))
    assert led.cash == pytest.approx(100_000.0 - 2 * 5_000 * 50)
    assert led.mark("ESZ26", 5_010.00)
    assert led.equity == pytest.approx(100_000.0 + 2 * 10 * 50)  # 10 points x 2 x 50 = 1,000
    pos = led.apply_fill(Fill("F2", "OT-2", "ESZ26", Side.SELL, 2, 5_020.25, 0.0, ts))
    assert pos.realized_pnl == pytest.approx(20.25 * 2 * 50)  # 2,025
    assert pnl_in_quote(spec_for_symbol("CLF27"), -3, 70.00, 69.50) == pytest.approx(1_500.0)


# ------------------------------------------------------------------------------------ lots, sizing
def test_lot_rounding_is_toward_zero_and_respects_the_minimum() -> None:
    assert round_to_lot(EURUSD, 12_345, "micro") == 12_000
    assert round_to_lot(EURUSD, 12_345, "mini") == 10_000
    assert round_to_lot(EURUSD, 12_345, "standard") == 0.0
    assert round_to_lot(EURUSD, -12_345, "micro") == -12_000
    assert round_to_lot(EURUSD, 2_999.0, "micro") == 2_000  # never up
    assert round_to_lot(EURUSD, 3_000.0000000001, "micro") == 3_000  # float noise is not a lot less
    big_min = replace(EURUSD, min_lot=20_000)
    assert round_to_lot(big_min, 12_345, "mini") == 0.0
    assert round_to_lot(big_min, 25_000, "mini") == 20_000
    assert lot_step(spec_for_symbol("ESZ26")) == 1.0
    with pytest.raises(ValueError, match="unknown lot 'nano'"):
        round_to_lot(EURUSD, 1_000, "nano")


def test_fx_sizing_from_a_stop_in_pips() -> None:
    size = size_from_stop(EURUSD, 1_000.0, 25, "USD", MARKS, NOW, MAX_AGE)
    assert (size.units, size.lots, size.risk) == (400_000, 4.0, pytest.approx(1_000.0))
    odd = size_from_stop(EURUSD, 1_000.0, 37, "USD", MARKS, NOW, MAX_AGE)
    assert odd.units == 270_000 and odd.risk == pytest.approx(999.0)  # 2.7027 lots rounded down
    assert size_from_stop(EURUSD, 1_000.0, 37, "USD", MARKS, NOW, MAX_AGE, lot="standard").units == 200_000
    jpy = size_from_stop(USDJPY, 500.0, 30, "USD", MARKS, NOW, MAX_AGE)
    assert jpy.units == 250_000 and jpy.pip_value_per_lot == pytest.approx(1_000 / 150)
    assert jpy.risk == pytest.approx(30 * (1_000 / 150) * 2.5)  # stop pips x pip value x lots


def test_sizing_below_one_lot_is_refused_with_the_arithmetic() -> None:
    size = size_from_stop(EURUSD, 5.0, 100, "USD", MARKS, NOW, MAX_AGE)
    assert size.units == 0.0
    assert "500 units" in size.refused and "micro lot (1,000)" in size.refused
    with pytest.raises(ValueError, match="positive number of pips"):
        size_from_stop(EURUSD, 100.0, 0, "USD", MARKS, NOW, MAX_AGE)


# ------------------------------------------------------------------------------------ stale rates
def test_a_stale_conversion_rate_is_refused_not_guessed() -> None:
    old = marks_at(NOW - timedelta(minutes=10))
    with pytest.raises(RateRefused) as caught:
        pip_value(USDJPY, "USD", old, NOW, MAX_AGE)
    assert caught.value.code is RefusalCode.FX_RATE_STALE
    assert "USDJPY^-1" in caught.value.reason and "600 s ago" in caught.value.reason
    # the quote currency is the account's: no rate needed, nothing stale
    assert pip_value(EURUSD, "USD", old, NOW, MAX_AGE)[0] == pytest.approx(10.0)


def test_a_missing_conversion_rate_is_refused() -> None:
    with pytest.raises(RateRefused) as caught:
        conversion_rate("CHF", "USD", MARKS, NOW, MAX_AGE)
    assert caught.value.code is RefusalCode.FX_RATE_MISSING and "CHFUSD" in caught.value.reason


LIMITS = Limits(
    max_order_value=25_000, max_order_quantity=1_000_000, max_position_pct=1.0, gross_exposure_limit=5.0
)
BOOK = BookView(
    trading_state=TradingState.ACTIVE,
    halted_reason="",
    equity=100_000.0,
    cash=100_000.0,
    positions={},
    prices={"USDJPY": 150.0},
    working={},
    working_buy_value=0.0,
    gross_exposure=0.0,
    tradable=frozenset({"USDJPY"}),
)


def test_order_limits_compare_the_value_in_the_account_currency() -> None:
    order = OrderRequest("USDJPY", Side.BUY, 1_000)  # 150,000 JPY = 1,000 USD
    refused = check_order_size(order, BOOK, LIMITS)
    assert refused is not None and refused.code is RefusalCode.MAX_ORDER_VALUE  # read as 150,000 "dollars"
    assert check_order_size(order, replace(BOOK, to_account={"USDJPY": 1 / 150}), LIMITS) is None
    big = OrderRequest("USDJPY", Side.BUY, 30_000)  # 30,000 USD
    assert check_order_size(big, replace(BOOK, to_account={"USDJPY": 1 / 150}), LIMITS) is not None


def test_a_stale_rate_refuses_the_order_with_its_code_and_lets_the_way_out_through() -> None:
    problem = (RefusalCode.FX_RATE_STALE, "the JPY->USD rate was last marked 600 s ago")
    book = replace(BOOK, to_account={}, conversion_problems={"USDJPY": problem})
    refused = pre_trade(OrderRequest("USDJPY", Side.BUY, 1_000), book, LIMITS)
    assert refused is not None and refused.code is RefusalCode.FX_RATE_STALE
    assert "600 s ago" in refused.message and "account currency" in refused.message
    assert check_conversion(OrderRequest("USDJPY", Side.SELL, 1_000, reduce_only=True), book, LIMITS) is None


def test_instrument_specs_validate_the_fx_conventions() -> None:
    with pytest.raises(ValueError, match="currency must be a 3-letter ISO code"):
        InstrumentSpec("EURUSD", currency="usd")


def test_a_pair_card_states_its_size_in_pips_and_lots() -> None:
    prices = {"USDJPY": 150.00, "EURUSD": 1.1000}
    details = card_pip_details("USDJPY", 150.00, 149.70, 250_000, prices, "USD", NOW)
    assert details["fx:stop_pips"] == 30.0
    assert details["fx:pip_value_per_lot"] == pytest.approx(1_000 / 150)
    assert details["fx:lots"] == 2.5
    assert details["fx:risk"] == pytest.approx(500.0)  # 30 pips x 6.667 x 2.5
    assert card_pip_details("AAPL", 100.0, 95.0, 10, prices, "USD", NOW) == {}
    assert card_pip_details("EURGBP", 0.85, 0.84, 10_000, prices, "USD", NOW) == {}  # no GBP rate


def test_card_prices_round_to_the_instruments_tick() -> None:
    assert round_to_tick(123.456, 0.01) == 123.46  # a stock: as before
    assert round_to_tick(1.083749, spec_for_symbol("EURUSD").tick_size) == 1.08375  # not 1.08
    assert round_to_tick(5_001.13, spec_for_symbol("ESZ26").tick_size) == 5_001.25
