"""Engle-Granger on synthetic pairs with a known answer, on real shipped prices, and on bad input."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from numpy.typing import NDArray

from engine.strategies.cointegration import MIN_POINTS, Cointegration, engle_granger, half_life, spread

PHI, BETA, ALPHA = 0.9, 1.5, 0.25


def cointegrated_pair(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """x a random walk in log price; y = ALPHA + BETA x + AR(1) noise with coefficient PHI."""
    rng = np.random.default_rng(seed)
    x = 4.0 + np.cumsum(rng.normal(0.0, 0.015, n))
    u = np.zeros(n)
    eps = rng.normal(0.0, 0.01, n)
    for t in range(1, n):
        u[t] = PHI * u[t - 1] + eps[t]
    return ALPHA + BETA * x + u, x


def random_walks(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    return 3.0 + np.cumsum(rng.normal(0.0, 0.015, n)), 4.0 + np.cumsum(rng.normal(0.0, 0.015, n))


def test_cointegrated_pair_is_detected_with_its_hedge_ratio_and_half_life() -> None:
    y, x = cointegrated_pair(1500, seed=1)
    c = engle_granger(y, x)
    assert c.n == 1500
    assert c.p_value < 0.01
    assert c.t_stat < -4.0
    assert c.hedge_ratio == pytest.approx(BETA, abs=0.03)
    assert c.intercept == pytest.approx(ALPHA, abs=0.15)
    assert c.phi == pytest.approx(PHI, abs=0.03)
    true_half_life = -math.log(2) / math.log(PHI)  # 6.58 bars
    assert c.half_life == pytest.approx(true_half_life, rel=0.25)


def test_independent_random_walks_are_not_cointegrated() -> None:
    y, x = random_walks(1000, seed=3)
    assert engle_granger(y, x).p_value > 0.05
    # Under the null p is roughly uniform: about 95% of seeds stay above 0.05.
    above = sum(engle_granger(*random_walks(250, seed=s)).p_value > 0.05 for s in range(10))
    assert above >= 8


def test_hedge_ratio_and_intercept_equal_numpy_lstsq() -> None:
    y, x = cointegrated_pair(300, seed=8)
    c = engle_granger(y, x)
    (a, b), *_ = np.linalg.lstsq(np.column_stack([np.ones(len(x)), x]), y, rcond=None)
    assert c.hedge_ratio == pytest.approx(b, rel=1e-12)
    assert c.intercept == pytest.approx(a, rel=1e-12)


def test_statistic_matches_statsmodels_coint() -> None:
    from statsmodels.tsa.stattools import coint

    y, x = cointegrated_pair(400, seed=2)
    t_stat, p_value, _ = coint(y, x)
    c = engle_granger(y, x)
    assert c.t_stat == pytest.approx(t_stat)
    assert c.p_value == pytest.approx(p_value)


def test_spread_is_the_ols_residual() -> None:
    y, x = cointegrated_pair(200, seed=4)
    c = engle_granger(y, x)
    s = spread(y, x, c)
    np.testing.assert_allclose(s, y - c.intercept - c.hedge_ratio * x)
    assert abs(s.mean()) < 1e-10  # OLS with an intercept leaves mean-zero residuals
    assert abs(float(np.corrcoef(s, x)[0, 1])) < 1e-8
    # Any window, NaN passed through.
    short = spread(y[:5].copy(), x[:5], c)
    assert short.shape == (5,)
    assert np.isnan(spread(np.array([math.nan]), np.array([1.0]), c)[0])
    with pytest.raises(ValueError, match="differ in shape"):
        spread(y, x[:-1], c)


@pytest.mark.parametrize(
    ("phi", "expected"),
    [
        (0.5, 1.0),
        (0.9, -math.log(2) / math.log(0.9)),
        (1.0, math.inf),
        (1.03, math.inf),
        (0.0, 0.0),
        (-0.5, 1.0),
    ],
)
def test_half_life(phi: float, expected: float) -> None:
    assert half_life(phi) == pytest.approx(expected)


def test_random_walk_spread_has_no_finite_half_life_or_a_long_one() -> None:
    y, x = random_walks(1000, seed=3)
    c = engle_granger(y, x)
    assert c.phi > 0.97
    assert c.half_life > 20


def test_bad_input_raises_with_a_clear_message() -> None:
    y, x = cointegrated_pair(100, seed=0)
    with pytest.raises(ValueError, match="differ in length: 100 vs 99"):
        engle_granger(y, x[:-1])
    with pytest.raises(ValueError, match=f"at least {MIN_POINTS} points.*got 59"):
        engle_granger(y[:59], x[:59])
    y_nan = y.copy()
    y_nan[[7, 9]] = math.nan
    with pytest.raises(ValueError, match=r"y contains NaN \(2 of 100, first at index 7\)"):
        engle_granger(y_nan, x)
    x_inf = x.copy()
    x_inf[3] = math.inf
    with pytest.raises(ValueError, match="x contains infinite"):
        engle_granger(y, x_inf)
    with pytest.raises(ValueError, match="1-D"):
        engle_granger(np.column_stack([y, y]), x)
    with pytest.raises(ValueError, match="x is constant"):
        engle_granger(y, np.full(100, 2.0))


def test_importing_the_module_does_not_import_statsmodels() -> None:
    code = "import sys, engine.strategies.cointegration; print('statsmodels' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", "statsmodels imported eagerly"


def test_real_shipped_stocks_give_a_finite_p_value() -> None:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["MSFT", "IBM"]).bars
    common = bars["MSFT"].index.intersection(bars["IBM"].index)
    assert len(common) > 1000
    y = np.log(bars["MSFT"].loc[common, "close"].to_numpy())
    x = np.log(bars["IBM"].loc[common, "close"].to_numpy())
    c = engle_granger(y, x)
    assert isinstance(c, Cointegration)
    assert c.n == len(common)
    assert math.isfinite(c.p_value) and 0.0 <= c.p_value <= 1.0
    assert math.isfinite(c.t_stat) and math.isfinite(c.hedge_ratio)
    assert c.half_life > 0
