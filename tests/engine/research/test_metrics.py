"""Research metrics against independent references (empyrical-reloaded, quantstats) on the real
daily returns that ship with the checkout, the PSR/DSR against the closed form and the published
example, and the edge cases (flat, all-positive, tiny series) that must give NaN, not raise."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kurtosis as sp_kurtosis
from scipy.stats import norm
from scipy.stats import skew as sp_skew

from engine.data.shipped import load_close_panel
from engine.research import metrics as m
from tests.shipped import shipped_market

with warnings.catch_warnings():
    # Reference libraries only; whatever they say about their own dependencies on import is not ours.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)
    import empyrical as ep
    import quantstats as qs

RTOL = 1e-9


def _returns(close: pd.Series) -> pd.Series:
    return close.pct_change().dropna()


def _trend(close: pd.Series, window: int = 200) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """A real strategy on real prices: long when yesterday's close was above its moving average.

    Returns (daily strategy returns, weights held each day, per-trade compounded returns).
    """
    r = close.pct_change()
    held = (close > close.rolling(window).mean()).shift(1, fill_value=False).astype(np.float64)
    daily = (held * r).iloc[window + 1 :]
    weights = held.iloc[window + 1 :].to_numpy()
    run_id = np.cumsum(np.r_[1.0, np.abs(np.diff(weights))])
    trades = [
        float(np.prod(1.0 + daily.to_numpy()[run_id == k]) - 1.0) for k in np.unique(run_id[weights == 1.0])
    ]
    return daily, weights, np.asarray(trades)


@pytest.fixture(scope="module")
def series() -> dict[str, pd.Series]:
    shipped = shipped_market()
    panel = load_close_panel(tickers=["AMD", "BAC", "CVX", "JPM", "KO"])
    out = {
        "SPX": _returns(shipped.bars["SPX"]["close"]),
        "AAPL": _returns(shipped.bars["AAPL"]["close"]),
        "SPX trend": _trend(shipped.bars["SPX"]["close"])[0],
    }
    for ticker in panel.columns:
        out[f"panel {ticker}"] = _returns(panel[ticker])
    out["panel equal weight"] = panel.pct_change().dropna().mean(axis=1)
    out["SPX 2008"] = out["SPX"].loc["2008"]  # a losing year: negative Sharpe, deep drawdown
    return out


NAMES = [
    "SPX",
    "AAPL",
    "SPX trend",
    "panel AMD",
    "panel BAC",
    "panel CVX",
    "panel JPM",
    "panel KO",
    "panel equal weight",
    "SPX 2008",
]


def assert_close(actual: float, expected: float, rtol: float = RTOL) -> None:
    assert math.isfinite(actual), actual
    assert actual == pytest.approx(float(expected), rel=rtol, abs=1e-15)


# --- against empyrical --------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_matches_empyrical(series: dict[str, pd.Series], name: str) -> None:
    s = series[name]
    r = s.to_numpy()
    assert len(r) > 200
    assert_close(m.total_return(r), ep.cum_returns_final(r))
    assert_close(m.annualized_return(r), ep.annual_return(r))
    assert_close(m.cagr(r), ep.cagr(r))
    assert_close(m.annualized_volatility(r), ep.annual_volatility(r))
    assert_close(m.sharpe_ratio(r), ep.sharpe_ratio(r))
    assert_close(m.sharpe_ratio(r, risk_free=0.0001), ep.sharpe_ratio(r, risk_free=0.0001))
    assert_close(m.downside_deviation(r), ep.downside_risk(r))
    assert_close(m.sortino_ratio(r), ep.sortino_ratio(r))
    assert_close(m.sortino_ratio(r, required_return=0.0002), ep.sortino_ratio(r, required_return=0.0002))
    assert_close(m.calmar_ratio(r), ep.calmar_ratio(r))
    assert_close(m.max_drawdown(r), ep.max_drawdown(r))
    np.testing.assert_allclose(
        m.drawdown_series(r), ep.stats.drawdown_series(s).to_numpy(), rtol=RTOL, atol=1e-12
    )
    assert_close(m.value_at_risk(r), ep.value_at_risk(r, cutoff=0.05))
    assert_close(m.value_at_risk(r, confidence=0.99), ep.value_at_risk(r, cutoff=0.01))
    assert_close(m.conditional_value_at_risk(r), ep.conditional_value_at_risk(r, cutoff=0.05))
    assert_close(
        m.conditional_value_at_risk(r, confidence=0.99), ep.conditional_value_at_risk(r, cutoff=0.01)
    )


# --- against quantstats -------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_matches_quantstats(series: dict[str, pd.Series], name: str) -> None:
    s = series[name]
    r = s.to_numpy()
    assert_close(m.total_return(r), qs.stats.comp(s))
    assert_close(m.cagr(r), qs.stats.cagr(s))
    assert_close(m.annualized_volatility(r), qs.stats.volatility(s))
    assert_close(m.sharpe_ratio(r), qs.stats.sharpe(s))
    assert_close(m.sortino_ratio(r), qs.stats.sortino(s))
    assert_close(m.max_drawdown(r), qs.stats.max_drawdown(s))
    assert_close(m.probabilistic_sharpe_ratio(r), qs.stats.probabilistic_sharpe_ratio(s))


def test_trade_statistics_match_quantstats(series: dict[str, pd.Series]) -> None:
    shipped = shipped_market()
    daily, weights, trades = _trend(shipped.bars["SPX"]["close"])
    assert len(trades) > 20 and (trades > 0).any() and (trades < 0).any()
    t = pd.Series(trades, index=pd.bdate_range("2000-01-03", periods=len(trades)))
    assert_close(m.win_rate(trades), qs.stats.win_rate(t))
    assert_close(m.profit_factor(trades), qs.stats.profit_factor(t))
    assert_close(m.average_win(trades), qs.stats.avg_win(t))
    assert_close(m.average_loss(trades), qs.stats.avg_loss(t))
    # Exposure: quantstats rounds time-in-market *up* to the percent; the plain share is below it.
    ex = m.exposure(weights)
    assert ex == pytest.approx(np.count_nonzero(weights) / len(weights), rel=1e-12)
    assert qs.stats.exposure(daily) - 0.01 <= ex <= qs.stats.exposure(daily)
    # Turnover: every switch in or out moves the whole book once.
    switches = np.count_nonzero(np.diff(weights))
    assert_close(m.turnover(weights), switches / (len(weights) - 1) * 252)
    # The daily returns of the strategy compound to the product of its trades.
    assert_close(m.total_return(daily.to_numpy()), np.prod(1.0 + trades) - 1.0, rtol=1e-9)


def test_turnover_and_exposure_of_a_panel_book() -> None:
    w = np.array([[0.5, 0.5], [0.6, 0.4], [0.0, 0.0], [0.0, -1.0]])
    # |0.1|+|0.1| = 0.2, then 1.0, then 1.0: mean 2.2 / 3 a bar.
    assert_close(m.turnover(w, annualization=1), 2.2 / 3)
    assert_close(m.exposure(w), 0.75)


# --- drawdown duration (no reference library counts bars; brute force instead) ------------------


def _brute_duration(r: np.ndarray) -> int:
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    best = 0
    peak_at, peak = 0, wealth[0]
    for k in range(1, len(wealth)):
        if wealth[k] >= peak:
            best = max(best, k - peak_at)
            peak_at, peak = k, wealth[k]
    if wealth[-1] < peak:
        best = max(best, len(wealth) - 1 - peak_at)
    return best


@pytest.mark.parametrize("name", NAMES)
def test_drawdown_duration_matches_brute_force(series: dict[str, pd.Series], name: str) -> None:
    r = series[name].to_numpy()
    assert m.max_drawdown_duration(r) == _brute_duration(r)


def test_drawdown_duration_by_hand() -> None:
    assert m.max_drawdown_duration([0.1, -0.1, 0.2]) == 2  # peak at bar 1, recovered at bar 3
    assert m.max_drawdown_duration([0.1, -0.1, 0.05]) == 2  # never recovered: to the end
    assert m.max_drawdown_duration([-0.1, 0.0, 0.0, 0.5, -0.01]) == 4  # the start is a peak
    assert m.max_drawdown_duration([0.01, 0.02]) == 0


# --- PSR and DSR --------------------------------------------------------------------------------


def _psr_closed_form(r: np.ndarray, sr_star: float) -> float:
    """Bailey & Lopez de Prado (2012), written out: per-period SR, raw kurtosis."""
    n = len(r)
    sr = r.mean() / r.std(ddof=1)
    g3 = sp_skew(r, bias=False)
    g4 = sp_kurtosis(r, fisher=False, bias=False)
    return float(norm.cdf((sr - sr_star) * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)))


@pytest.mark.parametrize("name", NAMES)
def test_psr_closed_form(series: dict[str, pd.Series], name: str) -> None:
    s = series[name]
    r = s.to_numpy()
    assert_close(m.probabilistic_sharpe_ratio(r), _psr_closed_form(r, 0.0))
    assert_close(
        m.probabilistic_sharpe_ratio(r, benchmark_sharpe=0.5),
        _psr_closed_form(r, 0.5 / math.sqrt(252)),
    )
    # pandas' sample moments are the ones used (quantstats' estimators).
    assert sp_skew(r, bias=False) == pytest.approx(s.skew(), rel=1e-9)
    assert sp_kurtosis(r, fisher=False, bias=False) == pytest.approx(s.kurt() + 3, rel=1e-9)


def test_dsr_published_example() -> None:
    """Bailey & Lopez de Prado (2014), 'The Deflated Sharpe Ratio', section 3: N = 100 trials,
    V[SR] = 1/2 (annualised), T = 1250 daily observations (250 a year), best SR 2.5 annualised,
    skewness -3, kurtosis 10: SR0 = 0.1132 (per day) and DSR = 0.9004."""
    sr0 = m.expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = m.psr_from_moments(2.5 / math.sqrt(250), 1250, -3.0, 10.0, benchmark=sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_dsr_closed_form_on_real_returns(series: dict[str, pd.Series]) -> None:
    r = series["SPX trend"].to_numpy()
    # Annualised Sharpe ratios of other trials: the other real series stand in for them.
    trials = np.array([m.sharpe_ratio(series[name].to_numpy()) for name in NAMES])
    v = trials.var(ddof=1) / 252
    g = 0.5772156649015329
    n = len(trials)
    sr0 = math.sqrt(v) * ((1 - g) * norm.ppf(1 - 1 / n) + g * norm.ppf(1 - 1 / (n * math.e)))
    dsr = m.deflated_sharpe_ratio(r, trial_sharpes=trials)
    assert_close(dsr, _psr_closed_form(r, sr0))
    assert dsr < m.probabilistic_sharpe_ratio(r)  # deflation only lowers it
    # More trials with the same spread deflate further; one trial is the plain PSR.
    assert m.deflated_sharpe_ratio(r, trial_sharpes=trials, n_trials=1000) < dsr
    assert_close(m.deflated_sharpe_ratio(r), m.probabilistic_sharpe_ratio(r))
    assert math.isnan(m.deflated_sharpe_ratio(r, n_trials=10))  # variance of the trials unknown


# --- summary and edge cases ---------------------------------------------------------------------


def test_summary_collects_every_metric(series: dict[str, pd.Series]) -> None:
    shipped = shipped_market()
    daily, weights, trades = _trend(shipped.bars["SPX"]["close"])
    r = daily.to_numpy()
    out = m.summary(r, trades=trades, weights=weights, n_trials=50, trial_sharpes=[0.1, 0.5, 0.9])
    assert out.n_obs == len(r) and out.n_trades == len(trades)
    assert out.sharpe == m.sharpe_ratio(r) and out.max_drawdown == m.max_drawdown(r)
    assert out.win_rate == m.win_rate(trades) and out.turnover == m.turnover(weights)
    assert out.dsr == m.deflated_sharpe_ratio(r, trial_sharpes=[0.1, 0.5, 0.9], n_trials=50)
    assert out.dsr < out.psr
    bare = m.summary(r)
    assert math.isnan(bare.win_rate) and math.isnan(bare.turnover) and bare.n_trades == 0
    assert bare.dsr == bare.psr
    with pytest.raises(AttributeError):
        out.sharpe = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("flat", [np.zeros(300), np.full(300, 0.0004)])
def test_flat_series_is_nan_not_an_error(flat: np.ndarray) -> None:
    out = m.summary(flat, trades=np.zeros(5), weights=np.zeros(300))
    for field in ("sharpe", "sortino", "calmar", "psr", "dsr", "win_rate", "profit_factor"):
        assert math.isnan(getattr(out, field)), field
    assert out.annualized_volatility == pytest.approx(0.0, abs=1e-15)
    assert out.max_drawdown == 0.0 and out.max_drawdown_duration == 0
    assert out.turnover == 0.0 and out.exposure == 0.0
    assert_close(out.total_return + 1.0, (1.0 + flat[0]) ** 300)


def test_all_positive_series() -> None:
    r = np.linspace(0.001, 0.01, 100)
    out = m.summary(r, trades=r[:10])
    assert out.max_drawdown == 0.0 and out.max_drawdown_duration == 0
    assert math.isnan(out.calmar) and math.isnan(ep.calmar_ratio(r))
    assert math.isnan(out.sortino)  # no downside: empyrical says inf, here it is undefined
    assert math.isinf(ep.sortino_ratio(r))
    assert out.sharpe > 0 and out.win_rate == 1.0 and math.isnan(out.profit_factor)
    assert math.isnan(out.average_loss) and out.average_win == pytest.approx(r[:10].mean())
    assert_close(out.var_95, ep.value_at_risk(r))


def test_short_and_empty_series() -> None:
    empty = m.summary([])
    assert empty.n_obs == 0 and empty.max_drawdown_duration == 0
    assert all(math.isnan(getattr(empty, f)) for f in ("total_return", "sharpe", "var_95", "psr", "cagr"))
    one = m.summary([0.01])
    assert one.total_return == pytest.approx(0.01) and math.isnan(one.sharpe)
    assert m.annualized_return([-1.0, 0.5]) == -1.0  # wiped out stays wiped out
    assert m.cagr([0.21], years=2.0) == pytest.approx(0.1)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        m.sharpe_ratio([0.01, math.nan, 0.02])
    with pytest.raises(ValueError, match="one-dimensional"):
        m.total_return(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="confidence"):
        m.value_at_risk([0.01, 0.02], confidence=1.5)
