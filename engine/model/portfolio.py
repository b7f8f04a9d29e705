"""Positions, the account and the risk state the console shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.model.enums import TradingState
from engine.model.options import contract_multiplier


@dataclass(frozen=True, slots=True)
class Position:
    """A net position marked to ``last``. P&L figures are money, commissions included in realized.

    ``quantity`` is in contracts for an option (OCC symbol) and ``avg_cost`` and ``last`` are its
    premium per unit of the underlying, so its money figures multiply by ``contract_multiplier``.
    """

    symbol: str
    quantity: float
    avg_cost: float
    last: float
    realized_pnl: float = 0.0
    day_open_value: float = 0.0

    @property
    def multiplier(self) -> float:
        """Units of the underlying one unit held covers: 100 for an option, 1 for a stock."""
        return contract_multiplier(self.symbol)

    @property
    def market_value(self) -> float:
        """Signed value in money: quantity x last x the contract multiplier."""
        return self.quantity * self.last * self.multiplier

    @property
    def unrealized_pnl(self) -> float:
        return self.quantity * (self.last - self.avg_cost) * self.multiplier


@dataclass(frozen=True, slots=True)
class CashBalance:
    """One currency's cash, and its value in the account currency with the rate that made it
    (``engine.model.cash``). ``rate`` and ``in_account`` are NaN when no route converts it
    (``note`` says why): such a balance is left out of equity rather than counted at a guess."""

    currency: str
    amount: float
    in_account: float
    rate: float
    note: str
    """The rate's route, source and age (``ConversionRate.describe()``), or why there is none."""


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Cash account figures. ``settled_cash`` excludes proceeds not yet settled (T+1)."""

    cash: float
    equity: float
    gross_exposure: float
    realized_pnl: float
    unrealized_pnl: float
    day_pnl: float
    start_of_day_equity: float
    peak_equity: float
    commissions: float = 0.0
    cash_by_currency: tuple[CashBalance, ...] = ()
    """Each currency's cash with its rate into the account currency (``cash`` is their sum
    converted); empty for a book that only ever held the account currency."""
    account_currency: str = "USD"

    @property
    def drawdown(self) -> float:
        """Fraction below the peak equity, >= 0."""
        if self.peak_equity <= 0:
            return 0.0
        return max(0.0, 1.0 - self.equity / self.peak_equity)


@dataclass(frozen=True, slots=True)
class RiskState:
    """What the risk gauges show; limits are the configured ones."""

    trading_state: TradingState
    gross_exposure: float
    gross_limit: float
    day_loss: float
    day_loss_limit: float
    drawdown: float
    drawdown_limit: float
    var_95: float
    var_limit: float
    halted_reason: str = ""
    halted_at: datetime | None = None
    kill_level: int = 0
    """0: none; 1: halted, orders cancelled; 2: also flattening every position."""
    paused_strategies: tuple[str, ...] = ()
    """Templates paused by a breaker or the repeat-fill throttle, until an operator resumes them."""
    var_method: str = "historical"
    """The model behind ``var_95``: ``[risk] var_method`` once a risk report covers the book."""
