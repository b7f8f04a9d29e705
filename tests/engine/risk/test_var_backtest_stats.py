"""Kupiec, Christoffersen, conditional coverage, McNeil-Frey and Z2: hand-worked examples and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engine.risk.var_backtest import (
    backtest,
    chi2_sf,
    christoffersen_independence,
    christoffersen_lr,
    conditional_coverage,
    kupiec_lr,
    kupiec_pof,
    mcneil_frey,
    transitions,
    z2_statistic,
)

# 0 1 1 1 0 0 0 0 0 1 1 0: pairs 01 11 11 10 00 00 00 00 01 11 10
HITS = np.array([0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0], dtype=bool)


def test_transitions_are_counted_by_hand() -> None:
    assert transitions(HITS) == (4, 2, 2, 3)


def test_christoffersen_by_hand() -> None:
    # pi = 5/11 under H0; pi01 = 2/6 and pi11 = 3/5 under the alternative
    null = 6 * math.log(6 / 11) + 5 * math.log(5 / 11)
    alt = 4 * math.log(4 / 6) + 2 * math.log(2 / 6) + 2 * math.log(2 / 5) + 3 * math.log(3 / 5)
    lr = -2 * (null - alt)
    assert christoffersen_lr(HITS) == pytest.approx(lr, rel=1e-12)
    assert christoffersen_independence(HITS) == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-10)


def test_independent_hits_give_no_evidence_and_clusters_do() -> None:
    even = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], dtype=bool)  # pi01 = pi11 = pi = 1/3
    assert christoffersen_lr(even) == pytest.approx(0.0, abs=1e-12)
    assert christoffersen_independence(even) == pytest.approx(1.0)
    clustered = np.zeros(1_000, dtype=bool)
    clustered[500:510] = True
    assert christoffersen_independence(clustered) < 1e-6
    assert christoffersen_independence(np.zeros(50, dtype=bool)) == 1.0


def test_kupiec_likelihood_ratio_by_hand() -> None:
    x, t, p = 8, 250, 0.01
    lr = -2 * ((t - x) * math.log(1 - p) + x * math.log(p)) + 2 * (
        (t - x) * math.log(1 - x / t) + x * math.log(x / t)
    )
    assert kupiec_lr(x, t, 0.99) == pytest.approx(lr, rel=1e-12)
    assert kupiec_pof(x, t, 0.99) == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-10)


def test_conditional_coverage_is_the_sum_on_two_degrees_of_freedom() -> None:
    tail = HITS[1:]
    lr = kupiec_lr(int(tail.sum()), tail.size, 0.9) + christoffersen_lr(HITS)
    assert conditional_coverage(HITS, 0.9) == pytest.approx(stats.chi2.sf(lr, 2), rel=1e-10)
    with pytest.raises(ValueError, match="at least two days"):
        conditional_coverage(HITS[:1], 0.9)


@pytest.mark.parametrize("statistic", [0.0, 0.01, 0.5, 1.0, 3.84, 6.63, 10.0, 40.0])
def test_chi_square_tails_match_scipy(statistic: float) -> None:
    assert chi2_sf(statistic, 1) == pytest.approx(stats.chi2.sf(statistic, 1), rel=1e-9, abs=1e-300)
    assert chi2_sf(statistic, 2) == pytest.approx(stats.chi2.sf(statistic, 2), rel=1e-9, abs=1e-300)
    with pytest.raises(ValueError, match="1 or 2 degrees"):
        chi2_sf(statistic, 3)


def test_z2_by_hand() -> None:
    pnl = np.array([-3.0, 1.0, -1.0, 2.0])
    var = np.full(4, 2.0)
    es = np.full(4, 3.0)
    # one exceedance (loss 3 > VaR 2): Z2 = (-3 / 3) / (4 x 0.5) + 1 = 0.5
    assert z2_statistic(pnl, var, es, 0.5) == pytest.approx(0.5)


def _normal_forecasts(n: int, es_factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(77)
    sigma = np.exp(rng.normal(-4.5, 0.3, n))
    pnl = rng.standard_normal(n) * sigma
    z = stats.norm.ppf(0.01)
    var = -z * sigma
    es = sigma * stats.norm.pdf(z) / 0.01 * es_factor
    return pnl, var, es, sigma


def test_mcneil_frey_accepts_a_right_es_and_rejects_an_understated_one() -> None:
    pnl, var, es, sigma = _normal_forecasts(20_000, 1.0)
    right, hits = mcneil_frey(-pnl, var, es, sigma, seed=3)
    assert hits > 150 and right is not None and right > 0.05
    low, _ = mcneil_frey(-pnl, var, es * 0.85, sigma, seed=3)
    assert low is not None and low < 0.01
    assert mcneil_frey(-pnl, var, es, sigma, seed=3)[0] == right  # seeded: the same p every time
    assert mcneil_frey(np.zeros(10), np.ones(10), np.ones(10), np.ones(10)) == (None, 0)


def test_backtest_gathers_every_statistic() -> None:
    pnl, var, es, sigma = _normal_forecasts(5_000, 1.0)
    b = backtest(pnl, var, es, sigma, 0.99, seed=1)
    hits = -pnl > var
    assert b.observations == 5_000 and b.exceedances == int(hits.sum()) and b.expected == pytest.approx(50.0)
    assert b.kupiec_p == kupiec_pof(b.exceedances, 5_000, 0.99)
    assert b.christoffersen_p == christoffersen_independence(hits)
    assert b.conditional_coverage_p == conditional_coverage(hits, 0.99)
    assert b.kupiec_p > 0.05 and b.es_p is not None and b.es_p > 0.05 and abs(b.z2) < 0.3
    understated = backtest(pnl, var * 0.7, es * 0.7, sigma, 0.99)
    assert not understated.passes and understated.kupiec_p < 1e-6 and understated.z2 < -0.5
    with pytest.raises(ValueError, match="one entry per day"):
        backtest(pnl, var[:-1], es, sigma, 0.99)
