"""Score calibration against independent references: statsmodels/scipy MLE, brute-force isotonic
regression, and the sampling error of well-specified synthetic outcomes."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.optimize import minimize

from engine.strategies.calibration import (
    Calibrator,
    ReliabilityBin,
    _newton,
    _standardizer,
    base_rate_brier,
    brier_score,
    fit_calibrator,
    holdout_report,
    pav,
    reliability_table,
)

TRUE_A, TRUE_B = -0.3, 0.8  # log-odds = TRUE_A + TRUE_B * score


def logistic_sample(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Scores ~ N(0.5, 1.5), wins drawn from a known logistic model of the score."""
    rng = np.random.default_rng(seed)
    s = rng.normal(0.5, 1.5, n)
    p = 1.0 / (1.0 + np.exp(-(TRUE_A + TRUE_B * s)))
    return s, (rng.random(n) < p).astype(np.float64)


def design(cal: Calibrator, s: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.column_stack([np.ones(len(s)), (s - cal.center) / cal.scale])


# --------------------------------------------------------------------------------------------
# Logistic


def test_logistic_unpenalized_matches_statsmodels_logit() -> None:
    import statsmodels.api as sm

    s, y = logistic_sample(3000, seed=7)
    cal = fit_calibrator(s, y, l2=0.0)
    assert cal.method == "logistic"
    ref = sm.Logit(y, design(cal, s)).fit(disp=0, method="newton", tol=1e-12)
    np.testing.assert_allclose([cal.intercept, cal.slope], ref.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cal.predict(s), ref.predict(design(cal, s)), rtol=1e-8)
    # ...and both recover the generating model, in the score's own units.
    slope_raw = cal.slope / cal.scale
    intercept_raw = cal.intercept - slope_raw * cal.center
    assert slope_raw == pytest.approx(TRUE_B, abs=4 * ref.bse[1] / cal.scale)
    assert intercept_raw == pytest.approx(TRUE_A, abs=0.2)


@pytest.mark.parametrize("l2", [0.5, 1.0, 25.0])
def test_logistic_penalized_matches_scipy_minimize(l2: float) -> None:
    s, y = logistic_sample(400, seed=11)
    cal = fit_calibrator(s, y, l2=l2)
    x = design(cal, s)

    def nll(beta: NDArray[np.float64]) -> float:
        eta = x @ beta
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * l2 * beta[1] ** 2)

    def grad(beta: NDArray[np.float64]) -> NDArray[np.float64]:
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        out: NDArray[np.float64] = x.T @ (p - y) + np.array([0.0, l2 * beta[1]])
        return out

    ref = minimize(nll, np.zeros(2), jac=grad, method="BFGS", options={"gtol": 1e-9})
    assert np.max(np.abs(grad(ref.x))) < 1e-6  # the reference really is at the optimum
    np.testing.assert_allclose([cal.intercept, cal.slope], ref.x, rtol=1e-6, atol=1e-8)
    assert nll(np.array([cal.intercept, cal.slope])) <= ref.fun + 1e-9


def test_penalty_shrinks_the_slope_and_never_the_intercept_alone() -> None:
    s, y = logistic_sample(200, seed=3)
    slopes = [fit_calibrator(s, y, l2=l2).slope for l2 in (0.0, 1.0, 10.0, 100.0)]
    assert slopes == sorted(slopes, reverse=True)
    assert all(b > 0 for b in slopes)
    # A huge penalty leaves the intercept at the in-sample base rate's log-odds.
    flat = fit_calibrator(s, y, l2=1e12)
    assert flat.predict(0.0) == pytest.approx(y.mean(), abs=1e-6)


def test_negative_slope_is_reported_not_hidden() -> None:
    s, y = logistic_sample(1000, seed=5)
    cal = fit_calibrator(-s, y)
    assert cal.method == "logistic" and cal.slope < 0
    p = cal.predict(np.sort(-s))
    assert np.all(np.diff(p) <= 0)


def test_scores_beyond_the_fitted_range_extrapolate_flat() -> None:
    s, y = logistic_sample(500, seed=2)
    cal = fit_calibrator(s, y)
    assert cal.predict(s.max() + 100.0) == cal.predict(s.max())
    assert cal.predict(s.min() - 100.0) == cal.predict(s.min())


def test_perfect_separation_never_claims_certainty() -> None:
    """Tightly clustered, perfectly separated scores with one far outlier: the Platt curve would
    reach exactly 1.0 in floating point at the outlier, so the fit falls back and says so."""
    s = np.concatenate([np.zeros(15), np.full(14, 1e-12), [1e6]])
    y = np.concatenate([np.zeros(15), np.ones(15)])
    cal = fit_calibrator(s, y, l2=0.0, min_samples=10)
    assert cal.requested == "logistic"
    p = cal.predict(s)
    assert np.all((p > 0) & (p < 1))
    assert p[0] < 0.5 < p[-1]


def weak_skewed_sample(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Right-skewed scores with a weak negative effect: the shape of a large scan's track record
    (measured on a 500-symbol synthetic scan) on which the old stopping rule never converged."""
    rng = np.random.default_rng(seed)
    s = rng.gamma(4.0, 0.2, n)
    p = 1.0 / (1.0 + np.exp(-(-0.34 - 0.05 * s)))
    return s, (rng.random(n) < p).astype(np.float64)


def test_newton_converges_in_few_steps_on_a_large_sample() -> None:
    """200,000 outcomes (seed 4 made the old rule, "step below 1e-10", take tiny line-search steps
    that round-off could not tell from no progress for 100 iterations, then fall back to isotonic):
    the decrement rule stops in a handful of steps and evaluations, at the statsmodels optimum."""
    import statsmodels.api as sm

    s, y = weak_skewed_sample(200_000, seed=4)
    center, scale = _standardizer(s)
    result = _newton((s - center) / scale, y, 1.0, int(y.sum()))
    assert result.beta is not None, result.failure
    assert result.steps <= 6
    assert result.evaluations <= 12
    cal = fit_calibrator(s, y)
    assert cal.method == "logistic"
    assert cal.fallback == ""
    assert 1 <= cal.newton_steps <= 6
    ref = sm.Logit(y, design(cal, s)).fit(disp=0, method="newton", tol=1e-12)
    # the penalty (l2 = 1 against 200k outcomes) moves the slope by far less than this
    np.testing.assert_allclose([cal.intercept, cal.slope], ref.params, atol=1e-4)


def test_a_fallback_says_why() -> None:
    """Every fallback names its reason on the calibrator and on the holdout report."""
    s = np.r_[np.arange(15.0), np.arange(15.0) + 20.0]  # perfectly separated, no penalty
    y = np.concatenate([np.zeros(15), np.ones(15)])
    cal = fit_calibrator(s, y, l2=0.0, min_samples=10)
    assert cal.method == "isotonic"
    assert "separation" in cal.fallback and "isotonic used" in cal.fallback
    few = fit_calibrator([0.1, 0.2], [0.0, 1.0], min_samples=30)
    assert few.method == "base_rate" and "fewer than the 30" in few.fallback
    one = fit_calibrator(np.arange(40.0), np.ones(40))
    assert one.method == "base_rate" and "all 40 outcomes are wins" in one.fallback
    report = holdout_report(np.arange(40.0), np.r_[np.zeros(20), np.ones(20)], min_samples=100)
    assert report.method == "base_rate" and "fewer than the 100" in report.fallback
    sc, yc = logistic_sample(500, seed=3)
    assert fit_calibrator(sc, yc).fallback == ""


def test_scalar_in_scalar_out_and_nan_rejected() -> None:
    s, y = logistic_sample(100, seed=1)
    cal = fit_calibrator(s, y)
    assert isinstance(cal.predict(0.3), float)
    assert cal.predict(np.array([0.3])).shape == (1,)
    with pytest.raises(ValueError, match="NaN"):
        cal.predict(math.nan)


# --------------------------------------------------------------------------------------------
# Isotonic


def brute_force_isotonic(v: list[float], w: list[float]) -> list[float]:
    """Closed form of weighted isotonic regression: f_i = max_{j<=i} min_{k>=i} mean(v[j..k])."""
    n = len(v)

    def mean(j: int, k: int) -> float:
        return sum(v[t] * w[t] for t in range(j, k + 1)) / sum(w[j : k + 1])

    return [max(min(mean(j, k) for k in range(i, n)) for j in range(i + 1)) for i in range(n)]


def test_pav_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        v = rng.normal(size=n).round(1)
        w = rng.integers(1, 4, size=n).astype(np.float64)
        got = pav(v, w)
        np.testing.assert_allclose(got, brute_force_isotonic(v.tolist(), w.tolist()), rtol=1e-12)
        assert np.all(np.diff(got) >= 0)


def test_isotonic_calibrator_equals_brute_force_on_a_small_example() -> None:
    s = np.array([0.1, 0.2, 0.2, 0.5, 0.7, 0.7, 0.9, 1.2, 1.5, 2.0])
    y = np.array([0, 1, 0, 0, 1, 0, 0, 1, 1, 1], dtype=np.float64)
    cal = fit_calibrator(s, y, method="isotonic", min_samples=5)
    assert cal.method == "isotonic"
    k, n = int(y.sum()), len(y)
    target = np.where(y == 1, (k + 1) / (k + 2), 1 / (n - k + 2))  # Platt's smoothed targets
    ux = np.unique(s)
    pooled = [float(target[s == u].mean()) for u in ux]
    counts = [float((s == u).sum()) for u in ux]
    expected = brute_force_isotonic(pooled, counts)
    np.testing.assert_allclose(cal.predict(ux), expected, rtol=1e-12)
    # Between two distinct scores the prediction is linear; outside the range it is flat.
    mid = cal.predict(0.6)
    assert mid == pytest.approx((expected[2] + expected[3]) / 2)
    assert cal.predict(-5.0) == expected[0] and cal.predict(9.0) == expected[-1]
    assert np.all(np.diff(cal.predict(np.linspace(-1, 3, 401))) >= 0)


# --------------------------------------------------------------------------------------------
# Scoring and the out-of-sample report


def test_brier_and_base_rate_brier_by_hand() -> None:
    assert brier_score([0.2, 0.9, 0.5], [0, 1, 1]) == pytest.approx((0.04 + 0.01 + 0.25) / 3)
    # training rate 0.75 forecast for [1, 0]: ((0.25)^2 + 0.75^2) / 2
    assert base_rate_brier([1, 1, 1, 0], [1, 0]) == pytest.approx((0.0625 + 0.5625) / 2)
    with pytest.raises(ValueError, match="probabilities"):
        brier_score([1.2], [1])
    with pytest.raises(ValueError, match="0/1"):
        brier_score([0.5], [2])
    with pytest.raises(ValueError, match="no outcomes"):
        brier_score([], [])


def test_reliability_table_by_hand() -> None:
    p = [0.05, 0.15, 0.12, 0.95, 1.0, 0.5]
    y = [0, 1, 0, 1, 1, 0]
    table = reliability_table(p, y, bins=10)
    assert table == (
        ReliabilityBin(0.0, 0.1, 1, 0.05, 0.0),
        ReliabilityBin(0.1, 0.2, 2, pytest.approx(0.135), 0.5),  # type: ignore[arg-type]
        ReliabilityBin(0.5, 0.6, 1, 0.5, 0.0),
        ReliabilityBin(0.9, 1.0, 2, pytest.approx(0.975), 1.0),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("method", ["logistic", "isotonic"])
def test_well_specified_model_beats_base_rate_and_is_reliable(method: str) -> None:
    s, y = logistic_sample(8000, seed=42)
    rep = holdout_report(s, y, method=method)  # type: ignore[arg-type]
    assert rep.method == method
    assert (rep.n_train, rep.n_test) == (6000, 2000)
    assert rep.hit_rate == pytest.approx(y[6000:].mean())
    assert rep.brier < rep.brier_base
    assert rep.skill is not None and rep.skill > 0.1
    assert sum(b.n for b in rep.reliability) == rep.n_test
    for b in rep.reliability:
        assert b.lo <= b.mean_predicted <= b.hi
        if b.n >= 30:  # observed rate within 3.5 binomial standard errors of the forecast
            se = math.sqrt(b.mean_predicted * (1 - b.mean_predicted) / b.n)
            assert abs(b.observed_rate - b.mean_predicted) < 3.5 * se + 0.01, b


def test_holdout_fits_only_on_the_past() -> None:
    s, y = logistic_sample(400, seed=9)
    y_future_flipped = y.copy()
    y_future_flipped[300:] = 1 - y_future_flipped[300:]
    a = holdout_report(s, y)
    b = holdout_report(s, y_future_flipped)
    cal = fit_calibrator(s[:300], y[:300])
    assert a.brier == pytest.approx(brier_score(cal.predict(s[300:]), y[300:]))
    assert a.brier_base == pytest.approx(base_rate_brier(y[:300], y[300:]))
    # Scrambling the future changes the score but not the forecasts made before it.
    assert b.brier == pytest.approx(brier_score(cal.predict(s[300:]), y_future_flipped[300:]))


def test_holdout_rejects_unsplittable_input() -> None:
    with pytest.raises(ValueError, match="train_share"):
        holdout_report([0.1, 0.2], [0, 1], train_share=1.0)
    with pytest.raises(ValueError, match="cannot be split"):
        holdout_report([0.1], [1])


# --------------------------------------------------------------------------------------------
# Fallback and input checks


@pytest.mark.parametrize(
    ("n", "wins", "min_samples"),
    [(0, 0, 30), (5, 3, 30), (29, 10, 30), (200, 200, 30), (200, 0, 30), (40, 0, 10)],
)
@pytest.mark.parametrize("method", ["logistic", "isotonic"])
def test_fallback_to_laplace_base_rate(n: int, wins: int, min_samples: int, method: str) -> None:
    s = np.linspace(-1, 1, n)
    y = np.r_[np.ones(wins), np.zeros(n - wins)]
    cal = fit_calibrator(s, y, method=method, min_samples=min_samples)  # type: ignore[arg-type]
    assert (cal.method, cal.requested, cal.n, cal.wins) == ("base_rate", method, n, wins)
    expected = (wins + 1) / (n + 2)
    np.testing.assert_array_equal(cal.predict(np.array([-9.0, 0.0, 9.0])), expected)
    assert 0 < expected < 1


def test_enough_two_class_outcomes_do_not_fall_back() -> None:
    s, y = logistic_sample(30, seed=4)
    assert 0 < y.sum() < 30
    assert fit_calibrator(s, y).method == "logistic"
    assert fit_calibrator(s, y, method="isotonic").method == "isotonic"


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        fit_calibrator([0.1, 0.2], [1])
    with pytest.raises(ValueError, match="0/1"):
        fit_calibrator([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        fit_calibrator([0.1, math.nan], [1, 0])
    with pytest.raises(ValueError, match="unknown calibration method"):
        fit_calibrator([0.1], [1], method="beta")  # type: ignore[arg-type]


def test_module_imports_neither_statsmodels_nor_scipy() -> None:
    code = (
        "import sys, engine.strategies.calibration; "
        "print(','.join(m for m in ('statsmodels', 'scipy', 'pandas') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"imported eagerly: {done.stdout.strip()}"


# --------------------------------------------------------------------------------------------
# Properties

finite_scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def samples(draw: st.DrawFn) -> tuple[list[float], list[int], int]:
    n = draw(st.integers(min_value=0, max_value=80))
    pool = draw(st.lists(finite_scores, min_size=1, max_size=8))  # few distinct values: ties
    s = draw(st.lists(st.one_of(finite_scores, st.sampled_from(pool)), min_size=n, max_size=n))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return s, y, draw(st.integers(min_value=2, max_value=40))


@settings(max_examples=300, deadline=None)
@given(sample=samples(), method=st.sampled_from(["logistic", "isotonic"]), probes=st.lists(finite_scores))
def test_predictions_in_open_unit_interval_and_monotone(
    sample: tuple[list[float], list[int], int], method: str, probes: list[float]
) -> None:
    s, y, min_samples = sample
    cal = fit_calibrator(s, y, method=method, min_samples=min_samples)  # type: ignore[arg-type]
    grid = np.sort(np.array([*s, *probes, -2e6, 2e6], dtype=np.float64))
    p = cal.predict(grid)
    assert np.all(p > 0.0) and np.all(p < 1.0)
    steps = np.diff(p)
    if cal.method == "logistic" and cal.slope < 0:
        assert np.all(steps <= 0)
    else:  # isotonic, base rate, or a logistic with slope >= 0
        assert np.all(steps >= 0)
