"""VaR/CVaR by method, each against an independent reference (hand, pandas, scipy, a naive draw)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.data.loader import MarketData
from engine.risk.var import (
    align_book,
    covariance_factor,
    historical_var,
    monte_carlo_var,
    normal_var,
    parametric_var,
    simulate_pnl,
)

SYMBOLS = ("AAPL", "AMZN", "IBM", "MSFT", "XOM")


def synthetic(days: int = 250, seed: int = 11) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    mix = rng.normal(0.0, 0.01, (len(SYMBOLS), len(SYMBOLS)))
    draws = rng.standard_t(df=4, size=(days, len(SYMBOLS))) @ mix + 0.0004
    values = dict(zip(SYMBOLS, (50_000.0, 30_000.0, -20_000.0, 40_000.0, 10_000.0), strict=True))
    return values, {s: draws[:, j] for j, s in enumerate(SYMBOLS)}


def test_historical_hand_computed() -> None:
    # 20 days: one -10% day, one -5% day, 18 days of +1%; 1,000 held.
    returns = {"A": np.array([-0.10, -0.05, *([0.01] * 18)])}
    figures = historical_var({"A": 1_000.0}, returns)
    # 5% quantile of 20 sorted P&Ls, linear: at 19 * 0.05 = 0.95 between -100 and -50.
    assert figures.var_95 == pytest.approx(100 - 0.95 * 50)
    assert figures.cvar_95 == pytest.approx(100.0)  # only the -100 day lies beyond -52.5
    assert figures.var_99 == pytest.approx(100 - 0.19 * 50)
    assert figures.cvar_99 == pytest.approx(100.0)
    assert figures.method == "historical"


def test_historical_matches_pandas_quantile() -> None:
    values, returns = synthetic()
    pnl = pd.DataFrame(returns) @ pd.Series(values)
    figures = historical_var(values, returns)
    for level, var, cvar in (
        (0.95, figures.var_95, figures.cvar_95),
        (0.99, figures.var_99, figures.cvar_99),
    ):
        cut = pnl.quantile(1 - level)
        assert var == pytest.approx(-cut, rel=1e-12)
        assert cvar == pytest.approx(-pnl[pnl <= cut].mean(), rel=1e-12)
        assert cvar >= var


def test_parametric_matches_scipy_norm() -> None:
    values, returns = synthetic()
    matrix = np.column_stack([returns[s] for s in SYMBOLS])
    w = np.array([values[s] for s in SYMBOLS])
    mu = float(matrix.mean(axis=0) @ w)
    sigma = math.sqrt(w @ np.cov(matrix, rowvar=False) @ w)
    figures = parametric_var(values, returns)
    for level, var, cvar in (
        (0.95, figures.var_95, figures.cvar_95),
        (0.99, figures.var_99, figures.cvar_99),
    ):
        cut = stats.norm.ppf(1 - level, loc=mu, scale=sigma)
        tail_mean = stats.norm.expect(lambda x: x, loc=mu, scale=sigma, ub=cut, conditional=True)
        assert var == pytest.approx(-cut, rel=1e-10)
        assert cvar == pytest.approx(-tail_mean, rel=1e-7)  # expect() integrates numerically


def test_normal_quantiles_equal_scipy() -> None:
    for level in (0.9, 0.95, 0.975, 0.99, 0.999):
        z = stats.norm.ppf(1 - level)
        var, cvar = normal_var(0.0, 1.0, level)
        assert var == pytest.approx(-z, rel=1e-14)
        assert cvar == pytest.approx(stats.norm.pdf(z) / (1 - level), rel=1e-14)


def test_monte_carlo_converges_to_parametric() -> None:
    # 200,000 scenarios: the 99% quantile's standard error is ~0.4% of VaR; allow 2% (~5 SE).
    values, returns = synthetic(days=500)
    mc = monte_carlo_var(values, returns, scenarios=200_000, seed=3)
    para = parametric_var(values, returns)
    assert mc.method == "monte_carlo"
    for got, want in zip(
        (mc.var_95, mc.cvar_95, mc.var_99, mc.cvar_99),
        (para.var_95, para.cvar_95, para.var_99, para.cvar_99),
        strict=True,
    ):
        assert got == pytest.approx(want, rel=0.02)


def test_monte_carlo_is_the_naive_multivariate_draw() -> None:
    # Z @ (L.T @ w) must equal the textbook (mu + Z @ L.T) @ w drawn from the documented stream
    # (one block here: block b of the scenarios comes from default_rng(seed).spawn(blocks)[b]).
    values, returns = synthetic(days=120)
    book = align_book(values, returns)
    mean = book.returns.mean(axis=0)
    cov = np.cov(book.returns, rowvar=False)
    fast = simulate_pnl(book.values, mean, cov, scenarios=50_000, seed=9)
    factor = np.linalg.cholesky(cov)
    z = np.random.default_rng(9).spawn(1)[0].standard_normal((50_000, len(SYMBOLS)))
    naive = (mean + z @ factor.T) @ book.values
    np.testing.assert_allclose(fast, naive, rtol=1e-9, atol=1e-9 * float(np.abs(naive).max()))


def test_monte_carlo_does_not_depend_on_threads() -> None:
    rng = np.random.default_rng(6)
    matrix = rng.normal(0.0, 0.01, (300, 60)) + rng.normal(0.0, 0.01, (300, 1))
    book = align_book({f"S{j}": 1_000.0 for j in range(60)}, {f"S{j}": matrix[:, j] for j in range(60)})
    mean, cov = book.returns.mean(axis=0), np.cov(book.returns, rowvar=False)
    runs = [
        simulate_pnl(book.values, mean, cov, scenarios=30_000, seed=12, workers=workers)
        for workers in (1, 2, 3)
    ]
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])


def test_monte_carlo_seeded_and_order_independent() -> None:
    values, returns = synthetic()
    a = monte_carlo_var(values, returns, scenarios=5_000, seed=1)
    b = monte_carlo_var(
        dict(reversed(values.items())), dict(reversed(returns.items())), scenarios=5_000, seed=1
    )
    c = monte_carlo_var(values, returns, scenarios=5_000, seed=2)
    assert a == b
    assert a != c


def test_monte_carlo_more_assets_than_days() -> None:
    # 80 assets, 40 days: the sample covariance is singular and Cholesky fails; the eigen-clipped
    # factor reproduces it, and Monte Carlo (returns-based factor) still converges to parametric.
    rng = np.random.default_rng(5)
    matrix = rng.normal(0.0, 0.01, (40, 80)) + rng.normal(0.0, 0.01, (40, 1))
    returns = {f"S{j:02d}": matrix[:, j] for j in range(80)}
    values = {s: 1_000.0 + 10 * j for j, s in enumerate(returns)}
    cov = np.cov(matrix, rowvar=False)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(cov)
    factor = covariance_factor(cov)
    assert factor.shape[1] <= 39
    np.testing.assert_allclose(factor @ factor.T, cov, atol=1e-12)
    book = align_book(values, returns)
    via_eigen = simulate_pnl(book.values, book.returns.mean(axis=0), cov, scenarios=200_000, seed=4)
    para = parametric_var(values, returns)
    assert monte_carlo_var(values, returns, scenarios=200_000, seed=4).var_99 == pytest.approx(
        para.var_99, rel=0.02
    )
    assert -np.quantile(via_eigen, 0.01) == pytest.approx(para.var_99, rel=0.02)


def test_covariance_factor_clips_an_indefinite_matrix() -> None:
    cov = np.array([[1.0, 0.9, 0.7], [0.9, 1.0, 0.95], [0.7, 0.95, 1.0]])
    cov[0, 2] = cov[2, 0] = 0.3  # no longer positive semi-definite
    assert np.linalg.eigvalsh(cov).min() < 0
    factor = covariance_factor(cov)
    w, v = np.linalg.eigh(cov)
    np.testing.assert_allclose(factor @ factor.T, (v * np.clip(w, 0, None)) @ v.T, atol=1e-12)


@pytest.mark.parametrize("fn", [historical_var, parametric_var, monte_carlo_var])
def test_empty_or_short_history_gives_zeros(fn: object) -> None:
    assert callable(fn)
    for values, returns in (
        ({}, {}),
        ({"A": 0.0}, {"A": np.full(100, 0.01)}),
        ({"A": 1_000.0}, {"A": np.full(19, -0.01)}),
        ({"A": 1_000.0}, {}),
    ):
        figures = fn(values, returns)
        assert (figures.var_95, figures.cvar_95, figures.var_99, figures.cvar_99) == (0.0, 0.0, 0.0, 0.0)


def test_unequal_lengths_use_the_common_recent_days() -> None:
    rng = np.random.default_rng(2)
    long, short = rng.normal(0, 0.01, 300), rng.normal(0, 0.01, 100)
    both = historical_var({"A": 1.0, "B": 2.0}, {"A": long, "B": short})
    cut = historical_var({"A": 1.0, "B": 2.0}, {"A": long[-100:], "B": short})
    assert both == cut


def test_non_finite_returns_are_rejected_by_name() -> None:
    values, returns = synthetic()
    returns["IBM"] = returns["IBM"].copy()
    returns["IBM"][17] = np.nan
    for fn in (historical_var, parametric_var, monte_carlo_var):
        with pytest.raises(ValueError, match="IBM"):
            fn(values, returns)
    with pytest.raises(ValueError, match="MSFT"):
        historical_var({"MSFT": math.inf}, {"MSFT": np.zeros(30)})


def test_gains_only_clamps_at_zero() -> None:
    figures = parametric_var({"A": 1_000.0}, {"A": np.linspace(0.05, 0.06, 50)})
    assert figures.var_99 == 0.0 and figures.cvar_99 == 0.0


def test_real_spx_historical_matches_pandas(shipped: MarketData) -> None:
    close = shipped.bars["SPX"]["close"]
    daily = close.pct_change().dropna().iloc[-250:]
    figures = historical_var({"SPX": 1_000_000.0}, {"SPX": daily.to_numpy()})
    assert figures.var_99 == pytest.approx(-(daily * 1_000_000.0).quantile(0.01), rel=1e-12)
    assert 0 < figures.var_95 < figures.var_99 <= figures.cvar_99
