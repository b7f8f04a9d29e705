"""Bar sizes and annualisation by calendar and bar size: tested numbers, no 252 for crypto, no
sqrt(252) on hourly data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.data.bar_size import BarSize, bars_per_session, infer_bar_size, periods_per_year
from engine.research.metrics import summary


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("1min", 1),
        ("1m", 1),
        ("15min", 15),
        ("15 minutes", 15),
        ("1h", 60),
        ("4H", 240),
        ("1d", 1440),
        (30, 30),
    ],
)
def test_parse(text: str | int, minutes: int) -> None:
    assert BarSize.parse(text).minutes == minutes


@pytest.mark.parametrize("text", ["7min", "2d", "fortnight", "0h"])
def test_parse_refuses_what_is_not_a_bar_size(text: str) -> None:
    with pytest.raises(ValueError, match="bar size"):
        BarSize.parse(text)


def test_names() -> None:
    assert [str(BarSize(m)) for m in (1, 15, 60, 240, 1440)] == ["1min", "15min", "1h", "4h", "1d"]


@pytest.mark.parametrize(
    ("calendar", "bar", "expected"),
    [
        ("24/5", "1h", 24 * 260),  # hourly FX: 6,240
        ("24/5", "1d", 260),
        ("24/7", "15min", 96 * 365),  # 15-minute crypto: 35,040
        ("24/7", "1h", 24 * 365),
        ("24/7", "1d", 365),  # a coin's daily bars: never 252
        ("XNYS", "1d", 252),
        ("XNYS", "1h", 7 * 252),  # 390 minutes: six whole hours and a half bar
        ("XNYS", "15min", 26 * 252),
        ("XNYS", "1min", 390 * 252),
    ],
)
def test_periods_per_year(calendar: str, bar: str, expected: int) -> None:
    assert periods_per_year(calendar, BarSize.parse(bar)) == expected


def test_an_exchange_session_length_comes_from_its_calendar() -> None:
    # XLON trades 08:00-16:30 London: 510 minutes, 9 hourly bars
    assert bars_per_session("XLON", BarSize(60)) == 9
    assert periods_per_year("XLON", BarSize(60)) == 9 * 252


def test_hourly_fx_sharpe_is_annualised_by_6240_not_252() -> None:
    r = np.random.default_rng(1).normal(2e-5, 1e-3, 2000)
    per_bar = float(np.mean(r) / np.std(r, ddof=1))
    ann = periods_per_year("24/5", BarSize(60))
    sharpe = summary(r, annualization=ann).sharpe
    assert sharpe == pytest.approx(per_bar * math.sqrt(6240))
    assert sharpe != pytest.approx(per_bar * math.sqrt(252))
    vol = summary(r, annualization=periods_per_year("24/7", BarSize(15))).annualized_volatility
    assert vol == pytest.approx(float(np.std(r, ddof=1)) * math.sqrt(35040))


def test_infer_bar_size_from_the_commonest_gap() -> None:
    ts = np.arange(
        np.datetime64("2021-01-01T00:00"), np.datetime64("2021-01-02T00:00"), np.timedelta64(15, "m")
    )
    ts = np.delete(ts, [5, 6, 40])  # missing bars do not change it
    assert infer_bar_size(ts) == BarSize(15)
    with pytest.raises(ValueError, match="7 minutes"):
        infer_bar_size(
            np.arange(
                np.datetime64("2021-01-01T00:00"), np.datetime64("2021-01-01T03:00"), np.timedelta64(7, "m")
            )
        )
    with pytest.raises(ValueError, match="fewer than 2"):
        infer_bar_size(ts[:1])


def test_daily_research_annualises_a_coin_by_365_and_stocks_by_252() -> None:
    from engine.data.bar_size import daily_periods_of

    every_day = np.arange(np.datetime64("2020-01-01"), np.datetime64("2021-10-28"))
    assert daily_periods_of(every_day) == 365  # 24/7: weekends trade
    weekdays = every_day[(every_day.astype(np.int64) + 3) % 7 < 5]
    assert daily_periods_of(weekdays) == 260  # 24/5: every weekday, no holiday
    from engine.data.calendar import for_code

    assert daily_periods_of(for_code("XNYS").sessions_array()[-800:]) == 252
    assert daily_periods_of(weekdays[:100]) == 252  # too short to tell 260 from 252: the exchange's
    assert daily_periods_of(every_day[:1]) == 252


def test_onetap_backtest_on_a_coin_uses_365() -> None:
    from engine.research.runs import run_backtest
    from engine.strategies.templates.base import Bars

    days = np.arange(np.datetime64("2019-01-01"), np.datetime64("2021-06-01"))
    rng = np.random.default_rng(4)
    close = 8000 * np.exp(np.cumsum(rng.normal(0.001, 0.03, len(days))))
    bars = Bars("BTCUSD", days, close, close * 1.01, close * 0.99, close, np.full(len(days), 1e6))
    run = run_backtest("trend", {"BTCUSD": bars})
    r = run.backtest.returns
    assert run.metrics.sharpe == pytest.approx(np.mean(r) / np.std(r, ddof=1) * math.sqrt(365))
