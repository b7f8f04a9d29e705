"""The positions & P&L pane: one row per position and the account totals under them."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from console.state import Totals
from console.widgets.fmt import money, pnl, pnl_style, qty, right, signed_money
from console.widgets.table import Column, Row, SyncedTable
from engine.model import Position

COLUMNS = (
    Column("symbol", "Symbol"),
    Column("qty", "Qty"),
    Column("avg", "Avg cost"),
    Column("last", "Last"),
    Column("value", "Mkt value"),
    Column("unrealized", "Unrealized"),
    Column("realized", "Realized"),
)

ESSENTIAL = ("symbol", "qty", "last", "unrealized")


class PositionsPane(Vertical):
    """Assign ``positions`` and ``totals``; the pane redraws itself."""

    positions: reactive[tuple[Position, ...]] = reactive((), init=False)
    totals: reactive[Totals | None] = reactive(None, init=False)

    def compose(self) -> ComposeResult:
        yield SyncedTable(COLUMNS, essential=ESSENTIAL, id="positions-table")
        yield Static("no account yet", id="positions-totals", markup=False)

    def on_mount(self) -> None:
        self.border_title = "Positions & P&L"

    def watch_positions(self, positions: tuple[Position, ...]) -> None:
        self.query_one(SyncedTable).sync([_row(p) for p in positions])

    def watch_totals(self, totals: Totals | None) -> None:
        self.query_one("#positions-totals", Static).update(_totals_line(totals))


def _row(p: Position) -> Row:
    cells = (
        Text(p.symbol, style="bold"),
        right(qty(p.quantity)),
        right(money(p.avg_cost)),
        right(money(p.last)),
        right(money(p.market_value)),
        pnl(p.unrealized_pnl),
        pnl(p.realized_pnl),
    )
    return p.symbol, cells


def _totals_line(t: Totals | None) -> Text:
    if t is None:
        return Text("no account yet", style="dim")
    rows: list[list[tuple[str, str, str]]] = [
        [
            ("Today", signed_money(t.day_pnl), pnl_style(t.day_pnl)),
            ("Unrealized", signed_money(t.unrealized), pnl_style(t.unrealized)),
            ("Realized", signed_money(t.realized), pnl_style(t.realized)),
        ],
        [
            ("Equity", money(t.equity), ""),
            ("Cash", money(t.cash), ""),
            ("Mkt value", money(t.market_value), ""),
        ],
    ]
    out = Text(no_wrap=True, overflow="ellipsis")
    for r, parts in enumerate(rows):
        if r:
            out.append("\n")
        for i, (label, value, style) in enumerate(parts):
            if i:
                out.append("  ")
            out.append(f"{label} ", style="dim")
            out.append(value, style=f"bold {style}".strip())
    return out
