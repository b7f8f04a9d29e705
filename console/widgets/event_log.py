"""The event log pane: the desk's journal (console/journal.py), newest first, filterable.

Notices, refusals with their codes, risk alerts, data problems (bad rows excluded at start,
gaps, jumps) and fills, each with its market time. The message line keeps showing the latest;
this is where the ones before it are. ``f`` (remappable) cycles the filter: all, fills,
refusals, alerts, data. The table scrolls with the arrows, ``j``/``k``, page up/down.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive

from console.journal import FILTERS, Entry, EntryKind, Journal, filter_name
from console.widgets.fmt import GAIN, LOSS, NEW_YORK, WARN
from console.widgets.table import Column, Row, SyncedTable

SHOWN = 200
"""Rows drawn at most: the newest; a DataTable rebuilt with the whole journal would cost every flush."""

COLUMNS = (  # fixed widths: a log that grows by a row at a time must not wait on a re-measure
    Column("time", "Time", 14),
    Column("kind", "Kind", 7),
    Column("text", "Event", width=20, flex_max=400),
)
"""A refusal's or an alert's code leads its event text (bold) rather than take a column that is
empty on most rows and too narrow for the longest codes on an 80-column terminal."""

_LEVEL_STYLE = {"error": f"bold {LOSS}", "warning": WARN, "info": ""}
_KIND_STYLE = {EntryKind.FILL: GAIN, EntryKind.REFUSAL: f"bold {LOSS}", EntryKind.DATA: WARN}


class EventLogPane(Vertical):
    """Call ``show`` with the journal; ``f`` (``action_cycle_filter``) steps through the filters."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "cycle_filter", "Filter", show=False, id="onetap.log_filter"),
    ]

    kind: reactive[EntryKind | None] = reactive(None, init=False)
    """The filter in force: None shows every kind."""

    def __init__(self, filter_key: str = "f", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._filter_key = filter_key
        self._journal: Journal | None = None
        self._drawn: tuple[int, EntryKind | None] = (-1, None)

    def compose(self) -> ComposeResult:
        yield SyncedTable(COLUMNS, id="events-table")

    def on_mount(self) -> None:
        self.border_title = "Events"
        self._subtitle(0)

    @property
    def table(self) -> SyncedTable:
        return self.query_one(SyncedTable)

    def show(self, journal: Journal) -> None:
        """Redraw if the journal moved on or the filter changed since the last drawing."""
        self._journal = journal
        if self._drawn == (journal.version, self.kind):
            return
        self._drawn = (journal.version, self.kind)
        entries = journal.entries(self.kind)
        self.table.sync([_row(e) for e in reversed(entries[-SHOWN:])])
        self._subtitle(len(entries))

    def watch_kind(self) -> None:
        if self._journal is not None:
            self.show(self._journal)

    def on_data_table_row_selected(self, event: SyncedTable.RowSelected) -> None:
        """Enter on a line shows it whole: a data problem's file, line and detail do not fit a row."""
        event.stop()
        journal = self._journal
        key = event.row_key.value
        entry = next((e for e in journal.entries() if str(e.seq) == key), None) if journal else None
        if entry is not None:
            code = f" [{entry.code}]" if entry.code else ""
            self.notify(entry.text, title=f"{entry.kind.value}{code}", timeout=10)

    def action_cycle_filter(self) -> None:
        self.kind = FILTERS[(FILTERS.index(self.kind) + 1) % len(FILTERS)]

    def _subtitle(self, count: int) -> None:
        self.border_subtitle = f"{count} · {filter_name(self.kind)} · {self._filter_key} filter"


def _row(entry: Entry) -> Row:
    stamp = "--:--:--" if entry.ts is None else entry.ts.astimezone(NEW_YORK).strftime("%m-%d %H:%M:%S")
    level = _LEVEL_STYLE.get(entry.level, "")
    cells = (
        Text(stamp, style="dim"),
        Text(entry.kind.value.upper(), style=_KIND_STYLE.get(entry.kind, level) or level),
        _event_text(entry, level),
    )
    return str(entry.seq), cells


def _event_text(entry: Entry, style: str) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if entry.code:
        text.append(entry.code, style="bold")
        text.append(" ")
    text.append(entry.text, style=style)
    return text
