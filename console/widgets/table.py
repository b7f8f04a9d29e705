"""A DataTable that is refreshed from a list of keyed rows and keeps the operator's place.

Every pane's table is redrawn from the desk state several times a second. Rebuilding a
DataTable resets its cursor, which would make the selected card jump under the trader's
finger, so ``sync`` updates cells in place when the rows are the same and, when they are
not, rebuilds and puts the cursor back on the row with the same key.

The table also fits itself to its pane: a flexible column (a card's reason) takes the
width the others leave, and in a narrow pane (an 80-column terminal) the table drops to
its essential columns rather than hide the figures that matter behind a horizontal scroll.
Between the two, ``spare`` columns (reference figures such as an order's time) are dropped
one at a time, in the order given, before the table falls back to the essential ones.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable


@dataclass(frozen=True, slots=True)
class Column:
    """A column; ``width`` None sizes it to its content. With ``flex_max`` the column is flexible:
    ``width`` is its minimum and it grows up to ``flex_max`` into whatever room is left."""

    key: str
    label: str
    width: int | None = None
    flex_max: int | None = None


Row = tuple[str, Sequence[Text]]
"""A row key (card id, client order id, symbol) and its cells, one per column (all columns)."""


class SyncedTable(DataTable[Text]):
    """A row-cursor table fed whole by ``sync``; ``j``/``k`` move like the arrows (ids are remappable)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "cursor_up", "Up", show=False, id="onetap.up"),
        Binding("j", "cursor_down", "Down", show=False, id="onetap.down"),
    ]

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        essential: Collection[str] = (),
        spare: Sequence[str] = (),
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._columns = tuple(columns)
        self._essential = frozenset(essential) or frozenset(c.key for c in columns)
        self._spare = tuple(spare)
        self._compact = False
        self._dropped: frozenset[str] = frozenset()
        self._hidden: frozenset[str] = frozenset()
        """Columns kept out whatever the width (``hide``): a column with nothing to show yet."""
        self._ready = False
        self._flex: dict[str, int] = {}
        self._keys: list[str] = []
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._parked: str | None = None
        """The neighbour the cursor was put on when its row went away: not the operator's choice."""
        self._syncing = False

    def on_mount(self) -> None:
        """Add the columns, then any rows that were synced before the table was mounted."""
        self._add_columns()
        self._ready = True
        if self._keys:
            self._rebuild(self._current_rows(), columns=False)

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None for an empty table."""
        if not self._keys:
            return None
        return self._keys[min(max(self.cursor_row, 0), len(self._keys) - 1)]

    @property
    def chosen_key(self) -> str | None:
        """The key under the cursor if the operator put the cursor there; None while the cursor
        only stands on a neighbour because the row it was on went away (a one-key action must not
        act on a row nobody chose: the trader moves first)."""
        key = self.selected_key
        return None if key is not None and key == self._parked else key

    @property
    def selection_lost(self) -> bool:
        """True while the cursor stands on a neighbour of a row that went away (see ``chosen_key``)."""
        return self._parked is not None and self._parked == self.selected_key

    def watch_cursor_coordinate(self, old: object, new: object) -> None:
        """Any move of the cursor onto another row is the operator's (``_rebuild`` re-parks after
        its own move), so it ends the parked state."""
        super().watch_cursor_coordinate(old, new)  # type: ignore[arg-type]
        if not self._syncing and self._parked is not None and self.selected_key != self._parked:
            self._parked = None

    def move_cursor(
        self, *, row: int | None = None, column: int | None = None, animate: bool = False, scroll: bool = True
    ) -> None:
        """A move asked for outside ``sync`` (a click, a screen acting for the operator) is a choice."""
        if not self._syncing:
            self._parked = None
        super().move_cursor(row=row, column=column, animate=animate, scroll=scroll)

    def action_cursor_up(self) -> None:
        self._parked = None  # a cursor key pressed is a choice, even at the top of the table
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self._parked = None
        super().action_cursor_down()

    @property
    def compact(self) -> bool:
        return self._compact

    def sync(self, rows: Sequence[Row]) -> None:
        keys = [key for key, _ in rows]
        if not self._ready:
            self._keys, self._cells = keys, {key: tuple(cells) for key, cells in rows}
        elif keys == self._keys:
            self._update_cells(rows)
        else:
            self._rebuild(rows, columns=False)
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def hide(self, keys: Collection[str]) -> None:
        """Keep these columns out (whatever the width) until another ``hide`` lets them back."""
        hidden = frozenset(keys)
        if hidden != self._hidden:
            self._hidden = hidden
            self._fit()

    # ------------------------------------------------------------------ internals
    def _fit(self) -> None:
        """Choose compact or full columns and size the flexible ones for the current width."""
        if not self._ready or self.size.width <= 0:
            return
        room = self.size.width - 1  # a vertical scrollbar may take one cell
        pad = 2 * self.cell_padding
        natural = {c.key: pad + self._natural_width(i, c) for i, c in enumerate(self._columns)}  # flex at min
        dropped: frozenset[str] = frozenset()
        for count in range(len(self._spare) + 1):
            dropped = frozenset(self._spare[:count]) | self._hidden
            if sum(w for k, w in natural.items() if k not in dropped) <= room:
                break
        compact = sum(w for k, w in natural.items() if k not in dropped) > room
        dropped = self._hidden if compact else dropped
        if compact:  # even the essential columns overflow: drop the last ones rather than clip a figure
            essential = [c.key for c in self._columns if c.key in self._essential]
            while len(essential) > 2 and sum(natural[k] for k in essential) > room:
                dropped |= {essential.pop()}
        shown = [
            c for c in self._columns if (c.key in self._essential or not compact) and c.key not in dropped
        ]
        fixed = sum(natural[c.key] for c in shown if c.flex_max is None)
        flexible = [c for c in shown if c.flex_max is not None]
        share = (room - fixed) // len(flexible) - pad if flexible else 0
        flex = {c.key: min(max(share, c.width or 1), c.flex_max or 0) for c in flexible}
        if compact != self._compact or dropped != self._dropped or flex != self._flex:
            self._compact, self._dropped, self._flex = compact, dropped, flex
            self._rebuild(self._current_rows(), columns=True)

    def _natural_width(self, index: int, column: Column) -> int:
        if column.width is not None:
            return column.width
        cells = (cell_len(cells[index].plain) for cells in self._cells.values())
        return max(cell_len(column.label), *cells, 1)

    def _shown(self) -> list[tuple[int, Column]]:
        if self._compact:
            essential = self._essential - self._dropped
            return [(i, c) for i, c in enumerate(self._columns) if c.key in essential]
        return [(i, c) for i, c in enumerate(self._columns) if c.key not in self._dropped]

    def _add_columns(self) -> None:
        for _, column in self._shown():
            self.add_column(column.label, width=self._flex.get(column.key, column.width), key=column.key)

    def _current_rows(self) -> list[Row]:
        return [(k, self._cells[k]) for k in self._keys]

    def _rebuild(self, rows: Sequence[Row], *, columns: bool) -> None:
        self._syncing = True
        try:
            self._rebuild_rows(rows, columns=columns)
        finally:
            self._syncing = False

    def _rebuild_rows(self, rows: Sequence[Row], *, columns: bool) -> None:
        selected, index = self.selected_key, self.cursor_row
        self.clear(columns=columns)
        if columns:
            self._add_columns()
        shown = [i for i, _ in self._shown()]
        self._keys, self._cells = [key for key, _ in rows], {}
        for key, cells in rows:
            self.add_row(*(cells[i] for i in shown), key=key)
            self._cells[key] = tuple(cells)
        if not self._keys:
            self._parked = None
            return
        keys = self._keys
        lost = selected is not None and selected not in keys
        target = keys.index(selected) if selected in keys else min(max(index, 0), len(keys) - 1)
        self.move_cursor(row=target, animate=False)
        if lost:
            self._parked = keys[target]

    def _update_cells(self, rows: Sequence[Row]) -> None:
        """Write the cells that changed, then re-size each auto-width column whose widest cell
        changed, once, through its new widest cell.

        Asking the table to re-size on every cell (``update_width`` on each) made it re-measure
        the whole column through the console whenever a cell got narrower: at 500 rows, about
        2 M console-size look-ups in 10 s, the console's loop held long enough that the engine
        beside it fell behind its clock (issue 18). Widths here are cell lengths of the plain
        text, what a one-line cell measures."""
        shown = self._shown()
        auto = [(i, column) for i, column in shown if column.width is None]
        before = {i: self._widest(i) for i, _ in auto}
        for key, cells in rows:
            old = self._cells[key]
            for i, column in shown:
                if not _same(old[i], cells[i]):
                    self.update_cell(key, column.key, cells[i])
            self._cells[key] = tuple(cells)
        for i, column in auto:
            width = self._widest(i)
            if width != before[i]:
                key = next(k for k, cells in self._cells.items() if cell_len(cells[i].plain) == width)
                self.update_cell(key, column.key, self._cells[key][i], update_width=True)

    def _widest(self, index: int) -> int:
        return max((cell_len(cells[index].plain) for cells in self._cells.values()), default=0)


def _same(a: Text, b: Text) -> bool:
    """Rich's Text equality ignores the base style, and a P&L cell's colour is data."""
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans
