"""The two ways a problem over the feasible set is solved, chosen by its objective.

- :func:`quadratic`: convex QPs (minimum variance, target return, quadratic utility, Euclidean
  projection) go to the interior-point solver of :mod:`engine.portfolio.optimize.ipm`, with the bounds
  and linear constraints of :func:`engine.portfolio.optimize.linear.linear_system`;
- :func:`minimize_over`: smooth non-quadratic problems (maximum return under a volatility ceiling,
  risk contributions closest to parity) go to SLSQP, an SQP method that linearises the linear
  constraints exactly, so its answer meets them to rounding error (bounds are then clipped, which
  moves the weights by ~1e-12). It learns the Hessian by BFGS, hence is slower at hundreds of assets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.portfolio.optimize.constraints import FeasibleSet, FloatArray
from engine.portfolio.optimize.linear import linear_system
from engine.portfolio.optimize.result import Solution

Objective = Callable[[FloatArray], tuple[float, FloatArray]]
"""``w -> (value, gradient)``; the solver minimises it."""


@dataclass(frozen=True, slots=True)
class Inequality:
    """A nonlinear constraint ``fun(w) >= 0`` with its gradient ``jac(w)``."""

    fun: Callable[[FloatArray], float]
    jac: Callable[[FloatArray], FloatArray]


def minimize_over(
    fs: FeasibleSet,
    objective: Objective,
    start: FloatArray,
    *,
    inequalities: Sequence[Inequality] = (),
    max_iterations: int = 500,
    tolerance: float = 1e-12,
) -> Solution:
    """Minimise ``objective`` over ``fs`` (plus ``inequalities``) from ``start``."""
    from scipy.optimize import Bounds, minimize

    n = fs.n
    system = linear_system(fs)
    x0 = start.copy()
    if system.size > n:
        assert fs.current is not None
        x0 = np.concatenate([start, np.abs(start - fs.current)])

    def fun(x: FloatArray) -> tuple[float, FloatArray]:
        value, grad = objective(x[:n])
        full = np.zeros(system.size)
        full[:n] = grad
        return value, full

    cons: list[dict[str, object]] = [
        {"type": "eq", "fun": lambda x: system.a_eq @ x - system.b_eq, "jac": lambda _x: system.a_eq}
    ]
    if system.a_ub.shape[0]:
        cons.append(
            {"type": "ineq", "fun": lambda x: system.b_ub - system.a_ub @ x, "jac": lambda _x: -system.a_ub}
        )
    for ineq in inequalities:
        cons.append(
            {
                "type": "ineq",
                "fun": lambda x, c=ineq: c.fun(x[:n]),
                "jac": lambda x, c=ineq: np.concatenate([c.jac(x[:n]), np.zeros(system.size - n)]),
            }
        )
    lower = np.array([-np.inf if lo is None else lo for lo, _ in system.bounds])
    upper = np.array([np.inf if hi is None else hi for _, hi in system.bounds])
    res = minimize(
        fun,
        np.clip(x0, lower, upper),
        jac=True,
        method="SLSQP",
        bounds=Bounds(lower, upper),
        constraints=cons,
        options={"maxiter": max_iterations, "ftol": tolerance},
    )
    weights = np.clip(np.asarray(res.x[:n], dtype=np.float64), fs.lower, fs.upper)
    return Solution(weights, float(objective(weights)[0]), int(res.status), str(res.message))


def quadratic(
    fs: FeasibleSet,
    p: FloatArray,
    q: FloatArray,
    *,
    extra_ub: FloatArray | None = None,
    extra_h: FloatArray | None = None,
) -> Solution:
    """``min w'Pw / 2 + q'w`` over ``fs`` (and ``extra_ub w <= extra_h``) by the interior-point solver."""
    from engine.portfolio.optimize.ipm import solve_qp
    from engine.portfolio.optimize.linear import conic_form

    system = linear_system(fs)
    form = conic_form(system, extra_ub, extra_h)
    full_q = np.zeros(system.size)
    full_q[: fs.n] = q
    res = solve_qp(p, full_q, form.a, form.b, form.g, form.h)
    weights = np.clip(res.x[: fs.n], fs.lower, fs.upper)
    return Solution(weights, float(0.5 * weights @ p @ weights + q @ weights), res.status, res.message)
