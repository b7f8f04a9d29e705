"""Making heuristic weights (equal, inverse-volatility, HRP) meet the constraints, exactly.

**Caps, floors and sector caps: multiplicative water-filling.** Given positive raw weights ``v``,
the result is ``w_i = clip(v_i * k * k_g(i), lower_i, upper_i)``: one scale ``k`` for the book and,
for each sector whose cap binds, a further scale ``k_g < 1`` that brings it down to its cap. This is
the classic "cap and redistribute the excess pro rata" rule run to its fixed point: the excess of a
capped asset (or sector) goes to the uncapped ones in proportion to their raw weights, so the ratios
the heuristic chose survive among free assets. It is the exact minimiser of the relative entropy
``sum w_i log(w_i / v_i)`` over the set (KKT: ``log(w_i/v_i) = -lambda - mu_g - bound multipliers``).
``k`` and the ``k_g`` are found by bisection on their logarithms (each sum is monotone in its scale),
then the residual (~1e-16) is put on free assets so the sum is exact.

**Turnover.** If the water-filled weights trade more than the budget and the current book meets the
other constraints, the trade is scaled down: ``w = c + (L / |p - c|_1) (p - c)``, feasible because the
set is convex and both ends are in it. If the current book itself breaks a constraint, the weights
are the Euclidean projection of ``p`` onto the whole set (a QP, :mod:`engine.portfolio.optimize.ipm`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.portfolio.optimize.constraints import FeasibleSet, FloatArray, IntArray, violations

_ITERATIONS = 200


def _clipped(v: FloatArray, log_scale: FloatArray, fs: FeasibleSet) -> FloatArray:
    return np.clip(v * np.exp(log_scale), fs.lower, fs.upper)


def _bisect(
    total: Callable[[FloatArray], FloatArray],
    lo: FloatArray,
    hi: FloatArray,
    target: FloatArray,
) -> FloatArray:
    """Vectorised bisection for increasing ``total(x)[k] == target[k]`` with ``x[k]`` in ``[lo, hi]``."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(_ITERATIONS):
        mid = 0.5 * (lo + hi)
        below = total(mid) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
        if np.all(hi - lo <= 1e-15 * np.maximum(1.0, np.abs(hi))):
            break
    return 0.5 * (lo + hi)


def water_fill(raw: FloatArray, fs: FeasibleSet) -> FloatArray:
    """Closest weights to positive ``raw`` (relative entropy) meeting caps, floors, sector caps, sum."""
    v = np.asarray(raw, dtype=np.float64)
    if np.any(v <= 0.0) or not np.all(np.isfinite(v)):
        raise ValueError("water-filling needs positive, finite raw weights")
    span_lo = -float(np.log(v.max())) - 80.0
    span_hi = -float(np.log(v.min())) + 10.0
    groups = len(fs.group_names)
    grouped = fs.group >= 0
    gid: IntArray = np.where(grouped, fs.group, groups)

    def group_totals(log_scale: FloatArray) -> FloatArray:
        """Per-sector raw sums at a per-sector log scale (the last slot: unsectored assets)."""
        w = _clipped(v, log_scale[gid], fs)
        return np.asarray(np.bincount(gid, weights=w, minlength=groups + 1), dtype=np.float64)

    def book(log_k: FloatArray) -> FloatArray:
        sums = group_totals(np.full(groups + 1, log_k[0]))
        capped = np.minimum(sums[:groups], fs.group_cap)
        return np.array([capped.sum() + sums[groups]])

    log_k = float(_bisect(book, np.array([span_lo]), np.array([span_hi]), np.array([fs.invested]))[0])
    scales = np.full(groups + 1, log_k)
    full = group_totals(scales)[:groups] > fs.group_cap
    if np.any(full):
        targets = np.append(np.where(full, fs.group_cap, 0.0), 0.0)
        solved = _bisect(
            group_totals,
            np.full(groups + 1, span_lo),
            scales,
            targets,
        )
        scales = np.where(np.append(full, False), solved, scales)
    w = _clipped(v, scales[gid], fs)
    return _settle(w, fs, full)


def _settle(w: FloatArray, fs: FeasibleSet, full: np.ndarray) -> FloatArray:
    """Put the rounding residuals of the bisection on assets strictly inside their bounds."""
    w = w.copy()
    free = (w > fs.lower + 1e-12) & (w < fs.upper - 1e-12)
    for g in np.flatnonzero(full):
        members = free & (fs.group == g)
        if members.any():
            w[members] *= 1.0 + (fs.group_cap[g] - w[fs.group == g].sum()) / w[members].sum()
    loose = free & ~np.isin(fs.group, np.flatnonzero(full))
    if loose.any() and w[loose].sum() > 0.0:
        w[loose] *= 1.0 + (fs.invested - w.sum()) / w[loose].sum()
    return np.clip(w, fs.lower, fs.upper)


def limit_turnover(proposed: FloatArray, fs: FeasibleSet) -> FloatArray:
    """``proposed`` (meeting every other constraint) brought within the turnover budget."""
    if not fs.has_turnover:
        return proposed
    assert fs.current is not None and fs.turnover is not None
    trade = proposed - fs.current
    size = float(np.abs(trade).sum())
    if size <= fs.turnover:
        return proposed
    unlimited = FeasibleSet(
        fs.symbols, fs.lower, fs.upper, fs.invested, fs.group, fs.group_names, fs.group_cap, None, None
    )
    if not violations(fs.current, unlimited, tol=1e-12):
        return fs.current + trade * (fs.turnover / size)
    return project(proposed, fs)


def project(point: FloatArray, fs: FeasibleSet) -> FloatArray:
    """Euclidean projection ``argmin |w - point|^2`` over the whole set (interior-point QP)."""
    from engine.portfolio.optimize.qp import quadratic

    return quadratic(fs, np.eye(fs.n), -point).weights
