"""The feasible set as linear algebra, shared by the LP (CVaR, turnover check) and QP (SLSQP) solvers.

Variables are ``x = [w]`` or, when a turnover limit applies, ``x = [w, t]`` with ``t_i >= |w_i - c_i|``
written as two inequalities ``w - t <= c`` and ``-w - t <= -c``; then ``sum t <= turnover`` bounds
the L1 trade. The constraints are ``a_ub @ x <= b_ub``, ``a_eq @ x == b_eq`` and ``bounds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.portfolio.optimize.constraints import FeasibleSet, FloatArray


@dataclass(frozen=True, slots=True)
class LinearSystem:
    a_ub: FloatArray
    b_ub: FloatArray
    a_eq: FloatArray
    b_eq: FloatArray
    bounds: list[tuple[float | None, float | None]]
    size: int
    """Number of variables (``n`` or ``2n``)."""


def _bound(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def linear_system(fs: FeasibleSet, *, with_turnover_limit: bool = True) -> LinearSystem:
    """``fs`` as matrices; the ``t`` block is present whenever ``fs`` has ``current`` and a turnover."""
    n = fs.n
    aux = fs.has_turnover
    size = 2 * n if aux else n
    rows: list[FloatArray] = []
    rhs: list[float] = []
    shorting = bool(np.any(fs.lower < 0.0))
    for g in range(len(fs.group_names)):
        if not np.isfinite(fs.group_cap[g]):
            continue
        member = np.zeros(size)
        member[:n][fs.group == g] = 1.0
        rows.append(member)
        rhs.append(float(fs.group_cap[g]))
        if shorting:
            rows.append(-member)
            rhs.append(float(fs.group_cap[g]))
    a_ub = np.array(rows).reshape(len(rows), size)
    b_ub = np.array(rhs)
    if aux:
        assert fs.current is not None
        eye = np.eye(n)
        trade = np.block([[eye, -eye], [-eye, -eye]])
        a_ub = np.vstack([a_ub, trade])
        b_ub = np.concatenate([b_ub, fs.current, -fs.current])
        if with_turnover_limit and fs.turnover is not None:
            a_ub = np.vstack([a_ub, np.concatenate([np.zeros(n), np.ones(n)])])
            b_ub = np.append(b_ub, fs.turnover)
    a_eq = np.zeros((1, size))
    a_eq[0, :n] = 1.0
    bounds = [(_bound(lo), _bound(hi)) for lo, hi in zip(fs.lower, fs.upper, strict=True)]
    if aux:
        bounds += [(0.0, None)] * n
    return LinearSystem(a_ub, b_ub, a_eq, np.array([fs.invested]), bounds, size)


@dataclass(frozen=True, slots=True)
class ConicForm:
    """``a x = b``, ``g x <= h`` with the bounds folded into ``g`` (a scipy CSR matrix), for the QP solver."""

    a: FloatArray
    b: FloatArray
    g: Any
    h: FloatArray


def conic_form(
    system: LinearSystem, extra_ub: FloatArray | None = None, extra_h: FloatArray | None = None
) -> ConicForm:
    """``system`` (plus rows ``extra_ub x <= extra_h`` on its leading variables) in ``g x <= h`` form."""
    from scipy import sparse

    size = system.size
    lower = np.array([-np.inf if lo is None else lo for lo, _ in system.bounds])
    upper = np.array([np.inf if hi is None else hi for _, hi in system.bounds])
    has_hi, has_lo = np.flatnonzero(np.isfinite(upper)), np.flatnonzero(np.isfinite(lower))
    eye = sparse.identity(size, format="csr")
    blocks = [sparse.csr_matrix(system.a_ub.reshape(-1, size)), eye[has_hi], -eye[has_lo]]
    rhs = [system.b_ub, upper[has_hi], -lower[has_lo]]
    if extra_ub is not None and extra_h is not None:
        padded = np.zeros((extra_ub.shape[0], size))
        padded[:, : extra_ub.shape[1]] = extra_ub
        blocks.append(sparse.csr_matrix(padded))
        rhs.append(extra_h)
    return ConicForm(system.a_eq, system.b_eq, sparse.vstack(blocks, format="csr"), np.concatenate(rhs))


def homogenized(system: LinearSystem, n: int, direction: FloatArray) -> tuple[ConicForm, int]:
    """The set ``{(x k, k): x in system, k >= 0}`` with ``direction' x_w k = 1``: the cone over the set.

    Used for maximum Sharpe (Cornuejols & Tutuncu): ``y = k w`` turns the ratio into a QP. Returns the
    form over ``[y, k]`` and the index of ``k``.
    """
    base = conic_form(system)
    from scipy import sparse

    size = system.size
    k_col_g = sparse.csr_matrix(-base.h.reshape(-1, 1))
    g = sparse.vstack(
        [
            sparse.hstack([base.g, k_col_g]),
            sparse.csr_matrix(np.concatenate([np.zeros(size), [-1.0]]).reshape(1, -1)),
        ],
        format="csr",
    )
    h = np.zeros(base.h.size + 1)
    a = np.hstack([base.a, -base.b.reshape(-1, 1)])
    ray = np.zeros((1, size + 1))
    ray[0, :n] = direction
    return ConicForm(np.vstack([a, ray]), np.append(np.zeros(base.b.size), 1.0), g, h), size
