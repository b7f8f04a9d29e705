from __future__ import annotations

import importlib.metadata
import os
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from engine.data import calendar

NY = ZoneInfo("America/New_York")


def test_holidays_are_not_sessions() -> None:
    assert not calendar.is_session(date(2012, 7, 4))
    assert not calendar.is_session(date(2012, 12, 25))
    assert not calendar.is_session(date(2012, 3, 10))  # Saturday
    assert calendar.is_session(date(2012, 7, 5))
    # Unscheduled closures come from the library too: 9/11 and Hurricane Sandy.
    assert not calendar.is_session(date(2001, 9, 11))
    assert not calendar.is_session(date(2012, 10, 29)) and not calendar.is_session(date(2012, 10, 30))


def test_sessions_and_neighbours() -> None:
    assert calendar.sessions(date(2012, 7, 1), date(2012, 7, 9)) == [
        date(2012, 7, 2),
        date(2012, 7, 3),
        date(2012, 7, 5),
        date(2012, 7, 6),
        date(2012, 7, 9),
    ]
    assert calendar.sessions(date(2012, 7, 9), date(2012, 7, 1)) == []
    assert calendar.next_session(date(2012, 7, 3)) == date(2012, 7, 5)
    assert calendar.next_session(date(2012, 7, 4)) == date(2012, 7, 5)
    assert calendar.previous_session(date(2012, 7, 5)) == date(2012, 7, 3)
    assert len(calendar.sessions(date(2012, 1, 1), date(2012, 12, 31))) == 250


def test_early_close_and_regular_day() -> None:
    opens, closes = calendar.session_open_close(date(2012, 11, 23))
    assert opens.tzinfo is UTC and closes.tzinfo is UTC
    assert opens.astimezone(NY).hour == 9 and opens.astimezone(NY).minute == 30
    assert closes.astimezone(NY).hour == 13 and closes.astimezone(NY).minute == 0
    opens, closes = calendar.session_open_close(date(2012, 11, 21))
    assert closes.astimezone(NY).hour == 16


def test_daylight_saving_time() -> None:
    # DST began on Sunday 2012-03-11: the open is 9:30 in New York on both sides, one hour apart in UTC.
    before = calendar.session_open_close(date(2012, 3, 9))
    after = calendar.session_open_close(date(2012, 3, 12))
    assert before[0] == datetime(2012, 3, 9, 14, 30, tzinfo=UTC)
    assert after[0] == datetime(2012, 3, 12, 13, 30, tzinfo=UTC)
    assert after[1] == datetime(2012, 3, 12, 20, 0, tzinfo=UTC)
    assert {t.astimezone(NY).strftime("%H:%M") for t in (before[0], after[0])} == {"09:30"}


def test_datetimes_are_read_as_new_york_days() -> None:
    # 02:00 UTC on the 5th is still the 4th in New York: a holiday.
    assert not calendar.is_session(datetime(2012, 7, 5, 2, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="naive datetime"):
        calendar.is_session(datetime(2012, 7, 5, 12, 0))


def test_errors_are_clear() -> None:
    with pytest.raises(
        ValueError, match=r"^2012-07-04 is not an XNYS session \(exchange holiday or closure\)$"
    ):
        calendar.session_open_close(date(2012, 7, 4))
    with pytest.raises(ValueError, match=r"outside the trading calendar's range 1990-01-01\.\.2030-12-31"):
        calendar.is_session(date(1985, 1, 2))
    assert calendar.calendar_range() == (date(1990, 1, 2), date(2030, 12, 31))


def _same(a: calendar.SessionTable, b: calendar.SessionTable) -> bool:
    return (
        np.array_equal(a.days, b.days)
        and np.array_equal(a.opens_ns, b.opens_ns)
        and np.array_equal(a.closes_ns, b.closes_ns)
        and (a.first, a.last) == (b.first, b.last)
    )


def test_the_cached_table_is_the_built_one_and_a_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "calendar.npz"
    built = calendar.load_table(path)  # no cache yet: built, then written
    assert path.is_file()
    written = path.stat().st_ino
    cached = calendar.load_table(path)
    assert path.stat().st_ino == written  # read from the file, not rebuilt (a rebuild replaces the file)
    assert _same(cached, built)
    assert (built.first, built.last) == calendar.calendar_range()
    path.write_bytes(b"not a numpy archive")
    corrupt = path.stat().st_ino
    rebuilt = calendar.load_table(path)
    assert _same(rebuilt, built)
    assert path.stat().st_ino != corrupt  # the corrupt file was replaced by a good one
    assert _same(calendar.load_table(path), built)


def test_the_cache_lives_in_the_users_cache_directory() -> None:
    path = calendar.cache_path()
    assert path is not None
    assert path.is_relative_to(os.environ["XDG_CACHE_HOME"])
    assert importlib.metadata.version("exchange_calendars") in path.name
