"""Hierarchical risk parity (López de Prado, 2016, "Building diversified portfolios that outperform
out of sample").

1. Correlation distance ``d_ij = sqrt((1 - rho_ij) / 2)``, a metric on assets.
2. Single-linkage clustering of ``d`` (``scipy.cluster.hierarchy.linkage``).
3. Quasi-diagonalisation: order the assets as the leaves of the dendrogram, so similar assets sit
   next to each other and the covariance is nearly block-diagonal in that order.
4. Recursive bisection: split each ordered cluster into halves ``L`` and ``R``; each half's variance
   is that of its inverse-variance portfolio, ``V = u' S u`` with ``u ~ 1/diag(S)``; the halves get
   ``alpha = 1 - V_L / (V_L + V_R)`` and ``1 - alpha`` of the parent's weight.

No matrix is inverted, which is the point: HRP stays stable when the covariance is ill-conditioned.
The raw weights are then water-filled onto the constraints (as the other heuristics).
"""

from __future__ import annotations

import numpy as np

from engine.portfolio.optimize.constraints import FeasibleSet, FloatArray, IntArray
from engine.portfolio.optimize.heuristics import constrained
from engine.portfolio.optimize.result import Solution


def correlation_distance(cov: FloatArray) -> FloatArray:
    """``sqrt((1 - rho) / 2)`` from a covariance (clipped against rounding)."""
    vol = np.sqrt(np.diag(cov))
    corr = cov / np.outer(vol, vol)
    return np.asarray(np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, 1.0)), dtype=np.float64)


def quasi_diagonal_order(cov: FloatArray) -> IntArray:
    """Asset indices in dendrogram leaf order (single linkage on the correlation distance)."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    if cov.shape[0] == 1:
        return np.zeros(1, dtype=np.int64)
    distance = correlation_distance(cov)
    np.fill_diagonal(distance, 0.0)
    link = linkage(squareform(distance, checks=False), method="single")
    return np.asarray(leaves_list(link), dtype=np.int64)


def _cluster_variance(cov: FloatArray, items: IntArray) -> float:
    sub = cov[np.ix_(items, items)]
    u = 1.0 / np.diag(sub)
    u /= u.sum()
    return float(u @ sub @ u)


def recursive_bisection(cov: FloatArray, order: IntArray) -> FloatArray:
    """HRP weights (summing to 1) for assets taken in ``order``."""
    weights = np.ones(cov.shape[0])
    clusters = [order]
    while clusters:
        halves = [
            c[j:k] for c in clusters for j, k in ((0, len(c) // 2), (len(c) // 2, len(c))) if len(c) > 1
        ]
        clusters = []
        for left, right in zip(halves[0::2], halves[1::2], strict=True):
            v_left, v_right = _cluster_variance(cov, left), _cluster_variance(cov, right)
            alpha = 1.0 - v_left / (v_left + v_right)
            weights[left] *= alpha
            weights[right] *= 1.0 - alpha
            clusters += [left, right]
    return weights


def hierarchical_risk_parity(cov: FloatArray, fs: FeasibleSet) -> Solution:
    """HRP weights for ``cov``, constrained by water-filling."""
    raw = recursive_bisection(cov, quasi_diagonal_order(cov))
    return constrained(raw, fs, "hierarchical risk parity")
