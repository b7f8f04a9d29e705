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

A round-the-clock universe (``calendar = "24/7"`` for crypto, ``"24/5"`` for FX) has no close to
run before: its run is at ``run_at`` on ``zone``'s wall clock (say 00:05 UTC, or 16:55 New York
for FX) on every day of the calendar (every calendar day for 24/7; Monday to Friday for 24/5),
and the run may start until the end of that day on ``zone`` (midnight), or for 24/5 on a Friday
until the FX week's close at 17:00 New York. No 15:55 New York and no XNYS session is assumed:
a Saturday is a session for a coin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from engine.data import calendar
from engine.data.calendar import NEW_YORK

ROUND_THE_CLOCK = frozenset({"24/7", "24/5"})
"""Calendars with no daily close: the run is at a wall-clock time every day of the calendar."""
FX_WEEK_CLOSE = time(17, 0)
"""The FX week closes Friday 17:00 New York (the 24/5 market's only close)."""


@dataclass(frozen=True, slots=True)
class AutopilotSchedule:
    """The daily run time of the autopilot (see the module docstring for the early-close rule)."""

    run_at: time = time(15, 55)
    """Wall-clock time on ``zone`` (naive: the zone is this dataclass's ``zone``)."""
    zone: tzinfo = NEW_YORK
    minutes_before_early_close: int = 5
    calendar: str = "XNYS"
    """XNYS (the default: a run before each session's close), or "24/7" / "24/5"."""

    def __post_init__(self) -> None:
        if self.calendar not in ROUND_THE_CLOCK | {"XNYS"}:
            raise ValueError(f'autopilot calendar must be XNYS, "24/7" or "24/5", got {self.calendar!r}')
        if self.run_at.tzinfo is not None:
            raise ValueError("run_at is a wall-clock time on the schedule's zone: give it without a zone")
        if self.minutes_before_early_close < 1:
            # a run at the close itself would have no session left to send its orders in
            raise ValueError(
                f"minutes_before_early_close must be at least 1, got {self.minutes_before_early_close}"
            )

    def run_time(self, session_day: date) -> datetime:
        """The run time of ``session_day`` in UTC; raises ``ValueError`` for a day that is no session."""
        wall = datetime.combine(session_day, self.run_at, tzinfo=self.zone).astimezone(UTC)
        if self.round_the_clock:
            if not self._is_session(session_day):
                raise ValueError(
                    f"{session_day} is no {self.calendar} session (the FX week is Monday to Friday)"
                )
            return min(wall, self.close(session_day) - timedelta(minutes=self.minutes_before_early_close))
        _open, close = calendar.session_open_close(session_day)
        return min(wall, close - timedelta(minutes=self.minutes_before_early_close))

    @property
    def round_the_clock(self) -> bool:
        return self.calendar in ROUND_THE_CLOCK

    def close(self, session_day: date) -> datetime:
        """The session's close in UTC: the last moment its run may still start. Round the clock:
        the end of the day on ``zone`` (a Friday of the FX week: 17:00 New York, if earlier)."""
        if not self.round_the_clock:
            return calendar.session_open_close(session_day)[1]
        end = datetime.combine(session_day + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(UTC)
        if self.calendar == "24/5" and session_day.weekday() == 4:
            week_close = datetime.combine(session_day, FX_WEEK_CLOSE, tzinfo=NEW_YORK).astimezone(UTC)
            end = min(end, week_close)
        return end

    def session_of(self, now: datetime) -> date:
        """The calendar day of ``now`` on the schedule's zone (New York for XNYS; a session or not)."""
        return _aware(now).astimezone(self.zone if self.round_the_clock else NEW_YORK).date()

    def _is_session(self, day: date) -> bool:
        if self.calendar == "24/7":
            return True
        if self.calendar == "24/5":
            return day.weekday() < 5
        return calendar.is_session(day)

    def _next_session(self, day: date) -> date:
        if not self.round_the_clock:
            return calendar.next_session(day)
        day += timedelta(days=1)
        while not self._is_session(day):
            day += timedelta(days=1)
        return day

    def _sessions(self, start: date, end: date) -> list[date]:
        if not self.round_the_clock:
            return calendar.sessions(start, end)
        days = (start + timedelta(days=i) for i in range((end - start).days + 1))
        return [d for d in days if self._is_session(d)]

    def next_run(self, after: datetime) -> datetime:
        """The first run time strictly after ``after``, skipping weekends, holidays and closures."""
        after = _aware(after).astimezone(UTC)
        day = self.session_of(after)
        if not self._is_session(day):
            day = self._next_session(day)
        while self.run_time(day) <= after:
            day = self._next_session(day)
        return self.run_time(day)

    def due(self, now: datetime, last_run_day: date | None) -> date | None:
        """The session whose run should start now, or None.

        ``now``'s New York day, when it is a session, its run time has come, its close has not, and
        no run was recorded for it (``last_run_day`` before it, or None).
        """
        now = _aware(now).astimezone(UTC)
        day = self.session_of(now)
        if not self._is_session(day):
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
        return [day for day in self._sessions(start, today) if self.close(day) <= now]


def previous_session(code: str, day: date) -> date:
    """The session before ``day`` on the autopilot's calendar: XNYS's, or the day before (24/7),
    or the weekday before (24/5). The lookback of a coin on a Sunday ends on Saturday."""
    if code not in ROUND_THE_CLOCK:
        return calendar.previous_session(day)
    day -= timedelta(days=1)
    while code == "24/5" and day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _aware(ts: datetime) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts!r}: every time in onetap carries a zone")
    return ts
