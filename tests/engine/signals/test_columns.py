"""``sma_columns``: every column of a panel, or every window of one series, in one call.

Checked against ``indicators.sma`` (the one-series kernel, itself checked against pandas) on the
shipped closes aligned into one panel, leading NaN and gaps included."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from engine.signals.columns import sma_columns
from engine.signals.indicators import sma

RTOL = 1e-12


@pytest.fixture(scope="module")
def panel(shipped_bars: Mapping[str, pd.DataFrame]) -> np.ndarray:
    """``[T, N]`` closes of the shipped symbols on the union of their sessions, with a gap."""
    closes = pd.DataFrame({s: f["close"] for s, f in shipped_bars.items()}).sort_index()
    out = closes.to_numpy().copy()
    assert np.isnan(out[0]).any() and np.isfinite(out[0]).any()  # some symbols start later
    first = int(np.flatnonzero(np.isfinite(out[0]))[0])
    out[300:303, first] = np.nan  # a gap inside a history: the warm-up restarts after it
    return out[:, [first, *(j for j in range(out.shape[1]) if j != first)]]


def _same(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))  # the same warm-ups and gaps
    np.testing.assert_allclose(got, want, rtol=RTOL)


@pytest.mark.parametrize("n", [1, 5, 50, 200])
def test_every_column_of_a_panel_is_the_one_series_sma(panel: np.ndarray, n: int) -> None:
    got = sma_columns(panel, n)
    assert got.shape == panel.shape
    for j in range(panel.shape[1]):
        _same(got[:, j], sma(panel[:, j], n))


def test_one_series_many_windows_and_a_window_asked_twice(panel: np.ndarray) -> None:
    series = panel[:, 0]
    windows = [10, 50, 10, 200, 50]
    got = sma_columns(series, windows)
    assert got.shape == (len(series), 5)
    for k, n in enumerate(windows):
        _same(got[:, k], sma(series, n))
    np.testing.assert_array_equal(got[:, 0], got[:, 2])
    # one window per column, as numpy pairs them
    both = sma_columns(panel[:, :2], [10, 50])
    np.testing.assert_array_equal(both[:, 0], sma_columns(panel[:, 0], 10)[:, 0])
    np.testing.assert_array_equal(both[:, 1], sma_columns(panel[:, 1], 50)[:, 0])


def test_identical_values_give_exactly_that_value() -> None:
    """A flat stretch is flat exactly (no rounding noise for a crossover to trade on)."""
    rng = np.random.default_rng(7)
    x = 100.0 + np.cumsum(rng.normal(0.0, 1.0, 400))
    x[100:250] = 0.1 + 0.2  # a value with no exact binary sum of copies
    for got in (sma_columns(x, 30)[:, 0], sma_columns(np.column_stack([x, x]), 30)[:, 1]):
        assert np.all(got[129:250] == x[100])
        assert got[128] != x[100]  # the window before still held older values


def test_bad_input_is_named() -> None:
    x = np.ones((10, 3))
    with pytest.raises(ValueError, match="3 columns and 2 windows"):
        sma_columns(x, [5, 6])
    with pytest.raises(ValueError, match=">= 1"):
        sma_columns(x, 0)
    with pytest.raises(ValueError, match=r"\[T\] or \[T, N\]"):
        sma_columns(np.ones((2, 2, 2)), 2)
    with pytest.raises(TypeError):
        sma_columns(x, 2.5)
