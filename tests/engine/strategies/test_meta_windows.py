"""The compiled windowed meta-label statistics: a hand-checked case, and numpy's formulas (the
materialised windows the kernel replaced) on one-stock and basket data with gaps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.strategies.meta_windows import breadth_sums, day_order, window_stats

Array = np.ndarray


def _reference(rets: Array, wb: Array, bars: Array, first: Array, length: int) -> Array:
    """The numpy path: ``[m, length]`` windows of basket returns, then nansum / two-pass nanstd."""
    idx = bars[:, None] + np.arange(-length + 1, 1)[None, :]
    win = rets[np.clip(idx, 0, len(rets) - 1)]  # [m, L, k]
    vals = np.einsum("mlk,mk->ml", np.nan_to_num(win), wb)
    vals[(idx < first[:, None]) | np.isnan(win).any(axis=2)] = np.nan

    def nanstd(x: Array, min_n: int) -> Array:
        n = np.sum(np.isfinite(x), axis=1)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            mean = np.nansum(x, axis=1) / n
            var = np.nansum((x - mean[:, None]) ** 2, axis=1) / (n - 1)
        out: Array = np.where(n >= min_n, np.sqrt(var), np.nan)
        return out

    return np.column_stack(
        [nanstd(vals[:, -4:], 2), nanstd(vals, 3), np.nansum(vals[:, -5:], axis=1), nanstd(vals[:, -5:], 3)]
    )


def _stats(rets: Array, wb: Array, bars: Array, first: Array, length: int = 8) -> Array:
    return window_stats(rets, wb, bars, first, length=length, short=4, trend=5, min_short=2, min_long=3)


def test_a_hand_checked_window() -> None:
    # one stock, returns 0, 1, 2, ..., 9; the signal at bar 9 reads bars 2..9 (length 8)
    rets = np.arange(10.0).reshape(-1, 1)
    got = _stats(rets, np.ones((1, 1)), np.array([9]), np.array([0]))[0]
    assert got[0] == pytest.approx(np.std([6, 7, 8, 9], ddof=1))  # last 4
    assert got[1] == pytest.approx(np.std(np.arange(2.0, 10.0), ddof=1))  # all 8
    assert got[2] == 5 + 6 + 7 + 8 + 9  # last 5 summed
    assert got[3] == pytest.approx(math.sqrt(2.5))  # sd of 5..9


def test_days_before_the_series_or_with_a_missing_return_are_left_out() -> None:
    rets = np.arange(10.0).reshape(-1, 1)
    rets[8, 0] = np.nan
    # the series starts at bar 6: the window holds bars 6, 7, 9 (8 is missing)
    got = _stats(rets, np.ones((1, 1)), np.array([9]), np.array([6]))[0]
    assert got[0] == pytest.approx(np.std([6, 7, 9], ddof=1))
    assert got[1] == pytest.approx(np.std([6, 7, 9], ddof=1))
    assert got[2] == 6 + 7 + 9
    # fewer than min_short values: NaN
    short = _stats(rets, np.ones((1, 1)), np.array([9]), np.array([9]))[0]
    assert math.isnan(short[0]) and math.isnan(short[1]) and short[2] == 9.0


def test_a_basket_day_is_missing_when_any_column_is_even_with_zero_weight() -> None:
    rets = np.array([[0.01, 0.02, np.nan], [0.03, -0.01, 0.0], [0.02, 0.01, 0.05], [0.0, 0.04, 0.01]])
    wb = np.array([[0.5, 0.5, 0.0]])
    got = window_stats(
        rets, wb, np.array([3]), np.array([0]), length=4, short=4, trend=4, min_short=2, min_long=2
    )
    days = [0.5 * 0.03 + 0.5 * -0.01, 0.5 * 0.02 + 0.5 * 0.01, 0.5 * 0.0 + 0.5 * 0.04]  # day 0 is missing
    assert got[0, 2] == pytest.approx(sum(days))
    assert got[0, 1] == pytest.approx(np.std(days, ddof=1))


@pytest.mark.parametrize("k", [1, 4])
def test_it_gives_numpy_s_numbers_on_random_data_with_gaps(k: int) -> None:
    rng = np.random.default_rng(11)
    rets = rng.normal(0.0, 0.02, (300, k))
    rets[rng.random((300, k)) < 0.05] = np.nan
    rets[17, 0] = np.inf
    rets[40, 0] = -np.inf
    bars = rng.integers(0, 300, 200)
    first = np.maximum(bars - rng.integers(0, 12, 200), 0)
    wb = np.ones((200, 1)) if k == 1 else rng.normal(0.0, 1.0, (200, k)) * (rng.random((200, k)) < 0.6)
    want = _reference(rets, wb, bars, first, 8)
    got = _stats(rets, wb, bars, first)
    assert np.isfinite(got).any() and np.isnan(got).any()  # both kinds of window occur
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0.0)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


def test_shapes_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="window_stats"):
        _stats(np.zeros((5, 2)), np.ones((1, 3)), np.array([4]), np.array([0]))


def test_breadth_sums_are_the_symbol_by_symbol_loop_s_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    days = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-03-01")).astype("datetime64[D]")
    closes, dates = [], []
    for lo, hi in [(0, 60), (5, 40), (20, 60), (0, 3)]:  # ragged: late starts, early ends, too short
        c = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, hi - lo)))
        if hi - lo > 10:
            c[-3] = np.nan  # (a NaN close ends the cumulative-sum mean for good, as before)
        closes.append(c)
        dates.append(days[lo:hi])
    want = [np.zeros(len(days)) for _ in range(4)]
    for c, d in zip(closes, dates, strict=True):  # the loop it replaced
        idx = np.searchsorted(days, d)
        sma = np.full(len(c), np.nan)
        if len(c) >= 5:
            cs = np.cumsum(np.r_[0.0, c])
            sma[4:] = (cs[5:] - cs[:-5]) / 5
        ok = np.isfinite(sma)
        want[0][idx[ok]] += (c[ok] > sma[ok]).astype(float)
        want[1][idx[ok]] += 1.0
        r = np.full(len(c), np.nan)
        r[1:] = c[1:] / c[:-1] - 1.0
        rk = np.isfinite(r)
        want[2][idx[rk]] += r[rk]
        want[3][idx[rk]] += 1.0
    got = breadth_sums(closes, dates, days, 5)
    assert want[1].max() == 3.0 and want[3].sum() > 100  # several symbols were counted on a day
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_breadth_sums_of_a_hand_checked_series() -> None:
    days = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-05")).astype("datetime64[D]")
    above, counted, ret_sum, ret_n = breadth_sums([np.array([1.0, 2.0, 1.0, 4.0])], [days], days, 2)
    np.testing.assert_array_equal(counted, [0, 1, 1, 1])  # a 2-day mean from the second day
    np.testing.assert_array_equal(above, [0, 1, 0, 1])  # 2 > 1.5, 1 < 1.5, 4 > 2.5
    np.testing.assert_allclose(ret_sum, [0.0, 1.0, -0.5, 3.0])
    np.testing.assert_array_equal(ret_n, [0, 1, 1, 1])


def test_day_order_is_numpy_s_stable_argsort() -> None:
    rng = np.random.default_rng(5)
    days = np.datetime64("2001-01-01") + rng.integers(0, 40, 500).astype("timedelta64[D]")
    np.testing.assert_array_equal(day_order(days), np.argsort(days, kind="stable"))
    wide = np.array(["1900-01-01", "2200-01-01", "1900-01-01"], "datetime64[D]")  # a span past 16 bits
    np.testing.assert_array_equal(day_order(wide), [0, 2, 1])
    assert len(day_order(np.array([], "datetime64[D]"))) == 0
    np.testing.assert_array_equal(day_order(np.array(["2020-01-02", "2020-01-01"], "datetime64[D]")), [1, 0])
