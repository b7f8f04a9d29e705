"""Portfolio risk as the console and the log see it: VaR by method, concentration, Greeks, stress.

Money figures are in the account currency and are losses as positive numbers; shares of
equity are fractions. The report is a value: computed off the engine's loop and published
whole, so a reader never sees half of one recompute and half of the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class VarFigures:
    """One-day Value at Risk and Conditional VaR (expected shortfall) by one method, in money."""

    method: str
    """"historical", "parametric", "monte_carlo" or a ``[risk] var_method`` (engine.risk.var_models)."""
    var_95: float
    cvar_95: float
    var_99: float
    cvar_99: float


@dataclass(frozen=True, slots=True)
class Greeks:
    """Option sensitivities summed over the book, in money per unit move.

    delta: per $1 in the underlying; gamma: change of delta per $1; vega: per 1 volatility
    point (0.01); theta: per calendar day; rho: per 1 rate point (0.01).
    """

    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    rho: float = 0.0


@dataclass(frozen=True, slots=True)
class StressResult:
    """The current book under a named scenario: an instantaneous shock plus a volatility regime."""

    scenario: str
    shock: float
    """Equity market move applied through each holding's beta (e.g. -0.37)."""
    vol_multiplier: float
    pnl: float
    """Profit (negative: loss) of the shock, in money."""
    pnl_pct: float
    """``pnl`` as a share of equity."""
    var_99: float
    """One-day 99% parametric VaR after the shock with volatility scaled by ``vol_multiplier``."""


@dataclass(frozen=True, slots=True)
class VarBacktest:
    """The live book's VaR model rolled over its own recent history, and the verdict of its tests.

    Today's holdings are replayed over the last ``observations`` days; each day's VaR was
    forecast from the days before it only. ``recent`` is each of the last days' loss as a
    multiple of that day's VaR (above 1.0: an exceedance), oldest first, for the screen's chart.
    """

    method: str
    level: float
    observations: int
    exceedances: int
    expected: float
    kupiec_p: float
    christoffersen_p: float
    conditional_coverage_p: float
    es_p: float | None
    """McNeil-Frey's p-value; None with fewer than three exceedances."""
    recent: tuple[float, ...] = ()

    @property
    def passes(self) -> bool:
        return self.kupiec_p >= 0.05 and self.christoffersen_p >= 0.05


@dataclass(frozen=True, slots=True)
class RiskReport:
    """Everything the risk detail screen shows; ``symbols`` orders the correlation matrix."""

    asof: datetime
    equity: float
    gross_value: float
    var: tuple[VarFigures, ...] = ()
    volatility: float = 0.0
    """Annualised volatility of the book's daily P&L as a share of equity."""
    beta: float | None = None
    benchmark: str = ""
    symbols: tuple[str, ...] = ()
    correlation: tuple[tuple[float, ...], ...] = ()
    effective_positions: float = 0.0
    """1 / sum(w^2) over the holdings' weights: how many equal positions the book behaves like."""
    diversification_ratio: float = 1.0
    """Weighted sum of the holdings' volatilities over the portfolio volatility (>= 1)."""
    greeks: Greeks = field(default_factory=Greeks)
    stress: tuple[StressResult, ...] = ()
    window_days: int = 0
    """Sessions of history the figures were computed from."""
    scenarios: int = 0
    """Monte Carlo scenarios behind the ``monte_carlo`` figures."""
    var_method: str = ""
    """``[risk] var_method``: the model the screen leads with; its figures are in ``var``."""
    var_backtest: tuple[VarBacktest, ...] = ()
    """That model's backtest on the book's recent history, at 95% and 99% (empty: too little)."""
