"""Annualisation follows the instrument's calendar (issue 20): the walk-forward's Sharpe ratios and
the scan's candidate volatility, on worked numbers.

Returns 0.02, -0.01, 0.01, -0.01: mean 0.0025, squared deviations 3.0625e-4, 1.5625e-4,
5.625e-5, 1.5625e-4 (sum 6.75e-4), sample variance 2.25e-4, sd 0.015: a Sharpe of 1/6 a bar.
A year of bars (``bar_size.periods_per_year``): 252 daily on XNYS, 365 daily on 24/7, 6,240
hourly on 24/5, 35,040 15-minute on 24/7.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.data.bar_size import ONE_DAY, BarSize, periods_per_year
from engine.research.walkforward import sharpe, walk_forward
from engine.strategies.scan import _vol_annual
from engine.strategies.templates.base import Bars, Panel, Setup

RETURNS = np.array([0.02, -0.01, 0.01, -0.01])


@pytest.mark.parametrize(
    ("calendar", "bar", "bars_a_year", "expected"),
    [
        ("XNYS", ONE_DAY, 252, math.sqrt(252) / 6),  # 2.6458
        ("24/7", ONE_DAY, 365, math.sqrt(365) / 6),  # 3.1842
        ("24/5", BarSize(60), 6_240, math.sqrt(6_240) / 6),  # 13.1656
        ("24/7", BarSize(15), 35_040, math.sqrt(35_040) / 6),  # 31.1983
    ],
)
def test_sharpe_on_each_calendars_year(
    calendar: str, bar: BarSize, bars_a_year: int, expected: float
) -> None:
    assert periods_per_year(calendar, bar) == bars_a_year
    assert sharpe(RETURNS, periods_per_year(calendar, bar)) == pytest.approx(expected, rel=1e-12)
    assert sharpe(RETURNS) == pytest.approx(math.sqrt(252) / 6, rel=1e-12)  # the daily XNYS default


def test_sharpe_refuses_a_year_of_no_bars() -> None:
    with pytest.raises(ValueError, match="periods_per_year must be a positive number, got 0"):
        sharpe(RETURNS, 0)


@pytest.fixture(scope="module")
def panel() -> Panel:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT"]).bars
    return {s: Bars.from_frame(s, f.loc["2008-01-01":"2012-06-01"]) for s, f in bars.items()}


def _every_day(panel: Panel) -> Panel:
    """The same bars on consecutive calendar days, weekends included (as a coin trades)."""
    out = {}
    for sym, b in panel.items():
        days = np.arange(len(b)).astype("timedelta64[D]") + np.datetime64("2008-01-01", "D")
        out[sym] = Bars(sym, days, b.open, b.high, b.low, b.close, b.volume)
    return out


def test_walk_forward_annualises_by_the_sessions_calendar(panel: Panel) -> None:
    """The XNYS panel is on 252 as before; the same bars on a 24/7 calendar are on 365: the same
    choices, every objective sqrt(365 / 252) = 1.2035 times the 252 one."""
    stock = walk_forward("trend", panel, train_days=504, test_days=126)
    assert stock.periods_per_year == 252
    coin = walk_forward("trend", _every_day(panel), train_days=504, test_days=126)
    as_stock = walk_forward("trend", _every_day(panel), train_days=504, test_days=126, periods_per_year=252)
    assert coin.periods_per_year == 365 and as_stock.periods_per_year == 252
    assert [w.chosen for w in coin.windows] == [w.chosen for w in as_stock.windows]
    np.testing.assert_array_equal(coin.returns, as_stock.returns)
    factor = math.sqrt(365 / 252)
    for c, s in zip(coin.windows, as_stock.windows, strict=True):
        assert c.train_objective == pytest.approx(s.train_objective * factor, rel=1e-12)
    first = coin.windows[0]
    assert first.test_objective == pytest.approx(
        sharpe(coin.returns[: first.test_end - first.train_end], 365)
    )


def _setup(dates: np.ndarray) -> Setup:
    """One stock whose last 60 returns repeat 0.02, -0.01, 0.01, -0.01 (sample sd sqrt(0.010125 /
    59) = 0.0131000)."""
    lead = np.ones(len(dates) - 61)  # flat before: the last 60 returns are the pattern
    closes = np.cumprod(np.concatenate([[100.0], lead, np.tile(1.0 + RETURNS, 15)]))[:, None]
    n = len(closes)
    none = np.zeros(n, dtype=bool)
    flat = np.zeros(n)
    return Setup(
        "t", "K", ("K",), dates, closes, closes, none, none, flat, np.ones((n, 1)), flat, flat, {}, str
    )


def test_the_scans_volatility_follows_the_setups_calendar() -> None:
    sd = math.sqrt(0.010125 / 59)
    weekdays = pd.bdate_range("2024-01-01", periods=61).to_numpy().astype("datetime64[D]")
    every_day = np.arange(61).astype("timedelta64[D]") + np.datetime64("2024-01-01", "D")
    assert _vol_annual(_setup(weekdays)) == pytest.approx(sd * math.sqrt(252), rel=1e-12)  # 0.2080
    assert _vol_annual(_setup(every_day)) == pytest.approx(sd * math.sqrt(365), rel=1e-12)  # 0.2503
    assert _vol_annual(_setup(weekdays), 6_240) == pytest.approx(sd * math.sqrt(6_240), rel=1e-12)
    fx = pd.bdate_range("2022-01-03", periods=500).to_numpy().astype("datetime64[D]")  # no holidays
    assert _vol_annual(_setup(fx)) == pytest.approx(sd * math.sqrt(260), rel=1e-12)  # 0.2112
