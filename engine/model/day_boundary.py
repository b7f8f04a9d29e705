"""Where one trading day ends and the next begins, for markets with no daily close.

A stock's day is its exchange session: the daily-loss breaker measures from the session's start
(the feed's day start). A coin trades 24/7 and a currency pair 24/5, so "today" must be stated:
``[risk] day_boundary = "17:00 America/New_York"`` (the FX convention: the FX day rolls at 5 pm
New York) or ``"00:00 UTC"`` (crypto's usual). The day is named by the calendar date on the
boundary's zone on which it *starts*: with a 17:00 New York boundary, Monday 16:59 New York still
belongs to the day named Sunday, and Monday 17:00 starts the day named Monday.

Every timestamp is aware; the machine's own zone plays no part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FX_DAY_BOUNDARY = "17:00 America/New_York"
CRYPTO_DAY_BOUNDARY = "00:00 UTC"
DEFAULT_FOR_CALENDAR: dict[str, str] = {"24/5": FX_DAY_BOUNDARY, "24/7": CRYPTO_DAY_BOUNDARY}
"""The boundary a round-the-clock calendar uses when ``[risk] day_boundary`` names none."""


@dataclass(frozen=True, slots=True)
class DayBoundary:
    """A wall-clock time on a named zone at which the trading day rolls."""

    at: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str) -> DayBoundary:
        """``"HH:MM Zone/Name"`` (``"17:00 America/New_York"``, ``"00:00 UTC"``)."""
        parts = text.split()
        if len(parts) != 2:
            raise ValueError(f'day boundary must be "HH:MM Zone", e.g. "{FX_DAY_BOUNDARY}", got {text!r}')
        try:
            at = time.fromisoformat(parts[0])
        except ValueError:
            raise ValueError(f"day boundary time must be HH:MM, got {parts[0]!r} in {text!r}") from None
        try:
            zone = ZoneInfo(parts[1])
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"day boundary zone {parts[1]!r} is not a known time zone (in {text!r})"
            ) from None
        return cls(at, zone)

    def describe(self) -> str:
        return f"{self.at:%H:%M} {self.zone.key}"

    def day_of(self, ts: datetime) -> date:
        """The trading day ``ts`` belongs to, named by the date it started on (see the module)."""
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise ValueError(f"naive datetime {ts!r}: every time in onetap carries a zone")
        local = ts.astimezone(self.zone)
        return local.date() - timedelta(days=1) if local.time() < self.at else local.date()

    def start_of(self, day: date) -> datetime:
        """When the trading day named ``day`` starts, in UTC."""
        return datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)

    def next_after(self, ts: datetime) -> datetime:
        """The first boundary strictly after ``ts``, in UTC."""
        return self.start_of(self.day_of(ts) + timedelta(days=1))


def boundary_for(configured: str, calendars: set[str] | frozenset[str]) -> DayBoundary | None:
    """The stated boundary: ``configured`` when given, else the round-the-clock default of the
    universe's calendars (the FX one when both 24/5 and 24/7 are present: it is the one a mixed
    book's broker statements use), else None: the exchange session's own day."""
    if configured:
        return DayBoundary.parse(configured)
    for code in ("24/5", "24/7"):
        if code in calendars:
            return DayBoundary.parse(DEFAULT_FOR_CALENDAR[code])
    return None


FX_WEEK_ZONE = ZoneInfo("America/New_York")
"""The FX week opens Sunday 17:00 and closes Friday 17:00 New York."""


def round_the_clock_open(calendar: str, ts: datetime) -> bool | None:
    """Whether a round-the-clock market is open at ``ts``: a ``24/7`` coin always; a ``24/5``
    pair from Sunday 17:00 to Friday 17:00 New York. None for any other calendar (an exchange's
    session decides)."""
    if calendar == "24/7":
        return True
    if calendar != "24/5":
        return None
    local = ts.astimezone(FX_WEEK_ZONE)
    weekday, after_five = local.weekday(), local.hour >= 17
    closed = weekday == 5 or (weekday == 4 and after_five) or (weekday == 6 and not after_five)
    return not closed
