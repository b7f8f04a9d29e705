"""The reacting VaR models on synthetic returns whose true quantiles are known.

Tolerances, stated: on i.i.d. normal and Student-t returns each model's *average* forecast VaR is
within 10% of the true quantile (a single day's EWMA volatility is noisy by about +-15%, so
the average over thousands of days is what a model can be held to); on a simulated GARCH(1,1)
with known parameters the GARCH-filtered forecasts track the true conditional quantile day by
day (median relative error under 10%); and over every long path the exceedance rate passes
Kupiec's test at the 1% size. On i.i.d. Student-t(5) returns the EWMA-filtered models' average
VaR may sit up to 20% above the truth (the filter's volatility jumps after each large shock
and decays slowly); their exceedance rate is still held to Kupiec. Refits every 250 days here
keep the test fast; the shipped default refits every 20 (tests/engine/risk/test_var_default.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engine.config import VarMethod
from engine.risk.var import kupiec_pof
from engine.risk.var_models import (
    METHODS,
    fit_garch,
    forecast,
    roll,
    variance_filter,
)

N = 3_500
EVERY = 250


def normal_path() -> np.ndarray:
    return np.random.default_rng(101).normal(0.0, 0.01, N)


def t_path(df: float = 5.0) -> np.ndarray:
    return np.random.default_rng(202).standard_t(df, N) * 0.01


def garch_path(omega: float, alpha: float, beta: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns and the true conditional sigma of each day (sigma[t] known before day t)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    x = np.empty(n)
    sig2 = np.empty(n)
    sig2[0] = omega / (1 - alpha - beta)
    for t in range(n):
        if t:
            sig2[t] = omega + alpha * x[t - 1] ** 2 + beta * sig2[t - 1]
        x[t] = math.sqrt(sig2[t]) * z[t]
    return x, np.sqrt(sig2)


def test_the_config_lists_every_method() -> None:
    assert tuple(VarMethod.__args__) == METHODS  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "method", ["historical", "parametric", "fhs_ewma", "student_t", "cornish_fisher", "evt", "fhs_gjr"]
)
def test_on_iid_normal_returns_the_average_forecast_is_the_true_quantile(method: str) -> None:
    x = normal_path()
    f = roll(x, method, (0.95, 0.99), refit_every=EVERY)
    realised = x[f.start :]
    for i, level in enumerate(f.levels):
        truth = -stats.norm.ppf(1 - level, scale=0.01)
        assert float(f.var[i].mean()) == pytest.approx(truth, rel=0.10), (method, level)
        hits = int(np.sum(-realised > f.var[i, :-1]))
        assert kupiec_pof(hits, realised.size, level) > 0.01, (method, level, hits)
        assert np.all(f.es[i] >= f.var[i] * 0.999)


@pytest.mark.parametrize("method", ["fhs_ewma", "student_t", "evt"])
def test_on_student_t_returns_the_fat_tail_is_found(method: str) -> None:
    x = t_path(5.0)
    f = roll(x, method, (0.99,), refit_every=EVERY)
    truth = -stats.t.ppf(0.01, 5.0) * 0.01
    assert truth * 0.95 < float(f.var[0].mean()) < truth * 1.20, method
    hits = int(np.sum(-x[f.start :] > f.var[0, :-1]))
    assert kupiec_pof(hits, x.size - f.start, 0.99) > 0.01, (method, hits)


def test_the_normal_model_misses_the_fat_tail_it_assumes_away() -> None:
    """The control: a test that could fail does fail for the model that should."""
    x = t_path(3.0)
    f = roll(x, "parametric", (0.99,))
    assert float(f.var[0].mean()) < -stats.t.ppf(0.01, 3.0) * 0.01 * 0.9


@pytest.mark.parametrize("method", ["fhs_garch", "evt"])
def test_on_a_known_garch_the_forecast_tracks_the_true_conditional_quantile(method: str) -> None:
    x, sigma = garch_path(2e-6, 0.08, 0.90, N, seed=303)
    f = roll(x, method, (0.95, 0.99), refit_every=EVERY)
    for i, level in enumerate(f.levels):
        truth = -stats.norm.ppf(1 - level) * sigma[f.start :]
        rel = np.abs(f.var[i, :-1] / truth - 1.0)
        assert float(np.median(rel)) < 0.10, (method, level, float(np.median(rel)))
        hits = int(np.sum(-x[f.start :] > f.var[i, :-1]))
        assert kupiec_pof(hits, x.size - f.start, level) > 0.01, (method, level, hits)


def test_a_flat_window_does_not_react_and_the_filtered_model_does() -> None:
    """After a volatility jump the filtered VaR rises within days; the 250-day quantile barely moves."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 0.01, 1_500), rng.normal(0, 0.04, 10)])
    flat = forecast(x, "historical", (0.99,))[0][0]
    filtered = forecast(x, "fhs_ewma", (0.99,))[0][0]
    assert filtered > 1.8 * flat


def test_garch_fit_recovers_known_parameters() -> None:
    x, _ = garch_path(2e-6, 0.08, 0.90, 4_000, seed=404)
    p = fit_garch(x)
    assert p.alpha == pytest.approx(0.08, abs=0.04) and p.beta == pytest.approx(0.90, abs=0.05)
    # the long-run variance is the sample's (alpha + beta near 1 leaves it loosely pinned)
    assert p.omega / (1 - p.alpha - p.beta) == pytest.approx(float(np.var(x)), rel=0.3)


def test_the_variance_filter_is_the_recursion() -> None:
    x = np.random.default_rng(1).normal(0, 0.02, 50)
    out = variance_filter(x, 1e-6, 0.05, 0.9, 4e-4, gamma=0.1)
    expected = [4e-4]
    for v in x:
        expected.append(1e-6 + (0.05 + 0.1 * (v < 0)) * v * v + 0.9 * expected[-1])
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_reused_fits_give_the_same_forecasts_without_refitting() -> None:
    x, _ = garch_path(2e-6, 0.08, 0.90, 1_400, seed=9)
    fits: dict[int, object] = {}
    first = roll(x, "evt_gjr", (0.99,), fits=fits)  # type: ignore[arg-type]
    assert sorted(fits) == list(range(1_000, 1_401, 20))
    again = roll(x, "evt_gjr", (0.99,), fits=fits)  # type: ignore[arg-type]
    np.testing.assert_array_equal(first.var, again.var)


def test_each_forecast_uses_only_the_days_before_it() -> None:
    x = t_path()[:1_300]
    f = roll(x, "fhs_ewma", (0.99,), start=1_200)
    changed = x.copy()
    changed[1_250:] *= 10.0  # the future changes; forecasts up to day 1250 must not
    g = roll(changed, "fhs_ewma", (0.99,), start=1_200)
    np.testing.assert_array_equal(f.var[:, :51], g.var[:, :51])
    assert not np.array_equal(f.var[:, 52:], g.var[:, 52:])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "garch"}, "unknown VaR method 'garch'"),
        ({"levels": (1.0,)}, "VaR level must be in [0.5, 1)"),
        ({"window": 5}, "window must be at least 20"),
        ({"window": 2_000}, "less than the 2000-day window"),
        ({"start": 10, "window": 100}, "start 10 leaves less than the 100-day window"),
    ],
)
def test_bad_input_is_refused_by_name(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"method": "fhs_ewma", "levels": (0.99,), **kwargs}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        roll(np.zeros(1_500), args.pop("method"), args.pop("levels"), **args)  # type: ignore[arg-type]


def test_a_non_finite_return_is_named() -> None:
    x = np.zeros(1_100)
    x[7] = np.nan
    with pytest.raises(ValueError, match="non-finite value at index 7"):
        roll(x, "historical", (0.99,))
