"""Time, behind one interface: nothing else in the project calls ``datetime.now()``.

The replay drives a ``SimulatedClock`` (market time); tests inject a ``FixedClock``.
All times are timezone-aware UTC; the exchange's zone is applied only where shown.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, tz-aware UTC."""
        ...


class WallClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """Market time set by the replay feed; it only moves forward."""

    def __init__(self, start: datetime) -> None:
        self._now = _utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, ts: datetime) -> None:
        ts = _utc(ts)
        if ts > self._now:
            self._now = ts

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class FixedClock(SimulatedClock):
    """A clock for tests: stands still unless told to move."""


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: every time in onetap carries a zone")
    return ts.astimezone(UTC)
