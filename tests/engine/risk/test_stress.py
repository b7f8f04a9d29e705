"""Stress scenarios: the table as specified, shock P&L by hand, post-shock VaR against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engine.risk.stress import SCENARIOS, Scenario, stress_test
from engine.risk.var import align_book


def test_scenario_table() -> None:
    assert [(s.name, s.shock, s.vol_multiplier) for s in SCENARIOS] == [
        ("2008", -0.37, 2.5),
        ("2020", -0.34, 3.0),
        ("flash crash", -0.10, 5.0),
        ("correction", -0.10, 1.5),
        ("stagflation", -0.15, 1.8),
    ]


def test_shock_pnl_and_scaled_var() -> None:
    rng = np.random.default_rng(21)
    returns = {"A": rng.normal(0.0005, 0.02, 250), "B": rng.normal(0.0, 0.01, 250)}
    values = {"A": 100_000.0, "B": -50_000.0}
    book = align_book(values, returns)
    equity = 80_000.0
    results = stress_test(book, equity=equity, betas={"A": 1.2})  # B has no estimate: beta 1.0
    by_name = {r.scenario: r for r in results}
    assert tuple(by_name) == tuple(s.name for s in SCENARIOS)
    crisis = by_name["2008"]
    assert crisis.pnl == pytest.approx(100_000 * 1.2 * -0.37 + -50_000 * 1.0 * -0.37)
    assert crisis.pnl_pct == pytest.approx(crisis.pnl / equity)
    # Independent: shocked exposures, covariance scaled by m^2, normal 1% quantile from scipy.
    matrix = np.column_stack([returns["A"], returns["B"]])
    for scenario in SCENARIOS:
        shocked = np.array([100_000 * (1 + 1.2 * scenario.shock), -50_000 * (1 + scenario.shock)])
        mu = float(matrix.mean(axis=0) @ shocked)
        sigma = math.sqrt(shocked @ (np.cov(matrix, rowvar=False) * scenario.vol_multiplier**2) @ shocked)
        expected = -stats.norm.ppf(0.01, loc=mu, scale=sigma)
        assert by_name[scenario.name].var_99 == pytest.approx(expected, rel=1e-10)


def test_price_cannot_fall_below_zero() -> None:
    returns = {"X": np.random.default_rng(1).normal(0, 0.03, 100)}
    book = align_book({"X": 10_000.0}, returns)
    (result,) = stress_test(book, equity=10_000.0, betas={"X": 3.0}, scenarios=(Scenario("wipe", -0.5, 2.0),))
    assert result.pnl == pytest.approx(-10_000.0)
    assert result.pnl_pct == pytest.approx(-1.0)
    assert result.var_99 == 0.0  # nothing left to lose


def test_empty_book_and_zero_equity() -> None:
    results = stress_test(align_book({}, {}), equity=0.0)
    assert [r.pnl for r in results] == [0.0] * len(SCENARIOS)
    assert all(r.pnl_pct == 0.0 and r.var_99 == 0.0 for r in results)
