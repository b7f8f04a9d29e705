"""A user's own market (issue 18): every instrument validated and replayed on its own calendar,
nothing dropped without a word, closes-only data filled at the close.

The market (``tests/own_market.py``): an index on XTKS (no volume), a commodity's closes on XLON,
BTC-USD daily on 24/7 and EURUSD daily (from the hourly file) on 24/5.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.clock import SimulatedClock
from engine.config import Settings, load_settings
from engine.data import calendar
from engine.data.instruments import spec_from_fields
from engine.data.loader import MarketData, load_user_file
from engine.data.market import load_market
from engine.data.replay import ReplayFeed, first_open
from engine.data.validation import IssueKind
from tests import own_market


@pytest.fixture(scope="module")
def market_files(tmp_path_factory: pytest.TempPathFactory) -> own_market.OwnMarket:
    return own_market.build(tmp_path_factory.mktemp("own"))


@pytest.fixture(scope="module")
def settings(market_files: own_market.OwnMarket) -> Settings:
    return load_settings(market_files.config)


@pytest.fixture(scope="module")
def market(settings: Settings) -> MarketData:
    return load_market(settings)


def _days(market: MarketData, symbol: str) -> np.ndarray:
    return market.bars[symbol].index.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")


def test_each_instrument_keeps_its_own_calendars_sessions(market: MarketData) -> None:
    for symbol, code in (("N225", "XTKS"), ("GOLD", "XLON"), ("BTCUSD", "24/7"), ("EURUSD", "24/5")):
        assert market.spec(symbol).calendar == code
        days = _days(market, symbol)
        sessions = calendar.for_code(code).sessions_array(own_market.START, own_market.END)
        assert np.isin(days, calendar.for_code(code).sessions_array()).all(), symbol
        if symbol in ("N225", "GOLD"):  # generated on every session: every one is kept
            assert np.array_equal(days, sessions), symbol
    tokyo = _days(market, "N225")
    assert np.datetime64(own_market.TOKYO_OPEN_NY_CLOSED) in tokyo  # a Tokyo session New York lacks
    assert not calendar.is_session(own_market.TOKYO_OPEN_NY_CLOSED)
    weekends = [d for d in _days(market, "BTCUSD").tolist() if d.weekday() >= 5]
    assert len(weekends) > 150  # the coin trades on weekends, and keeps them
    assert all(d.weekday() < 5 for d in _days(market, "EURUSD").tolist())


def test_rows_outside_an_instruments_calendar_are_reported_not_silently_dropped(market: MarketData) -> None:
    report = market.report
    outside = [i for i in report.issues if i.kind is IssueKind.NOT_A_SESSION]
    by_symbol = {s: [i for i in outside if i.symbol == s] for s in ("N225", "GOLD", "EURUSD", "BTCUSD")}
    assert [i.day for i in by_symbol["N225"]] == [own_market.TOKYO_CLOSED_NY_OPEN]
    assert "XTKS" in by_symbol["N225"][0].detail
    assert [i.day for i in by_symbol["GOLD"]] == [own_market.LONDON_SATURDAY]
    assert "Saturday (XLON)" in by_symbol["GOLD"][0].detail
    assert len(by_symbol["EURUSD"]) == 52 and all(i.day and i.day.weekday() == 6 for i in by_symbol["EURUSD"])
    assert by_symbol["BTCUSD"] == []
    missing = [i for i in report.issues if i.symbol == "BTCUSD" and i.kind is IssueKind.MISSING]
    assert len(missing) == 4  # the four "null" rows of the file, each reported with its line
    assert all(i.line is not None and i.excluded for i in missing)
    # every row read is either kept or reported as excluded: nothing vanishes
    for symbol in market.bars:
        excluded = [i for i in report.errors if i.symbol == symbol]
        assert report.rows_excluded[symbol] == len(excluded), symbol


def test_the_summary_line_says_what_was_left_out_and_why(market: MarketData) -> None:
    line = market.summary()
    assert line.startswith("data: 4 symbols (24/5, 24/7, XLON, XTKS)")
    assert "58 rows left out (not a trading session 54, missing value 4)" in line
    assert "closes only, filled at the close: GOLD" in line
    assert market.needs_summary()


def test_closes_only_data_is_each_bar_its_close(market: MarketData) -> None:
    gold = market.bars["GOLD"]
    assert market.closes_only == {"GOLD"}
    for column in ("open", "high", "low"):
        assert np.array_equal(gold[column].to_numpy(), gold["close"].to_numpy())
    assert not market.spec("GOLD").has_volume
    assert market.no_volume() == {"GOLD", "N225"}


def test_the_replay_plays_each_instrument_on_its_own_sessions(market: MarketData) -> None:
    start, end = date(2020, 1, 1), date(2020, 1, 31)
    clock = SimulatedClock(datetime(2019, 12, 31, tzinfo=UTC))
    feed = ReplayFeed(market, clock, start=start, end=end, seed=7, steps_per_day=30, spread_bps=2.0)
    assert feed.sessions == [date(2020, 1, d) for d in range(1, 32)]  # the coin trades every day
    seen: dict[str, set[date]] = {"N225": set(), "GOLD": set(), "BTCUSD": set()}
    last_ts = datetime(2019, 12, 31, tzinfo=UTC)
    for day in feed.sessions:
        for ts, quotes in feed.day_quotes(day):
            assert ts >= last_ts  # merged in time order, days after days
            last_ts = ts
            for q in quotes:
                seen[q.symbol].add(day)
                if q.symbol == "N225":  # Tokyo's session: 09:00-15:00 JST is 00:00-06:00 UTC
                    assert 0 <= q.ts.hour <= 6, q
    for symbol, code in (("N225", "XTKS"), ("GOLD", "XLON"), ("BTCUSD", "24/7")):
        own = set(calendar.for_code(code).sessions_array(start, end).tolist())
        assert seen[symbol] == own & set(_days(market, symbol).tolist()), symbol
    assert date(2020, 1, 20) in seen["N225"]  # MLK day: New York closed, Tokyo traded
    assert date(2020, 1, 4) in seen["BTCUSD"]  # a Saturday
    closes = [q for ts, qs in feed.day_quotes(date(2020, 1, 6)) for q in qs if q.symbol == "GOLD"]
    assert {q.last for q in closes} == {float(market.bars["GOLD"].loc["2020-01-06", "close"])}  # closes only
    assert first_open(market, start) == datetime(2020, 1, 1, tzinfo=UTC)


def test_fx_is_replayed_on_weekdays_only(market: MarketData) -> None:
    clock = SimulatedClock(datetime(2017, 5, 31, tzinfo=UTC))
    feed = ReplayFeed(
        market, clock, start=date(2017, 6, 1), end=date(2017, 6, 30), seed=7, steps_per_day=30, spread_bps=0.5
    )
    fx_days = {d for d in feed.sessions for _, qs in feed.day_quotes(d) for q in qs if q.symbol == "EURUSD"}
    expected = set(calendar.for_code("24/5").sessions_array(date(2017, 6, 1), date(2017, 6, 30)).tolist())
    assert fx_days == expected and len(fx_days) == 22


async def test_a_day_of_merged_calendars_keeps_one_days_time_on_screen(market: MarketData) -> None:
    clock = SimulatedClock(datetime(2019, 12, 31, tzinfo=UTC))
    feed = ReplayFeed(
        market, clock, start=date(2020, 1, 6), end=date(2020, 1, 6), seed=7, steps_per_day=30, spread_bps=2.0
    )
    steps = feed.day_quotes(date(2020, 1, 6))
    assert len(steps) > 2 * 31  # three calendars' grids merged
    slept: list[float] = []
    now = [0.0]  # the replay keeps to a schedule on ``monotonic``: a fake clock the fake sleep moves

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    await feed.run(lambda _quotes: None, seconds_per_day=60.0, sleep=sleep, monotonic=lambda: now[0])
    assert len(slept) == len(steps)
    assert sum(slept) == pytest.approx(60.0 * 31 / 30)  # as long as a New York day, not three


def test_a_directory_of_parquet_files_and_a_long_table(tmp_path: Path) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    closes = own_market.london_closes()
    closes["date"] = pd.to_datetime(closes["date"])
    closes.to_parquet(folder / "GOLD.parquet")
    tokyo = own_market.tokyo_index(extra=None)
    tokyo.insert(0, "symbol", "N225")
    tokyo.to_csv(folder / "long.csv", index=False)
    specs = {
        "GOLD": spec_from_fields("GOLD", {"asset_class": "commodity", "exchange": "XLON"}, "test"),
        "N225": spec_from_fields("N225", {"asset_class": "index", "exchange": "XTKS"}, "test"),
    }
    market = load_user_file(folder, specs=specs)
    assert set(market.bars) == {"GOLD", "N225"}
    assert market.closes_only == {"GOLD"}
    assert market.report.rows_excluded == {"GOLD": 1, "N225": 0}  # GOLD's Saturday, reported
    assert len(market.bars["N225"]) == len(
        calendar.for_code("XTKS").sessions_array(own_market.START, own_market.END)
    )
