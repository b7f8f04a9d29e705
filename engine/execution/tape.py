"""``Tape``: the size traded at each quote of each symbol over the last ``span`` of market time,
what a participation algo caps its slices by (``AlgoEngine._volume``).

The rule, per symbol: a quote goes on the tape only if it is newer than the symbol's last one
on it (the same quote may be seen twice: an algo's start and the step), and the tape keeps what
is at most ``span`` older than its newest quote.

Why a class of its own: every quote of every step goes on the tape, and at 500 symbols a
deque per symbol appended quote by quote was a quarter of the engine's quote step. A step whose
quotes share one time (the replay's) is kept as one record of columns (which of its quotes went
on the tape, and their sizes); a quote taken on its own (an algo's start, a live feed's ticker)
goes on its symbol's own list. A symbol's tape is read from both, only when an algo asks.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from engine.model.quote_batch import QuoteBatch, SlotTable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NONE = np.iinfo(np.int64).min


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True)
class _Step:
    ts: datetime
    micros: int
    index: dict[str, int]
    """symbol -> its quote's position in the step."""
    taken: npt.NDArray[np.bool_]
    sizes: list[float]


class Tape:
    def __init__(self, span: timedelta) -> None:
        self._span = span
        self._span_us = span // _MICROSECOND
        self._slots = SlotTable()
        self._last = np.full(64, _NONE, dtype=np.int64)
        """Per slot: the time (microseconds) of the symbol's newest quote on the tape."""
        self._steps: deque[_Step] = deque()
        self._own: dict[str, list[tuple[datetime, float]]] = {}
        """Quotes taken one by one (and a dropped step's entries still in their symbol's span)."""

    def _slot(self, symbol: str) -> int:
        slot = self._slots.slot(symbol)
        self._reserve(slot + 1)
        return slot

    def _reserve(self, n: int) -> None:
        if n > len(self._last):
            grown = np.full(max(n, 2 * len(self._last)), _NONE, dtype=np.int64)
            grown[: len(self._last)] = self._last
            self._last = grown

    def record(self, symbol: str, ts: datetime, size: float) -> None:
        """One quote: on the tape if it is the symbol's newest (``size`` already made safe)."""
        slot, micros = self._slot(symbol), _micros(ts)
        if self._last[slot] >= micros:
            return  # already seen
        self._last[slot] = micros
        own = self._own.setdefault(symbol, [])
        own.append((ts, size))
        horizon = ts - self._span
        drop = bisect.bisect_left(own, horizon, key=lambda e: e[0])
        if drop:
            del own[:drop]

    def record_step(self, batch: QuoteBatch, usable: npt.NDArray[np.bool_], sizes: list[float]) -> None:
        """A step whose quotes share one time and name each symbol once: the ``usable`` ones go
        on the tape (each if newer than its symbol's last), ``sizes`` lined up with the batch."""
        assert batch.stamp is not None and batch.unique
        ts, micros = batch.stamp, _micros(batch.stamp)
        slots = self._slots.of(batch.symbols)
        self._reserve(len(self._slots))
        taken = usable & (self._last[slots] < micros)
        self._last[slots[taken]] = micros
        self._steps.append(_Step(ts, micros, batch.positions, taken, sizes))
        self._forget(micros)

    def _forget(self, newest: int) -> None:
        """Drop steps older than ``span`` before the newest; an entry of a symbol whose own
        newest quote is older still belongs to its tape, and moves to its own list."""
        steps = self._steps
        while steps and steps[0].micros < newest - self._span_us:
            old = steps.popleft()
            for symbol, at in old.index.items():
                if not old.taken[at]:
                    continue
                slot = self._slots.get(symbol)
                assert slot is not None
                if old.micros >= self._last[slot] - self._span_us:
                    own = self._own.setdefault(symbol, [])
                    bisect.insort(own, (old.ts, old.sizes[at]), key=lambda e: e[0])

    def entries(self, symbol: str) -> list[tuple[datetime, float]]:
        """The symbol's tape, oldest first."""
        slot = self._slots.get(symbol)
        if slot is None:
            return []
        keep_from = self._last[slot] - self._span_us
        out = [e for e in self._own.get(symbol, ()) if _micros(e[0]) >= keep_from]
        for step in self._steps:
            at = step.index.get(symbol)
            if at is not None and step.taken[at] and step.micros >= keep_from:
                out.append((step.ts, step.sizes[at]))
        out.sort(key=lambda e: e[0])
        return out

    def volume(self, symbol: str, since: datetime, until: datetime) -> float:
        """Volume traded in ``(since, until]`` by the quotes on the tape (summed newest first)."""
        total = 0.0
        for ts, size in reversed(self.entries(symbol)):
            if ts <= since:
                break
            if ts <= until:
                total += size
        return total
