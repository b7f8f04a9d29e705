"""What a portfolio may hold: the user's :class:`Constraints` and their array form, :class:`FeasibleSet`.

Weights are fractions of equity. The invested weights sum to ``1 - cash_buffer``; the rest is cash.
A constraint set that no weight vector can satisfy raises ``ValueError`` naming the constraint
(and what would fix it) rather than silently parking the remainder in cash: a cash position the
user did not ask for is a decision the optimizer should not take on its own. To hold the
remainder in cash, ask for it with ``cash_buffer``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TOLERANCE = 1e-7
"""How far a solver's weights may stray from a constraint and still count as satisfying it."""


@dataclass(frozen=True, slots=True)
class Constraints:
    """The limits every optimizer honours.

    - ``max_weight``: per-asset cap on ``|w_i|`` (``None``: no cap);
    - ``sector_cap``: cap on each sector's net weight, sectors from ``sectors`` (symbol -> sector);
      symbols missing from the map carry no sector cap;
    - ``long_only``: ``w_i >= 0`` (otherwise ``w_i >= -max_weight``, or unbounded without a cap);
    - ``cash_buffer``: the invested weights sum to ``1 - cash_buffer``;
    - ``turnover``: ``sum_i |w_i - current_i| <= turnover`` against the ``current`` weights given to
      the optimizer (symbols missing from ``current`` are held at 0); ignored without ``current``;
    - ``min_weight``: optional per-asset floor ``w_i >= min_weight``.
    """

    max_weight: float | None = 0.15
    sector_cap: float | None = 0.30
    sectors: Mapping[str, str] = field(default_factory=dict)
    long_only: bool = True
    cash_buffer: float = 0.0
    turnover: float | None = None
    min_weight: float | None = None

    def __post_init__(self) -> None:
        if self.max_weight is not None and not self.max_weight > 0.0:
            raise ValueError(f"max_weight must be positive, got {self.max_weight}")
        if self.sector_cap is not None and not self.sector_cap > 0.0:
            raise ValueError(f"sector_cap must be positive, got {self.sector_cap}")
        if not 0.0 <= self.cash_buffer < 1.0:
            raise ValueError(f"cash_buffer must be in [0, 1), got {self.cash_buffer}")
        if self.turnover is not None and not self.turnover >= 0.0:
            raise ValueError(f"turnover must be non-negative, got {self.turnover}")


@dataclass(frozen=True, slots=True)
class FeasibleSet:
    """:class:`Constraints` compiled against an ordered list of symbols.

    ``lower <= w <= upper``, ``sum(w) == invested``, for each sector ``g``:
    ``-cap_g <= sum_{group == g} w <= cap_g`` (the lower side only matters when shorting), and
    ``sum |w - current| <= turnover`` when ``turnover`` is not ``None``. ``group`` is -1 for an
    asset without a sector cap.
    """

    symbols: tuple[str, ...]
    lower: FloatArray
    upper: FloatArray
    invested: float
    group: IntArray
    group_names: tuple[str, ...]
    group_cap: FloatArray
    current: FloatArray | None
    turnover: float | None

    @property
    def n(self) -> int:
        return len(self.symbols)

    @property
    def has_turnover(self) -> bool:
        return self.turnover is not None and self.current is not None

    def group_sums(self, weights: FloatArray) -> FloatArray:
        grouped = self.group >= 0
        sums = np.bincount(self.group[grouped], weights=weights[grouped], minlength=len(self.group_names))
        return np.asarray(sums, dtype=np.float64)


def compile_constraints(
    constraints: Constraints,
    symbols: Sequence[str],
    current: Mapping[str, float] | pd.Series | None = None,
) -> FeasibleSet:
    """Array form of ``constraints`` for ``symbols``; raises ``ValueError`` if it is infeasible."""
    n = len(symbols)
    if n == 0:
        raise ValueError("no assets to optimize")
    cap = np.inf if constraints.max_weight is None else float(constraints.max_weight)
    upper = np.full(n, cap)
    lower = np.full(n, 0.0 if constraints.long_only else -cap)
    if constraints.min_weight is not None:
        lower = np.maximum(lower, float(constraints.min_weight))
    names: dict[str, int] = {}
    group = np.full(n, -1, dtype=np.int64)
    if constraints.sector_cap is not None:
        for j, symbol in enumerate(symbols):
            sector = constraints.sectors.get(symbol)
            if sector is not None:
                group[j] = names.setdefault(sector, len(names))
    current_arr = None
    if current is not None:
        current_arr = np.array([float(current.get(s, 0.0)) for s in symbols])
    feasible = FeasibleSet(
        symbols=tuple(symbols),
        lower=lower,
        upper=upper,
        invested=1.0 - constraints.cash_buffer,
        group=group,
        group_names=tuple(names),
        group_cap=np.full(len(names), np.inf if constraints.sector_cap is None else constraints.sector_cap),
        current=current_arr,
        turnover=constraints.turnover if current_arr is not None else None,
    )
    assert_feasible(feasible)
    return feasible


def assert_feasible(fs: FeasibleSet) -> None:
    """Raise ``ValueError`` naming the first constraint that makes the set empty.

    Capacity is checked in closed form: the most the book can hold is the sum over sectors of
    ``min(sector cap, sum of its asset caps)`` plus the caps of unsectored assets; the least is the
    same with floors. Turnover needs the L1 distance from ``current`` to the set, a small LP.
    """
    bad = np.flatnonzero(fs.lower > fs.upper + TOLERANCE)
    if bad.size:
        j = int(bad[0])
        raise ValueError(
            f"min_weight {fs.lower[j]:g} exceeds max_weight {fs.upper[j]:g} for {fs.symbols[j]}: "
            "no weights fit"
        )
    grouped = fs.group >= 0
    most = float(fs.upper[~grouped].sum())
    least = float(fs.lower[~grouped].sum())
    for g, name in enumerate(fs.group_names):
        members = fs.group == g
        floor = float(fs.lower[members].sum())
        if floor > fs.group_cap[g] + TOLERANCE:
            raise ValueError(
                f"sector_cap {fs.group_cap[g]:g}: the floors of sector {name!r} already sum to {floor:g}"
            )
        most += min(float(fs.group_cap[g]), float(fs.upper[members].sum()))
        least += max(-float(fs.group_cap[g]), floor)
    if most < fs.invested - TOLERANCE:
        limits = "max_weight" if not fs.group_names else "max_weight/sector_cap"
        raise ValueError(
            f"{limits}: {fs.n} assets can hold at most {most:.4g} of equity but {fs.invested:.4g} must be "
            f"invested; raise the caps or set cash_buffer >= {1.0 - most:.4g}"
        )
    if least > fs.invested + TOLERANCE:
        raise ValueError(
            f"min_weight: the floors sum to {least:.4g}, more than the {fs.invested:.4g} to be invested"
        )
    if fs.has_turnover:
        assert fs.turnover is not None
        needed = min_turnover(fs)
        if needed > fs.turnover + TOLERANCE:
            raise ValueError(
                f"turnover {fs.turnover:g}: the current weights are {needed:.4g} (L1) away from the nearest "
                "weights that meet the other constraints"
            )


def min_turnover(fs: FeasibleSet) -> float:
    """``min sum |w - current|`` over the set without its turnover limit (LP in ``[w, t]``)."""
    from scipy.optimize import linprog

    from engine.portfolio.optimize.linear import linear_system

    system = linear_system(fs, with_turnover_limit=False)
    n = fs.n
    cost = np.concatenate([np.zeros(n), np.ones(n)])
    res = linprog(
        cost,
        A_ub=system.a_ub,
        b_ub=system.b_ub,
        A_eq=system.a_eq,
        b_eq=system.b_eq,
        bounds=system.bounds,
        method="highs",
    )
    if res.status != 0:
        raise ValueError(f"constraints are infeasible ({res.message})")
    return float(res.fun)


def violations(weights: FloatArray, fs: FeasibleSet, tol: float = TOLERANCE) -> tuple[str, ...]:
    """Names of the constraints ``weights`` break by more than ``tol`` (empty when feasible)."""
    out: list[str] = []
    out += [f"max_weight:{fs.symbols[j]}" for j in np.flatnonzero(weights > fs.upper + tol)]
    out += [f"lower_bound:{fs.symbols[j]}" for j in np.flatnonzero(weights < fs.lower - tol)]
    if abs(float(weights.sum()) - fs.invested) > tol:
        out.append("sum")
    sums = fs.group_sums(weights)
    out += [f"sector_cap:{fs.group_names[g]}" for g in np.flatnonzero(np.abs(sums) > fs.group_cap + tol)]
    if fs.has_turnover:
        assert fs.current is not None and fs.turnover is not None
        if float(np.abs(weights - fs.current).sum()) > fs.turnover + tol:
            out.append("turnover")
    return tuple(out)


def binding(weights: FloatArray, fs: FeasibleSet, tol: float = 1e-6) -> tuple[str, ...]:
    """Names of the inequality constraints active at ``weights`` (within ``tol``).

    ``max_weight:SYM`` / ``min_weight:SYM`` / ``long_only:SYM`` for an asset at a bound,
    ``sector_cap:SECTOR`` for a full sector, ``turnover`` when the turnover budget is spent.
    """
    out: list[str] = []
    out += [f"max_weight:{fs.symbols[j]}" for j in np.flatnonzero(np.abs(weights - fs.upper) <= tol)]
    out += [
        f"{_floor_name(fs, int(j))}:{fs.symbols[j]}"
        for j in np.flatnonzero(np.abs(weights - fs.lower) <= tol)
    ]
    sums = fs.group_sums(weights)
    out += [f"sector_cap:{fs.group_names[g]}" for g in np.flatnonzero(np.abs(sums) >= fs.group_cap - tol)]
    if fs.has_turnover:
        assert fs.current is not None and fs.turnover is not None
        if float(np.abs(weights - fs.current).sum()) >= fs.turnover - tol:
            out.append("turnover")
    return tuple(out)


def _floor_name(fs: FeasibleSet, j: int) -> str:
    if fs.lower[j] == 0.0:
        return "long_only"
    return "max_weight" if fs.lower[j] == -fs.upper[j] else "min_weight"
