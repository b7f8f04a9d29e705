"""Minimum conditional value-at-risk (Rockafellar & Uryasev, 2000), a linear program.

With ``r_t`` the daily return scenarios (``T`` historical days) and the confidence level ``beta``
(default 95%), the loss of day ``t`` is ``-r_t'w`` and the CVaR (expected shortfall) is the mean loss
in the worst ``1 - beta`` tail. Rockafellar-Uryasev show that
``CVaR_beta(w) = min_alpha  alpha + sum_t max(0, -r_t'w - alpha) / ((1 - beta) T)``
(the minimising ``alpha`` is the VaR), and with ``u_t >= -r_t'w - alpha``, ``u_t >= 0`` this is linear:

``min  alpha + sum_t u_t / ((1 - beta) T)``  over ``w``, ``alpha``, ``u``, plus the feasible set.

HiGHS (``scipy.optimize.linprog``) solves it; the scenario block is sparse (``T x (n + 1 + T)``).
``objective`` is the daily CVaR as a fraction of equity (not annualised: a tail measure does not scale
with sqrt(252) without assumptions).
"""

from __future__ import annotations

import numpy as np

from engine.portfolio.optimize.constraints import FeasibleSet, FloatArray
from engine.portfolio.optimize.linear import linear_system
from engine.portfolio.optimize.result import Solution


def min_cvar(scenarios: FloatArray, fs: FeasibleSet, confidence: float = 0.95) -> Solution:
    """Weights minimising the historical CVaR of daily losses at ``confidence``."""
    from scipy import sparse
    from scipy.optimize import linprog

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    days, n = scenarios.shape
    if n != fs.n:
        raise ValueError(f"{n} return columns for {fs.n} assets")
    system = linear_system(fs)
    extra = 1 + days
    base_ub = sparse.hstack(
        [sparse.csr_matrix(system.a_ub), sparse.csr_matrix((system.a_ub.shape[0], extra))]
    )
    filler = sparse.csr_matrix((days, system.size - n))
    tail = sparse.hstack(
        [
            sparse.csr_matrix(-scenarios),
            filler,
            sparse.csr_matrix(-np.ones((days, 1))),
            -sparse.identity(days, format="csr"),
        ]
    )
    a_ub = sparse.vstack([base_ub, tail], format="csr")
    b_ub = np.concatenate([system.b_ub, np.zeros(days)])
    a_eq = sparse.hstack([sparse.csr_matrix(system.a_eq), sparse.csr_matrix((1, extra))], format="csr")
    cost = np.concatenate([np.zeros(system.size), [1.0], np.full(days, 1.0 / ((1.0 - confidence) * days))])
    bounds = [*system.bounds, (None, None)] + [(0.0, None)] * days
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=system.b_eq, bounds=bounds, method="highs")
    if res.status != 0:
        raise ValueError(f"min_cvar: {res.message}")
    weights = np.clip(np.asarray(res.x[:n], dtype=np.float64), fs.lower, fs.upper)
    return Solution(weights, float(res.fun), 0, f"minimum CVaR {confidence:.0%}: {res.message}")


def historical_cvar(scenarios: FloatArray, weights: FloatArray, confidence: float = 0.95) -> float:
    """The Rockafellar-Uryasev CVaR of ``weights`` (the LP's objective, evaluated at its optimal alpha)."""
    losses = np.sort(-(scenarios @ weights))
    # F(alpha) is convex and piecewise linear with kinks at the losses: evaluate it at every loss.
    above = np.cumsum(losses[::-1])[::-1]  # sum of losses from k on
    count = losses.size - np.arange(losses.size)
    excess = above - count * losses  # sum_j max(0, L_j - L_k), sorted
    values = losses + excess / ((1.0 - confidence) * losses.size)
    return float(values.min())
