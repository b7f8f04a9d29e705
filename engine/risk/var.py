"""One-day Value at Risk and expected shortfall of the book, by three methods, and their backtest.

Every figure is money, losses as positive numbers, and is clamped at zero: a book whose tail is
still a gain has nothing at risk, and the desk's gauge reads "no risk", not a negative loss.

The three methods answer the same question under different assumptions, which is why the desk
shows all three side by side: historical replays what really happened (fat tails, no model),
parametric assumes a normal P&L (cheap, smooth, thin-tailed), Monte Carlo samples the same normal
model scenario by scenario (the shape a non-linear book will need, and a check on the other two).

Everything here is pure: no clock, no I/O, no global state; randomness comes only from the
``seed`` argument. The normal quantiles come from the standard library's ``NormalDist`` (the
same numbers as ``scipy.stats.norm`` to 1e-15, checked by the tests) so that computing a report
on the engine's worker thread never pays for importing ``scipy.stats``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from engine.model.risk import VarFigures

FloatArray = NDArray[np.float64]

LEVELS: tuple[float, float] = (0.95, 0.99)
"""The confidence levels every ``VarFigures`` carries."""

MIN_OBSERVATIONS = 20
"""Fewer aligned daily returns than this and every figure is zero: a 99% quantile of a dozen
days is noise, and the desk should show "not enough history" rather than a confident number."""

DEFAULT_SCENARIOS = 10_000

DEFAULT_WORKERS = 2
"""Threads drawing Monte Carlo blocks; the figures do not depend on it (see ``simulate_pnl``)."""

_BLOCK_ELEMENTS = 1 << 18
"""Normals per Monte Carlo block (2 MiB of float64): small enough to stay in cache and to share
out evenly among threads, large enough that per-block overhead is noise."""

_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class AlignedBook:
    """The held symbols, their signed values and a (days x symbols) return matrix, most recent last.

    Built once per report so that every figure sees the same window and the same columns.
    """

    symbols: tuple[str, ...]
    values: FloatArray
    returns: FloatArray

    @property
    def observations(self) -> int:
        return int(self.returns.shape[0])

    def pnl(self) -> FloatArray:
        """Daily P&L the current holdings would have made on each past day (a single matvec)."""
        if not self.symbols:
            return np.zeros(self.observations)
        return self.returns @ self.values


def align_book(
    values: Mapping[str, float], returns: Mapping[str, NDArray[np.floating]], *, window: int | None = None
) -> AlignedBook:
    """Line up the held symbols' return series on their common most recent days.

    Holdings of zero value are dropped, and so are holdings with no return series at all: they
    carry no measurable risk here, which is the lesser evil compared with zeroing the whole book's
    figures because one new symbol has no history yet (the caller sees them missing from
    ``symbols``). Series of unequal length are cut to the shortest, keeping the most recent days,
    then to ``window`` days when given. Columns are sorted by symbol so that a seeded Monte Carlo
    run does not depend on the order a mapping happened to be built in.

    Raises ValueError naming the symbol when a value, or a return inside the window used, is not
    finite: a NaN would silently poison every figure.
    """
    held: list[str] = []
    for symbol in sorted(values):
        value = float(values[symbol])
        if not math.isfinite(value):
            raise ValueError(f"position value for {symbol} is not finite ({value})")
        if value != 0.0 and symbol in returns:
            held.append(symbol)
    if not held:
        return AlignedBook((), np.zeros(0), np.zeros((0, 0)))
    n = min(len(returns[symbol]) for symbol in held)
    if window is not None:
        n = min(n, max(int(window), 0))
    matrix = np.empty((n, len(held)), dtype=np.float64)
    for j, symbol in enumerate(held):
        series = np.asarray(returns[symbol], dtype=np.float64)
        if series.ndim != 1:
            raise ValueError(f"returns for {symbol} must be one-dimensional, got shape {series.shape}")
        matrix[:, j] = series[len(series) - n :]
    if not np.isfinite(matrix).all():
        bad = int(np.flatnonzero(~np.isfinite(matrix).all(axis=0))[0])
        day = int(np.flatnonzero(~np.isfinite(matrix[:, bad]))[0])
        raise ValueError(
            f"returns for {held[bad]} are not finite ({matrix[day, bad]} at {n - day} day(s) before the end)"
        )
    return AlignedBook(tuple(held), np.array([float(values[s]) for s in held]), matrix)


def zero_figures(method: str) -> VarFigures:
    return VarFigures(method, 0.0, 0.0, 0.0, 0.0)


def tail_figures(pnl: FloatArray, level: float) -> tuple[float, float]:
    """Empirical (VaR, CVaR) of a P&L sample at ``level``, losses positive, clamped at zero.

    VaR is minus the ``1 - level`` quantile (numpy's default linear interpolation, the same
    definition the desk's gauge uses); CVaR is the mean loss on the days at or beyond it, so the
    tail is never empty and CVaR >= VaR always holds.
    """
    cut = float(np.quantile(pnl, 1.0 - level))
    tail = pnl[pnl <= cut]
    cvar = -float(tail.mean()) if tail.size else -cut
    return max(0.0, -cut), max(0.0, cvar)


def figures_from_pnl(method: str, pnl: FloatArray) -> VarFigures:
    """``VarFigures`` from a P&L sample (historical days or simulated scenarios)."""
    if pnl.size < MIN_OBSERVATIONS:
        return zero_figures(method)
    var_95, cvar_95 = tail_figures(pnl, LEVELS[0])
    var_99, cvar_99 = tail_figures(pnl, LEVELS[1])
    return VarFigures(method, var_95, cvar_95, var_99, cvar_99)


def normal_var(mean: float, sigma: float, level: float) -> tuple[float, float]:
    """(VaR, CVaR) of a normal P&L with this mean and standard deviation, losses positive.

    VaR = -(mu + z sigma) with z = Phi^-1(1 - level) < 0; CVaR is the closed form
    sigma phi(z) / (1 - level) - mu. Both clamped at zero.
    """
    z = _STANDARD_NORMAL.inv_cdf(1.0 - level)
    var = -(mean + z * sigma)
    cvar = sigma * _STANDARD_NORMAL.pdf(z) / (1.0 - level) - mean
    return max(0.0, var), max(0.0, cvar)


def parametric_from_pnl(pnl: FloatArray, *, vol_multiplier: float = 1.0) -> VarFigures:
    """Variance-covariance VaR computed from the book's historical P&L series.

    mean(R w) = w . mu and var(R w, ddof=1) = w' S w for the sample mean mu and covariance S of
    the returns R, exactly, so the portfolio moments are taken from the P&L series in O(days x
    symbols) without ever forming the (symbols x symbols) covariance. ``vol_multiplier`` scales
    sigma, i.e. the covariance by its square (the stress scenarios' volatility regimes).
    """
    if pnl.size < MIN_OBSERVATIONS:
        return zero_figures("parametric")
    mean = float(pnl.mean())
    sigma = float(pnl.std(ddof=1)) * vol_multiplier
    var_95, cvar_95 = normal_var(mean, sigma, LEVELS[0])
    var_99, cvar_99 = normal_var(mean, sigma, LEVELS[1])
    return VarFigures("parametric", var_95, cvar_95, var_99, cvar_99)


def covariance_factor(cov: FloatArray) -> FloatArray:
    """A matrix L with L @ L.T == cov: Cholesky when cov is positive definite, else eigen-clipped.

    A sample covariance of more symbols than days is singular (rank <= days - 1), and rounding
    can leave a valid matrix a hair off positive definite, so Cholesky failing is expected, not
    an error. The fallback clips negative eigenvalues to zero and drops the zero-eigenvalue
    columns: they contribute nothing to L @ L.T, and dropping them means fewer normals to draw.
    """
    k = cov.shape[0]
    if k == 0:
        return np.zeros((0, 0))
    try:
        return np.asarray(np.linalg.cholesky(cov), dtype=np.float64)
    except np.linalg.LinAlgError:
        eigenvalues, eigenvectors = np.linalg.eigh(cov)
        top = float(eigenvalues[-1]) if eigenvalues.size else 0.0
        keep = eigenvalues > max(top, 0.0) * k * np.finfo(np.float64).eps
        return np.asarray(eigenvectors[:, keep] * np.sqrt(eigenvalues[keep]), dtype=np.float64)


def simulate_pnl(
    exposures: FloatArray,
    mean: FloatArray,
    cov: FloatArray,
    *,
    scenarios: int,
    seed: int,
    workers: int = DEFAULT_WORKERS,
) -> FloatArray:
    """Portfolio P&L of ``scenarios`` multivariate-normal one-day return scenarios N(mean, cov).

    ``simulate_factor_pnl`` with L = ``covariance_factor(cov)``.
    """
    return simulate_factor_pnl(
        exposures, mean, covariance_factor(cov), scenarios=scenarios, seed=seed, workers=workers
    )


def simulate_factor_pnl(
    exposures: FloatArray,
    mean: FloatArray,
    factor: FloatArray,
    *,
    scenarios: int,
    seed: int,
    workers: int = DEFAULT_WORKERS,
) -> FloatArray:
    """Portfolio P&L of scenarios mu + Z @ L.T, for any factor L (symbols x m) with L @ L.T = cov.

    Z is standard normal (scenarios x m); the book's P&L is the scenario returns times the
    exposures w. Because the book is linear,
    (Z @ L.T) @ w == Z @ (L.T @ w) exactly, so L.T @ w is computed once and each scenario costs a
    dot product instead of a (factors x symbols) matmul. The per-symbol scenario matrix is never
    formed; a non-linear book (options revalued per scenario) would need Z @ L.T itself.

    Drawing the normals is nearly all the cost (5 million for 500 symbols x 10,000 scenarios),
    so the scenarios are cut into blocks of at most ``_BLOCK_ELEMENTS`` normals, block b drawn
    from ``np.random.default_rng(seed).spawn(blocks)[b]``, and the blocks are shared among
    ``workers`` threads (numpy's generators release the GIL while they fill). Each block owns its stream
    and its slice of the output, so the result depends on the seed and the inputs only, never on
    ``workers`` or on thread timing; blocks also bound memory (no 40 MB Z matrix).
    """
    loading = np.ascontiguousarray(factor.T @ exposures)
    centre = float(exposures @ mean)
    out = np.empty(scenarios, dtype=np.float64)
    width = loading.size
    if width == 0 or scenarios == 0:
        out.fill(centre)
        return out
    rows = max(1, _BLOCK_ELEMENTS // width)
    starts = range(0, scenarios, rows)
    streams = np.random.default_rng(seed).spawn(len(starts))

    def draw(first_block: int, step: int) -> None:
        buffer = np.empty((min(rows, scenarios), width), dtype=np.float64)
        for b in range(first_block, len(starts), step):
            start = starts[b]
            stop = min(start + rows, scenarios)
            chunk = buffer[: stop - start]
            streams[b].standard_normal(out=chunk)
            # einsum, not matmul: a BLAS call from two threads at once can serialise on, or
            # oversubscribe, BLAS's own thread pool; the product is ~2% of the block's cost.
            np.einsum("ij,j->i", chunk, loading, out=out[start:stop])

    threads = max(1, min(workers, len(starts)))
    if threads == 1:
        draw(0, 1)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for done in [pool.submit(draw, j, threads) for j in range(threads)]:
                done.result()
    out += centre
    return out


def historical_var(values: Mapping[str, float], returns: Mapping[str, NDArray[np.floating]]) -> VarFigures:
    """Historical-simulation VaR/CVaR: today's holdings replayed over every aligned past day.

    No distributional assumption, so fat tails and the co-movement of bad days are kept as they
    happened; the price is that the figure only knows the days in the window.
    """
    return figures_from_pnl("historical", align_book(values, returns).pnl())


def parametric_var(values: Mapping[str, float], returns: Mapping[str, NDArray[np.floating]]) -> VarFigures:
    """Variance-covariance (normal) VaR/CVaR from the sample mean and covariance of the returns."""
    return parametric_from_pnl(align_book(values, returns).pnl())


def monte_carlo_from_book(
    book: AlignedBook, *, scenarios: int, seed: int, workers: int = DEFAULT_WORKERS
) -> VarFigures:
    """``monte_carlo_var`` on an already aligned book (the report aligns once for every figure)."""
    if book.observations < MIN_OBSERVATIONS or not book.symbols or scenarios < MIN_OBSERVATIONS:
        return zero_figures("monte_carlo")
    mean = book.returns.mean(axis=0)
    days, symbols = book.returns.shape
    if days <= symbols:
        # No more days than symbols: the sample covariance is singular, so Cholesky must fail.
        # The centred returns over sqrt(days - 1) are an exact factor of it (L @ L.T == cov by
        # definition), which spares a (symbols x symbols) covariance and eigendecomposition.
        factor = (book.returns - mean).T / math.sqrt(days - 1)
    else:
        factor = covariance_factor(np.atleast_2d(np.cov(book.returns, rowvar=False)))
    pnl = simulate_factor_pnl(book.values, mean, factor, scenarios=scenarios, seed=seed, workers=workers)
    return figures_from_pnl("monte_carlo", pnl)


def monte_carlo_var(
    values: Mapping[str, float],
    returns: Mapping[str, NDArray[np.floating]],
    *,
    scenarios: int = DEFAULT_SCENARIOS,
    seed: int = 0,
    workers: int = DEFAULT_WORKERS,
) -> VarFigures:
    """Monte Carlo VaR/CVaR: seeded multivariate-normal scenarios from the returns' mean and covariance.

    Under this model the answer converges to the parametric one (the tests check it); the method
    earns its place as the one a non-linear book can use, and as a check that the two agree.
    ``workers`` threads share the drawing; the figures are the same for any number of them.
    """
    return monte_carlo_from_book(align_book(values, returns), scenarios=scenarios, seed=seed, workers=workers)


def rolling_historical_var(pnl: NDArray[np.floating], *, window: int, level: float) -> FloatArray:
    """Out-of-sample one-day historical VaR forecasts: entry t uses only days t .. t+window-1 and
    forecasts day t+window, so the result lines up with ``pnl[window:]`` for a backtest.

    Same quantile definition as ``historical_var`` (so a forecast equals that function on the same
    window), computed for every window at once over a strided view.
    """
    series = np.asarray(pnl, dtype=np.float64)
    if window < 1 or series.size <= window:
        return np.zeros(0)
    windows = np.lib.stride_tricks.sliding_window_view(series[:-1], window)
    return np.maximum(0.0, -np.quantile(windows, 1.0 - level, axis=1))


def kupiec_pof(exceedances: int, observations: int, level: float) -> float:
    """Kupiec's proportion-of-failures test: p-value that the VaR's exceedance rate is 1 - level.

    LR = -2 ln[(1-p)^(T-x) p^x] + 2 ln[(1-x/T)^(T-x) (x/T)^x] with p = 1 - level, x exceedances
    in T observations (0 ln 0 taken as 0), asymptotically chi-square with one degree of freedom,
    whose survival function is erfc(sqrt(LR / 2)). A small p-value says the model's tail is wrong
    in either direction: too many exceedances (risk understated) or too few (overstated).
    """
    if observations <= 0:
        raise ValueError(f"observations must be positive, got {observations}")
    if not 0 <= exceedances <= observations:
        raise ValueError(f"exceedances must be between 0 and {observations}, got {exceedances}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1, got {level}")
    p = 1.0 - level
    x, t = float(exceedances), float(observations)
    rate = x / t

    def log_likelihood(q: float) -> float:
        stay = (t - x) * math.log1p(-q) if t > x else 0.0
        fail = x * math.log(q) if x > 0 else 0.0
        return stay + fail

    ratio = max(0.0, -2.0 * (log_likelihood(p) - log_likelihood(rate)))
    return min(1.0, max(0.0, math.erfc(math.sqrt(ratio / 2.0))))
