"""Black-Scholes prices and Greeks of European options, and the book's Greeks in money.

Generalised Black-Scholes with a continuous dividend yield q (Merton): the underlying's forward
is S e^{(r-q)T}. Scalar ``math`` rather than ``scipy.stats``: a book holds a handful of options,
a call costs microseconds, and the risk worker never pays for importing scipy.stats. The normal
CDF is written with ``erfc`` so deep out-of-the-money prices keep their relative precision.
The implied-volatility solver is the one place that imports scipy (``optimize``), lazily.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from engine.model.options import OptionContract, is_option_symbol
from engine.model.risk import Greeks

Right = Literal["C", "P"]

DAYS_PER_YEAR = 365.0
"""Theta is reported per calendar day (time to expiry runs on weekends too)."""

POINT = 0.01
"""Vega and rho are reported per point: one volatility point, one rate point."""

MAX_IMPLIED_VOLATILITY = 10.0
"""1000%: a price that needs more than this is treated as a bad quote, not solved for."""

_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x * _INV_SQRT_2)


def _pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@dataclass(frozen=True, slots=True)
class OptionGreeks:
    """Price and sensitivities of ONE option on ONE unit of the underlying, in model units.

    delta: d price / d S; gamma: d delta / d S; vega: d price / d sigma (per 1.00 of volatility);
    theta: -d price / d T (per year); rho: d price / d r (per 1.00 of rate).
    ``book_greeks`` converts these to the desk's money units.
    """

    price: float
    delta: float
    gamma: float
    vega: float
    theta: float
    rho: float


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionPosition:
    """A European option holding with the market inputs its Greeks need.

    Keyword-only: eleven numbers in a row are too easy to pass in the wrong order.
    ``quantity`` is in contracts, negative when short; one contract covers ``multiplier`` units.
    Rates and yields are continuously compounded, per year.
    """

    symbol: str
    underlying: str
    right: Right
    strike: float
    expiry_years: float
    quantity: float
    multiplier: float = 100.0
    underlying_price: float
    volatility: float
    rate: float
    dividend_yield: float = 0.0

    def __post_init__(self) -> None:
        _check_inputs(
            self.right,
            self.underlying_price,
            self.strike,
            self.expiry_years,
            self.volatility,
            self.rate,
            self.dividend_yield,
            what=self.symbol,
        )
        if not (math.isfinite(self.quantity) and math.isfinite(self.multiplier) and self.multiplier > 0):
            raise ValueError(
                f"{self.symbol}: quantity must be finite and multiplier positive "
                f"(got {self.quantity}, {self.multiplier})"
            )


def _check_inputs(
    right: str,
    underlying_price: float,
    strike: float,
    expiry_years: float,
    volatility: float,
    rate: float,
    dividend_yield: float,
    *,
    what: str = "option",
) -> None:
    if right not in ("C", "P"):
        raise ValueError(f"{what}: right must be 'C' or 'P', got {right!r}")
    numbers = {
        "underlying price": underlying_price,
        "strike": strike,
        "expiry": expiry_years,
        "volatility": volatility,
        "rate": rate,
        "dividend yield": dividend_yield,
    }
    for name, number in numbers.items():
        if not math.isfinite(number):
            raise ValueError(f"{what}: {name} is not finite ({number})")
    if underlying_price <= 0.0 or strike <= 0.0:
        raise ValueError(
            f"{what}: underlying price and strike must be positive ({underlying_price}, {strike})"
        )
    if expiry_years < 0.0 or volatility < 0.0:
        raise ValueError(f"{what}: expiry and volatility cannot be negative ({expiry_years}, {volatility})")


def black_scholes(
    right: Right,
    *,
    underlying_price: float,
    strike: float,
    expiry_years: float,
    volatility: float,
    rate: float,
    dividend_yield: float = 0.0,
) -> OptionGreeks:
    """Price and Greeks of a European call or put under Black-Scholes with dividend yield.

    At expiry (T = 0) or with zero volatility the option is worth its discounted intrinsic value
    S e^{-qT} - K e^{-rT} (or the reverse for a put) and the Greeks are that expression's
    derivatives: delta steps from 0 to e^{-qT}, gamma and vega are zero. That limit is taken
    explicitly instead of dividing by sigma sqrt(T), so an expiring option never yields a NaN.
    """
    _check_inputs(right, underlying_price, strike, expiry_years, volatility, rate, dividend_yield)
    s, k, t, sigma = underlying_price, strike, expiry_years, volatility
    sign = 1.0 if right == "C" else -1.0
    carry = math.exp(-dividend_yield * t)
    discount = math.exp(-rate * t)
    forward_s = s * carry
    pv_k = k * discount
    root_t = math.sqrt(t)
    spread = sigma * root_t
    if spread <= 0.0:
        intrinsic = sign * (forward_s - pv_k)
        if intrinsic <= 0.0:
            return OptionGreeks(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return OptionGreeks(
            price=intrinsic,
            delta=sign * carry,
            gamma=0.0,
            vega=0.0,
            theta=sign * (dividend_yield * forward_s - rate * pv_k),
            rho=sign * t * pv_k,
        )
    d1 = (math.log(s / k) + (rate - dividend_yield + 0.5 * sigma * sigma) * t) / spread
    d2 = d1 - spread
    n1 = _cdf(sign * d1)
    n2 = _cdf(sign * d2)
    density = _pdf(d1)
    return OptionGreeks(
        price=max(0.0, sign * (forward_s * n1 - pv_k * n2)),
        delta=sign * carry * n1,
        gamma=carry * density / (s * spread),
        vega=forward_s * density * root_t,
        theta=(
            -forward_s * density * sigma / (2.0 * root_t)
            - sign * rate * pv_k * n2
            + sign * dividend_yield * forward_s * n1
        ),
        rho=sign * t * pv_k * n2,
    )


def position_greeks(position: OptionPosition) -> OptionGreeks:
    """Model Greeks (per unit of underlying) of one position's option."""
    return black_scholes(
        position.right,
        underlying_price=position.underlying_price,
        strike=position.strike,
        expiry_years=position.expiry_years,
        volatility=position.volatility,
        rate=position.rate,
        dividend_yield=position.dividend_yield,
    )


def option_positions(
    positions: Mapping[str, float],
    underlying_prices: Mapping[str, float],
    vols: Mapping[str, float],
    asof: datetime,
    rate: float,
) -> list[OptionPosition]:
    """The book's option holdings as ``book_greeks`` takes them, in symbol order.

    ``positions`` is the ledger's symbol -> signed quantity (contracts for options); stocks and
    flat positions are passed over. Each option is read from its OCC symbol (underlying, right,
    strike, expiry; multiplier 100) and priced with its underlying's price and volatility (keyed
    by the underlying), ``rate``, and the time from ``asof`` to its expiry close (0 once past:
    an expired, unsettled option counts at intrinsic). Pure: nothing is looked up elsewhere.

    Raises ValueError naming the option when its underlying has no price or no volatility (an
    option silently left out would understate the desk's Greeks) or an input is not usable;
    ``asof`` must carry a zone.
    """
    if asof.tzinfo is None:
        raise ValueError(f"asof {asof!r} carries no zone")
    out: list[OptionPosition] = []
    for symbol, quantity in sorted(positions.items()):
        if quantity == 0.0 or not is_option_symbol(symbol):
            continue
        contract = OptionContract.parse(symbol)
        underlying = contract.underlying
        if underlying not in underlying_prices:
            raise ValueError(f"{symbol}: no price for its underlying {underlying}")
        if underlying not in vols:
            raise ValueError(f"{symbol}: no volatility for its underlying {underlying}")
        out.append(
            OptionPosition(
                symbol=symbol,
                underlying=underlying,
                right=contract.right,
                strike=contract.strike,
                expiry_years=contract.years_to_expiry(asof),
                quantity=float(quantity),
                multiplier=contract.multiplier,
                underlying_price=float(underlying_prices[underlying]),
                volatility=float(vols[underlying]),
                rate=rate,
            )
        )
    return out


def book_greeks(options: Sequence[OptionPosition]) -> Greeks:
    """The book's Greeks in money, as ``engine.model.risk.Greeks`` documents them.

    Each option's model Greeks times quantity x multiplier (units of underlying held), then:
    delta in money per $1 of the underlying, gamma in delta per $1, vega per volatility point
    (x 0.01), theta per calendar day (/ 365), rho per rate point (x 0.01). Summed across
    underlyings, so delta and gamma mix names: the desk's one-line book figure, not a hedge ratio.
    """
    delta = gamma = vega = theta = rho = 0.0
    for position in options:
        g = position_greeks(position)
        units = position.quantity * position.multiplier
        delta += units * g.delta
        gamma += units * g.gamma
        vega += units * g.vega * POINT
        theta += units * g.theta / DAYS_PER_YEAR
        rho += units * g.rho * POINT
    return Greeks(delta=delta, gamma=gamma, vega=vega, theta=theta, rho=rho)


def implied_volatility(
    price: float,
    *,
    right: Right,
    underlying_price: float,
    strike: float,
    expiry_years: float,
    rate: float,
    dividend_yield: float = 0.0,
) -> float:
    """The volatility at which Black-Scholes gives ``price`` (Brent's method on the price).

    The price is monotonic in volatility between the no-arbitrage bounds, discounted intrinsic
    value (volatility 0) and S e^{-qT} for a call / K e^{-rT} for a put (infinite volatility), so
    a root exists exactly when the price lies inside them. Outside, no volatility reproduces the
    quote and ValueError says which bound it broke; a price at the lower bound is volatility 0;
    one that needs more than ``MAX_IMPLIED_VOLATILITY`` is refused as a bad quote.
    """
    _check_inputs(right, underlying_price, strike, expiry_years, 0.0, rate, dividend_yield)
    if not math.isfinite(price):
        raise ValueError(f"option price is not finite ({price})")
    if expiry_years <= 0.0:
        raise ValueError("implied volatility is undefined at expiry (expiry_years must be positive)")
    sign = 1.0 if right == "C" else -1.0
    forward_s = underlying_price * math.exp(-dividend_yield * expiry_years)
    pv_k = strike * math.exp(-rate * expiry_years)
    lower = max(0.0, sign * (forward_s - pv_k))
    upper = forward_s if right == "C" else pv_k
    slack = 1e-12 * max(upper, 1.0)
    if price < lower - slack:
        raise ValueError(
            f"price {price:.6g} is below the no-arbitrage lower bound {lower:.6g} "
            f"(discounted intrinsic value): no volatility gives it"
        )
    if price >= upper:
        bound = "S*exp(-qT)" if right == "C" else "K*exp(-rT)"
        raise ValueError(
            f"price {price:.6g} is at or above the no-arbitrage upper bound {upper:.6g} ({bound}): "
            f"no finite volatility gives it"
        )
    if price <= lower:
        return 0.0

    def excess(sigma: float) -> float:
        model = black_scholes(
            right,
            underlying_price=underlying_price,
            strike=strike,
            expiry_years=expiry_years,
            volatility=sigma,
            rate=rate,
            dividend_yield=dividend_yield,
        )
        return model.price - price

    if excess(MAX_IMPLIED_VOLATILITY) < 0.0:
        raise ValueError(
            f"price {price:.6g} needs a volatility above {MAX_IMPLIED_VOLATILITY:.0%}: treated as a bad quote"
        )
    from scipy.optimize import brentq  # lazy: scipy.optimize stays off the start-up path

    root = brentq(excess, 0.0, MAX_IMPLIED_VOLATILITY, xtol=1e-14, rtol=1e-12, maxiter=200)
    return float(root)
