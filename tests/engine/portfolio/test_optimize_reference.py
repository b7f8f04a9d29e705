"""Each optimizer against PyPortfolioOpt (cvxpy) and scikit-learn on the real 20-stock panel.

Both sides get the same annualised inputs (our sample mean and covariance), the same bounds and
sector caps, so differences are the solvers'. Weights are compared where the optimum is unique
(strictly convex objectives); for CVaR, an LP whose solution need not be unique, the objective is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.portfolio.optimize import (
    Constraints,
    Views,
    expected_returns,
    historical_cvar,
    implied_returns,
    ledoit_wolf,
    optimize,
    posterior,
    sample_covariance,
)
from tests.engine.portfolio.test_optimize_support import SECTORS, frame, panel_returns, series

pypfopt = pytest.importorskip("pypfopt")  # untyped: reached through this Any-typed module object
EfficientFrontier = pypfopt.EfficientFrontier
EfficientCVaR = pypfopt.EfficientCVaR
HRPOpt = pypfopt.HRPOpt
BlackLittermanModel = pypfopt.BlackLittermanModel

WEIGHT_TOL = 1e-5
"""Two interior-point solvers (ours, cvxpy's) agree on a strictly convex optimum to ~1e-6."""

FLAT_TOL = 1e-4
"""Maximum Sharpe: the ratio is flat at its optimum, so weights agree less than objectives do."""

CAPPED = Constraints(max_weight=0.15, sector_cap=None)
SECTOR_CAPPED = Constraints(max_weight=0.15, sector_cap=0.30, sectors=SECTORS)


def inputs() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    returns = panel_returns()
    data = returns.to_numpy()
    return returns, series(expected_returns(data), returns), frame(sample_covariance(data), returns)


def frontier(mu: pd.Series, cov: pd.DataFrame, *, sectors: bool = False) -> Any:
    ef = EfficientFrontier(mu, cov, weight_bounds=(0.0, 0.15))
    if sectors:
        names = sorted(set(SECTORS.values()))
        ef.add_sector_constraints(SECTORS, dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.30))
    return ef


def assert_weights_close(ours: pd.Series, theirs: dict[str, float], tol: float = WEIGHT_TOL) -> None:
    reference = pd.Series(theirs).reindex(ours.index)
    assert np.abs(ours - reference).max() < tol, pd.DataFrame({"ours": ours, "pypfopt": reference})


def test_min_variance_matches_pypfopt_min_volatility_with_caps_and_sectors() -> None:
    returns, mu, cov = inputs()
    for constraints, sectors in ((CAPPED, False), (SECTOR_CAPPED, True)):
        ours = optimize("min_variance", returns, constraints)
        assert ours.success
        assert_weights_close(ours.weights, frontier(mu, cov, sectors=sectors).min_volatility())
    assert any(b.startswith("sector_cap:") for b in ours.binding)


def test_max_sharpe_matches_pypfopt_with_risk_free_rate_caps_and_sectors() -> None:
    returns, mu, cov = inputs()
    for constraints, sectors in ((CAPPED, False), (SECTOR_CAPPED, True)):
        ours = optimize("max_sharpe", returns, constraints, risk_free_rate=0.02)
        ef = frontier(mu, cov, sectors=sectors)
        theirs = ef.max_sharpe(risk_free_rate=0.02)
        assert_weights_close(ours.weights, theirs, tol=FLAT_TOL)
        their_sharpe = ef.portfolio_performance(risk_free_rate=0.02)[2]
        assert ours.sharpe == pytest.approx(their_sharpe, rel=1e-6)
        assert ours.sharpe >= their_sharpe - 1e-12  # never a worse ratio than the reference's
        assert ours.objective == pytest.approx(ours.sharpe, rel=1e-12)


def test_efficient_return_matches_pypfopt_with_sector_caps() -> None:
    returns, mu, cov = inputs()
    ours = optimize("mean_variance", returns, SECTOR_CAPPED, target_return=0.20)
    theirs = frontier(mu, cov, sectors=True).efficient_return(0.20)
    assert_weights_close(ours.weights, theirs)
    assert ours.expected_return == pytest.approx(0.20, abs=1e-8)
    assert "target_return" in ours.binding


def test_efficient_risk_matches_pypfopt() -> None:
    returns, mu, cov = inputs()
    ours = optimize("mean_variance", returns, CAPPED, target_volatility=0.18)
    theirs = frontier(mu, cov).efficient_risk(0.18)
    assert_weights_close(ours.weights, theirs)
    assert ours.volatility == pytest.approx(0.18, abs=1e-7)
    assert "target_volatility" in ours.binding


def test_min_variance_with_turnover_limit_matches_cvxpy_l1_constraint() -> None:
    cp = pytest.importorskip("cvxpy")

    returns, mu, cov = inputs()
    current = pd.Series(1.0 / 20, index=returns.columns)
    ours = optimize("min_variance", returns, Constraints(sector_cap=None, turnover=0.3), current=current)
    ef = frontier(mu, cov)
    ef.add_constraint(lambda w: cp.sum(cp.abs(w - current.to_numpy())) <= 0.3)
    assert_weights_close(ours.weights, ef.min_volatility())
    assert "turnover" in ours.binding


def test_hrp_matches_pypfopt_hrpopt_exactly_without_caps() -> None:
    returns = panel_returns()
    ours = optimize("hrp", returns, Constraints(max_weight=None, sector_cap=None))
    assert_weights_close(ours.weights, HRPOpt(returns).optimize(), tol=1e-12)


def test_min_cvar_matches_pypfopt_efficient_cvar_objective() -> None:
    returns, mu, _ = inputs()
    ours = optimize("min_cvar", returns, CAPPED, confidence=0.95)
    ec = EfficientCVaR(mu, returns, beta=0.95, weight_bounds=(0.0, 0.15))
    theirs = ec.min_cvar()
    their_cvar = ec.portfolio_performance()[1]
    assert ours.objective == pytest.approx(their_cvar, rel=1e-6)
    assert historical_cvar(returns.to_numpy(), ours.weights.to_numpy()) == pytest.approx(
        ours.objective, rel=1e-9
    )
    assert_weights_close(ours.weights, theirs, tol=1e-3)


def test_black_litterman_posterior_matches_pypfopt_he_litterman_and_idzorek() -> None:
    returns, _, cov = inputs()
    caps = series(np.linspace(1.0, 3.0, 20), returns)
    pi = implied_returns(cov.to_numpy(), caps.to_numpy(), risk_aversion=2.5, risk_free_rate=0.01)
    their_pi = pypfopt.black_litterman.market_implied_prior_returns(caps, 2.5, cov, risk_free_rate=0.01)
    np.testing.assert_allclose(pi, their_pi.to_numpy(), rtol=1e-12)
    p = np.zeros((2, 20))
    p[0, returns.columns.get_loc("AAPL")] = 1.0
    p[1, returns.columns.get_loc("XOM")], p[1, returns.columns.get_loc("JPM")] = 1.0, -1.0
    q = np.array([0.15, 0.03])
    for confidences in (None, np.array([0.6, 0.3])):
        ours = posterior(cov.to_numpy(), pi, Views(p, q, confidences), tau=0.05)
        bl = BlackLittermanModel(
            cov,
            pi=series(pi, returns),
            P=p,
            Q=q,
            tau=0.05,
            omega="default" if confidences is None else "idzorek",
            view_confidences=confidences,
        )
        np.testing.assert_allclose(ours.omega, bl.omega, rtol=1e-12)
        np.testing.assert_allclose(ours.returns, bl.bl_returns().to_numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(ours.covariance, bl.bl_cov().to_numpy(), rtol=1e-10, atol=1e-14)


def test_black_litterman_weights_match_pypfopt_quadratic_utility_on_the_posterior() -> None:
    returns, _, cov = inputs()
    caps = series(np.linspace(1.0, 3.0, 20), returns)
    views = Views.absolute(list(returns.columns), {"AAPL": 0.25, "PFE": 0.02}, {"AAPL": 0.7, "PFE": 0.5})
    ours = optimize("black_litterman", returns, CAPPED, market_weights=caps, views=views, risk_aversion=2.5)
    bl = BlackLittermanModel(
        cov,
        pi="market",
        market_caps=caps,
        risk_aversion=2.5,
        absolute_views={"AAPL": 0.25, "PFE": 0.02},
        omega="idzorek",
        view_confidences=[0.7, 0.5],
    )
    theirs = EfficientFrontier(bl.bl_returns(), bl.bl_cov(), weight_bounds=(0.0, 0.15)).max_quadratic_utility(
        2.5
    )
    assert_weights_close(ours.weights, theirs)


def test_ledoit_wolf_matches_scikit_learn() -> None:
    sk_ledoit_wolf = pytest.importorskip("sklearn.covariance").ledoit_wolf

    data = panel_returns(250).to_numpy()
    ours, shrinkage = ledoit_wolf(data)
    theirs, their_shrinkage = sk_ledoit_wolf(data)
    assert shrinkage == pytest.approx(their_shrinkage, rel=1e-10)
    np.testing.assert_allclose(ours, theirs * 252, rtol=1e-10)
    assert 0.0 < shrinkage < 1.0


def test_ledoit_wolf_min_variance_and_a_weight_floor_match_pypfopt() -> None:
    returns, mu, _ = inputs()
    shrunk = pypfopt.risk_models.CovarianceShrinkage(returns, returns_data=True).ledoit_wolf()
    floored = Constraints(max_weight=0.15, sector_cap=None, min_weight=0.01)
    ours = optimize("min_variance", returns, floored, covariance_method="ledoit_wolf")
    theirs = EfficientFrontier(mu, shrunk, weight_bounds=(0.01, 0.15)).min_volatility()
    assert_weights_close(ours.weights, theirs)
    assert any(b.startswith("min_weight:") for b in ours.binding)
