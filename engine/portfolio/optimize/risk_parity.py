"""Risk parity (equal risk contribution, Maillard-Roncalli-Teiletche 2010).

Asset ``i`` contributes ``RC_i = w_i (S w)_i`` to the variance ``w'Sw`` (the contributions sum to it).
Risk parity asks for ``RC_i / w'Sw = b_i`` with budgets ``b`` (equal: ``1/n``).

Unconstrained, the long-only solution is unique and found from Spinu's (2013) convex problem
``min_y  y'Sy / 2 - sum_i b_i log y_i`` (``y > 0``): its first-order condition is
``y_i (S y)_i = b_i``, so ``w = s y / sum(y)`` has exactly the budgeted contributions. It is solved by
Newton's method (gradient ``Sy - b/y``, Hessian ``S + diag(b/y^2)``), with the step halved until ``y``
stays positive and the objective falls. With a diagonal ``S`` it is inverse volatility.

If that portfolio breaks a constraint (caps, sectors, turnover), exact parity is out of reach; the
answer is then the feasible ``w`` closest to it in contributions: ``min sum_i (RC_i / w'Sw - b_i)^2``
by SLSQP, started from the water-filled parity weights. Risk parity is long-only by construction
(``log y``), whatever ``long_only`` says.
"""

from __future__ import annotations

import numpy as np

from engine.portfolio.optimize.constraints import FeasibleSet, FloatArray, violations
from engine.portfolio.optimize.projection import limit_turnover, water_fill
from engine.portfolio.optimize.qp import minimize_over
from engine.portfolio.optimize.result import Solution


def risk_contributions(w: FloatArray, cov: FloatArray) -> FloatArray:
    """Each asset's share of the variance, ``w_i (S w)_i / w'Sw``."""
    sw = cov @ w
    return np.asarray(w * sw / float(w @ sw), dtype=np.float64)


def spinu_newton(
    cov: FloatArray, budgets: FloatArray, tol: float = 1e-14, max_steps: int = 100
) -> FloatArray:
    """``y > 0`` with ``y_i (S y)_i = b_i`` by damped Newton on Spinu's convex objective."""

    def objective(y: FloatArray) -> float:
        return float(0.5 * y @ cov @ y - budgets @ np.log(y))

    y = 1.0 / np.sqrt(np.diag(cov))
    y *= np.sqrt(budgets.sum() / float(y @ cov @ y))
    value = objective(y)
    for _ in range(max_steps):
        grad = cov @ y - budgets / y
        if float(np.abs(grad * y).max()) <= tol * float(budgets.max()):
            break
        step = np.linalg.solve(cov + np.diag(budgets / y**2), grad)
        t = 1.0
        while np.any(y - t * step <= 0.0) or objective(y - t * step) > value + 1e-15 * abs(value):
            t *= 0.5
            if t < 1e-12:
                return y
        y = y - t * step
        value = objective(y)
    return y


def risk_parity(cov: FloatArray, fs: FeasibleSet, budgets: FloatArray | None = None) -> Solution:
    """Equal (or budgeted) risk contributions; ``objective`` is ``sum (RC_i/w'Sw - b_i)^2``."""
    b = np.full(fs.n, 1.0 / fs.n) if budgets is None else np.asarray(budgets, dtype=np.float64)
    if b.shape != (fs.n,) or np.any(b <= 0.0):
        raise ValueError("risk budgets must be positive, one per asset")
    b = b / b.sum()
    y = spinu_newton(cov, b)
    parity = fs.invested * y / y.sum()

    def deviation(w: FloatArray) -> tuple[float, FloatArray]:
        sw = cov @ w
        var = float(w @ sw)
        rc = w * sw / var
        gap = rc - b
        jac = (np.diag(sw) + w[:, None] * cov) / var - np.outer(rc, 2.0 * sw / var)
        return float(gap @ gap), 2.0 * (jac.T @ gap)

    if not violations(parity, fs):
        return Solution(parity, deviation(parity)[0], 0, "risk parity: exact (Spinu-Newton)")
    start = limit_turnover(water_fill(y, fs), fs)
    solution = minimize_over(fs, deviation, start)
    return Solution(
        solution.weights,
        solution.objective,
        solution.status,
        f"risk parity: constrained, closest contributions: {solution.message}",
    )
