"""How much capital a card commits: the smallest of four independent caps.

1. Risk budget: losing the card's stop distance may cost at most ``risk_per_position`` of
   equity: capital <= risk_per_position x equity / stop (stop as a fraction of capital).
2. Volatility target: the card may add at most ``vol_target`` of equity in annualised
   volatility: capital <= vol_target x equity / the card's annualised volatility.
3. Capped fractional Kelly, from the template's track record (win rate p, average win W and
   average loss L as fractions): full Kelly is p/L - (1-p)/W of equity; the card takes
   ``kelly_fraction`` of it, at most ``kelly_cap`` of equity, and nothing when it is <= 0
   (a history that does not pay is not a bet to size up).
4. Limits: position, sector, order value, gross exposure, cash and liquidity headroom
   (``engine.strategies.limits``), already net of what the book and working orders hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SizingPolicy:
    risk_per_position: float
    vol_target: float
    kelly_fraction: float
    kelly_cap: float


@dataclass(frozen=True, slots=True)
class Sizing:
    capital: float
    risk_budget: float
    by_risk: float
    by_vol: float
    by_kelly: float
    by_limits: float
    kelly: float
    """The capped fractional Kelly share of equity that ``by_kelly`` came from."""

    @property
    def binding(self) -> str:
        """Which cap decided the size: risk, vol, kelly or limits."""
        caps = {"risk": self.by_risk, "vol": self.by_vol, "kelly": self.by_kelly, "limits": self.by_limits}
        return min(caps, key=lambda k: caps[k])


def size_capital(
    *,
    equity: float,
    stop: float,
    vol_annual: float,
    kelly_full: float,
    by_limits: float,
    policy: SizingPolicy,
) -> Sizing:
    """Capital for one card. Non-finite or non-positive inputs size it to zero, never up."""
    budget = max(policy.risk_per_position * equity, 0.0)
    by_risk = budget / stop if math.isfinite(stop) and stop > 0 else 0.0
    by_vol = policy.vol_target * equity / vol_annual if math.isfinite(vol_annual) and vol_annual > 0 else 0.0
    kelly = min(policy.kelly_fraction * kelly_full, policy.kelly_cap) if math.isfinite(kelly_full) else 0.0
    kelly = max(kelly, 0.0)
    by_kelly = kelly * equity
    limits = max(by_limits, 0.0) if math.isfinite(by_limits) else 0.0
    capital = max(0.0, min(by_risk, by_vol, by_kelly, limits))
    return Sizing(capital, budget, by_risk, by_vol, by_kelly, limits, kelly)
