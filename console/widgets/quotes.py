"""The quotes pane (watchlist): bid, ask, last, day change, spread and data health per symbol.

Without it a trader sees no price until a position is held. It is fed from what the desk already
folds: the engine's ``MarketEvent`` quotes (and the snapshot's), and the previous session's
closes that the engine's ``StatusEvent`` carries (the base of the day change).

Order flow (issue 20): the quote imbalance ``Imb`` and the order-flow imbalance ``OFI`` over the
engine's window (``engine.model.flow``), spare columns dropped first when the pane is narrow;
the depth imbalance ``Dep`` only where a broker streams market depth (IBKR's ``depth_symbols``:
"-" for the others), never on paper, which has no depth (absent, not zero).
On the replay the sizes are invented: the pane's subtitle says the flow is not predictive-tested.

Data health is judged on market time, never the wall clock: a quote older than ``STALE_AFTER``
of market time is stale (a symbol that stopped trading, a feed that stopped), a quote whose bid
is above its ask, or without a bid or ask, is bad; the age is shown either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from time import monotonic

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from console.widgets.fmt import LOSS, WARN, pnl_style, price, right
from console.widgets.table import Column, Row, SyncedTable
from engine.model import Quote
from engine.model.flow import FlowReading

STALE_AFTER = timedelta(minutes=15)
"""Older than this in market time, a quote is stale (the autopilot's default quote age, too)."""

COLUMNS = (
    Column("symbol", "Symbol"),
    Column("bid", "Bid"),
    Column("ask", "Ask"),
    Column("last", "Last"),
    Column("change", "Chg %"),
    Column("spread", "Sprd bp"),
    Column("health", "Data"),
    Column("imb", "Imb"),
    Column("ofi", "OFI"),
    Column("dep", "Dep"),
)
ESSENTIAL = ("symbol", "bid", "ask", "last", "change", "health")
FLOW_COLUMNS = ("imb", "ofi")
DEPTH_COLUMNS = ("dep",)


REDRAW_EVERY_S = 0.5
"""The pane repaints at most twice a second (the desk flushes ten times): every symbol's cells
change on every quote step, and a DataTable's repaint is what costs the console its CPU."""


_Input = tuple[dict[str, Quote], dict[str, float], datetime | None, dict[str, FlowReading]]


class QuotesPane(Vertical):
    """Call ``show`` with the desk's quotes, closes and market time; the table keeps its cursor.

    A call within ``REDRAW_EVERY_S`` of the last drawing is kept and drawn when that time is up
    (the newest data then), so the pane is never more than half a second behind the desk.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn_at = float("-inf")
        self._pending: _Input | None = None
        self._drawn: _Input | None = None

    def compose(self) -> ComposeResult:
        table = SyncedTable(
            COLUMNS, essential=ESSENTIAL, spare=("dep", "ofi", "imb", "spread"), id="quotes-table"
        )
        table.hide(FLOW_COLUMNS + DEPTH_COLUMNS)  # until the engine sends order flow (and depth)
        yield table

    def on_mount(self) -> None:
        self.border_title = "Quotes"
        self.border_subtitle = "no quote yet"

    def show(
        self,
        quotes: Mapping[str, Quote],
        closes: Mapping[str, float],
        now: datetime | None,
        flow: Mapping[str, FlowReading] | None = None,
    ) -> None:
        waiting = self._pending is not None
        drawn = self.table.row_count
        given = (dict(quotes), dict(closes), now, dict(flow or {}))
        if given == self._drawn and not waiting:
            return  # a status refresh with the same quotes: nothing to draw, no timer to set
        self._pending = given
        wait = self._drawn_at + REDRAW_EVERY_S - monotonic()
        if wait <= 0 or len(quotes) != drawn:  # a symbol appears: at once, only moves are throttled
            self._draw_pending()
        elif not waiting:
            self.set_timer(wait, self._draw_pending)

    def _draw_pending(self) -> None:
        if self._pending is None:
            return
        quotes, closes, now, flow = self._drawn = self._pending
        self._pending = None
        self._drawn_at = monotonic()
        rows = [quote_row(quotes[s], closes.get(s), now, flow.get(s)) for s in sorted(quotes)]
        depth = any(f.depth_imbalance is not None for f in flow.values())
        self.table.hide((() if flow else FLOW_COLUMNS) + (() if depth else DEPTH_COLUMNS))
        self.table.sync(rows)
        stale = sum(1 for s in quotes if health(quotes[s], now)[0] != "ok")
        count = f"{len(quotes)} symbol{'s' if len(quotes) != 1 else ''}"
        self.border_subtitle = f"{count} · {stale} stale or bad" if stale else f"{count} · data ok"
        if any(f.sizes_invented for f in flow.values()):
            self.border_subtitle += " · flow: sizes invented, value not measurable"

    @property
    def table(self) -> SyncedTable:
        return self.query_one(SyncedTable)


def health(quote: Quote, now: datetime | None) -> tuple[str, str]:
    """(verdict, text): ``ok``, ``stale`` or ``bad``, and what the column says (with the age)."""
    age = max(now - quote.ts, timedelta(0)) if now is not None else timedelta(0)
    shown = _age(age)
    if quote.bid <= 0 or quote.ask <= 0:
        return "bad", f"no bid/ask {shown}"
    if quote.bid > quote.ask:
        return "bad", f"crossed {shown}"
    if age > STALE_AFTER:
        return "stale", f"stale {shown}"
    return "ok", f"ok {shown}"


def spread_bps(quote: Quote) -> float | None:
    mid = quote.mid
    if quote.bid <= 0 or quote.ask <= 0 or mid <= 0:
        return None
    return (quote.ask - quote.bid) / mid * 1e4


def day_change(quote: Quote, close: float | None) -> float | None:
    """Last against the previous session's close, in percent; None without either."""
    if close is None or close <= 0 or quote.last <= 0:
        return None
    return (quote.last / close - 1.0) * 100.0


def flow_cells(reading: FlowReading | None) -> tuple[Text, Text, Text]:
    """(Imb, OFI, Dep): the quote imbalance (-1..+1), the window's order-flow imbalance in shares
    and the depth imbalance (-1..+1; "-" where no depth is streamed)."""
    if reading is None:
        return right("-"), right("-"), right("-")
    imb, dep = reading.quote_imbalance, reading.depth_imbalance
    return (
        right("-" if imb is None else f"{imb:+.2f}"),
        right(f"{reading.ofi:+,.0f}"),
        right("-" if dep is None else f"{dep:+.2f}"),
    )


def quote_row(
    quote: Quote, close: float | None, now: datetime | None, flow: FlowReading | None = None
) -> Row:
    change = day_change(quote, close)
    spread = spread_bps(quote)
    verdict, text = health(quote, now)
    style = {"ok": "", "stale": f"bold {WARN}", "bad": f"bold {LOSS}"}[verdict]
    cells = (
        Text(quote.symbol, style="bold"),
        right(price(quote.bid, quote.symbol) if quote.bid > 0 else "-"),
        right(price(quote.ask, quote.symbol) if quote.ask > 0 else "-"),
        right(price(quote.last, quote.symbol) if quote.last > 0 else "-"),
        Text("-" if change is None else f"{change:+.2f}%", style=pnl_style(change or 0.0), justify="right"),
        right("-" if spread is None else f"{spread:.1f}"),
        Text(text, style=style),
        *flow_cells(flow),
    )
    return quote.symbol, cells


def _age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86_400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"
    return f"{seconds // 86_400}d"
