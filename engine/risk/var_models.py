"""VaR/ES models that react to volatility, rolled out of sample over a P&L (or return) series.

Why these exist: a flat 250-day historical window does not react when volatility jumps, so at
99% it is rejected on every shipped series (too many exceedances, and they cluster). The
models here split the forecast into *today's volatility* and *the shape of the tail*:

    loss quantile_t = sigma_t x q(z),   z = x_s / sigma_s the standardised past P&L

* ``fhs_ewma``: filtered historical simulation, sigma by RiskMetrics EWMA (lambda 0.94), q the
  empirical quantile of the last ``window`` standardised days (Barone-Adesi et al. 1999).
* ``fhs_garch``: the same, sigma by a GARCH(1,1) fitted with the ``arch`` package (normal
  quasi-likelihood, zero mean).
* ``student_t``: EWMA sigma, q from a Student-t fitted by scipy to the standardised window.
* ``cornish_fisher``: EWMA sigma, q the Cornish-Fisher expansion of the standardised window's
  skewness and excess kurtosis.
* ``evt``: GARCH sigma, q from a generalized Pareto tail (peaks over the 90% threshold of the
  standardised losses, ``scipy.stats.genpareto``): McNeil and Frey (2000), made for 99%+.

The existing ``historical``, ``parametric`` (normal) and ``monte_carlo`` methods roll here too,
on the raw series, so every method can be backtested the same way.

Fits are kept cheap by a schedule: the GARCH, Student-t and GPD parameters are re-estimated
every ``refit_every`` days (20 by default) on the ``window`` days before, and reused between
refits; the volatility recursion itself (EWMA or GARCH with fixed parameters) runs every day,
so sigma reacts daily even when the parameters do not. The recursion is a first-order linear
filter in x^2, run by ``scipy.signal.lfilter`` rather than a Python loop.

The mean is taken as zero in every filtered model (the standardised quantile absorbs any drift
in the window); losses are positive numbers, VaR and ES clamped at zero as in ``var.py``.

Parameters were chosen from the literature before any backtest was run (lambda 0.94 from
RiskMetrics 1996, a 1000-day window and a 90% GPD threshold as McNeil and Frey used, a 20-day
refit), and are not tuned to the shipped series; README's "VaR models" section has the evidence.

Pure: no clock, no I/O; randomness only from ``seed`` (Monte Carlo only).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

CLASSIC_METHODS: tuple[str, ...] = ("historical", "parametric", "monte_carlo")
FILTERED_METHODS: tuple[str, ...] = (
    "fhs_ewma",
    "fhs_garch",
    "fhs_gjr",
    "student_t",
    "cornish_fisher",
    "evt",
    "evt_gjr",
)
GARCH_FILTERED = frozenset({"fhs_garch", "fhs_gjr", "evt", "evt_gjr"})
ASYMMETRIC = frozenset({"fhs_gjr", "evt_gjr"})
METHODS: tuple[str, ...] = CLASSIC_METHODS + FILTERED_METHODS
"""Every method ``roll`` knows, in the order tables list them."""

METHOD_TEXT: dict[str, str] = {
    "historical": "historical simulation",
    "parametric": "normal variance-covariance",
    "monte_carlo": "Monte Carlo (normal)",
    "fhs_ewma": "filtered historical simulation, EWMA volatility",
    "fhs_garch": "filtered historical simulation, GARCH(1,1) volatility",
    "student_t": "Student-t on EWMA volatility",
    "cornish_fisher": "Cornish-Fisher on EWMA volatility",
    "fhs_gjr": "filtered historical simulation, GJR-GARCH(1,1,1) volatility",
    "evt": "EVT tail (GPD) on GARCH(1,1) volatility",
    "evt_gjr": "EVT tail (GPD) on GJR-GARCH(1,1,1) volatility",
}

CLASSIC_WINDOW = 250
"""Days the classic methods look back (``[risk] var_window_days``'s default)."""
FILTERED_WINDOW = 1000
"""Standardised days the filtered models draw their tail shape from (and GARCH is fitted on)."""
REFIT_EVERY = 20
"""Days between re-estimates of GARCH / Student-t / GPD parameters."""
EWMA_LAMBDA = 0.94
"""RiskMetrics' daily decay: a one-day volatility half-life of about 11 days."""
EVT_TAIL = 0.10
"""Share of the window's standardised losses above the GPD threshold."""
MC_SCENARIOS = 2_000
"""Scenarios per day when Monte Carlo is rolled (the live report keeps its own count)."""
MIN_WINDOW = 20
_CF_GRID = 64
"""Points of the Cornish-Fisher tail averaged for its expected shortfall."""
_SIGMA_FLOOR = 1e-300

_NORMAL = NormalDist()


def default_window(method: str) -> int:
    """The look-back a method uses when none is given."""
    return CLASSIC_WINDOW if method in CLASSIC_METHODS else FILTERED_WINDOW


def check_method(method: str) -> str:
    """``method`` if known, else ValueError listing the known ones."""
    if method not in METHODS:
        raise ValueError(f"unknown VaR method {method!r} (known: {', '.join(METHODS)})")
    return method


def check_level(level: float) -> float:
    if not (isinstance(level, int | float) and 0.5 <= float(level) < 1.0):
        raise ValueError(f"VaR level must be in [0.5, 1), e.g. 0.99; got {level}")
    return float(level)


@dataclass(frozen=True, slots=True)
class Forecasts:
    """Out-of-sample one-day forecasts: column j forecasts day ``start + j`` of the series.

    The last column forecasts the day after the series ends (the live figure); the columns
    before it line up with ``series[start:]`` for a backtest. ``var``/``es`` are (levels x days)
    losses; ``scale`` is the volatility forecast (the McNeil-Frey test standardises by it).
    """

    method: str
    levels: tuple[float, ...]
    start: int
    var: FloatArray
    es: FloatArray
    scale: FloatArray

    def live(self, level: float) -> tuple[float, float]:
        """(VaR, ES) for the day after the series, at ``level``."""
        i = self.levels.index(level)
        return float(self.var[i, -1]), float(self.es[i, -1])


def roll(
    series: NDArray[np.floating],
    method: str,
    levels: Sequence[float],
    *,
    window: int | None = None,
    start: int | None = None,
    refit_every: int = REFIT_EVERY,
    seed: int = 0,
    fits: Fits | None = None,
    fits_offset: int = 0,
) -> Forecasts:
    """Forecast VaR and ES at each of ``levels`` for days ``start`` .. ``len(series)``.

    Each forecast uses only the days before it (``window`` of them for the tail, all of them for
    the volatility recursion). ``start`` defaults to ``window`` (the first day with a full
    window) and may not be smaller. ``fits`` (a dict, filled on the first call) carries each
    block's fitted parameters to a later call on the same days; its keys are the blocks' first
    days plus ``fits_offset`` (a caller whose series slides one day a session passes the
    session's number, so a block keeps its key from one day to the next). Raises ValueError for an
    unknown method, a level outside [0.5, 1), a non-finite value, or too short a series.
    """
    check_method(method)
    lv = tuple(check_level(x) for x in levels)
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"series must be one-dimensional, got shape {x.shape}")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x))[0])
        raise ValueError(f"series has a non-finite value at index {bad}")
    w = default_window(method) if window is None else int(window)
    if w < MIN_WINDOW:
        raise ValueError(f"window must be at least {MIN_WINDOW} days, got {w}")
    s = w if start is None else int(start)
    if s < w:
        raise ValueError(f"start {s} leaves less than the {w}-day window before it")
    if x.size < s:
        raise ValueError(f"{x.size} days of history is less than the {w}-day window {method} needs")
    if refit_every < 1:
        raise ValueError(f"refit_every must be at least 1, got {refit_every}")
    if method in CLASSIC_METHODS:
        var, es, scale = _roll_classic(x, method, lv, w, s, seed)
    else:
        var, es, scale = _roll_filtered(x, method, lv, w, s, refit_every, fits, fits_offset)
    return Forecasts(method, lv, s, np.maximum(var, 0.0), np.maximum(es, 0.0), scale)


def forecast(
    series: NDArray[np.floating], method: str, levels: Sequence[float], *, window: int | None = None
) -> tuple[tuple[float, float], ...]:
    """Today's (VaR, ES) per level from the last ``window`` days (and the volatility before)."""
    x = np.asarray(series, dtype=np.float64)
    f = roll(x, method, levels, window=window, start=x.size)
    return tuple(f.live(level) for level in f.levels)


# ---------------------------------------------------------------------------- classic methods


def _roll_classic(
    x: FloatArray, method: str, levels: tuple[float, ...], w: int, s: int, seed: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    windows = np.lib.stride_tricks.sliding_window_view(x, w)[s - w :]  # day t uses x[t-w:t]
    scale = windows.std(axis=1, ddof=1)
    var = np.empty((len(levels), windows.shape[0]))
    es = np.empty_like(var)
    if method == "historical":
        for i, level in enumerate(levels):
            q, e = _empirical_tail(windows, 1.0 - level)
            var[i], es[i] = -q, -e
        return var, es, scale
    mean = windows.mean(axis=1)
    if method == "parametric":
        for i, level in enumerate(levels):
            z = _NORMAL.inv_cdf(1.0 - level)
            var[i] = -(mean + z * scale)
            es[i] = scale * _NORMAL.pdf(z) / (1.0 - level) - mean
        return var, es, scale
    rng = np.random.default_rng(seed)
    draws = np.sort(rng.standard_normal((windows.shape[0], MC_SCENARIOS)), axis=1)
    sample = mean[:, None] + scale[:, None] * draws
    for i, level in enumerate(levels):
        q, e = _empirical_tail(sample, 1.0 - level)
        var[i], es[i] = -q, -e
    return var, es, scale


def _empirical_tail(rows: FloatArray, p: float) -> tuple[FloatArray, FloatArray]:
    """Per row: the ``p`` quantile (numpy's linear interpolation, as ``var.tail_figures``) and the
    mean of the values at or below it."""
    q = np.quantile(rows, p, axis=1)
    below = rows <= q[:, None]
    count = below.sum(axis=1)
    tail = np.where(count > 0, (rows * below).sum(axis=1) / np.maximum(count, 1), q)
    return q, tail


# ---------------------------------------------------------------------------- filtered models


def variance_filter(
    x: FloatArray,
    omega: float,
    alpha: float,
    beta: float,
    first: float,
    *,
    gamma: float = 0.0,
    upto: int | None = None,
) -> FloatArray:
    """sigma^2_t = omega + alpha x_{t-1}^2 + beta sigma^2_{t-1}, sigma^2_0 = ``first``, for t = 0 .. len(x).

    One more entry than ``x``: the last is the forecast for the day after it. EWMA is the case
    omega 0, alpha 1 - lambda, beta lambda.
    """
    from scipy.signal import lfilter

    n = x.size if upto is None else upto
    out = np.empty(n + 1)
    out[0] = first
    if n:
        drive = omega + (alpha + gamma * (x[:n] < 0.0)) * x[:n] ** 2
        out[1:] = lfilter([1.0], [1.0, -beta], drive, zi=[beta * first])[0]
    return out


@dataclass(frozen=True, slots=True)
class GarchParams:
    omega: float
    alpha: float
    beta: float
    gamma: float = 0.0
    """GJR's extra weight on a loss day's squared move (0 for plain GARCH)."""

    @property
    def persistence(self) -> float:
        return self.alpha + self.gamma / 2.0 + self.beta


def fit_garch(x: FloatArray, previous: GarchParams | None = None, *, asymmetric: bool = False) -> GarchParams:
    """GARCH(1,1) (GJR-GARCH(1,1,1) when ``asymmetric``), zero mean, normal quasi-likelihood, by
    ``arch``; the data are scaled to unit variance for the optimiser and omega scaled back. A
    failed or non-stationary fit keeps ``previous`` (or falls back to EWMA's parameters): a
    forecast must always exist."""
    from arch import arch_model
    from arch.utility.exceptions import StartingValueWarning

    scale = float(x.std())
    fallback = previous or GarchParams(0.0, 1.0 - EWMA_LAMBDA, EWMA_LAMBDA)
    if not scale > 0.0:
        return fallback
    o = 1 if asymmetric else 0
    model = arch_model(x / scale, mean="Zero", vol="GARCH", p=1, o=o, q=1, dist="normal", rescale=False)
    start = None
    if previous is not None and previous.persistence < 1.0 and previous.omega > 0.0:
        first = [previous.omega / scale**2, previous.alpha]
        start = np.array([*first, previous.gamma, previous.beta] if o else [*first, previous.beta])
    try:
        with warnings.catch_warnings():
            # previous parameters that miss the new window's constraints are simply not used
            warnings.simplefilter("ignore", StartingValueWarning)
            result = model.fit(disp="off", show_warning=False, starting_values=start)
    except (ValueError, np.linalg.LinAlgError):
        return fallback
    values = result.params
    fitted = GarchParams(
        float(values["omega"]) * scale**2,
        float(values["alpha[1]"]),
        float(values["beta[1]"]),
        float(values["gamma[1]"]) if o else 0.0,
    )
    numbers = (fitted.omega, fitted.alpha, fitted.beta, fitted.gamma)
    if not all(math.isfinite(v) for v in numbers) or fitted.persistence >= 1.0 or fitted.omega <= 0.0:
        return fallback
    return fitted


TailStat = Callable[[FloatArray, tuple[float, ...], object], tuple[FloatArray, FloatArray, object]]
"""From (days x window) standardised windows and the block's fitted tail (None: fit it on the
first window): (levels x days) quantiles and tail means, and the fitted tail to reuse."""

Fits = dict[int, tuple[GarchParams | None, object]]
"""A block's fitted parameters by its first day: pass the same dict to ``roll`` again to reuse
them (the live report does, until the day or the book's weights change)."""


def _roll_filtered(
    x: FloatArray,
    method: str,
    levels: tuple[float, ...],
    w: int,
    s: int,
    every: int,
    fits: Fits | None,
    offset: int = 0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n = x.size
    days = n - s + 1
    var = np.empty((len(levels), days))
    es = np.empty_like(var)
    scale = np.empty(days)
    garch = method in GARCH_FILTERED
    asymmetric = method in ASYMMETRIC
    stat = _tail_stat(method)
    ewma_sig2 = None
    if not garch:
        first = float(np.mean(x[: min(n, MIN_WINDOW)] ** 2)) if n else 0.0
        ewma_sig2 = variance_filter(x, 0.0, 1.0 - EWMA_LAMBDA, EWMA_LAMBDA, first)
    params: GarchParams | None = None
    previous: GarchParams | None = None
    for t0 in range(s, n + 1, every):
        t1 = min(t0 + every, n + 1)  # forecast days t0 .. t1-1
        lo = t0 - w
        if ewma_sig2 is not None:
            sig2 = ewma_sig2[lo:t1]
        else:
            known = fits.get(t0 + offset) if fits is not None else None
            params = known[0] if known is not None and known[0] is not None else None
            if params is None:
                params = fit_garch(x[lo:t0], previous, asymmetric=asymmetric)
            previous = params
            first = float(np.var(x[lo:t0]))
            p = params
            sig2 = variance_filter(x[lo : t1 - 1], p.omega, p.alpha, p.beta, first, gamma=p.gamma)
        sigma = np.sqrt(np.maximum(sig2, _SIGMA_FLOOR))  # sigma[k] is day lo + k
        z = x[lo : t1 - 1] / sigma[:-1]
        windows = np.lib.stride_tricks.sliding_window_view(z, w)  # row k: z of days t0+k-w .. t0+k-1
        known = fits.get(t0 + offset) if fits is not None else None
        q, e, tail = stat(windows, levels, known[1] if known is not None else None)
        if fits is not None:
            fits[t0 + offset] = (params, tail)
        today = sigma[w:]
        j = slice(t0 - s, t1 - s)
        var[:, j] = -q * today
        es[:, j] = -e * today
        scale[j] = today
    return var, es, scale


def _tail_stat(method: str) -> TailStat:
    return {
        "fhs_ewma": _fhs_stat,
        "fhs_garch": _fhs_stat,
        "fhs_gjr": _fhs_stat,
        "evt_gjr": _evt_stat,
        "student_t": _student_t_stat,
        "cornish_fisher": _cornish_fisher_stat,
        "evt": _evt_stat,
    }[method]


def _fhs_stat(
    windows: FloatArray, levels: tuple[float, ...], fitted: object
) -> tuple[FloatArray, FloatArray, object]:
    q = np.empty((len(levels), windows.shape[0]))
    e = np.empty_like(q)
    for i, level in enumerate(levels):
        q[i], e[i] = _empirical_tail(windows, 1.0 - level)
    return q, e, None


def _student_t_stat(
    windows: FloatArray, levels: tuple[float, ...], fitted: object
) -> tuple[FloatArray, FloatArray, object]:
    """A Student-t (location 0) fitted by maximum likelihood to the block's first window and held
    for the block; ES in closed form: scale (nu + t_p^2) / (nu - 1) f(t_p) / p."""
    from scipy import stats

    if isinstance(fitted, tuple):
        nu, sc = fitted
    else:
        nu, _, sc = stats.t.fit(windows[0], floc=0.0)
        nu = max(float(nu), 2.05)  # a finite variance (and ES) is assumed
    q = np.empty((len(levels), windows.shape[0]))
    e = np.empty_like(q)
    for i, level in enumerate(levels):
        p = 1.0 - level
        tp = float(stats.t.ppf(p, nu))
        q[i] = sc * tp
        e[i] = -sc * (nu + tp**2) / (nu - 1.0) * float(stats.t.pdf(tp, nu)) / p
    return q, e, (nu, sc)


def _cornish_fisher_stat(
    windows: FloatArray, levels: tuple[float, ...], fitted: object
) -> tuple[FloatArray, FloatArray, object]:
    """Per day: mean + sd x the Cornish-Fisher quantile of the window's skewness and excess
    kurtosis; ES the average of that quantile over the tail (a 64-point midpoint rule)."""
    m = windows.mean(axis=1)
    d = windows - m[:, None]
    sd = np.sqrt((d**2).mean(axis=1))
    safe = np.where(sd > 0, sd, 1.0)
    skew = (d**3).mean(axis=1) / safe**3
    kurt = (d**4).mean(axis=1) / safe**4 - 3.0

    def cf(zv: float | FloatArray) -> FloatArray:
        z = np.asarray(zv, dtype=np.float64)
        return np.asarray(
            z
            + (z**2 - 1.0) * skew[..., None] / 6.0
            + (z**3 - 3.0 * z) * kurt[..., None] / 24.0
            - (2.0 * z**3 - 5.0 * z) * skew[..., None] ** 2 / 36.0
        )

    q = np.empty((len(levels), windows.shape[0]))
    e = np.empty_like(q)
    for i, level in enumerate(levels):
        p = 1.0 - level
        grid = np.array([_NORMAL.inv_cdf(p * (k + 0.5) / _CF_GRID) for k in range(_CF_GRID)])
        q[i] = m + sd * cf(np.array([_NORMAL.inv_cdf(p)]))[:, 0]
        e[i] = m + sd * cf(grid).mean(axis=1)
    return q, e, None


def _evt_stat(
    windows: FloatArray, levels: tuple[float, ...], fitted: object
) -> tuple[FloatArray, FloatArray, object]:
    """GPD over the threshold u (the 90% quantile of the standardised losses), fitted once per
    block; VaR_q = u + b/xi ((n/N_u (1-q))^-xi - 1), ES_q = (VaR_q + b - xi u) / (1 - xi).
    A level whose tail is not beyond the threshold uses the empirical window instead."""
    from scipy import stats

    if isinstance(fitted, tuple):
        u, xi, b, share = fitted
    else:
        losses = -windows[0]
        u = float(np.quantile(losses, 1.0 - EVT_TAIL))
        excess = losses[losses > u] - u
        fit = stats.genpareto.fit(excess, floc=0.0) if excess.size >= 5 else (0.0, 0.0, float(excess.mean()))
        xi, b = min(float(fit[0]), 0.9), float(fit[2])
        share = excess.size / losses.size
    q = np.empty((len(levels), windows.shape[0]))
    e = np.empty_like(q)
    for i, level in enumerate(levels):
        p = 1.0 - level
        if p >= share or b <= 0.0:
            q[i], e[i] = _empirical_tail(windows, p)
            continue
        ratio = p / share
        vq = u - b * math.log(ratio) if abs(xi) < 1e-9 else u + b / xi * (ratio ** (-xi) - 1.0)
        q[i] = -vq
        e[i] = -(vq + b - xi * u) / (1.0 - xi)
    return q, e, (u, xi, b, share)
