"""Performance metrics of a strategy from its periodic (daily) simple returns.

Conventions shared by every function here, unless its docstring says otherwise:

* ``returns`` are *simple* (not log) per-period returns, ``r_t = P_t / P_{t-1} - 1``, given as
  a 1-D float array (anything ``np.asarray`` turns into one). Non-finite values are rejected
  with ``ValueError``: a gap must be filled (or dropped) by the caller, on purpose.
* Annualisation uses ``annualization = 252`` periods a year; ``risk_free`` and
  ``required_return`` are *per-period* rates (as in empyrical), 0 by default.
* Sample standard deviations use ``ddof = 1``.
* A metric that is undefined for the input (empty series, zero denominator, too few points)
  is ``NaN``; a flat or all-positive series never raises.
* Drawdowns, VaR and CVaR are reported as returns, so they are <= 0 for a loss
  (``max_drawdown = -0.2`` is a 20% fall from the peak).

The definitions follow empyrical (``empyrical-reloaded``) and quantstats where those libraries
define the metric; the test suite checks the agreement on real shipped returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "ANNUALIZATION",
    "EULER_GAMMA",
    "Metrics",
    "annualized_return",
    "annualized_volatility",
    "average_loss",
    "average_win",
    "cagr",
    "calmar_ratio",
    "conditional_value_at_risk",
    "deflated_sharpe_ratio",
    "downside_deviation",
    "drawdown_series",
    "expected_max_sharpe",
    "exposure",
    "max_drawdown",
    "max_drawdown_duration",
    "probabilistic_sharpe_ratio",
    "profit_factor",
    "psr_from_moments",
    "sharpe_ratio",
    "sortino_ratio",
    "summary",
    "total_return",
    "turnover",
    "value_at_risk",
    "win_rate",
]

ANNUALIZATION = 252
"""Trading days a year: the annualisation factor for daily returns."""

EULER_GAMMA = 0.5772156649015329
"""The Euler-Mascheroni constant, used by the expected maximum of N Gaussian draws."""

FloatArray = npt.NDArray[np.float64]
NAN = math.nan


def _returns(returns: npt.ArrayLike, name: str = "returns") -> FloatArray:
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (fill or drop gaps before measuring)")
    return arr


def _ratio(num: float, den: float) -> float:
    """``num / den``, NaN when the denominator is zero or either side is not finite."""
    if den == 0.0 or not (math.isfinite(num) and math.isfinite(den)):
        return NAN
    return num / den


def _flat(values: FloatArray) -> bool:
    """All values identical: the volatility is zero, whatever rounding ``np.std`` leaves."""
    return values.size == 0 or float(np.ptp(values)) == 0.0


# --- returns and risk -------------------------------------------------------------------------


def total_return(returns: npt.ArrayLike) -> float:
    """Compounded return over the whole series: ``prod(1 + r_t) - 1``; NaN when empty."""
    r = _returns(returns)
    if r.size == 0:
        return NAN
    return float(np.prod(1.0 + r) - 1.0)


def annualized_return(returns: npt.ArrayLike, *, annualization: int = ANNUALIZATION) -> float:
    """Geometric annualised return: ``(1 + total_return) ** (annualization / n) - 1``.

    ``n`` is the number of returns, so the series spans ``n / annualization`` years
    (empyrical's ``annual_return``). NaN when empty or when the wealth ends below zero.
    """
    r = _returns(returns)
    if r.size == 0:
        return NAN
    wealth = float(np.prod(1.0 + r))
    if wealth < 0.0:
        return NAN
    return float(wealth ** (annualization / r.size) - 1.0)


def cagr(returns: npt.ArrayLike, *, years: float | None = None, annualization: int = ANNUALIZATION) -> float:
    """Compound annual growth rate: ``(1 + total_return) ** (1 / years) - 1``.

    ``years`` defaults to ``n / annualization`` (bar count), which makes it equal to
    :func:`annualized_return` (as empyrical's and quantstats' ``cagr``); pass calendar years
    (e.g. ``(last_date - first_date).days / 365.25``) to measure on the calendar instead.
    NaN when empty, when ``years <= 0`` or when the wealth ends below zero.
    """
    r = _returns(returns)
    if years is None:
        return annualized_return(r, annualization=annualization)
    if r.size == 0 or not years > 0.0:
        return NAN
    wealth = float(np.prod(1.0 + r))
    if wealth < 0.0:
        return NAN
    return float(wealth ** (1.0 / years) - 1.0)


def annualized_volatility(returns: npt.ArrayLike, *, annualization: int = ANNUALIZATION) -> float:
    """Annualised volatility: ``std(r, ddof=1) * sqrt(annualization)``; NaN with fewer than 2 returns."""
    r = _returns(returns)
    if r.size < 2:
        return NAN
    return float(np.std(r, ddof=1) * math.sqrt(annualization))


def sharpe_ratio(
    returns: npt.ArrayLike, *, risk_free: float = 0.0, annualization: int = ANNUALIZATION
) -> float:
    """Annualised Sharpe ratio: ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(annualization)``.

    ``risk_free`` is a per-period rate. NaN with fewer than 2 returns or zero volatility.
    """
    r = _returns(returns)
    if r.size < 2:
        return NAN
    excess = r - risk_free
    if _flat(excess):
        return NAN
    sd = float(np.std(excess, ddof=1))
    return _ratio(float(np.mean(excess)) * math.sqrt(annualization), sd)


def downside_deviation(
    returns: npt.ArrayLike, *, required_return: float = 0.0, annualization: int = ANNUALIZATION
) -> float:
    """Annualised downside deviation: ``sqrt(mean(min(r - req, 0) ** 2)) * sqrt(annualization)``.

    The mean runs over *all* periods (those above ``req`` count as zero), empyrical's
    ``downside_risk``. NaN when empty.
    """
    r = _returns(returns)
    if r.size == 0:
        return NAN
    shortfall = np.minimum(r - required_return, 0.0)
    return float(math.sqrt(float(np.mean(shortfall**2))) * math.sqrt(annualization))


def sortino_ratio(
    returns: npt.ArrayLike, *, required_return: float = 0.0, annualization: int = ANNUALIZATION
) -> float:
    """Annualised Sortino ratio: ``mean(r - req) * annualization / downside_deviation(r, req)``.

    empyrical's convention (required return 0 by default, per period). NaN with fewer than
    2 returns or when nothing falls below ``req`` (empyrical returns ``inf`` there).
    """
    r = _returns(returns)
    if r.size < 2:
        return NAN
    dd = downside_deviation(r, required_return=required_return, annualization=annualization)
    return _ratio(float(np.mean(r - required_return)) * annualization, dd)


def drawdown_series(returns: npt.ArrayLike) -> FloatArray:
    """Drawdown after each return: ``W_t / max(W_0..W_t) - 1`` with wealth ``W_0 = 1``,
    ``W_t = prod(1 + r_1..r_t)``; one value per return, each <= 0."""
    r = _returns(returns)
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    peak = np.maximum.accumulate(wealth)
    out: FloatArray = (wealth / peak - 1.0)[1:]
    return out


def max_drawdown(returns: npt.ArrayLike) -> float:
    """Largest peak-to-trough fall of wealth, ``min(drawdown_series)`` (<= 0; 0 if wealth never
    falls). The starting wealth counts as a peak, as in empyrical. NaN when empty."""
    dd = drawdown_series(returns)
    if dd.size == 0:
        return NAN
    return float(min(0.0, float(dd.min())))


def max_drawdown_duration(returns: npt.ArrayLike) -> int:
    """Longest drawdown in bars, from its peak to its recovery (or to the end if unrecovered).

    With wealth ``W_0 = 1, W_1, ..., W_n``: a drawdown starts at a peak index ``p`` (``W_p`` is
    the running maximum) and lasts until the first ``k > p`` with ``W_k >= W_p``; its duration
    is ``k - p``, or ``n - p`` when wealth never gets back. 0 when wealth never falls (or the
    series is empty).
    """
    r = _returns(returns)
    n = r.size
    if n == 0:
        return 0
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    idx = np.arange(n + 1)
    at_peak = wealth >= np.maximum.accumulate(wealth)
    peak_idx = np.maximum.accumulate(np.where(at_peak, idx, 0))
    under = ~at_peak
    if not under.any():
        return 0
    # An underwater bar k is followed by recovery at k + 1 at the latest; cap at the end (n).
    spans = np.minimum(idx[under] + 1, n) - peak_idx[under]
    return int(spans.max())


def calmar_ratio(returns: npt.ArrayLike, *, annualization: int = ANNUALIZATION) -> float:
    """Calmar ratio: ``annualized_return / |max_drawdown|``; NaN when there is no drawdown
    (empyrical's ``calmar_ratio``)."""
    r = _returns(returns)
    mdd = max_drawdown(r)
    if not mdd < 0.0:
        return NAN
    return _ratio(annualized_return(r, annualization=annualization), abs(mdd))


def _cutoff(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return round(1.0 - confidence, 12)  # 1 - 0.95 is 0.050000000000000044 in floats


def value_at_risk(returns: npt.ArrayLike, *, confidence: float = 0.95) -> float:
    """Historical VaR of one period: the ``1 - confidence`` quantile of the returns, linearly
    interpolated (``np.percentile``), reported as a return (negative for a loss): empyrical's
    ``value_at_risk``. NaN when empty."""
    r = _returns(returns)
    if r.size == 0:
        return NAN
    return float(np.percentile(r, 100.0 * _cutoff(confidence)))


def conditional_value_at_risk(returns: npt.ArrayLike, *, confidence: float = 0.95) -> float:
    """Historical CVaR (expected shortfall) of one period: the mean of the ``k + 1`` lowest
    returns, ``k = floor((n - 1) * (1 - confidence))``: empyrical's
    ``conditional_value_at_risk``. Reported as a return; NaN when empty."""
    r = _returns(returns)
    if r.size == 0:
        return NAN
    k = int((r.size - 1) * _cutoff(confidence))
    return float(np.mean(np.partition(r, k)[: k + 1]))


# --- per-trade statistics ---------------------------------------------------------------------


def win_rate(trade_returns: npt.ArrayLike) -> float:
    """Share of winning trades among decided ones: ``#(r > 0) / #(r != 0)``; scratch trades
    (exactly 0) are left out, as in quantstats. NaN when no trade won or lost."""
    r = _returns(trade_returns, "trade_returns")
    decided = int(np.count_nonzero(r))
    return _ratio(float(np.count_nonzero(r > 0.0)), float(decided))


def profit_factor(trade_returns: npt.ArrayLike) -> float:
    """Gross profit over gross loss: ``sum(r[r > 0]) / |sum(r[r < 0])|``. NaN when there is no
    losing trade (quantstats returns ``inf``, or 0 when nothing won either)."""
    r = _returns(trade_returns, "trade_returns")
    gains = float(r[r > 0.0].sum())
    losses = float(-r[r < 0.0].sum())
    return _ratio(gains, losses)


def average_win(trade_returns: npt.ArrayLike) -> float:
    """Mean return of the winning trades (``r > 0``); NaN when none won."""
    r = _returns(trade_returns, "trade_returns")
    wins = r[r > 0.0]
    return float(wins.mean()) if wins.size else NAN


def average_loss(trade_returns: npt.ArrayLike) -> float:
    """Mean return of the losing trades (``r < 0``), a negative number; NaN when none lost."""
    r = _returns(trade_returns, "trade_returns")
    losses = r[r < 0.0]
    return float(losses.mean()) if losses.size else NAN


# --- positions --------------------------------------------------------------------------------


def _weights(weights: npt.ArrayLike) -> FloatArray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 1:
        w = w[:, None]
    if w.ndim != 2:
        raise ValueError(f"weights must be (bars,) or (bars, assets), got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("weights must be finite")
    return w


def turnover(weights: npt.ArrayLike, *, annualization: int = ANNUALIZATION) -> float:
    """Annualised two-sided turnover: ``mean_t sum_i |w[t, i] - w[t-1, i]| * annualization``.

    ``weights`` are the portfolio weights (fractions of equity) held at each bar, shape
    ``(bars,)`` or ``(bars, assets)``; the mean runs over the ``bars - 1`` changes, so the
    initial build from cash is not counted. 1.0 means the whole book bought *or* sold once a
    year counts 1 (a full round trip, out and back in, counts 2). NaN with fewer than 2 bars.
    """
    w = _weights(weights)
    if w.shape[0] < 2:
        return NAN
    return float(np.abs(np.diff(w, axis=0)).sum(axis=1).mean() * annualization)


def exposure(weights: npt.ArrayLike) -> float:
    """Time in the market: the share of bars holding any non-zero weight, in [0, 1]
    (quantstats' ``exposure``, without its rounding up to the percent). NaN when empty."""
    w = _weights(weights)
    if w.shape[0] == 0:
        return NAN
    return float(np.mean(np.any(w != 0.0, axis=1)))


# --- probabilistic and deflated Sharpe --------------------------------------------------------


def psr_from_moments(
    sharpe: float, n_obs: int, skew: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """Probabilistic Sharpe ratio from its inputs, all *per period* (not annualised).

    Bailey & López de Prado (2012), with ``kurtosis`` the raw (non-excess, 3 if normal) one::

        PSR = Phi( (SR - SR*) * sqrt(n - 1) / sqrt(1 - skew * SR + (kurtosis - 1) / 4 * SR^2) )

    NaN with ``n_obs < 2``, non-finite inputs or a non-positive variance term.
    """
    if n_obs < 2 or not all(math.isfinite(x) for x in (sharpe, skew, kurtosis, benchmark)):
        return NAN
    var_term = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not var_term > 0.0:
        return NAN
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var_term)
    return float(stats.norm.cdf(z))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` unskilled trials (true Sharpe 0) whose
    Sharpe ratios have variance ``sharpe_variance`` (Bailey & López de Prado, 2014)::

        SR0 = sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))

    with ``g`` the Euler-Mascheroni constant. Units follow ``sharpe_variance`` (per-period
    variance gives a per-period Sharpe). 0 for a single trial; NaN for a negative or
    non-finite variance or ``n_trials < 1``.
    """
    if n_trials < 1 or not (math.isfinite(sharpe_variance) and sharpe_variance >= 0.0):
        return NAN
    if n_trials == 1:
        return 0.0
    z1 = float(stats.norm.ppf(1.0 - 1.0 / n_trials))
    z2 = float(stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e)))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def _sample_moments(r: FloatArray, risk_free: float) -> tuple[float, float, float]:
    """Per-period Sharpe (ddof 1), skew and raw kurtosis (bias-corrected, as pandas)."""
    excess = r - risk_free
    if _flat(excess):
        return NAN, NAN, NAN
    sd = float(np.std(excess, ddof=1))
    sharpe = _ratio(float(np.mean(excess)), sd)
    if not math.isfinite(sharpe):
        return NAN, NAN, NAN
    skew = float(stats.skew(r, bias=False))
    kurt = float(stats.kurtosis(r, fisher=False, bias=False))
    return sharpe, skew, kurt


def probabilistic_sharpe_ratio(
    returns: npt.ArrayLike,
    *,
    benchmark_sharpe: float = 0.0,
    risk_free: float = 0.0,
    annualization: int = ANNUALIZATION,
) -> float:
    """Probability that the true Sharpe ratio exceeds ``benchmark_sharpe`` (annualised).

    :func:`psr_from_moments` on the per-period Sharpe ``mean(r - rf) / std(r - rf, ddof=1)``,
    the bias-corrected sample skewness and raw kurtosis of the returns (pandas'/quantstats'
    estimators, kurtosis + 3), ``n`` = number of returns, and ``SR* = benchmark_sharpe /
    sqrt(annualization)``. NaN with fewer than 4 returns or zero volatility.
    """
    r = _returns(returns)
    if r.size < 4:
        return NAN
    sharpe, skew, kurt = _sample_moments(r, risk_free)
    return psr_from_moments(sharpe, r.size, skew, kurt, benchmark_sharpe / math.sqrt(annualization))


def deflated_sharpe_ratio(
    returns: npt.ArrayLike,
    *,
    trial_sharpes: Sequence[float] | npt.ArrayLike | None = None,
    n_trials: int = 1,
    risk_free: float = 0.0,
    annualization: int = ANNUALIZATION,
) -> float:
    """Deflated Sharpe ratio (Bailey & López de Prado, 2014): the PSR of ``returns`` against the
    Sharpe ratio the best of ``N`` unskilled trials would show by luck.

    ``trial_sharpes`` are the *annualised* Sharpe ratios of all the trials tried (the selected
    strategy among them); their sample variance (ddof 1) divided by ``annualization`` is the
    per-period ``V``, and ``N = max(n_trials, len(trial_sharpes))``. The benchmark is
    ``expected_max_sharpe(N, V)`` (per period). With ``N == 1`` nothing is deflated and this is
    the PSR against 0; with ``N > 1`` and fewer than 2 trial Sharpes ``V`` is unknown: NaN.
    """
    r = _returns(returns)
    if r.size < 4:
        return NAN
    sharpes = np.empty(0) if trial_sharpes is None else np.asarray(trial_sharpes, dtype=np.float64).ravel()
    n = max(int(n_trials), int(sharpes.size))
    if n <= 1:
        variance = 0.0
    elif sharpes.size < 2 or not np.isfinite(sharpes).all():
        return NAN
    else:
        variance = float(np.var(sharpes, ddof=1)) / annualization
    benchmark = expected_max_sharpe(n, variance)
    sharpe, skew, kurt = _sample_moments(r, risk_free)
    return psr_from_moments(sharpe, r.size, skew, kurt, benchmark)


# --- summary ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metrics:
    """Every metric of one return series; NaN where undefined (see each function)."""

    n_obs: int
    total_return: float
    annualized_return: float
    cagr: float
    annualized_volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration: int
    var_95: float
    cvar_95: float
    psr: float
    dsr: float
    n_trades: int
    win_rate: float
    profit_factor: float
    average_win: float
    average_loss: float
    turnover: float
    exposure: float


def summary(
    returns: npt.ArrayLike,
    *,
    trades: npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
    n_trials: int = 1,
    trial_sharpes: Sequence[float] | npt.ArrayLike | None = None,
    risk_free: float = 0.0,
    annualization: int = ANNUALIZATION,
) -> Metrics:
    """All metrics of ``returns`` (per-period simple returns), with the per-trade statistics from
    ``trades`` (per-trade returns) and turnover/exposure from ``weights`` when given (NaN
    otherwise). ``n_trials`` and ``trial_sharpes`` feed the deflated Sharpe ratio."""
    r = _returns(returns)
    t = _returns(trades, "trade_returns") if trades is not None else None
    ann = annualization
    return Metrics(
        n_obs=int(r.size),
        total_return=total_return(r),
        annualized_return=annualized_return(r, annualization=ann),
        cagr=cagr(r, annualization=ann),
        annualized_volatility=annualized_volatility(r, annualization=ann),
        sharpe=sharpe_ratio(r, risk_free=risk_free, annualization=ann),
        sortino=sortino_ratio(r, required_return=0.0, annualization=ann),
        calmar=calmar_ratio(r, annualization=ann),
        max_drawdown=max_drawdown(r),
        max_drawdown_duration=max_drawdown_duration(r),
        var_95=value_at_risk(r, confidence=0.95),
        cvar_95=conditional_value_at_risk(r, confidence=0.95),
        psr=probabilistic_sharpe_ratio(r, risk_free=risk_free, annualization=ann),
        dsr=deflated_sharpe_ratio(
            r, trial_sharpes=trial_sharpes, n_trials=n_trials, risk_free=risk_free, annualization=ann
        ),
        n_trades=0 if t is None else int(t.size),
        win_rate=NAN if t is None else win_rate(t),
        profit_factor=NAN if t is None else profit_factor(t),
        average_win=NAN if t is None else average_win(t),
        average_loss=NAN if t is None else average_loss(t),
        turnover=NAN if weights is None else turnover(weights, annualization=ann),
        exposure=NAN if weights is None else exposure(weights),
    )
