"""Multi-timeframe: higher bars resampled from lower ones, usable only after they close; tested
by perturbing the future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.bar_size import BarSize
from engine.signals.timeframes import on_lower, resample
from engine.strategies.multitimeframe import confirmed, higher_trend
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars
from tests.engine.intraday.bars import every, walk

H1, D1 = BarSize(60), BarSize(1440)


def _bars(n: int, seed: int = 5, freq: str = "1h") -> Bars:
    f = walk(every(freq, "2021-01-01", n), seed=seed)
    return Bars(
        "X",
        pd.DatetimeIndex(f["timestamp"]).values.astype("datetime64[m]"),
        *(f[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")),
    )


def test_resample_hand_worked() -> None:
    starts = np.array(
        ["2021-01-01T00:00", "2021-01-01T01:00", "2021-01-01T02:00", "2021-01-01T03:00", "2021-01-01T05:00"],
        dtype="datetime64[m]",
    )
    r = resample(
        starts,
        np.array([1.0, 2, 3, 4, 5]),
        np.array([2.0, 9, 4, 5, 6]),
        np.array([0.5, 1, 2, 3, 4]),
        np.array([2.0, 3, 4, 4.5, 5.5]),
        np.array([10.0, 20, 30, 40, 50]),
        60,
        240,
    )
    assert (
        r.starts.tolist()
        == np.array(["2021-01-01T00:00", "2021-01-01T04:00"], dtype="datetime64[m]").tolist()
    )
    assert r.available_at[0] == np.datetime64("2021-01-01T04:00")
    np.testing.assert_array_equal(r.open, [1.0, 5.0])
    np.testing.assert_array_equal(r.high, [9.0, 6.0])
    np.testing.assert_array_equal(r.low, [0.5, 4.0])
    np.testing.assert_array_equal(r.close, [4.5, 5.5])
    np.testing.assert_array_equal(r.volume, [100.0, 50.0])
    with pytest.raises(ValueError, match="not a multiple"):
        resample(starts, *([np.ones(5)] * 5), 60, 90)


def test_a_daily_bar_is_seen_only_from_the_bar_that_closes_at_its_end() -> None:
    b = _bars(72)  # three days of hourly bars
    r = resample(b.dates, b.open, b.high, b.low, b.close, b.volume, 60, 1440)
    seen = on_lower(r.close, r.available_at, b.dates + H1.delta)
    assert np.isnan(seen[:23]).all()  # day 1 is not complete before its 23:00 bar closes at midnight
    assert seen[23] == b.close[23]  # the 23:00 bar closes at midnight: day 1 is known
    assert (seen[24:47] == b.close[23]).all()  # all of day 2 sees day 1 only, never itself
    assert seen[47] == b.close[47]


def test_perturbing_the_future_changes_nothing_before_it() -> None:
    b = _bars(24 * 80)
    trend = higher_trend(b, H1, D1)
    assert set(np.unique(trend)) <= {-1.0, 0.0, 1.0} and (trend != 0).any()
    cut = 24 * 50 + 13  # mid-day: the rest of this day and every later bar change
    rng = np.random.default_rng(9)
    shock = np.ones(len(b.close))
    shock[cut + 1 :] = np.exp(np.cumsum(rng.normal(0.0, 0.05, len(b.close) - cut - 1)))
    moved = Bars(b.symbol, b.dates, b.open * shock, b.high * shock, b.low * shock, b.close * shock, b.volume)
    after = higher_trend(moved, H1, D1)
    np.testing.assert_array_equal(trend[: cut + 1], after[: cut + 1])
    assert not np.array_equal(trend[cut + 1 :], after[cut + 1 :])  # the perturbation did reach the future
    base = TEMPLATES["trend"]
    tpl = confirmed(base, H1, D1)
    a = tpl.build({"X": b}, tpl.params())[0]
    z = tpl.build({"X": moved}, tpl.params())[0]
    np.testing.assert_array_equal(a.entry[: cut + 1], z.entry[: cut + 1])


def test_confirmation_keeps_only_entries_with_the_higher_trend() -> None:
    b = _bars(24 * 80, seed=8)
    base = TEMPLATES["trend"]
    plain = base.build({"X": b}, base.params())[0]
    tpl = confirmed(base, H1, D1)
    assert tpl.name == "trend@1d"
    conf = tpl.build({"X": b}, tpl.params())[0]
    trend = higher_trend(b, H1, D1)
    assert plain.entry.sum() > conf.entry.sum() > 0
    assert not (conf.entry & ~plain.entry).any()
    np.testing.assert_array_equal(conf.entry, plain.entry & (trend > 0))
    with pytest.raises(ValueError, match="must be above"):
        confirmed(base, D1, H1)
