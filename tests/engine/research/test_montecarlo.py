"""Monte Carlo generators: seeded, statistically faithful, and fast enough for 10,000 paths."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from engine.research.montecarlo import (
    DEFAULT_HORIZON,
    DEFAULT_N_PATHS,
    MonteCarloSummary,
    block_bootstrap,
    bootstrap,
    max_drawdowns,
    parametric,
    summarize,
)


@pytest.fixture(scope="module")
def daily() -> np.ndarray:
    rng = np.random.default_rng(42)
    return rng.normal(0.0004, 0.01, size=1000)


def _ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, 0.01, size=n)
    out = np.empty(n)
    out[0] = eps[0]
    for t in range(1, n):
        out[t] = phi * out[t - 1] + eps[t]
    return out


def _lag1_autocorr(paths: np.ndarray) -> float:
    x = paths - paths.mean(axis=1, keepdims=True)
    num = (x[:, 1:] * x[:, :-1]).sum(axis=1)
    den = (x * x).sum(axis=1)
    return float(np.mean(num / den))


@pytest.mark.parametrize("generator", [bootstrap, block_bootstrap, parametric])
def test_seeded_reproducibility(generator: Callable[..., np.ndarray], daily: np.ndarray) -> None:
    a = generator(daily, 200, 30, seed=7)
    b = generator(daily, 200, 30, seed=7)
    c = generator(daily, 200, 30, seed=8)
    assert a.shape == (200, 30)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_defaults_are_ten_thousand_by_a_year(daily: np.ndarray) -> None:
    assert (DEFAULT_N_PATHS, DEFAULT_HORIZON) == (10_000, 252)
    assert bootstrap(daily, seed=1).shape == (10_000, 252)


def test_bootstrap_final_log_equity_matches_history(daily: np.ndarray) -> None:
    n_paths, horizon = 10_000, 252
    paths = bootstrap(daily, n_paths, horizon, seed=3)
    log_r = np.log1p(daily)
    expected = horizon * log_r.mean()
    stderr = np.sqrt(horizon) * log_r.std() / np.sqrt(n_paths)
    got = np.log1p(paths).sum(axis=1).mean()
    assert abs(got - expected) < 4 * stderr


def test_block_bootstrap_preserves_autocorrelation_better_than_iid() -> None:
    series = _ar1(3000, 0.5, seed=11)
    iid = _lag1_autocorr(bootstrap(series, 2000, 252, seed=1))
    blocks = _lag1_autocorr(block_bootstrap(series, 2000, 252, block=25, seed=1))
    assert abs(iid) < 0.05
    assert blocks > 0.35
    assert blocks > iid + 0.3


def test_block_bootstrap_draws_contiguous_circular_blocks() -> None:
    series = np.arange(10, dtype=float) / 1000.0
    paths = block_bootstrap(series, 50, 12, block=4, seed=5)
    steps = np.round(np.diff(paths * 1000.0, axis=1)) % 10
    # Inside each block of 4 consecutive draws the index advances by exactly one (mod 10).
    for start in (0, 4, 8):
        assert np.all(steps[:, start : start + 3] == 1)


def test_parametric_matches_mean_and_std(daily: np.ndarray) -> None:
    paths = parametric(daily, 5000, 252, seed=9)
    assert paths.mean() == pytest.approx(daily.mean(), abs=4 * daily.std() / np.sqrt(paths.size))
    assert paths.std() == pytest.approx(daily.std(ddof=1), rel=0.01)


def test_all_positive_series_never_loses() -> None:
    series = np.random.default_rng(0).uniform(0.0001, 0.01, size=300)
    for paths in (
        bootstrap(series, 1000, 252, seed=1),
        block_bootstrap(series, 1000, 252, seed=1),
    ):
        summary = summarize(paths)
        assert summary.prob_loss == 0.0
        assert summary.max_drawdown.p95 == 0.0
        assert summary.final_equity.p5 > 1.0


def test_summarize_by_hand() -> None:
    paths = np.array([[0.10, -0.50, 0.20], [-0.10, -0.10, 0.00]])
    summary = summarize(paths, start_equity=100.0)
    assert isinstance(summary, MonteCarloSummary)
    assert (summary.n_paths, summary.horizon, summary.start_equity) == (2, 3, 100.0)
    # Path 1: 110 -> 55 -> 66; path 2: 90 -> 81 -> 81.
    assert summary.final_equity.p50 == pytest.approx((66.0 + 81.0) / 2)
    assert summary.mean_final_equity == pytest.approx(73.5)
    assert summary.prob_loss == 1.0
    np.testing.assert_allclose(
        max_drawdowns(np.array([[110.0, 55.0, 66.0], [90.0, 81.0, 81.0]]), 100.0), [0.5, 0.19]
    )
    assert summary.max_drawdown.p5 < summary.max_drawdown.p95


def test_percentiles_are_ordered(daily: np.ndarray) -> None:
    summary = summarize(block_bootstrap(daily, 2000, 252, seed=2))
    for pct in (summary.final_equity, summary.max_drawdown):
        assert pct.p5 <= pct.p25 <= pct.p50 <= pct.p75 <= pct.p95


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="1-D"):
        bootstrap(np.zeros((3, 2)), 10, 10, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap([0.01, np.nan, 0.02], 10, 10, seed=0)
    with pytest.raises(ValueError, match="-1"):
        bootstrap([0.01, -1.0], 10, 10, seed=0)
    with pytest.raises(ValueError, match="block"):
        block_bootstrap([0.01, 0.02], 10, 10, block=0, seed=0)
    with pytest.raises(ValueError, match="n_paths"):
        parametric([0.01, 0.02], 0, 10, seed=0)


def test_ten_thousand_by_252_is_fast(daily: np.ndarray) -> None:
    start = time.perf_counter()
    summarize(bootstrap(daily, 10_000, 252, seed=0))
    summarize(block_bootstrap(daily, 10_000, 252, seed=0))
    elapsed = time.perf_counter() - start
    # Each generate-and-summarize takes well under a second; this bound only catches a de-vectorization.
    assert elapsed < 2.0
