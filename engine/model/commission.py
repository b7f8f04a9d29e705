"""The one commission schedule: what the paper broker charges, the cost model expects and the
TWS simulator bills (IBKR's fixed pricing, roughly).

Shares: ``per_share`` a share with a ``minimum`` per order, capped at ``max_pct`` of the traded
value, plus ``pct`` of the value. Options: ``per_contract`` a contract with the same per-order
minimum, no cap and no percentage. The minimum is per order: who charges fill by fill decides
how it is spread (the paper broker charges it on an order's first fill; the simulator charges
each execution the growth of the order's total), and says so with ``first``.

Other asset classes (issue 20), each by its own rule: FX as IBKR IDEALPRO (``fx_bps`` of the
traded value in the account currency, at least ``fx_min`` per order), crypto a percentage of the
value (``crypto_pct``, at least ``crypto_min`` per order), futures ``future_per_contract`` a
contract. These default to 0 here (free: a schedule built in code for shares charges nothing
else); ``from_settings`` reads ``[broker]``'s defaults. Which rule a symbol pays and the
conversion into the account currency live with the paper broker (``engine.brokers.paper.commission``).

No defaults here: they live in ``[broker]`` (``config/default.toml`` and its schema) only, and
``CommissionSchedule.from_settings`` is the door from there. Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

DEFAULT_SPREAD_BPS = 2.0
"""Quoted spread assumed when only a price is known (the replay's ``[replay] spread_bps``)."""


class CommissionSettings(Protocol):
    """The ``[broker]`` settings a schedule is read from (``engine.config.BrokerSettings``)."""

    @property
    def commission_per_share(self) -> float: ...
    @property
    def commission_min(self) -> float: ...
    @property
    def commission_max_pct(self) -> float: ...
    @property
    def commission_per_contract(self) -> float: ...
    @property
    def commission_fx_bps(self) -> float: ...
    @property
    def commission_fx_min(self) -> float: ...
    @property
    def commission_crypto_pct(self) -> float: ...
    @property
    def commission_crypto_min(self) -> float: ...
    @property
    def commission_future_per_contract(self) -> float: ...


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    """Per share with a minimum per order, capped at a share of the order's value (IBKR fixed-like)."""

    per_share: float
    minimum: float
    max_pct: float
    per_contract: float
    """Options: per contract, with the same minimum per order and no cap."""
    pct: float = 0.0
    """A share of the traded value on top; ``[broker]`` has no key for it, so none is charged there."""
    fx_bps: float = 0.0
    """FX: basis points of the traded value, in the account currency (IDEALPRO: 0.2)."""
    fx_min: float = 0.0
    """FX: the least an order pays, in the account currency (IDEALPRO: 2 USD)."""
    crypto_pct: float = 0.0
    """Crypto: a fraction of the traded value (0.0018 = 0.18%)."""
    crypto_min: float = 0.0
    """Crypto: the least an order pays."""
    future_per_contract: float = 0.0
    """Futures: per contract, no minimum."""

    @classmethod
    def from_settings(cls, broker: CommissionSettings) -> CommissionSchedule:
        """The one door from ``[broker]`` to the schedule the paper broker, the cost model and the
        card planner all charge."""
        return cls(
            per_share=broker.commission_per_share,
            minimum=broker.commission_min,
            max_pct=broker.commission_max_pct,
            per_contract=broker.commission_per_contract,
            fx_bps=broker.commission_fx_bps,
            fx_min=broker.commission_fx_min,
            crypto_pct=broker.commission_crypto_pct,
            crypto_min=broker.commission_crypto_min,
            future_per_contract=broker.commission_future_per_contract,
        )

    def __post_init__(self) -> None:
        names = ("per_share", "minimum", "max_pct", "pct", "per_contract")
        for name in (*names, "fx_bps", "fx_min", "crypto_pct", "crypto_min", "future_per_contract"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"commission schedule: {name} must be a finite number >= 0, got {value!r}")

    def shares(self, quantity: float, value: float, *, first: bool = True) -> float:
        """Commission on ``quantity`` shares traded for ``value`` money.

        ``first``: the order's minimum is due (its first fill, or the whole order at once).
        The value cap applies only to a positive value: a free trade still pays the minimum.
        """
        base = self.per_share * quantity
        if first:
            base = max(self.minimum, base)
        if value > 0:
            base = min(base, self.max_pct * value)
        return base + self.pct * value

    def contracts(self, quantity: float, *, first: bool = True) -> float:
        """Commission on ``quantity`` option contracts: per contract, the order's minimum when ``first``."""
        base = self.per_contract * quantity
        return max(self.minimum, base) if first else base

    def fx(self, value: float, *, first: bool = True) -> float:
        """Commission on an FX trade of ``value`` in the account currency: ``fx_bps`` of it, at
        least ``fx_min`` when the order's minimum is due."""
        base = self.fx_bps * 1e-4 * abs(value)
        return max(self.fx_min, base) if first else base

    def crypto(self, value: float, *, first: bool = True) -> float:
        """Commission on a coin trade of ``value``: ``crypto_pct`` of it, at least ``crypto_min``
        when the order's minimum is due."""
        base = self.crypto_pct * abs(value)
        return max(self.crypto_min, base) if first else base

    def futures(self, contracts: float) -> float:
        """Commission on ``contracts`` futures: per contract, no minimum."""
        return self.future_per_contract * abs(contracts)

    def commission(self, quantity: float, price: float) -> float:
        """The commission of one whole order of ``quantity`` shares at ``price`` (0 for nothing)."""
        if quantity <= 0:
            return 0.0
        return self.shares(quantity, quantity * price)

    def option_order(self, contracts: float) -> float:
        """The commission of one whole order of ``contracts`` options (0 for nothing)."""
        return self.contracts(contracts) if contracts > 0 else 0.0
