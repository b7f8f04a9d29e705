"""Crossover targets: bit for bit the unfused route (``sma_columns`` twice, ``fast > slow``, lagged)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.research.account import NO_PATH, NO_ROWS, run_equity, run_single
from engine.research.backtest import BacktestConfig, Costs, _kernel_terms
from engine.research.crossover import crossover_targets
from engine.signals.columns import sma_columns


def _unfused(close: np.ndarray, fast: int | list[int], slow: int | list[int]) -> np.ndarray:
    signal = sma_columns(close, fast) > sma_columns(close, slow)
    target = np.zeros(signal.shape)
    target[1:] = signal[:-1]
    return target


def _series(rng: np.random.Generator, n_bars: int, columns: int, kind: str) -> np.ndarray:
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (n_bars, columns)), axis=0))
    if kind == "flat":  # runs of equal prices (a halted or illiquid stock): the exact-mean rule
        close = np.round(close / 5.0) * 5.0
    if kind == "missing" and n_bars > 20:
        close[rng.integers(0, n_bars, 4), rng.integers(0, columns, 4)] = np.nan
    return close


@pytest.mark.parametrize("kind", ["walk", "flat", "missing"])
def test_one_pair_on_one_series_equals_the_unfused_route(kind: str) -> None:
    rng = np.random.default_rng(11)
    for _ in range(60):
        n_bars, fast, slow = int(rng.integers(1, 400)), int(rng.integers(1, 40)), int(rng.integers(1, 80))
        close = _series(rng, n_bars, 1, kind)
        np.testing.assert_array_equal(crossover_targets(close, fast, slow), _unfused(close, fast, slow))
        np.testing.assert_array_equal(crossover_targets(close[:, 0], fast, slow), _unfused(close, fast, slow))


@pytest.mark.parametrize("kind", ["walk", "flat", "missing"])
def test_a_grid_on_one_series_and_a_panel_equal_the_unfused_route(kind: str) -> None:
    rng = np.random.default_rng(12)
    series = _series(rng, 700, 1, kind)
    fast = [5, 10, 10, 20, 35]
    slow = [20, 50, 30, 50, 20]  # repeated windows, and a pair with fast > slow
    target = crossover_targets(series, fast, slow)
    assert target.shape == (700, 5)
    np.testing.assert_array_equal(target, _unfused(series, fast, slow))
    panel = _series(rng, 700, 6, kind)
    np.testing.assert_array_equal(crossover_targets(panel, 10, 50), _unfused(panel, 10, 50))
    per_column = [3, 5, 8, 13, 21, 34]
    np.testing.assert_array_equal(crossover_targets(panel, per_column, 40), _unfused(panel, per_column, 40))
    assert 0.0 < target[50:].mean() < 1.0  # both states occur: the comparison is exercised


def test_targets_are_lagged_and_warm_up_flat() -> None:
    close = np.arange(1.0, 31.0)  # rising: the fast mean is above the slow one once both exist
    target = crossover_targets(close, 2, 5)
    assert target[:5, 0].tolist() == [0.0] * 5  # the slow mean exists from bar 4, acted on at 5
    assert target[5:, 0].tolist() == [1.0] * 25


def test_mismatched_windows_and_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="do not pair up"):
        crossover_targets(np.ones((10, 1)), [2, 3], [4, 5, 6])
    with pytest.raises(ValueError, match="do not broadcast"):
        crossover_targets(np.ones((10, 3)), [2, 3], 5)
    with pytest.raises(ValueError, match="must be >= 1"):
        crossover_targets(np.ones(10), 0, 5)


def test_run_equity_is_run_single_without_exits() -> None:
    """``simulate``'s one-symbol kernel (nine arguments) gives ``run_single``'s equity bit for bit,
    on both of its loops (the branch-free one and the one writing the ledger), with costs and drift."""
    rng = np.random.default_rng(13)
    close = _series(rng, 500, 1, "walk")
    fill = close * (1.0 + rng.normal(0.0, 0.002, close.shape))
    target = np.repeat(rng.random((50, 1)) > 0.4, 10, axis=0) * rng.uniform(0.3, 1.0, (500, 1))
    terms = _kernel_terms(
        BacktestConfig(
            costs=Costs(per_share=0.01, per_value=0.0005, slippage_bps=2.0), rebalance_threshold=0.05
        )
    )
    fast = np.empty((500, 1))
    run_equity(fill, close, target, *terms, fast)
    for detail in (False, True):
        out = np.empty((500, 1))
        shares, traded, exited = np.empty((500, 1)), np.zeros((500, 1)), np.zeros((500, 1))
        costs, cash = np.zeros(500), np.empty(500)
        ledger = (
            (shares, traded, exited, costs, cash) if detail else (NO_ROWS, NO_ROWS, NO_ROWS, NO_PATH, NO_PATH)
        )
        run_single(fill, close, target, 0, 0, NO_ROWS, NO_ROWS, False, *terms, out, detail, *ledger)
        np.testing.assert_array_equal(fast, out)
    assert np.ptp(fast) > 0.0
