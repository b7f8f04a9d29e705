"""Optimizers against their closed forms, on real returns (the five shipped stocks and the panel)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.portfolio.optimize import (
    Constraints,
    compile_constraints,
    expected_returns,
    optimize,
    risk_parity,
    sample_covariance,
)
from tests.engine.portfolio.test_optimize_support import SECTORS, five_returns, panel_returns

FREE = Constraints(max_weight=None, sector_cap=None, long_only=False)
"""Only the budget: the closed forms' setting (shorts allowed, no caps)."""

LOOSE = Constraints(max_weight=5.0, sector_cap=None, long_only=False)
"""Caps far from binding: the same optimum, reached by the SLSQP path instead of the closed form."""


def min_variance_closed_form(cov: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(cov)
    ones = np.ones(cov.shape[0])
    return np.asarray(inv @ ones / (ones @ inv @ ones))


def tangency_closed_form(mu: np.ndarray, cov: np.ndarray, rf: float) -> np.ndarray:
    raw = np.linalg.inv(cov) @ (mu - rf)
    return np.asarray(raw / raw.sum())


@pytest.mark.parametrize("returns", [five_returns(), panel_returns()], ids=["five", "panel"])
def test_unconstrained_min_variance_is_inverse_covariance_times_ones(returns: pd.DataFrame) -> None:
    expected = min_variance_closed_form(sample_covariance(returns.to_numpy()))
    assert np.any(expected < 0.0)  # the closed form shorts: the test really runs unconstrained
    closed = optimize("min_variance", returns, FREE)
    np.testing.assert_allclose(closed.weights.to_numpy(), expected, atol=1e-12)
    solved = optimize("min_variance", returns, LOOSE)
    np.testing.assert_allclose(solved.weights.to_numpy(), expected, atol=1e-5)
    assert solved.objective == pytest.approx(closed.objective, rel=1e-9)


def test_unconstrained_max_sharpe_is_inverse_covariance_times_excess_returns() -> None:
    returns = five_returns()
    data = returns.to_numpy()
    expected = tangency_closed_form(expected_returns(data), sample_covariance(data), rf=0.02)
    closed = optimize("max_sharpe", returns, FREE, risk_free_rate=0.02)
    np.testing.assert_allclose(closed.weights.to_numpy(), expected, atol=1e-12)
    solved = optimize("max_sharpe", returns, LOOSE, risk_free_rate=0.02)
    np.testing.assert_allclose(solved.weights.to_numpy(), expected, atol=1e-4)
    assert solved.sharpe == pytest.approx(closed.sharpe, rel=1e-8)


def test_risk_parity_with_diagonal_covariance_is_inverse_volatility() -> None:
    cov = np.diag(np.diag(sample_covariance(panel_returns().to_numpy())))
    fs = compile_constraints(Constraints(max_weight=None, sector_cap=None), [str(j) for j in range(20)])
    weights = risk_parity(cov, fs).weights
    inverse_vol = 1.0 / np.sqrt(np.diag(cov))
    np.testing.assert_allclose(weights, inverse_vol / inverse_vol.sum(), rtol=1e-10)


def test_risk_parity_contributions_are_equal_on_real_covariance() -> None:
    result = optimize("risk_parity", panel_returns(), Constraints(max_weight=None, sector_cap=None))
    assert result.message.startswith("risk parity: exact")
    np.testing.assert_allclose(result.risk_contributions.to_numpy(), 1.0 / 20, atol=1e-10)
    assert result.objective < 1e-18


def test_constrained_risk_parity_meets_caps_and_stays_closer_to_parity_than_its_start() -> None:
    returns = panel_returns()
    constraints = Constraints(max_weight=0.07, sector_cap=0.2, sectors=SECTORS)
    result = optimize("risk_parity", returns, constraints)
    assert result.success
    weights = result.weights
    assert weights.max() <= 0.07 + 1e-9
    assert weights.groupby(pd.Series(SECTORS)).sum().max() <= 0.2 + 1e-9
    start = optimize("inverse_volatility", returns, constraints).risk_contributions
    assert float(((result.risk_contributions - 0.05) ** 2).sum()) < float(((start - 0.05) ** 2).sum())


def test_equal_weight_is_one_over_n_and_water_fills_a_full_sector() -> None:
    returns = panel_returns()
    plain = optimize("equal_weight", returns, Constraints(sector_cap=None))
    np.testing.assert_allclose(plain.weights.to_numpy(), 1.0 / 20, rtol=1e-14)
    # Only Health Care capped: it holds 5 of 20 names (0.25 at 1/n); a 0.15 cap leaves each 0.03 and
    # the other 15 names share 0.85 equally.
    health_only = {s: g for s, g in SECTORS.items() if g == "Health Care"}
    capped = optimize("equal_weight", returns, Constraints(sector_cap=0.15, sectors=health_only))
    health = capped.weights.index.isin(list(health_only))
    np.testing.assert_allclose(capped.weights[health], 0.03, rtol=1e-12)
    np.testing.assert_allclose(capped.weights[~health], 0.85 / 15, rtol=1e-12)
    # Every sector capped at 0.15: the six sectors with two or more names fill up (0.90, split equally
    # inside each), and the one-name Industrials sector (GE) takes the remaining 0.10.
    everywhere = optimize("equal_weight", returns, Constraints(sector_cap=0.15, sectors=SECTORS))
    sector = pd.Series(SECTORS).reindex(everywhere.weights.index)
    size = sector.map(sector.value_counts())
    expected = np.where(sector == "Industrials", 0.10, 0.15 / size)
    np.testing.assert_allclose(everywhere.weights.to_numpy(), expected, rtol=1e-12)
    assert "sector_cap:Health Care" in capped.binding


def test_inverse_volatility_without_caps_and_water_filled_ratios_with_caps() -> None:
    returns = panel_returns()
    vol = returns.std().to_numpy()
    raw = (1.0 / vol) / (1.0 / vol).sum()
    free = optimize("inverse_volatility", returns, Constraints(max_weight=None, sector_cap=None))
    np.testing.assert_allclose(free.weights.to_numpy(), raw, rtol=1e-12)
    capped = optimize("inverse_volatility", returns, Constraints(max_weight=0.06, sector_cap=None))
    w = capped.weights.to_numpy()
    at_cap = np.isclose(w, 0.06, rtol=0, atol=1e-12)
    assert at_cap.any() and not at_cap.all()
    # The excess went to uncapped names pro rata: their ratios to the raw weights are one constant,
    # no capped name had a smaller raw weight than an uncapped one, and the sum is exact.
    ratio = w[~at_cap] / raw[~at_cap]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    assert raw[at_cap].min() >= raw[~at_cap].max()
    assert w.sum() == pytest.approx(1.0, abs=1e-14)


def test_cash_buffer_scales_a_scale_free_method_and_earns_the_risk_free_rate() -> None:
    returns = panel_returns()
    full = optimize("min_variance", returns, FREE)
    buffered = optimize(
        "min_variance",
        returns,
        Constraints(max_weight=None, sector_cap=None, long_only=False, cash_buffer=0.1),
        risk_free_rate=0.03,
    )
    np.testing.assert_allclose(buffered.weights.to_numpy(), 0.9 * full.weights.to_numpy(), atol=1e-12)
    assert buffered.cash == pytest.approx(0.1, abs=1e-12)
    mu = expected_returns(returns.to_numpy())
    assert buffered.expected_return == pytest.approx(float(mu @ buffered.weights) + 0.003, rel=1e-12)
    assert buffered.volatility == pytest.approx(0.9 * full.volatility, rel=1e-10)
