"""Portfolio optimizers: equal weight, inverse volatility, minimum variance, maximum Sharpe,
mean-variance, risk parity, hierarchical risk parity, minimum CVaR and Black-Litterman, all under one
set of :class:`Constraints` (caps, sector caps, long-only, cash buffer, turnover, floors).

:func:`optimize` is the entry point; the individual functions take arrays and a compiled
:class:`FeasibleSet` (``compile_constraints``). scipy is imported only inside the solvers, so
importing this package costs numpy and pandas only.
"""

from engine.portfolio.optimize.api import Method, optimize
from engine.portfolio.optimize.black_litterman import Posterior, Views, implied_returns, posterior
from engine.portfolio.optimize.constraints import (
    Constraints,
    FeasibleSet,
    binding,
    compile_constraints,
    violations,
)
from engine.portfolio.optimize.cvar import historical_cvar, min_cvar
from engine.portfolio.optimize.estimators import (
    PERIODS_PER_YEAR,
    covariance,
    expected_returns,
    ledoit_wolf,
    returns_matrix,
    sample_covariance,
)
from engine.portfolio.optimize.heuristics import equal_weight, inverse_volatility
from engine.portfolio.optimize.hrp import hierarchical_risk_parity, quasi_diagonal_order, recursive_bisection
from engine.portfolio.optimize.mean_variance import max_sharpe, mean_variance, min_variance
from engine.portfolio.optimize.projection import water_fill
from engine.portfolio.optimize.result import OptimizationResult, Solution
from engine.portfolio.optimize.risk_parity import risk_contributions, risk_parity

__all__ = [
    "PERIODS_PER_YEAR",
    "Constraints",
    "FeasibleSet",
    "Method",
    "OptimizationResult",
    "Posterior",
    "Solution",
    "Views",
    "binding",
    "compile_constraints",
    "covariance",
    "equal_weight",
    "expected_returns",
    "hierarchical_risk_parity",
    "historical_cvar",
    "implied_returns",
    "inverse_volatility",
    "ledoit_wolf",
    "max_sharpe",
    "mean_variance",
    "min_cvar",
    "min_variance",
    "optimize",
    "posterior",
    "quasi_diagonal_order",
    "recursive_bisection",
    "returns_matrix",
    "risk_contributions",
    "risk_parity",
    "sample_covariance",
    "violations",
    "water_fill",
]
