"""The paper option market: model quotes for listed equity options, and their expiry settlement.

Nothing quotes options in the replay, so the broker makes their market from a model:
Black-Scholes (``engine.risk.greeks.black_scholes``) on the underlying's latest mid, the
volatility the engine gives the underlying (``set_volatility``), the ``rate`` and the time left
to the expiry close at the underlying quote's timestamp, with a half-spread of
``engine.model.options.model_half_spread`` (max(0.025, 1% of the model price)), the bid rounded
down and the ask up to a uniform 0.01 tick (the penny tick; listed options above 3.00 mostly
trade in 0.05, which this does not model).

At the close of an option's expiry day every position in it is settled in cash at its
intrinsic value against the underlying's close, by a broker-made order whose id starts with
``SETTLEMENT_PREFIX`` (``settlements`` lists them; the broker journals and reports them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from engine.brokers.base import SettlementHook
from engine.brokers.paper.account import EPS, Holding
from engine.model import (
    OptionContract,
    Order,
    OrderStatus,
    Quote,
    Side,
    contract_multiplier,
    is_option_symbol,
)
from engine.model.options import MODEL_HALF_SPREAD_PCT, MODEL_MIN_HALF_SPREAD, model_half_spread
from engine.risk.greeks import black_scholes

log = logging.getLogger(__name__)

#: Fill prices are rounded to this many decimals (a hundredth of a cent).
PRICE_DECIMALS = 4
#: Model option quotes are rounded to this tick (bid down, ask up).
OPTION_TICK = 0.01
#: The model's half-spread: this much at least, in premium per unit of the underlying ...
OPTION_MIN_HALF_SPREAD = MODEL_MIN_HALF_SPREAD
#: ... or this fraction of the model price when that is more.
OPTION_HALF_SPREAD_PCT = MODEL_HALF_SPREAD_PCT
#: Client order ids of the broker's own expiry settlements start with this (never the engine's "OT-").
SETTLEMENT_PREFIX = "EXPIRY-"

__all__ = [
    "OPTION_HALF_SPREAD_PCT",
    "OPTION_MIN_HALF_SPREAD",
    "OPTION_TICK",
    "PRICE_DECIMALS",
    "SETTLEMENT_PREFIX",
    "OptionMarket",
    "SettlementHook",
    "as_announced",
]


class OptionMarket:
    """Which symbols are options, what the model quotes them at, and what expires when."""

    def __init__(self, rate: float) -> None:
        if not math.isfinite(rate):
            raise ValueError(f"paper broker: option_rate must be a finite number, got {rate!r}")
        self.rate = rate
        self._vols: dict[str, float] = {}
        self._contracts: dict[str, OptionContract | None] = {}

    def contract(self, symbol: str) -> OptionContract | None:
        """The option ``symbol`` names, None for anything else (parsed once per symbol)."""
        try:
            return self._contracts[symbol]
        except KeyError:
            contract = OptionContract.parse(symbol) if is_option_symbol(symbol) else None
            self._contracts[symbol] = contract
            return contract

    def multiplier(self, symbol: str) -> float:
        """An option's contract multiplier; a known future's contract size; 1 for shares."""
        contract = self.contract(symbol)
        return contract.multiplier if contract is not None else contract_multiplier(symbol)

    def set_volatility(self, underlying: str, sigma: float) -> None:
        if not (math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"paper broker: the volatility of {underlying} must be >= 0, got {sigma!r}")
        self._vols[underlying] = sigma

    def has_volatility(self, underlying: str) -> bool:
        return underlying in self._vols

    def quote(self, symbol: str, quotes: Mapping[str, Quote]) -> Quote | None:
        """The model's quote of an option now, or None (not an option, no volatility, no underlying quote).

        Stamped with the underlying quote's time; ``last`` is the model price itself, rounded to
        a hundredth of a cent, and the sizes are 0 (no option volume is modelled).
        """
        contract = self.contract(symbol)
        if contract is None:
            return None
        sigma = self._vols.get(contract.underlying)
        underlying = quotes.get(contract.underlying)
        if sigma is None or underlying is None:
            return None
        model = black_scholes(
            contract.right,
            underlying_price=underlying.mid,
            strike=contract.strike,
            expiry_years=contract.years_to_expiry(underlying.ts),
            volatility=sigma,
            rate=self.rate,
        )
        price = model.price
        half = model_half_spread(price)
        return Quote(
            symbol=symbol,
            ts=underlying.ts,
            bid=max(_tick_down(price - half), 0.0),
            ask=_tick_up(price + half),
            last=round(price, PRICE_DECIMALS),
            bid_size=0.0,
            ask_size=0.0,
            last_size=0.0,
            volume=0.0,
        )

    def expires_by(self, symbol: str, day: date) -> bool:
        contract = self.contract(symbol)
        return contract is not None and contract.expiry <= day

    def settlements(
        self,
        day: date,
        holdings: Mapping[str, Holding],
        closes: Mapping[str, float],
        quotes: Mapping[str, Quote],
    ) -> list[list[Any]]:
        """[client id, symbol, side, contracts, intrinsic price, underlying close] per expiring position.

        The close is ``closes[underlying]`` when given, else the last trade of its latest quote;
        an option whose underlying has no price is left open (logged) for a later close.
        """
        out: list[list[Any]] = []
        for symbol, holding in sorted(holdings.items()):
            contract = self.contract(symbol)
            if contract is None or contract.expiry > day or abs(holding.quantity) <= EPS:
                continue
            close = closes.get(contract.underlying)
            if close is None:
                quote = quotes.get(contract.underlying)
                close = quote.last if quote is not None else None
            if close is None or not (math.isfinite(close) and close > 0):
                log.error(
                    "paper broker: %s expired on %s but %s has no price; it stays open until a close has one",
                    symbol,
                    contract.expiry.isoformat(),
                    contract.underlying,
                )
                continue
            coid = f"{SETTLEMENT_PREFIX}{day.isoformat()}-{symbol.replace(' ', '')}"
            side = Side.SELL if holding.quantity > 0 else Side.BUY
            intrinsic = round(contract.intrinsic(close), PRICE_DECIMALS)
            out.append([coid, symbol, side.value, abs(holding.quantity), intrinsic, close])
        return out


def as_announced(order: Order) -> Order:
    """A settlement order as the engine first records it: acknowledged, nothing filled yet."""
    return replace(
        order,
        status=OrderStatus.ACKNOWLEDGED,
        filled_quantity=0.0,
        avg_fill_price=None,
        updated_at=order.created_at,
    )


def _tick_down(price: float) -> float:
    """``price`` rounded down to the option tick (a hair of float noise is not a tick)."""
    return round(math.floor(price / OPTION_TICK + 1e-9) * OPTION_TICK, 2)


def _tick_up(price: float) -> float:
    return round(math.ceil(price / OPTION_TICK - 1e-9) * OPTION_TICK, 2)
