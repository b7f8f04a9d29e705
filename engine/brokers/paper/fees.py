"""What a paper order costs: the one ``CommissionSchedule`` (engine.model) applied fill by fill.

Shares pay per share with the order's minimum on its first fill only, capped by value, plus the
percentage; options pay per contract with the same minimum on the first fill (no cap, no
percentage). Money is quantity x price x the contract multiplier (1 for shares). The affordable
quantity of a buy (for a partial fill of what settled cash can pay) is solved here too.
"""

from __future__ import annotations

import math

from engine.brokers.paper.account import EPS
from engine.brokers.paper.options import OptionMarket
from engine.model import CommissionSchedule

#: The smallest fractional share the broker will compute an affordable quantity in.
FRACTION_STEP = 1e-6


class Fees:
    def __init__(self, schedule: CommissionSchedule, options: OptionMarket) -> None:
        self.schedule = schedule
        self._options = options

    def fee(self, symbol: str, qty: float, price: float, *, first: bool) -> float:
        """The commission of one fill; ``first``: the order's minimum is still due."""
        if self._options.contract(symbol) is None:
            return self.schedule.shares(qty, qty * price, first=first)
        return self.schedule.contracts(qty, first=first)

    def cost(self, symbol: str, qty: float, price: float, *, first: bool) -> float:
        """What buying ``qty`` of ``symbol`` at ``price`` takes from cash, commission included."""
        return qty * price * self._options.multiplier(symbol) + self.fee(symbol, qty, price, first=first)

    def affordable(self, symbol: str, budget: float, price: float, *, first: bool, fractional: bool) -> float:
        """The most of ``symbol`` whose cost plus commission fits ``budget`` (whole contracts for options)."""
        if budget <= 0:
            return 0.0
        if self._options.contract(symbol) is not None:
            return self._max_contracts(symbol, budget, price, first=first)
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

    def _max_contracts(self, symbol: str, budget: float, price: float, *, first: bool) -> float:
        per = price * self._options.multiplier(symbol) + self.schedule.per_contract
        qty = float(math.floor(budget / per))
        while qty > 0 and self.cost(symbol, qty, price, first=first) > budget + EPS:
            qty -= 1.0
        return qty
