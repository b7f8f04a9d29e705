"""How the book moves as a whole: volatility, beta, correlation and concentration of the holdings.

Pure functions over the aligned returns ``engine.risk.var.align_book`` builds (so every figure
of one report sees the same window and columns). Degenerate inputs (one holding, a series that
never moves, too little history) give a defined number, never a NaN: the desk renders what it is
given, and a NaN in a gauge is worse than a documented 0.0 or None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from engine.risk.var import MIN_OBSERVATIONS, AlignedBook, FloatArray

TRADING_DAYS_PER_YEAR = 252

_TINY = 1e-12
"""Relative threshold under which a variance is treated as zero (a constant series, up to rounding)."""


def book_volatility(
    book: AlignedBook, *, equity: float, periods_per_year: int = TRADING_DAYS_PER_YEAR
) -> float:
    """Annualised volatility of the book's daily P&L as a share of equity.

    Measured against equity rather than gross value so that leverage shows: the same holdings at
    twice the size on the same equity are twice as volatile. 0.0 when equity is not positive or
    history is too short (under ``MIN_OBSERVATIONS`` days).
    """
    if equity <= 0.0 or book.observations < MIN_OBSERVATIONS or not book.symbols:
        return 0.0
    sigma = float(book.pnl().std(ddof=1))
    return sigma / equity * math.sqrt(periods_per_year)


def _check_benchmark(benchmark_returns: NDArray[np.floating]) -> FloatArray:
    array = np.asarray(benchmark_returns, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"benchmark returns must be one-dimensional, got shape {array.shape}")
    return array


def _centred_benchmark(benchmark: FloatArray, days: int) -> tuple[FloatArray, float] | None:
    """The benchmark's last ``days`` returns centred, and their sum of squares; None if unusable."""
    n = min(days, benchmark.size)
    if n < MIN_OBSERVATIONS:
        return None
    x = benchmark[benchmark.size - n :]
    if not np.isfinite(x).all():
        return None
    centred = x - x.mean()
    variance = float(centred @ centred)
    if variance <= _TINY * float(x @ x):
        return None
    return centred, variance


def regression_beta(series: FloatArray, benchmark: FloatArray) -> float | None:
    """cov(series, benchmark) / var(benchmark) over their common most recent days.

    None when it is undefined, not 0.0: a benchmark that never moved in the window, fewer than
    ``MIN_OBSERVATIONS`` common days, or a non-finite benchmark return in the window. (A series
    that never moves against a moving benchmark has a true beta of 0.0 and gets it.)
    """
    centred = _centred_benchmark(benchmark, series.size)
    if centred is None:
        return None
    xc, variance = centred
    y = series[series.size - xc.size :]
    return float(xc @ (y - y.mean())) / variance


def book_beta(
    book: AlignedBook, benchmark_returns: NDArray[np.floating] | None, *, equity: float
) -> float | None:
    """Beta of the book's daily return, as a share of equity, to the benchmark's daily return.

    Equity-relative like ``book_volatility`` (a fully invested long book of beta-1 stocks has
    beta 1.0; at 2x leverage, 2.0; a market-neutral book, ~0). The benchmark series is aligned on
    the most recent days. None where undefined: no benchmark, equity not positive, an empty book,
    or the cases listed in ``regression_beta``.
    """
    if benchmark_returns is None or equity <= 0.0 or not book.symbols:
        return None
    return regression_beta(book.pnl() / equity, _check_benchmark(benchmark_returns))


def holding_betas(
    book: AlignedBook, benchmark_returns: NDArray[np.floating] | None
) -> dict[str, float | None]:
    """Each holding's beta to the benchmark (None where undefined, as in ``regression_beta``).

    What the stress scenarios transmit a market shock through; all columns in one product.
    """
    out: dict[str, float | None] = dict.fromkeys(book.symbols)
    if benchmark_returns is None or not book.symbols:
        return out
    centred = _centred_benchmark(_check_benchmark(benchmark_returns), book.observations)
    if centred is None:
        return out
    xc, variance = centred
    y = book.returns[book.observations - xc.size :]
    betas = (xc @ (y - y.mean(axis=0))) / variance
    return {s: float(b) for s, b in zip(book.symbols, betas, strict=True)}


def correlation_matrix(book: AlignedBook) -> tuple[tuple[float, ...], ...]:
    """Pearson correlation of the holdings' daily returns, rows and columns in ``book.symbols`` order.

    A series that never moves in the window has no defined correlation; it gets 0.0 against the
    others and 1.0 with itself (so the matrix stays a valid, positive semi-definite correlation
    matrix and no NaN reaches the desk). Values are clipped to [-1, 1] against rounding.
    With fewer than two days every off-diagonal entry is 0.0.
    """
    k = len(book.symbols)
    if k == 0:
        return ()
    if book.observations < 2:
        return tuple(tuple(1.0 if i == j else 0.0 for j in range(k)) for i in range(k))
    centred = book.returns - book.returns.mean(axis=0)
    sums = np.einsum("ij,ij->j", centred, centred)
    scale = np.einsum("ij,ij->j", book.returns, book.returns)
    moving = sums > _TINY * scale
    norms = np.where(moving, np.sqrt(np.where(moving, sums, 1.0)), 1.0)
    unit = centred / norms
    corr = unit.T @ unit
    corr[~moving, :] = 0.0
    corr[:, ~moving] = 0.0
    np.clip(corr, -1.0, 1.0, out=corr)
    np.fill_diagonal(corr, 1.0)
    return tuple(tuple(float(c) for c in row) for row in corr)


def effective_positions(values: Mapping[str, float]) -> float:
    """1 / sum(w^2) with w = |value| / sum |value|: how many equal positions the book behaves like.

    Absolute weights so that a short counts as concentration as much as a long (a long/short pair
    is two positions, not an undefined ratio). 0.0 for an empty book.
    """
    weights = np.abs(np.array([float(v) for v in values.values()], dtype=np.float64))
    total = float(weights.sum())
    if total <= 0.0 or not math.isfinite(total):
        return 0.0
    weights /= total
    return 1.0 / float(weights @ weights)


def diversification_ratio(book: AlignedBook) -> float:
    """sum(|w_i| sigma_i) / sigma_p with w the signed value weights (scale cancels out).

    1.0 for a single holding or perfectly correlated longs, larger the more the holdings offset
    each other. Undefined cases: no holdings or history, or nothing in the book moves -> 1.0
    (nothing to diversify); holdings that move but offset exactly (sigma_p == 0, a perfect hedge)
    -> ``math.inf``, which is the honest limit and which the desk can show as such.
    """
    if not book.symbols or book.observations < 2:
        return 1.0
    if len(book.symbols) == 1:
        return 1.0
    sigmas = book.returns.std(axis=0, ddof=1)
    weighted = float(np.abs(book.values) @ sigmas)
    sigma_p = float(book.pnl().std(ddof=1))
    if weighted <= 0.0:
        return 1.0
    if sigma_p <= _TINY * weighted:
        return math.inf
    return max(1.0, weighted / sigma_p)
