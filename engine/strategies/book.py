"""What the generator knows about the account and the market when it sizes and checks cards.

``Book`` is a plain snapshot (no engine objects): equity, cash that is free to spend, held
quantities, prices, sectors, working orders and the limits. ``headroom`` turns it into the
largest capital a card with given leg weights may commit, and ``commit`` returns the book
with a shown card's legs added, so cards sized after it see what is left (sizing across cards).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.model import Leg, Side
from engine.model.instruments import InstrumentSpec
from engine.model.options import contract_multiplier, is_option_symbol
from engine.strategies.lots_fit import to_account_rate
from engine.strategies.templates.base import Array

HEADROOM = 0.95
"""Cards are sized to 95% of a limit, so a price move between the refresh and the key press does
not turn a valid card into a refused order."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_position_pct: float
    max_sector_pct: float
    max_order_value: float
    gross_exposure_limit: float
    max_adv_share: float
    """A leg may be at most this share of the symbol's average daily volume (shares)."""


@dataclass(frozen=True, slots=True)
class Book:
    equity: float
    cash: float
    """Cash free to spend: settled cash less what working buy orders will take."""
    positions: Mapping[str, float]
    prices: Mapping[str, float]
    sectors: Mapping[str, str]
    limits: Limits
    adv_shares: Mapping[str, float] = field(default_factory=dict)
    adv_value: Mapping[str, float] = field(default_factory=dict)
    working_symbols: frozenset[str] = frozenset()
    allow_short: bool = False
    allow_fractional: bool = True
    """Entry cards may size in fractions of a share."""
    broker_fractional: bool = True
    """The broker takes fractional quantities: a close card then closes a fractional position whole."""
    can_trade_options: bool = True
    returns: Mapping[str, Array] = field(default_factory=dict)
    """Each symbol's last daily returns (same length for all), for the book's correlation."""
    specs: Mapping[str, InstrumentSpec] = field(default_factory=dict)
    """Each symbol's conventions (currency, lots) where the market names them (issue 20)."""
    account_currency: str = "USD"
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """What ``gross``, ``sector_value`` and ``daily_returns`` computed for this book (it is frozen,
    and the generator asks them once per candidate: hundreds of times for one book)."""

    def rate(self, symbol: str) -> float:
        """Account currency per unit of ``symbol``'s currency at the book's prices (1 for the
        account currency's; 0 when no price converts it: such a symbol's value is not counted)."""
        spec = self.specs.get(symbol)
        if spec is None or spec.currency == self.account_currency:
            return 1.0
        rate = to_account_rate(spec.currency, self.account_currency, self.prices)
        return rate if rate is not None else 0.0

    def value(self, symbol: str) -> float:
        """A position's value in the account currency at the book's prices."""
        held = self.positions.get(symbol, 0.0)
        if not held:
            return 0.0
        return held * self.prices.get(symbol, 0.0) * contract_multiplier(symbol) * self.rate(symbol)

    def sector_of(self, symbol: str) -> str:
        underlying = symbol.split()[0] if is_option_symbol(symbol) else symbol
        return self.sectors.get(underlying, underlying)

    def sector_value(self, sector: str) -> float:
        key = ("sector", sector)
        if key not in self._memo:
            self._memo[key] = sum(
                self.value(s) for s in self.positions if self.sector_of(s) == sector and self.value(s) > 0
            )
        value: float = self._memo[key]
        return value

    @property
    def gross(self) -> float:
        if "gross" not in self._memo:
            self._memo["gross"] = sum(abs(self.value(s)) for s in self.positions)
        value: float = self._memo["gross"]
        return value

    def headroom(self, symbols: Sequence[str], weights: Array) -> tuple[float, str]:
        """Largest capital the limits allow for these leg weights, and the limit that binds, as
        ``kind:subject`` (``sector_limit:Technology``, ``position_limit:AAPL``) or ``kind`` alone
        (``buying_power``, ``gross_exposure``)."""
        caps: dict[str, float] = {}
        eq = self.equity
        lim = self.limits
        buys = [(s, float(w)) for s, w in zip(symbols, weights, strict=True) if w > 0]
        sells = [(s, float(-w)) for s, w in zip(symbols, weights, strict=True) if w < 0]
        buy_weight = sum(w for _s, w in buys)
        if buy_weight > 0:
            caps["buying_power"] = self.cash / buy_weight
        for sym, w in buys:
            room = lim.max_position_pct * eq - max(self.value(sym), 0.0)
            caps[f"position_limit:{sym}"] = room / w
        by_sector: dict[str, float] = {}
        for sym, w in buys:
            sector = self.sector_of(sym)
            by_sector[sector] = by_sector.get(sector, 0.0) + w
        for sector, w in by_sector.items():
            caps[f"sector_limit:{sector}"] = (lim.max_sector_pct * eq - self.sector_value(sector)) / w
        for sym, w in buys + sells:
            caps[f"order_value:{sym}"] = lim.max_order_value / w
            adv = self.adv_shares.get(sym, math.inf)
            price = self.prices.get(sym, 0.0)
            caps[f"illiquid:{sym}"] = lim.max_adv_share * adv * price * self.rate(sym) / w
        gross_w = sum(abs(float(w)) for w in weights)
        if gross_w > 0:
            caps["gross_exposure"] = (lim.gross_exposure_limit * eq - self.gross) / gross_w
        if not caps:
            return 0.0, "no_legs"
        code = min(caps, key=lambda k: caps[k])
        return max(caps[code], 0.0) * HEADROOM, code

    def commit(self, legs: Sequence[Leg]) -> Book:
        """The book as it would be with these legs filled at the current prices."""
        positions = dict(self.positions)
        cash = self.cash
        for leg in legs:
            signed = leg.quantity if leg.side is Side.BUY else -leg.quantity
            positions[leg.symbol] = positions.get(leg.symbol, 0.0) + signed
            price = self.prices.get(leg.symbol, 0.0) * self.rate(leg.symbol)
            cash -= signed * price * contract_multiplier(leg.symbol)
        return replace(self, positions=positions, cash=cash, working_symbols=self.working_symbols)

    def daily_returns(self) -> Array | None:
        """The book's daily returns over the kept window, value-weighted; None when flat."""
        if "returns" not in self._memo:
            self._memo["returns"] = self._daily_returns()
        out: Array | None = self._memo["returns"]
        return out

    def _daily_returns(self) -> Array | None:
        total = 0.0
        series: Array | None = None
        for sym in self.positions:
            value = self.value(sym)
            rets = self.returns.get(sym)
            if rets is None or value == 0:
                continue
            series = value * rets if series is None else series + value * rets
            total += abs(value)
        if series is None or total == 0:
            return None
        out: Array = series / total
        return out


def correlation(a: Array | None, b: Array | None) -> float:
    """Pearson correlation of the overlapping tails; 0 when either is missing or constant."""
    if a is None or b is None:
        return 0.0
    n = min(len(a), len(b))
    if n < 10:
        return 0.0
    x, y = a[-n:], b[-n:]
    if np.std(x) == 0 or np.std(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])
