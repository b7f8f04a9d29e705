"""Message throttles: how many orders, modifies and cancels went out in the last second and today.

A counter per message kind; the engine records every message it sends and reads the counts
into the pre-trade ``BookView``. Time is the engine clock's (market time in a replay), and
"today" is the New York trading date, so a replay at 45 s a session throttles per session.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
SECOND = timedelta(seconds=1)


class MessageCounter:
    """Messages of one kind: a sliding one-second window and a count per trading date."""

    def __init__(self) -> None:
        self._window: deque[datetime] = deque()
        self._day: object = None
        self._today = 0

    def record(self, now: datetime) -> None:
        self._roll(now)
        self._window.append(now)
        self._today += 1

    def last_second(self, now: datetime) -> int:
        self._roll(now)
        return len(self._window)

    def today(self, now: datetime) -> int:
        self._roll(now)
        return self._today

    def _roll(self, now: datetime) -> None:
        while self._window and now - self._window[0] >= SECOND:
            self._window.popleft()
        day = now.astimezone(NEW_YORK).date()
        if day != self._day:
            self._day, self._today = day, 0


class FillRate:
    """Fills per strategy in a sliding window: the repeat-fill throttle pauses a strategy past N."""

    def __init__(self, max_fills: int, window: timedelta) -> None:
        self.max_fills = max_fills
        self.window = window
        self._fills: dict[str, deque[datetime]] = {}

    def record(self, strategy: str, now: datetime) -> bool:
        """Count one fill; True when the strategy has now exceeded ``max_fills`` in the window."""
        fills = self._fills.setdefault(strategy, deque())
        fills.append(now)
        while fills and now - fills[0] > self.window:
            fills.popleft()
        return len(fills) > self.max_fills

    def reset(self, strategy: str) -> None:
        self._fills.pop(strategy, None)
