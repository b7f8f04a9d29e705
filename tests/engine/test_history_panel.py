"""The history panel gives, from arrays read once, exactly what slicing each symbol's frame gave:
the returns window before a session (the VaR inputs), the closes and the last close."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.data.loader import MarketData
from engine.model import Instrument
from engine.runtime.history_panel import HistoryPanel
from engine.signals.indicators import returns as simple_returns


def _market() -> MarketData:
    """Three symbols on different days: one with a missing close, one short, one with a gap."""
    rng = np.random.default_rng(11)
    days = pd.bdate_range("2020-01-01", periods=400)
    bars = {}
    for sym, index in (("AAA", days), ("BBB", days[250:]), ("CCC", days.delete(range(100, 130)))):
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, len(index))))
        if sym == "AAA":
            close[300] = np.nan  # a missing close: NaN returns either side, as the slice gives
        bars[sym] = pd.DataFrame(
            {"open": close, "high": close, "low": close, "close": close, "volume": 1e6}, index=index
        )
    return MarketData(bars=bars, instruments={s: Instrument(s) for s in bars}, source="test")


def _sliced(feed: _Bars, sym: str, day: date, window: int) -> np.ndarray | None:
    """The computation the panel replaces: slice the frame before ``day``, take the tail's returns."""
    close = feed.history(sym, before=day)["close"].to_numpy(dtype=np.float64)
    if len(close) < 2:
        return None
    return simple_returns(close[-(window + 1) :])[1:]


class _Bars:
    """The history a feed gives (the replay's and IBKR's ``history`` is ``MarketData.bars_before``)."""

    def __init__(self, data: MarketData) -> None:
        self._data = data

    def history(self, symbol: str, before: date) -> pd.DataFrame:
        return self._data.bars_before(symbol, before)


@pytest.fixture
def feed() -> _Bars:
    return _Bars(_market())


@pytest.mark.parametrize("window", [1, 20, 250, 1000])
def test_returns_equal_the_sliced_computation(feed: _Bars, window: int) -> None:
    panel = HistoryPanel(feed)
    checked = 0
    for day in pd.bdate_range("2020-01-01", periods=420)[::7].date:
        got = panel.returns(["AAA", "BBB", "CCC"], day, window)
        for sym in ("AAA", "BBB", "CCC"):
            expected = _sliced(feed, sym, day, window)
            if expected is None:
                assert sym not in got
                continue
            np.testing.assert_array_equal(got[sym], expected)
            checked += 1
    assert checked > 100  # the comparison ran on real windows, not only on empty ones


def test_closes_and_last_close_match_the_frame(feed: _Bars) -> None:
    panel = HistoryPanel(feed)
    day = date(2021, 3, 1)
    for sym in ("AAA", "BBB", "CCC"):
        frame = feed.history(sym, before=day)
        np.testing.assert_array_equal(panel.closes_before(sym, day), frame["close"].to_numpy())
        assert panel.last_close(sym, day) == float(frame["close"].iloc[-1])
    assert panel.last_close("BBB", date(2020, 1, 1)) is None  # before its first bar: no close


def test_the_window_moves_one_session_at_a_time(feed: _Bars) -> None:
    """Day after day the window drops its oldest return and gains the newest (the cached cut
    moves on; an earlier day's result is not served for a later one)."""
    panel = HistoryPanel(feed)
    d1, d2 = date(2020, 9, 1), date(2020, 9, 2)
    first = panel.returns(["AAA"], d1, 20)["AAA"].copy()
    second = panel.returns(["AAA"], d2, 20)["AAA"]
    np.testing.assert_array_equal(second[:-1], first[1:])
    assert np.isfinite(second[-1]) and second[-1] != first[-1]


def test_the_views_are_read_only(feed: _Bars) -> None:
    """They go to the risk report's worker thread as they are: nobody may write through them."""
    panel = HistoryPanel(feed)
    r = panel.returns(["AAA"], date(2020, 9, 1), 20)["AAA"]
    with pytest.raises(ValueError, match="read-only"):
        r[0] = 1.0


def test_a_symbol_without_bars_is_refused_as_the_feed_refuses_it(feed: _Bars) -> None:
    panel = HistoryPanel(feed)
    with pytest.raises(KeyError, match="ZZZ"):
        panel.last_close("ZZZ", date(2020, 9, 1))
