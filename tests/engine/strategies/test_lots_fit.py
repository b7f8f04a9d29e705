"""A card's legs in lots (issue 20): an FX leg sized from its stop in pips (risk = stop pips x
pip value x lots) in micro lots, a leg in another currency converted, a coin rounded to its lot
step, a stock's shares as the template gave them, and a card below the minimum lot held back
with its reason. Hand-worked numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.model import AssetClass, Leg, Side
from engine.model.instruments import InstrumentSpec
from engine.strategies.lots_fit import BELOW_MIN_LOT, NO_RATE, fit_to_lots
from engine.strategies.templates.base import CardLegs

ASOF = datetime(2017, 8, 1, 20, 0, tzinfo=UTC)
SPECS = {
    "EURUSD": InstrumentSpec.default("EURUSD", AssetClass.FX),
    "USDJPY": InstrumentSpec.default("USDJPY", AssetClass.FX),
    "BTCUSD": InstrumentSpec.default("BTCUSD", AssetClass.CRYPTO, lot_size=0.0001, min_lot=0.0001),
    "7203": InstrumentSpec(
        "7203", exchange="XTKS", calendar="XTKS", currency="JPY", lot_size=100, min_lot=100
    ),
}
PRICES = {"EURUSD": 1.1000, "USDJPY": 110.00, "BTCUSD": 40_000.0, "AAPL": 150.0, "7203": 2_000.0}


def fit(legs: tuple[Leg, ...], *, stop: float | None = None, risk: float = 0.0) -> CardLegs:
    made = CardLegs(legs, sum(g.quantity * PRICES[g.symbol] for g in legs))
    return fit_to_lots(
        made, specs=SPECS, prices=PRICES, stop_price=stop, risk=risk, account_currency="USD", asof=ASOF
    )


def test_an_eurusd_leg_is_sized_from_its_stop_in_pips() -> None:
    """1,000 USD on a 37-pip stop at 10 USD a pip a lot: 2.7027 lots, 270,000 units in micro lots,
    risking 999 USD (never more than the budget)."""
    out = fit((Leg("EURUSD", Side.BUY, 123.0),), stop=1.0963, risk=1_000.0)
    assert out.legs[0].quantity == 270_000.0
    assert out.details["fx:lots"] == pytest.approx(2.70)
    assert out.capital == pytest.approx(270_000 * 1.1)


def test_a_usdjpy_leg_pays_its_pips_in_yen_converted() -> None:
    """A pip of a standard lot is 1,000 JPY = 9.0909 USD at 110; 1,000 USD on a 40-pip stop is
    1,000 / (40 x 9.0909) = 2.75 lots = 275,000 units, a capital of 275,000 USD (a unit is a dollar)."""
    out = fit((Leg("USDJPY", Side.BUY, 5.0),), stop=109.60, risk=1_000.0)
    assert out.legs[0].quantity == 275_000.0
    assert out.capital == pytest.approx(275_000.0)


def test_a_basket_leg_in_yen_is_converted_and_rounded_to_micro_lots() -> None:
    # the hook sized 20,000 USD of USDJPY as 20,000 / 110 = 181.8 "shares"
    out = fit((Leg("USDJPY", Side.BUY, 181.8181),))
    assert out.legs[0].quantity == 19_000.0  # 19,999.99 units rounded down to micro lots
    tokyo = fit(
        (Leg("7203", Side.BUY, 2.5),)
    )  # 2.5 x 110 = 275 shares; whole lots of 100? a stock keeps them
    assert tokyo.legs[0].quantity == pytest.approx(275.0)


def test_a_coin_rounds_to_its_lot_step_and_a_stock_keeps_its_shares() -> None:
    out = fit((Leg("BTCUSD", Side.BUY, 0.123456), Leg("AAPL", Side.BUY, 10.5)))
    assert [leg.quantity for leg in out.legs] == [pytest.approx(0.1234), 10.5]


def test_a_card_below_the_minimum_lot_is_held_back_with_its_reason() -> None:
    coin = fit((Leg("BTCUSD", Side.BUY, 0.00005),))
    assert coin.unavailable == BELOW_MIN_LOT and not coin.legs
    assert coin.notes[-1] == "BTCUSD: 5e-05 rounds below the minimum lot 0.0001 (lot step 0.0001)"
    pair = fit((Leg("EURUSD", Side.BUY, 1.0),), stop=1.0900, risk=5.0)  # 100 pips: 5 USD buys 500 units
    assert pair.unavailable == BELOW_MIN_LOT
    assert "allows 500 units for 5.00 USD, below one micro lot (1,000)" in pair.notes[-1]


def test_a_leg_whose_currency_no_price_converts_is_held_back() -> None:
    prices = {"7203": 2_000.0}
    made = CardLegs((Leg("7203", Side.BUY, 1.0),), 2_000.0)
    out = fit_to_lots(
        made, specs=SPECS, prices=prices, stop_price=None, risk=0.0, account_currency="USD", asof=ASOF
    )
    assert out.unavailable == NO_RATE and "no price of a pair converts JPY into USD" in out.notes[-1]
