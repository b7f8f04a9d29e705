"""The positions & P&L pane: one row per position and the account totals under them.

Under a card position, its protection: the working stop (or trailing stop) and target, each with
its price and its distance from the last price in % and in ATR; a position whose protection is
missing is marked UNPROTECTED. The rows appear only where there is protection to show."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from console.state import Totals
from console.widgets.fmt import money, pnl, pnl_style, qty, right, signed_money
from console.widgets.fmt import price as fmt_price
from console.widgets.table import Column, Row, SyncedTable
from engine.model import Position
from engine.model.events import ProtectionView

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
    protection: reactive[tuple[ProtectionView, ...]] = reactive((), init=False)

    def compose(self) -> ComposeResult:
        yield SyncedTable(COLUMNS, essential=ESSENTIAL, id="positions-table")
        yield Static("no account yet", id="positions-totals", markup=False)

    def on_mount(self) -> None:
        self.border_title = "Positions & P&L"

    def watch_positions(self, positions: tuple[Position, ...]) -> None:
        self.query_one(SyncedTable).sync(rows(positions, self.protection))

    def watch_protection(self, protection: tuple[ProtectionView, ...]) -> None:
        self.query_one(SyncedTable).sync(rows(self.positions, protection))

    def watch_totals(self, totals: Totals | None) -> None:
        line = self.query_one("#positions-totals", Static)
        line.update(_totals_line(totals))
        # a fixed height per case, not ``height: auto``: the desk's layout must not wait on the
        # line's measurement (a snapshot taken before it showed the panes one row off)
        line.set_class(totals is not None and bool(totals.currencies), "-currencies")


def rows(positions: tuple[Position, ...], protection: tuple[ProtectionView, ...]) -> list[Row]:
    """Each position's row, its protection's rows under it."""
    out: list[Row] = []
    for p in positions:
        out.append(_row(p))
        for view in protection:
            if view.symbol == p.symbol:
                out.extend(protection_rows(view, p.last))
    return out


def protection_rows(view: ProtectionView, last: float) -> list[Row]:
    """The stop and target of one entry (price, distance in % and ATR), or its UNPROTECTED mark."""
    if view.unprotected:
        mark = Text("  ↳ UNPROTECTED", style="bold red")
        return [
            (f"{view.symbol}/unprotected", (mark, right(qty(view.quantity)), *(Text("") for _ in range(5))))
        ]
    out: list[Row] = []
    for kind, price, label in (
        ("stop", view.stop_price, f"trail {view.trail}" if view.trail else "stop"),
        ("target", view.target_price, "target"),
    ):
        if (
            price is None
            or (kind == "stop" and view.stop_id is None)
            or (kind == "target" and view.target_id is None)
        ):
            continue
        out.append(
            (
                f"{view.symbol}/{view.entry}/{kind}",
                (
                    Text(f"  ↳ {label}", style="dim"),
                    right(qty(view.quantity)),
                    right(fmt_price(price, view.symbol)),
                    Text(""),
                    right(distance_pct(price, last)),
                    right(distance_atr(price, last, view.atr)),
                    Text(""),
                ),
            )
        )
    return out


def distance_pct(price: float, last: float) -> str:
    return f"{(price / last - 1.0) * 100.0:+.1f}%" if last > 0 else ""


def distance_atr(price: float, last: float, atr: float | None) -> str:
    return f"{(price - last) / atr:+.1f} ATR" if atr and last > 0 else ""


def _row(p: Position) -> Row:
    cells = (
        Text(p.symbol, style="bold"),
        right(qty(p.quantity)),
        right(fmt_price(p.avg_cost, p.symbol)),
        right(fmt_price(p.last, p.symbol)),
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
    if t.currencies:  # cash per currency (the account currency's first), as IB's CashBalance lines
        rows.append([(currency, f"{amount:,.2f}", "") for currency, amount in t.currencies])
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
