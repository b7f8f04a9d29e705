"""Black-Scholes: textbook values, put-call parity, Greeks vs finite differences, implied vol."""

from __future__ import annotations

import itertools
import math

import pytest

from engine.model.risk import Greeks
from engine.risk.greeks import (
    OptionPosition,
    Right,
    black_scholes,
    book_greeks,
    implied_volatility,
)

CASES = [
    # (S, K, T, sigma, r, q)
    (100.0, 100.0, 1.0, 0.2, 0.05, 0.0),
    (42.0, 40.0, 0.5, 0.2, 0.10, 0.0),
    (100.0, 120.0, 0.25, 0.35, 0.03, 0.02),
    (250.0, 200.0, 2.0, 0.15, 0.01, 0.04),
    (50.0, 55.0, 0.05, 0.6, -0.005, 0.0),
]


def price(right: Right, s: float, k: float, t: float, sigma: float, r: float, q: float) -> float:
    return black_scholes(
        right, underlying_price=s, strike=k, expiry_years=t, volatility=sigma, rate=r, dividend_yield=q
    ).price


def test_textbook_values() -> None:
    assert price("C", 100, 100, 1, 0.2, 0.05, 0) == pytest.approx(10.450583572185565, abs=1e-10)
    assert price("P", 100, 100, 1, 0.2, 0.05, 0) == pytest.approx(5.573526022256971, abs=1e-10)
    # Hull, Options, Futures and Other Derivatives, example 15.6: c = 4.76, p = 0.81.
    assert price("C", 42, 40, 0.5, 0.2, 0.10, 0) == pytest.approx(4.76, abs=0.005)
    assert price("P", 42, 40, 0.5, 0.2, 0.10, 0) == pytest.approx(0.81, abs=0.005)


@pytest.mark.parametrize("case", CASES)
def test_put_call_parity(case: tuple[float, ...]) -> None:
    s, k, t, _, r, q = case
    parity = s * math.exp(-q * t) - k * math.exp(-r * t)
    assert price("C", *case) - price("P", *case) == pytest.approx(parity, abs=1e-10)


@pytest.mark.parametrize(("case", "right"), list(itertools.product(CASES, ("C", "P"))))
def test_greeks_match_central_differences(case: tuple[float, ...], right: Right) -> None:
    s, k, t, sigma, r, q = case
    g = black_scholes(
        right, underlying_price=s, strike=k, expiry_years=t, volatility=sigma, rate=r, dividend_yield=q
    )
    hs, hv, ht, hr = s * 1e-4, 1e-5, 1e-6, 1e-6
    delta = (price(right, s + hs, k, t, sigma, r, q) - price(right, s - hs, k, t, sigma, r, q)) / (2 * hs)
    gamma = (
        price(right, s + hs, k, t, sigma, r, q) - 2 * g.price + price(right, s - hs, k, t, sigma, r, q)
    ) / hs**2
    vega = (price(right, s, k, t, sigma + hv, r, q) - price(right, s, k, t, sigma - hv, r, q)) / (2 * hv)
    theta = -(price(right, s, k, t + ht, sigma, r, q) - price(right, s, k, t - ht, sigma, r, q)) / (2 * ht)
    rho = (price(right, s, k, t, sigma, r + hr, q) - price(right, s, k, t, sigma, r - hr, q)) / (2 * hr)
    assert g.delta == pytest.approx(delta, rel=1e-6, abs=1e-8)
    assert g.gamma == pytest.approx(gamma, rel=1e-4, abs=1e-6)
    assert g.vega == pytest.approx(vega, rel=1e-6, abs=1e-7)
    assert g.theta == pytest.approx(theta, rel=1e-5, abs=1e-6)
    assert g.rho == pytest.approx(rho, rel=1e-6, abs=1e-7)


def test_book_greeks_in_money_units() -> None:
    short_calls = OptionPosition(
        symbol="SPX 100C",
        underlying="SPX",
        right="C",
        strike=100.0,
        expiry_years=1.0,
        quantity=-3,
        underlying_price=100.0,
        volatility=0.2,
        rate=0.05,
    )
    long_puts = OptionPosition(
        symbol="SPX 95P",
        underlying="SPX",
        right="P",
        strike=95.0,
        expiry_years=0.5,
        quantity=2,
        multiplier=10,
        underlying_price=100.0,
        volatility=0.25,
        rate=0.05,
        dividend_yield=0.01,
    )
    c = black_scholes("C", underlying_price=100, strike=100, expiry_years=1, volatility=0.2, rate=0.05)
    p = black_scholes(
        "P",
        underlying_price=100,
        strike=95,
        expiry_years=0.5,
        volatility=0.25,
        rate=0.05,
        dividend_yield=0.01,
    )
    got = book_greeks([short_calls, long_puts])
    assert got.delta == pytest.approx(-300 * c.delta + 20 * p.delta)
    assert got.gamma == pytest.approx(-300 * c.gamma + 20 * p.gamma)
    assert got.vega == pytest.approx((-300 * c.vega + 20 * p.vega) / 100)
    assert got.theta == pytest.approx((-300 * c.theta + 20 * p.theta) / 365)
    assert got.rho == pytest.approx((-300 * c.rho + 20 * p.rho) / 100)
    assert book_greeks([]) == Greeks()


@pytest.mark.parametrize(("case", "right"), list(itertools.product(CASES, ("C", "P"))))
def test_implied_volatility_round_trip(case: tuple[float, ...], right: Right) -> None:
    s, k, t, sigma, r, q = case
    quoted = price(right, *case)
    solved = implied_volatility(
        quoted, right=right, underlying_price=s, strike=k, expiry_years=t, rate=r, dividend_yield=q
    )
    assert solved == pytest.approx(sigma, rel=1e-8)


def test_implied_volatility_refuses_prices_outside_bounds() -> None:
    common = {"underlying_price": 100.0, "strike": 80.0, "expiry_years": 1.0, "rate": 0.05}
    intrinsic = 100.0 - 80.0 * math.exp(-0.05)
    with pytest.raises(ValueError, match="lower bound"):
        implied_volatility(intrinsic - 0.5, right="C", **common)
    with pytest.raises(ValueError, match="upper bound"):
        implied_volatility(100.0, right="C", **common)
    with pytest.raises(ValueError, match="upper bound"):
        implied_volatility(80.0, right="P", **common)
    with pytest.raises(ValueError, match="expiry"):
        implied_volatility(1.0, right="P", **{**common, "expiry_years": 0.0})
    assert implied_volatility(intrinsic, right="C", **common) == 0.0


def test_expiry_and_zero_vol_limits_have_no_nan() -> None:
    itm = black_scholes("C", underlying_price=110, strike=100, expiry_years=0.0, volatility=0.3, rate=0.05)
    assert (itm.price, itm.delta, itm.gamma, itm.vega) == (10.0, 1.0, 0.0, 0.0)
    otm = black_scholes("P", underlying_price=110, strike=100, expiry_years=0.0, volatility=0.3, rate=0.05)
    assert otm == type(otm)(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    flat = black_scholes("P", underlying_price=90, strike=100, expiry_years=1.0, volatility=0.0, rate=0.0)
    assert flat.price == pytest.approx(10.0) and flat.delta == -1.0


def test_position_validation() -> None:
    with pytest.raises(ValueError, match="right"):
        OptionPosition(
            symbol="X",
            underlying="X",
            right="Q",  # type: ignore[arg-type]
            strike=1.0,
            expiry_years=1.0,
            quantity=1,
            underlying_price=1.0,
            volatility=0.2,
            rate=0.0,
        )
    with pytest.raises(ValueError, match="volatility"):
        black_scholes("C", underlying_price=100, strike=100, expiry_years=1, volatility=math.nan, rate=0.0)
