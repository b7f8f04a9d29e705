"""Markowitz optimizers over the feasible set: minimum variance, maximum Sharpe, mean-variance.

The quadratic programs go to the interior-point solver (:mod:`engine.portfolio.optimize.ipm`); the
volatility-target problem has a quadratic constraint and goes to SLSQP, started from minimum variance.

With ``S`` the annualised covariance, ``mu`` annualised expected returns, ``rf`` the risk-free rate
and ``s = 1 - cash_buffer`` the invested fraction (cash earns ``rf``):

- minimum variance: ``min w'Sw``; unconstrained (no caps, shorts allowed, no sectors or turnover) it
  has the closed form ``w = s S^-1 1 / (1' S^-1 1)``, used directly;
- maximum Sharpe: ``max (mu - rf)'w / sqrt(w'Sw)`` (cash adds ``rf`` to the book's return and nothing to
  its excess, so the ratio is the book's). Cornuejols & Tutuncu's substitution ``y = k w`` with
  ``(mu - rf)'y = 1`` makes it the convex QP ``min y'Sy`` over the cone of the feasible set
  (every constraint ``a'w <= c`` becomes ``a'y <= c k``), then ``w = y / k``. It needs some feasible
  weights with a positive excess return (checked by an LP). Unconstrained:
  ``w = s S^-1 (mu - rf) / (1' S^-1 (mu - rf))``;
- mean-variance: with ``target_return`` R, ``min w'Sw`` s.t. ``mu'w + rf (1 - s) >= R`` (an efficient
  portfolio); with ``target_volatility`` V, ``max mu'w`` s.t. ``w'Sw <= V^2``; with both, the second
  plus the return floor; with neither, the quadratic utility ``max mu'w - (delta / 2) w'Sw``.
"""

from __future__ import annotations

import numpy as np

from engine.portfolio.optimize.constraints import FeasibleSet, FloatArray
from engine.portfolio.optimize.linear import linear_system
from engine.portfolio.optimize.qp import Inequality, minimize_over, quadratic
from engine.portfolio.optimize.result import Solution


def unconstrained(fs: FeasibleSet) -> bool:
    """True when only the budget constrains the weights (closed forms apply)."""
    return bool(
        np.all(np.isneginf(fs.lower))
        and np.all(np.isposinf(fs.upper))
        and not np.any(np.isfinite(fs.group_cap))
        and not fs.has_turnover
    )


def _solved(solution: Solution, label: str) -> Solution:
    return Solution(solution.weights, solution.objective, solution.status, f"{label}: {solution.message}")


def min_variance(cov: FloatArray, fs: FeasibleSet) -> Solution:
    """Minimum-variance weights; ``objective`` is the annualised variance."""
    if unconstrained(fs):
        raw = np.linalg.solve(cov, np.ones(fs.n))
        w = fs.invested * raw / raw.sum()
        return Solution(w, float(w @ cov @ w), 0, "minimum variance: closed form S^-1 1 / 1'S^-1 1")
    solution = quadratic(fs, 2.0 * cov, np.zeros(fs.n))
    return _solved(solution, "minimum variance")


def max_return(mu: FloatArray, fs: FeasibleSet) -> tuple[float, FloatArray]:
    """The highest ``mu'w`` over the set (LP, HiGHS) and its weights; ``inf`` when unbounded."""
    from scipy.optimize import linprog

    system = linear_system(fs)
    cost = np.zeros(system.size)
    cost[: fs.n] = -mu
    res = linprog(
        cost,
        A_ub=system.a_ub if system.a_ub.shape[0] else None,
        b_ub=system.b_ub if system.a_ub.shape[0] else None,
        A_eq=system.a_eq,
        b_eq=system.b_eq,
        bounds=system.bounds,
        method="highs",
    )
    if res.status == 3:
        return float("inf"), np.full(fs.n, np.nan)
    if res.status != 0:
        raise ValueError(f"no weights meet the constraints ({res.message})")
    return -float(res.fun), np.asarray(res.x[: fs.n], dtype=np.float64)


def max_sharpe(mu: FloatArray, cov: FloatArray, fs: FeasibleSet, risk_free_rate: float = 0.0) -> Solution:
    """Tangency weights; ``objective`` is the Sharpe ratio ``(mu - rf)'w / sqrt(w'Sw)``."""
    excess = mu - risk_free_rate
    if unconstrained(fs):
        raw = np.linalg.solve(cov, excess)
        if raw.sum() <= 0.0:
            raise ValueError("max_sharpe: the tangency portfolio is short (1'S^-1(mu - rf) <= 0)")
        w = fs.invested * raw / raw.sum()
        return Solution(w, _sharpe(w, excess, cov), 0, "maximum Sharpe: closed form S^-1 (mu - rf)")
    best, _ = max_return(excess, fs)
    if not best > 1e-12:
        raise ValueError(
            "max_sharpe: no weights meeting the constraints earn more than the risk-free rate "
            f"{risk_free_rate:g}"
        )
    from engine.portfolio.optimize.ipm import solve_qp
    from engine.portfolio.optimize.linear import homogenized

    form, k_index = homogenized(linear_system(fs), fs.n, excess)
    res = solve_qp(2.0 * cov, np.zeros(k_index + 1), form.a, form.b, form.g, form.h)
    weights = np.clip(res.x[: fs.n] / res.x[k_index], fs.lower, fs.upper)
    return Solution(weights, _sharpe(weights, excess, cov), res.status, f"maximum Sharpe: {res.message}")


def _sharpe(w: FloatArray, excess: FloatArray, cov: FloatArray) -> float:
    return float(excess @ w) / float(np.sqrt(w @ cov @ w))


def mean_variance(
    mu: FloatArray,
    cov: FloatArray,
    fs: FeasibleSet,
    *,
    target_return: float | None = None,
    target_volatility: float | None = None,
    risk_aversion: float = 2.5,
    risk_free_rate: float = 0.0,
) -> Solution:
    """Efficient weights for a target return and/or volatility, else the quadratic-utility optimum.

    Raises ``ValueError`` naming ``target_return`` / ``target_volatility`` when no feasible weights
    reach it. ``objective``: the variance (target return), the expected return (target volatility) or
    the utility.
    """
    cash_return = risk_free_rate * (1.0 - fs.invested)
    floors: list[Inequality] = []
    if target_return is not None:
        best, _ = max_return(mu, fs)
        if best + cash_return < target_return - 1e-9:
            raise ValueError(
                f"target_return {target_return:g} is above the highest return the constraints allow "
                f"({best + cash_return:.4g})"
            )
        floors.append(Inequality(lambda w: float(mu @ w) + cash_return - target_return, lambda _w: mu))
    if target_volatility is not None:
        lowest = min_variance(cov, fs)
        if lowest.objective > target_volatility**2 + 1e-12:
            raise ValueError(
                f"target_volatility {target_volatility:g} is below the lowest volatility the constraints "
                f"allow ({np.sqrt(lowest.objective):.4g})"
            )
        ceiling = Inequality(lambda w: target_volatility**2 - float(w @ cov @ w), lambda w: -2.0 * (cov @ w))

        def negative_return(w: FloatArray) -> tuple[float, FloatArray]:
            return -float(mu @ w), -mu

        solution = minimize_over(fs, negative_return, lowest.weights, inequalities=[ceiling, *floors])
        return Solution(
            solution.weights,
            float(mu @ solution.weights) + cash_return,
            solution.status,
            f"mean-variance (target volatility {target_volatility:g}): {solution.message}",
        )
    if target_return is not None:
        floor_row = -mu.reshape(1, -1)
        solution = quadratic(
            fs, 2.0 * cov, np.zeros(fs.n), extra_ub=floor_row, extra_h=np.array([cash_return - target_return])
        )
        return _solved(solution, f"mean-variance (target return {target_return:g})")
    solution = quadratic(fs, risk_aversion * cov, -mu)
    return Solution(
        solution.weights,
        -solution.objective,
        solution.status,
        f"mean-variance (risk aversion {risk_aversion:g}): {solution.message}",
    )
