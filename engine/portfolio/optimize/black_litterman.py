"""Black-Litterman (1992) posterior returns and covariance, in He & Litterman's (1999) form.

1. Equilibrium (market-implied) excess returns by reverse optimisation: ``pi = delta S w_mkt + rf``,
   where ``w_mkt`` are market-cap weights (or given weights) and ``delta`` the risk aversion: the
   returns under which a mean-variance investor with aversion ``delta`` would hold the market.
2. Views ``P mu = Q + e`` (``k`` rows: absolute views have a single 1, relative views +1/-1), with
   ``e ~ N(0, Omega)``. ``Omega`` is He-Litterman's ``diag(tau P S P')`` (each view as uncertain as
   the prior's own estimate of that combination), or Idzorek's: for a confidence ``c_k`` in (0, 1],
   ``omega_k = tau ((1 - c_k) / c_k) p_k S p_k'`` (100% confident: the posterior meets the view;
   the closed form of Walters' reading of Idzorek's method, as PyPortfolioOpt implements it).
3. Posterior, with the prior ``mu ~ N(pi, tau S)``:
   ``mu_BL = pi + tau S P' (tau P S P' + Omega)^-1 (Q - P pi)`` and
   ``S_BL = S + tau S - tau S P' (tau P S P' + Omega)^-1 P tau S``
   (the estimation uncertainty of the mean is added to the return covariance).

The optimizer then runs mean-variance on ``(mu_BL, S_BL)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.portfolio.optimize.constraints import FloatArray


@dataclass(frozen=True, slots=True)
class Views:
    """``k`` views ``P mu = Q`` on ``n`` assets (``P``: ``k x n``, ``Q``: ``k``, annualised returns).

    ``confidences`` (one in (0, 1] per view) selects Idzorek's ``Omega``; ``omega`` gives it directly;
    with neither, He-Litterman's ``diag(tau P S P')``.
    """

    p: FloatArray
    q: FloatArray
    confidences: FloatArray | None = None
    omega: FloatArray | None = None

    @staticmethod
    def absolute(
        symbols: Sequence[str], returns: Mapping[str, float], confidences: Mapping[str, float] | None = None
    ) -> Views:
        """One view per entry of ``returns``: "``symbol`` will return ``q``"."""
        index = {s: j for j, s in enumerate(symbols)}
        missing = [s for s in returns if s not in index]
        if missing:
            raise ValueError(f"views on unknown symbols: {', '.join(missing)}")
        p = np.zeros((len(returns), len(symbols)))
        for k, symbol in enumerate(returns):
            p[k, index[symbol]] = 1.0
        q = np.array([float(v) for v in returns.values()])
        conf = None if confidences is None else np.array([float(confidences[s]) for s in returns])
        return Views(p, q, conf)


@dataclass(frozen=True, slots=True)
class Posterior:
    prior: FloatArray
    """Equilibrium returns ``pi``."""
    returns: FloatArray
    covariance: FloatArray
    omega: FloatArray


def implied_returns(
    cov: FloatArray, market_weights: FloatArray, risk_aversion: float, risk_free_rate: float = 0.0
) -> FloatArray:
    """``pi = delta S w_mkt + rf`` (``w_mkt`` normalised to sum to 1)."""
    w = np.asarray(market_weights, dtype=np.float64)
    if np.any(w < 0.0) or w.sum() <= 0.0:
        raise ValueError("market weights (or caps) must be non-negative and not all zero")
    return np.asarray(risk_aversion * cov @ (w / w.sum()) + risk_free_rate, dtype=np.float64)


def view_uncertainty(views: Views, cov: FloatArray, tau: float) -> FloatArray:
    """``Omega``: given, Idzorek's from confidences, or He-Litterman's ``diag(tau P S P')``."""
    if views.omega is not None:
        return np.asarray(views.omega, dtype=np.float64)
    base = tau * np.diag(views.p @ cov @ views.p.T)
    if views.confidences is None:
        return np.diag(base)
    c = np.asarray(views.confidences, dtype=np.float64)
    if np.any(c <= 0.0) or np.any(c > 1.0):
        raise ValueError("view confidences must be in (0, 1]")
    return np.diag(base * (1.0 - c) / c)


def posterior(
    cov: FloatArray,
    prior: FloatArray,
    views: Views | None,
    *,
    tau: float = 0.05,
) -> Posterior:
    """Black-Litterman posterior returns and covariance (no views: ``pi`` and ``(1 + tau) S``)."""
    if views is None or views.p.shape[0] == 0:
        return Posterior(prior, prior.copy(), (1.0 + tau) * cov, np.zeros((0, 0)))
    p, q = np.atleast_2d(views.p), np.asarray(views.q, dtype=np.float64)
    if p.shape != (q.size, cov.shape[0]):
        raise ValueError(f"views: P is {p.shape}, expected ({q.size}, {cov.shape[0]})")
    omega = view_uncertainty(views, cov, tau)
    tau_sigma_pt = tau * cov @ p.T
    middle = p @ tau_sigma_pt + omega
    gain = np.linalg.solve(middle, tau_sigma_pt.T).T  # tau S P' (tau P S P' + Omega)^-1
    returns = prior + gain @ (q - p @ prior)
    covariance = cov + tau * cov - gain @ tau_sigma_pt.T
    return Posterior(prior, returns, 0.5 * (covariance + covariance.T), omega)
