"""The autopilot's run times on the XNYS calendar: holidays, early closes, DST, missed runs, any TZ."""

from __future__ import annotations

import os
import time as systime
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest

from engine.clock import SimulatedClock
from engine.data.calendar import NEW_YORK
from engine.portfolio.schedule import AutopilotSchedule

SCHEDULE = AutopilotSchedule()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NEW_YORK)


def test_regular_session_runs_at_1555_new_york() -> None:
    assert SCHEDULE.run_time(date(2012, 6, 29)) == utc(2012, 6, 29, 19, 55)
    assert SCHEDULE.run_time(date(2012, 1, 3)) == utc(2012, 1, 3, 20, 55)


@pytest.mark.parametrize("day", [date(2012, 7, 3), date(2012, 11, 23), date(2012, 12, 24)])
def test_early_close_runs_five_minutes_before_the_1300_close(day: date) -> None:
    run = SCHEDULE.run_time(day)
    assert run.astimezone(NEW_YORK).time() == time(12, 55)
    assert run == SCHEDULE.close(day) - timedelta(minutes=5)


def test_dst_changes_keep_1555_new_york_and_move_the_utc_time() -> None:
    # 2012-03-11 (Sunday) spring forward, 2012-11-04 (Sunday) fall back
    assert SCHEDULE.run_time(date(2012, 3, 9)) == utc(2012, 3, 9, 20, 55)
    assert SCHEDULE.run_time(date(2012, 3, 12)) == utc(2012, 3, 12, 19, 55)
    assert SCHEDULE.run_time(date(2012, 11, 2)) == utc(2012, 11, 2, 19, 55)
    assert SCHEDULE.run_time(date(2012, 11, 5)) == utc(2012, 11, 5, 20, 55)
    for day in (date(2012, 3, 9), date(2012, 3, 12), date(2012, 11, 2), date(2012, 11, 5)):
        assert SCHEDULE.run_time(day).astimezone(NEW_YORK).time() == time(15, 55)


def test_next_run_skips_weekends_and_holidays() -> None:
    # after Tuesday 2012-07-03's early run: Wednesday the 4th is Independence Day
    assert SCHEDULE.next_run(ny(2012, 7, 3, 12, 55)) == ny(2012, 7, 5, 15, 55)
    assert SCHEDULE.next_run(ny(2012, 7, 3, 12, 54)) == ny(2012, 7, 3, 12, 55)
    # Christmas 2012 is a Tuesday; Christmas Eve closes early
    assert SCHEDULE.next_run(ny(2012, 12, 22, 9, 0)) == ny(2012, 12, 24, 12, 55)
    assert SCHEDULE.next_run(ny(2012, 12, 24, 13, 0)) == ny(2012, 12, 26, 15, 55)
    # across the spring DST weekend: Friday evening to Monday
    assert SCHEDULE.next_run(ny(2012, 3, 9, 17, 0)) == utc(2012, 3, 12, 19, 55)
    # Hurricane Sandy closed the exchange on 2012-10-29 and 30
    assert SCHEDULE.next_run(ny(2012, 10, 26, 16, 0)) == ny(2012, 10, 31, 15, 55)


def test_due_from_the_run_time_until_the_close_once_per_day() -> None:
    day = date(2012, 3, 12)
    assert SCHEDULE.due(ny(2012, 3, 12, 15, 54, 59), date(2012, 3, 9)) is None
    assert SCHEDULE.due(ny(2012, 3, 12, 15, 55), date(2012, 3, 9)) == day
    assert SCHEDULE.due(ny(2012, 3, 12, 15, 59, 59), None) == day
    assert SCHEDULE.due(ny(2012, 3, 12, 15, 57), day) is None  # already ran
    assert SCHEDULE.due(ny(2012, 3, 12, 16, 0), date(2012, 3, 9)) is None  # closed: missed, not due
    assert SCHEDULE.due(ny(2012, 7, 4, 15, 56), date(2012, 7, 3)) is None  # holiday
    assert SCHEDULE.due(ny(2012, 3, 10, 15, 56), date(2012, 3, 9)) is None  # Saturday


def test_simulated_clock_over_a_holiday_month_runs_once_per_session_at_its_time() -> None:
    clock = SimulatedClock(ny(2012, 6, 28, 9, 0))
    last: date | None = None
    runs: dict[date, datetime] = {}
    while clock.now() < ny(2012, 7, 10, 18, 0):
        day = SCHEDULE.due(clock.now(), last)
        if day is not None:
            assert day not in runs
            runs[day] = clock.now()
            last = day
        clock.advance(timedelta(minutes=1))
    assert list(runs) == [
        date(2012, 6, 28),
        date(2012, 6, 29),
        date(2012, 7, 2),
        date(2012, 7, 3),
        date(2012, 7, 5),
        date(2012, 7, 6),
        date(2012, 7, 9),
        date(2012, 7, 10),
    ]
    assert runs[date(2012, 7, 3)] == ny(2012, 7, 3, 12, 55)
    assert all(ts == SCHEDULE.run_time(d) for d, ts in runs.items())


def test_missed_lists_closed_sessions_since_the_last_run() -> None:
    # last run Friday 2012-11-02; the engine comes back Tuesday 2012-11-06 at 10:00 New York
    assert SCHEDULE.missed(date(2012, 11, 2), ny(2012, 11, 6, 10, 0)) == [date(2012, 11, 5)]
    # between Tuesday's run time and its close, Tuesday is due, not missed
    assert SCHEDULE.missed(date(2012, 11, 2), ny(2012, 11, 6, 15, 58)) == [date(2012, 11, 5)]
    assert SCHEDULE.missed(date(2012, 11, 2), ny(2012, 11, 6, 16, 0)) == [
        date(2012, 11, 5),
        date(2012, 11, 6),
    ]
    # over Christmas: holidays and weekends are never missed
    assert SCHEDULE.missed(date(2012, 12, 21), ny(2012, 12, 27, 9, 0)) == [
        date(2012, 12, 24),
        date(2012, 12, 26),
    ]
    assert SCHEDULE.missed(None, ny(2012, 12, 27, 9, 0)) == []
    assert SCHEDULE.missed(date(2012, 12, 27), ny(2012, 12, 27, 17, 0)) == []


def test_early_close_is_missed_at_1300_not_1600() -> None:
    assert SCHEDULE.missed(date(2012, 11, 21), ny(2012, 11, 23, 12, 59)) == []
    assert SCHEDULE.due(ny(2012, 11, 23, 12, 59), date(2012, 11, 21)) == date(2012, 11, 23)
    assert SCHEDULE.missed(date(2012, 11, 21), ny(2012, 11, 23, 13, 0)) == [date(2012, 11, 23)]


@pytest.fixture
def tokyo() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    systime.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        systime.tzset()


@pytest.mark.usefixtures("tokyo")
def test_machine_time_zone_is_irrelevant() -> None:
    assert systime.localtime(0).tm_hour == 9  # the fixture really moved the process to Tokyo
    assert SCHEDULE.run_time(date(2012, 3, 12)) == utc(2012, 3, 12, 19, 55)
    assert SCHEDULE.run_time(date(2012, 11, 5)) == utc(2012, 11, 5, 20, 55)
    # 2012-03-13 05:00 in Tokyo is 2012-03-12 16:00 in New York: Monday's session, just closed
    tokyo_time = datetime(2012, 3, 13, 5, 0, tzinfo=UTC) - timedelta(hours=9)
    assert SCHEDULE.due(tokyo_time.astimezone(), date(2012, 3, 9)) is None
    assert SCHEDULE.missed(date(2012, 3, 9), tokyo_time.astimezone()) == [date(2012, 3, 12)]
    assert SCHEDULE.next_run(tokyo_time.astimezone()) == utc(2012, 3, 13, 19, 55)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        SCHEDULE.due(datetime(2012, 3, 12, 15, 55), None)
    with pytest.raises(ValueError, match="not an XNYS session"):
        SCHEDULE.run_time(date(2012, 7, 4))
