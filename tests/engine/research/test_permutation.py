"""Permutation test: reproducible, cross-section preserving, calibrated on noise, sharp on real trends."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from engine.research.executor import ProcessExecutor, SerialExecutor
from engine.research.permutation import (
    PermutationResult,
    joint_permutations,
    p_value,
    permutation_test,
)


# Module-level statistics: picklable, so they can run on a process pool.
def momentum_pnl(returns: np.ndarray) -> float:
    """Mean P&L of holding each asset in the direction of its previous day's return."""
    r = returns.reshape(returns.shape[0], -1)
    return float(np.mean(np.sign(r[:-1]) * r[1:]))


def total_return(returns: np.ndarray) -> float:
    """Invariant under permutation of the days: every null value equals the observed one."""
    return float(returns.sum())


def _noise(seed: int, days: int = 250, assets: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.01, size=(days, assets))


def _trending(seed: int, days: int = 500, assets: int = 2, phi: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, 0.01, size=(days, assets))
    out = np.empty_like(eps)
    out[0] = eps[0]
    for t in range(1, days):
        out[t] = phi * out[t - 1] + eps[t]
    return out


def test_joint_permutations_reproducible() -> None:
    data = _noise(1, days=40)
    a = joint_permutations(data, 5, seed=3)
    b = joint_permutations(data, 5, seed=3)
    c = joint_permutations(data, 5, seed=4)
    assert a.shape == (5, 40, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_joint_permutation_keeps_each_day_intact() -> None:
    data = _noise(2, days=60, assets=4)
    original_rows = {tuple(row) for row in data}
    for perm in joint_permutations(data, 10, seed=5):
        assert not np.array_equal(perm, data)
        assert {tuple(row) for row in perm} == original_rows
        # Same multiset of rows: sorting by the first column lines them up exactly.
        np.testing.assert_array_equal(perm[np.argsort(perm[:, 0])], data[np.argsort(data[:, 0])])


def test_permutation_test_reproducible_and_consistent_with_joint_permutations() -> None:
    data = _noise(3)
    a = permutation_test(momentum_pnl, data, 50, seed=9)
    b = permutation_test(momentum_pnl, data, 50, seed=9)
    assert isinstance(a, PermutationResult)
    assert a.observed == b.observed
    np.testing.assert_array_equal(a.null, b.null)
    assert a.p_value == b.p_value
    expected_null = [momentum_pnl(p) for p in joint_permutations(data, 50, seed=9)]
    np.testing.assert_array_equal(a.null, expected_null)
    assert not a.null.flags.writeable


def test_serial_and_process_executors_agree() -> None:
    data = _noise(4)
    reference = permutation_test(momentum_pnl, data, 60, seed=2)
    with SerialExecutor() as serial, ProcessExecutor(2) as process:
        for executor in (serial, process):
            got = permutation_test(momentum_pnl, data, 60, seed=2, executor=executor)
            np.testing.assert_array_equal(got.null, reference.null)
            assert got.p_value == reference.p_value


def test_p_value_formula() -> None:
    null = np.array([0.1, 0.5, 0.9, 1.0])
    assert p_value(0.95, null) == pytest.approx(2 / 5)
    assert p_value(2.0, null) == pytest.approx(1 / 5)
    assert p_value(0.0, null) == 1.0
    assert p_value(float("nan"), null) == 1.0
    assert p_value(2.0, np.array([np.nan, 0.0])) == pytest.approx(2 / 3)
    # A permutation-invariant statistic ties with every null value: p = 1. The data are multiples of
    # 1/1024 so the sum is exact in any order (float addition is otherwise order-dependent).
    exact = np.round(_noise(5) * 1024) / 1024
    assert permutation_test(total_return, exact, 20, seed=0).p_value == 1.0


def test_p_values_on_noise_are_roughly_uniform() -> None:
    p_values = np.array(
        [permutation_test(momentum_pnl, _noise(100 + s), 99, seed=s).p_value for s in range(30)]
    )
    assert 0.0 <= np.mean(p_values < 0.1) <= 0.3
    assert stats.kstest(p_values, "uniform").pvalue > 0.01


def test_real_trend_gives_small_p_value() -> None:
    result = permutation_test(momentum_pnl, _trending(7), 199, seed=1)
    assert result.observed > np.max(result.null)
    assert result.p_value == pytest.approx(1 / 200)


def test_one_dimensional_series_and_invalid_inputs() -> None:
    series = _trending(8, assets=1)[:, 0]
    assert permutation_test(momentum_pnl, series, 99, seed=0).p_value < 0.05
    with pytest.raises(ValueError, match="n_runs"):
        permutation_test(momentum_pnl, series, 0, seed=0)
    with pytest.raises(ValueError, match="shape"):
        joint_permutations(np.zeros((2, 2, 2)), 3, seed=0)


def test_progress_reports_every_run_and_changes_nothing() -> None:
    rng = np.random.default_rng(11)
    data = rng.normal(0.0, 0.01, (300, 3))
    seen: list[tuple[int, int]] = []
    plain = permutation_test(_mean_of_first_column, data, n_runs=120, seed=4)
    watched = permutation_test(
        _mean_of_first_column, data, n_runs=120, seed=4, progress=lambda d, n: seen.append((d, n))
    )
    np.testing.assert_array_equal(plain.null, watched.null)
    assert seen[-1] == (120, 120) and [d for d, _n in seen] == sorted(d for d, _n in seen)


def _mean_of_first_column(m: np.ndarray) -> float:
    return float(np.mean(m[: len(m) // 2, 0]))
