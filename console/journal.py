"""The operator's event log: every line the desk says, kept, by kind. Plain Python: no Textual here.

The desk's message line shows one line, the latest, and the next notice replaces it; a trader who
looked away missed it. ``DeskState`` writes every line it puts on the message line here too
(notices, refusals with their codes, risk alerts, data problems, fills, the console's own notes),
and the event log pane shows the journal, filtered by kind.

Engine notices may arrive twice: live on the event stream and again in a later snapshot's recent
notices (a reconnect, or one sent before this console subscribed). They are kept once, by their
time, level and text.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MAX_ENTRIES = 500
"""The journal is the console's memory, not the audit log (which keeps everything): bounded."""
_SEEN_KEYS = 2 * MAX_ENTRIES


class EntryKind(StrEnum):
    """What a line is about; the value is what the log's kind column and filter say."""

    NOTICE = "notice"
    FILL = "fill"
    REFUSAL = "refused"
    ALERT = "alert"
    DATA = "data"


FILTERS: tuple[EntryKind | None, ...] = (
    None,
    EntryKind.FILL,
    EntryKind.REFUSAL,
    EntryKind.ALERT,
    EntryKind.DATA,
)
"""The filter cycle of the log pane: everything, then one kind at a time."""


def filter_name(kind: EntryKind | None) -> str:
    return "all" if kind is None else {EntryKind.REFUSAL: "refusals"}.get(kind, f"{kind.value}s")


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the log. ``ts`` is market time (None before the engine said any); ``code`` a
    refusal's or alert's stable code; ``seq`` its place in the journal (the pane's row key)."""

    seq: int
    ts: datetime | None
    kind: EntryKind
    level: str
    text: str
    code: str = ""


class Journal:
    """The bounded log, oldest first; ``version`` moves on every entry, so a pane redraws only then."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._seen: deque[tuple[datetime | None, str, str]] = deque(maxlen=_SEEN_KEYS)
        self._seen_set: set[tuple[datetime | None, str, str]] = set()
        self._seq = 0

    @property
    def version(self) -> int:
        return self._seq

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, ts: datetime | None, kind: EntryKind, level: str, text: str, code: str = "") -> Entry:
        self._seq += 1
        entry = Entry(self._seq, ts, kind, level, text, code)
        self._entries.append(entry)
        return entry

    def add_once(self, ts: datetime | None, kind: EntryKind, level: str, text: str) -> Entry | None:
        """An engine notice: kept unless the same one (time, level, text) is already here."""
        key = (ts, level, text)
        if key in self._seen_set:
            return None
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(key)
        self._seen_set.add(key)
        return self.add(ts, kind, level, text)

    def entries(self, kind: EntryKind | None = None) -> tuple[Entry, ...]:
        """Oldest first; only ``kind`` when given."""
        if kind is None:
            return tuple(self._entries)
        return tuple(e for e in self._entries if e.kind is kind)


__all__ = ["FILTERS", "MAX_ENTRIES", "Entry", "EntryKind", "Journal", "filter_name"]
