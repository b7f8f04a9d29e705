"""What a paper order costs: the one ``CommissionSchedule`` (engine.model) applied fill by fill,
by the rule of the symbol's asset class.

Shares pay per share with the order's minimum on its first fill only, capped by value, plus the
percentage; options pay per contract with the same minimum on the first fill (no cap, no
percentage). A currency pair pays IDEALPRO's rule (``fx_bps`` of the value in the account
currency, at least ``fx_min`` on the first fill), a coin ``crypto_pct`` of its value (at least
``crypto_min``), a future ``future_per_contract`` a contract. Money is quantity x price x the
contract multiplier (1 for shares).

The commission of a fill is stated in the fill's currency (the quote currency, which the ledger
and the broker debit: ``engine.model.cash``): the FX and crypto rules are in the account currency,
so their amount is converted at the fill's own price where the pair is against the account
currency (USDJPY: 1 / price), else at the broker's rate for the quote currency. Which asset class
a symbol is: the market's instruments say (``classes``, unless they only say "stock", the
default), else its name (an OCC option, a known
future, a pair of ISO currencies), else a stock. The affordable quantity of a buy (for a partial
fill of what settled cash can pay) is solved here too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from engine.brokers.paper.account import EPS
from engine.brokers.paper.options import OptionMarket
from engine.model import CommissionSchedule
from engine.model.cash import Currencies
from engine.model.enums import AssetClass
from engine.model.instruments import future_parts, fx_pair

#: Quote currency -> account currency per unit (0.0 when unknown); the broker's marks.
Rate = Callable[[str], float]

#: The smallest fractional share the broker will compute an affordable quantity in.
FRACTION_STEP = 1e-6


class Fees:
    def __init__(
        self,
        schedule: CommissionSchedule,
        options: OptionMarket,
        *,
        currencies: Currencies | None = None,
        classes: Mapping[str, AssetClass] | None = None,
    ) -> None:
        self.schedule = schedule
        self._options = options
        self._currencies = currencies or Currencies()
        self._classes = dict(classes or {})
        self.rate: Rate = lambda _currency: 0.0
        """Set by the broker once its state can price currencies (``PaperState.rate``)."""

    def asset_class(self, symbol: str) -> AssetClass | None:
        """The rule ``symbol`` pays by: None for an option (per contract), else its asset class."""
        if self._options.contract(symbol) is not None:
            return None
        listed = self._classes.get(symbol, AssetClass.STOCK)
        if listed is not AssetClass.STOCK:  # the default class says nothing: the name may
            return listed
        if future_parts(symbol) is not None:
            return AssetClass.FUTURE
        return AssetClass.FX if fx_pair(symbol) is not None else AssetClass.STOCK

    def fee(self, symbol: str, qty: float, price: float, *, first: bool) -> float:
        """The commission of one fill, in the fill's currency; ``first``: the order's minimum is still due."""
        kind = self.asset_class(symbol)
        s = self.schedule
        if kind is None:
            return s.contracts(qty, first=first)
        if kind is AssetClass.FUTURE:
            return s.futures(qty)
        if kind not in (AssetClass.FX, AssetClass.CRYPTO):
            return s.shares(qty, qty * price, first=first)
        value = qty * price * self._options.multiplier(symbol)
        rate = self._to_account(symbol, price)
        if not rate > 0:  # no rate: the engine's checks refuse such a trade; charge the value rule only
            return s.fx(value, first=False) if kind is AssetClass.FX else s.crypto(value, first=False)
        charged = (
            s.fx(value * rate, first=first) if kind is AssetClass.FX else s.crypto(value * rate, first=first)
        )
        return charged / rate

    def _to_account(self, symbol: str, price: float) -> float:
        """Account currency per unit of ``symbol``'s quote currency: 1 in the account currency, the
        fill's own price inverted for a pair based on it (USDJPY), else the broker's rate."""
        currencies = self._currencies
        quote = currencies.of(symbol)
        if quote == currencies.account:
            return 1.0
        if currencies.base_of(symbol) == currencies.account and price > 0:
            return 1.0 / price
        return self.rate(quote)

    def cost(self, symbol: str, qty: float, price: float, *, first: bool) -> float:
        """What buying ``qty`` of ``symbol`` at ``price`` takes from cash, commission included."""
        return qty * price * self._options.multiplier(symbol) + self.fee(symbol, qty, price, first=first)

    def affordable(self, symbol: str, budget: float, price: float, *, first: bool, fractional: bool) -> float:
        """The most of ``symbol`` whose cost plus commission fits ``budget`` (whole contracts for options)."""
        if budget <= 0:
            return 0.0
        kind = self.asset_class(symbol)
        if kind is None or kind is AssetClass.FUTURE:
            return self._max_contracts(symbol, budget, price, first=first)
        if kind in (AssetClass.FX, AssetClass.CRYPTO):
            return self._max_by_value(symbol, budget, price, first=first)
        return self._max_shares(budget, price, first=first, fractional=fractional)

    def _max_shares(self, budget: float, price: float, *, first: bool, fractional: bool) -> float:
        """Cost is ``q*p*(1+pct) + min(max(m, s*q), cap*q*p)``: the minimum of two increasing
        functions, so the affordable set is ``q <= max(limit of either branch)``, solved in
        closed form and then rounded down to the share step (whole or fractional)."""
        s = self.schedule
        grow = price * (1.0 + s.pct)
        minimum = s.minimum if first else 0.0
        capped = budget / (grow + price * s.max_pct)
        uncapped = min((budget - minimum) / grow, budget / (grow + s.per_share))
        step = FRACTION_STEP if fractional else 1.0
        qty = math.floor(max(capped, uncapped, 0.0) / step) * step
        while qty > 0 and qty * price + s.shares(qty, qty * price, first=first) > budget + EPS:
            qty = max(qty - step, 0.0)
        return qty

    def _max_by_value(self, symbol: str, budget: float, price: float, *, first: bool) -> float:
        """FX and crypto: the most steps whose cost (value plus a fee that grows with it) fits,
        by bisection on whole steps (the cost is increasing in the quantity)."""
        unit = price * self._options.multiplier(symbol)
        low, high = 0, math.floor(budget / unit / FRACTION_STEP)
        while low < high:
            mid = (low + high + 1) // 2
            if self.cost(symbol, mid * FRACTION_STEP, price, first=first) <= budget + EPS:
                low = mid
            else:
                high = mid - 1
        return low * FRACTION_STEP

    def _max_contracts(self, symbol: str, budget: float, price: float, *, first: bool) -> float:
        per = price * self._options.multiplier(symbol) + (
            self.schedule.per_contract
            if self.asset_class(symbol) is None
            else self.schedule.future_per_contract
        )
        qty = float(math.floor(budget / per))
        while qty > 0 and self.cost(symbol, qty, price, first=first) > budget + EPS:
            qty -= 1.0
        return qty
