"""When the autopilot runs: once per XNYS session, a few minutes before the close, in New York time.

The run time is ``run_at`` (15:55) on the exchange's wall clock, so it is 19:55 UTC in summer
and 20:55 UTC in winter, and the DST change moves it with the exchange, not with the machine.
On an early close (13:00 on the eve of Independence Day, the day after Thanksgiving, Christmas
Eve) it is ``minutes_before_early_close`` before the close instead (12:55): the rule is
``min(run_at, close - minutes_before_early_close)``, so a session that closes at 16:00 keeps
15:55 and one that closes at 13:00 runs at 12:55, with the same five minutes left for the orders.

Every comparison is between aware datetimes (in UTC), and the session day of an instant is its
New York calendar date: the machine's own zone plays no part, whatever ``TZ`` says.

A session's run may start at any tick from its run time until its close (a start at 15:58 still
runs: the data is that session's and the market is open). Once the close has passed without a
run the session is *missed*: it is reported, never traded late, because an order sent after the
close would execute on the next session's prices against the previous session's decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from engine.data import calendar
from engine.data.calendar import NEW_YORK


@dataclass(frozen=True, slots=True)
class AutopilotSchedule:
    """The daily run time of the autopilot (see the module docstring for the early-close rule)."""

    run_at: time = time(15, 55)
    """Wall-clock time on ``zone`` (naive: the zone is this dataclass's ``zone``)."""
    zone: tzinfo = NEW_YORK
    minutes_before_early_close: int = 5

    def __post_init__(self) -> None:
        if self.run_at.tzinfo is not None:
            raise ValueError("run_at is a wall-clock time on the schedule's zone: give it without a zone")
        if self.minutes_before_early_close < 1:
            # a run at the close itself would have no session left to send its orders in
            raise ValueError(
                f"minutes_before_early_close must be at least 1, got {self.minutes_before_early_close}"
            )

    def run_time(self, session_day: date) -> datetime:
        """The run time of ``session_day`` in UTC; raises ``ValueError`` for a day that is no session."""
        _open, close = calendar.session_open_close(session_day)
        wall = datetime.combine(session_day, self.run_at, tzinfo=self.zone).astimezone(UTC)
        return min(wall, close - timedelta(minutes=self.minutes_before_early_close))

    def close(self, session_day: date) -> datetime:
        """The session's close in UTC: the last moment its run may still start."""
        return calendar.session_open_close(session_day)[1]

    def session_of(self, now: datetime) -> date:
        """The New York calendar day of ``now`` (a session or not)."""
        return _aware(now).astimezone(NEW_YORK).date()

    def next_run(self, after: datetime) -> datetime:
        """The first run time strictly after ``after``, skipping weekends, holidays and closures."""
        after = _aware(after).astimezone(UTC)
        day = self.session_of(after)
        if not calendar.is_session(day):
            day = calendar.next_session(day)
        while self.run_time(day) <= after:
            day = calendar.next_session(day)
        return self.run_time(day)

    def due(self, now: datetime, last_run_day: date | None) -> date | None:
        """The session whose run should start now, or None.

        ``now``'s New York day, when it is a session, its run time has come, its close has not, and
        no run was recorded for it (``last_run_day`` before it, or None).
        """
        now = _aware(now).astimezone(UTC)
        day = self.session_of(now)
        if not calendar.is_session(day):
            return None
        if last_run_day is not None and last_run_day >= day:
            return None
        if self.run_time(day) <= now < self.close(day):
            return day
        return None

    def missed(self, last_run_day: date | None, now: datetime) -> list[date]:
        """Sessions after ``last_run_day`` whose close passed by ``now`` with no run, oldest first.

        None for ``last_run_day`` (no run ever recorded) means a first start: nothing is missed.
        A session between its run time and its close is *due*, not missed.
        """
        if last_run_day is None:
            return []
        now = _aware(now).astimezone(UTC)
        today = self.session_of(now)
        start = last_run_day + timedelta(days=1)
        if start > today:
            return []
        return [day for day in calendar.sessions(start, today) if self.close(day) <= now]


def _aware(ts: datetime) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts!r}: every time in onetap carries a zone")
    return ts
