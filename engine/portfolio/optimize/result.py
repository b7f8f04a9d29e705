"""What the optimizers hand back: :class:`Solution` (arrays, one solver run), :class:`OptimizationResult`."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine.portfolio.optimize.constraints import FloatArray


@dataclass(frozen=True, slots=True)
class Solution:
    """Weights in the order of the feasible set's symbols, the objective value reached, and the solver's word.

    ``status`` is 0 on success (scipy's convention); closed-form and heuristic methods report 0 and
    describe themselves in ``message``.
    """

    weights: FloatArray
    objective: float
    status: int
    message: str

    @property
    def success(self) -> bool:
        return self.status == 0


@dataclass(frozen=True, slots=True)
class OptimizationResult:
    """One optimizer's answer, in symbols.

    ``expected_return`` and ``volatility`` are annualised (252 days) for the whole book: cash earns
    the risk-free rate and has no variance, so ``expected_return = mu @ w + rf * cash`` and
    ``volatility = sqrt(w @ cov @ w)``. ``risk_contributions`` are each asset's share of the variance,
    ``w_i (cov w)_i / (w @ cov @ w)`` (they sum to 1). ``binding`` names the active inequality
    constraints (see :func:`engine.portfolio.optimize.constraints.binding`). ``objective`` is the value
    the method minimised or maximised (variance, Sharpe ratio, CVaR, ...) and NaN for heuristics.
    """

    method: str
    weights: pd.Series
    cash: float
    expected_return: float
    volatility: float
    sharpe: float
    risk_contributions: pd.Series
    binding: tuple[str, ...]
    objective: float
    status: int
    message: str

    @property
    def success(self) -> bool:
        return self.status == 0
