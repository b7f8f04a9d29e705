"""When to try connecting again: capped exponential backoff with jitter, and the nightly reset.

TWS and IB Gateway restart once a night (the time is the user's choice in TWS, typically around
midnight New York). A connection lost inside that window is expected: the status line says so and
the next attempt waits for the window to end instead of knocking every few seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from engine.data.calendar import NEW_YORK


@dataclass(slots=True)
class Backoff:
    """Delays of ``base`` x 2^n, capped at ``cap``, each with up to ``jitter`` of itself added
    at random (seeded): many clients dropped at once do not all knock again at the same moment."""

    base: float = 0.5
    cap: float = 60.0
    jitter: float = 0.25
    seed: int = 0
    attempts: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (self.base > 0 and self.cap >= self.base and 0 <= self.jitter <= 1):
            raise ValueError(f"backoff needs 0 < base <= cap and 0 <= jitter <= 1, got {self}")
        self._rng = random.Random(self.seed)

    def next_delay(self) -> float:
        raw = min(self.cap, self.base * (2.0 ** min(self.attempts, 30)))
        self.attempts += 1
        return min(self.cap, raw * (1.0 + self.jitter * self._rng.random()))

    def reset(self) -> None:
        self.attempts = 0


@dataclass(frozen=True, slots=True)
class ResetWindow:
    """The nightly restart window in New York time; it may wrap past midnight (23:45-00:45)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> ResetWindow | None:
        if not text:
            return None
        first, last = text.split("-")
        return cls(time.fromisoformat(first.strip()), time.fromisoformat(last.strip()))

    def contains(self, when: datetime) -> bool:
        local = when.astimezone(NEW_YORK).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def seconds_left(self, when: datetime) -> float:
        """Seconds from ``when`` to the end of the window (0 outside it)."""
        if not self.contains(when):
            return 0.0
        local = when.astimezone(NEW_YORK)
        end = datetime.combine(local.date(), self.end, NEW_YORK)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, NEW_YORK)
        return (end - local).total_seconds()
