"""A card's legs in what each instrument can be ordered in (issue 20): lots, minimums, currencies.

A template's hook sizes legs as capital / price, which is right for a dollar stock. Here:

* a currency pair's one-leg card with a stop is sized from the stop in pips: risk per trade =
  stop pips x pip value per lot x lots (``engine.model.fx.size_from_stop``), the risk being the
  card's loss at its stop as the generic sizing set it (capital x stop fraction), rounded down to
  micro lots (1,000 units of the base currency) and the instrument's ``min_lot``;
* any leg in another currency than the account's is converted: units = capital / (price x rate)
  (a USDJPY unit costs 1 USD, not 110);
* a pair, a coin or a future is rounded down to its lot step and refused below its minimum lot
  (0.0001 BTC when the instruments file says so; a stock keeps what the hook gave it, whole
  shares, or fractions where the desk allows them);
* a leg that rounds to nothing holds the whole card back, with the reason (``BELOW_MIN_LOT``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from engine.model import AssetClass, Leg, contract_multiplier, is_option_symbol
from engine.model.fx import (
    Mark,
    RateRefused,
    conversion_rate,
    pips_between,
    round_to_lot,
    size_from_stop,
)
from engine.model.instruments import InstrumentSpec, spec_for_symbol
from engine.strategies.templates.base import CardLegs

BELOW_MIN_LOT = "below_min_lot"
"""The code of a card held back because a leg rounds below its instrument's minimum lot."""
NO_RATE = "no_fx_rate"
"""The code of a card held back because no price in its snapshot converts a leg's currency."""
LOTTED = frozenset({AssetClass.FX, AssetClass.CRYPTO, AssetClass.FUTURE})
"""Asset classes whose legs are rounded to their lot step (stocks keep the hook's shares)."""


_SNAPSHOT = datetime(2000, 1, 1, tzinfo=UTC)
"""The instant of a price snapshot's marks: a card's prices are one snapshot, so no rate in it
has an age (the pre-trade checks measure the live rate's age when the card is executed)."""


def snapshot_marks(prices: Mapping[str, float], asof: datetime = _SNAPSHOT) -> Mapping[str, Mark]:
    """The card's price snapshot as FX marks (same instant as the card: no age)."""
    return {s: Mark(p, asof, "card prices") for s, p in prices.items() if p > 0}


def to_account_rate(currency: str, account: str, prices: Mapping[str, float]) -> float | None:
    """Account currency per unit of ``currency`` from a snapshot of prices; None without a route."""
    if currency == account:
        return 1.0
    try:
        return conversion_rate(currency, account, snapshot_marks(prices).get, _SNAPSHOT, math.inf).rate
    except RateRefused:
        return None


def lotted(symbols: Sequence[str], specs: Mapping[str, InstrumentSpec]) -> bool:
    """Every symbol trades in lot steps that ``fit_to_lots`` rounds to (toward zero): the legs
    before it may be fractional, else a coin at 40,000 USD floors to no unit before its 0.0001
    step is reached (an intraday BTC card)."""
    return bool(symbols) and all(
        (specs.get(sym) or spec_for_symbol(sym)).asset_class in LOTTED and not is_option_symbol(sym)
        for sym in symbols
    )


def fit_to_lots(
    made: CardLegs,
    *,
    specs: Mapping[str, InstrumentSpec],
    prices: Mapping[str, float],
    stop_price: float | None,
    risk: float,
    account_currency: str,
    asof: datetime,
) -> CardLegs:
    """``made``'s legs in lots and in the account currency (see the module docstring)."""
    if not made.legs:
        return made
    legs: list[Leg] = []
    details = dict(made.details)
    capital = 0.0
    for leg in made.legs:
        if is_option_symbol(leg.symbol):
            legs.append(leg)
            capital += leg.quantity * prices.get(leg.symbol, 0.0) * contract_multiplier(leg.symbol)
            continue
        spec = specs.get(leg.symbol) or spec_for_symbol(leg.symbol)
        price = prices.get(leg.symbol, 0.0)
        rate = to_account_rate(spec.currency, account_currency, prices)
        if rate is None:
            why = f"{leg.symbol}: no price of a pair converts {spec.currency} into {account_currency}"
            return replace(made, legs=(), unavailable=NO_RATE, notes=(*made.notes, why))
        if spec.asset_class is AssetClass.FX and len(made.legs) == 1 and stop_price and risk > 0:
            size = size_from_stop(
                spec,
                risk,
                pips_between(spec, price, stop_price),
                account_currency,
                snapshot_marks(prices, asof).get,
                asof,
                math.inf,
            )
            if size.refused:
                return replace(made, legs=(), unavailable=BELOW_MIN_LOT, notes=(*made.notes, size.refused))
            quantity = size.units
            details.update({"fx:risk_budget": risk, "fx:lots": size.lots})
        else:
            quantity = leg.quantity / rate if rate != 1.0 else leg.quantity
            if spec.asset_class in LOTTED:
                quantity = abs(round_to_lot(spec, quantity))
                if quantity == 0.0:
                    why = (
                        f"{leg.symbol}: {leg.quantity / rate:.8g} rounds below the minimum lot "
                        f"{spec.min_lot:g} (lot step {_step(spec):g})"
                    )
                    return replace(made, legs=(), unavailable=BELOW_MIN_LOT, notes=(*made.notes, why))
        legs.append(replace(leg, quantity=quantity))
        capital += quantity * price * spec.multiplier * rate
    return replace(made, legs=tuple(legs), capital=capital, details=details)


def _step(spec: InstrumentSpec) -> float:
    return max(1_000.0, spec.lot_size) if spec.asset_class is AssetClass.FX else spec.lot_size
