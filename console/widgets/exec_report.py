"""One section of the execution report: an execution's outcome and each of its orders' costs.

Read, not navigated, so a section is a Rich table in a ``Static`` (like the risk report's). Every
figure comes from ``engine.model.quality`` (through ``console.tca``), the source of the blotter and
of the engine's ``onetap report executions`` too, and every column says what it
measures: the report is for judging how well an order was worked, so a figure must never be
mistaken for another (slippage in bps against arrival, not against the limit; time to fill
from the order's creation, not from the card's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from console.state import FAILED_EXECUTION, FillTimes
from console.tca import OrderFigures, duration, execution_figures, execution_orders, order_figures
from console.widgets.blotter import CHILD_MARK, slippage_cell
from console.widgets.fmt import GAIN, LOSS, money, ny_stamp, pnl_style, qty, right, signed_money, status_text
from console.widgets.progress import EXECUTION_STYLE
from engine.model import ExecutionStatus, Order, Side
from engine.model.events import ExecutionEvent
from engine.model.quality import ExecutionMeasure

ORDER_HEADERS = (
    "Order",
    "Symbol",
    "Side",
    "Qty",
    "Type",
    "Status",
    "Filled",
    "Fill rate",
    "Arrival",
    "Avg fill",
    "Slip bps",
    "Cost $",
    "1st fill",
    "Last fill",
)
NARROW_HEADERS = ("Order", "Symbol", "Filled/qty", "Arrival", "Avg fill", "Slip bps", "Last fill")
LEFT = frozenset({"Order", "Symbol", "Side", "Type", "Status"})
NARROW = 110
"""Below this width a section shows ``NARROW_HEADERS`` only."""
LEGEND = (
    "Slip bps: the average fill against the arrival price (the mid when the order was decided), in "
    "basis points; positive is a cost. Cost $: that difference times the filled quantity. 1st fill / "
    "Last fill: time from the order's creation to its first and last fill, as this console saw the "
    "fills; ≈ marks a time estimated from the order's last update. An algo's children (└) are "
    "measured against their own arrival price, else their parent's."
)


def report_for(
    execution: ExecutionEvent, orders: Sequence[Order], fill_times: Mapping[str, FillTimes]
) -> tuple[ExecutionMeasure, list[OrderFigures]]:
    """The execution's figures and its orders' figures, in tree order (parents before children)."""
    by_id = {o.client_order_id: o for o in orders}
    rows = [order_figures(row, by_id, fill_times) for row in execution_orders(execution, orders)]
    return execution_figures(execution, rows), rows


Report = tuple[ExecutionEvent, ExecutionMeasure, tuple[OrderFigures, ...]]
"""An execution, its figures and its orders' figures: what one section draws."""


class ExecutionSection(Static):
    """Drawn from ``report``; assign a new one to redraw (the screen does, as the fold changes)."""

    report: reactive[Report | None] = reactive(None, init=False, always_update=True)

    def __init__(self, report: Report) -> None:
        super().__init__("", classes="execution-section")
        self.set_reactive(ExecutionSection.report, report)

    def on_mount(self) -> None:
        self.watch_report()

    def on_resize(self) -> None:
        self.watch_report()

    def watch_report(self) -> None:
        if self.report is None:
            return
        execution, figures, rows = self.report
        self.border_title = f"{execution.name}  ·  {execution.status}"
        self.border_subtitle = (
            f"card {execution.card_id} · {execution.execution_id} · {ny_stamp(execution.ts)}"
        )
        self.set_class(execution.status in FAILED_EXECUTION, "-failed")
        self.set_class(execution.status is ExecutionStatus.COMPLETED, "-completed")
        narrow = 0 < self.size.width < NARROW
        self.update(_section(execution, figures, rows, narrow=narrow))


def _section(
    execution: ExecutionEvent, figures: ExecutionMeasure, rows: Sequence[OrderFigures], *, narrow: bool
) -> RenderableType:
    parts: list[RenderableType] = [summary_text(execution, figures)]
    if rows:
        parts.append(order_table(rows, narrow=narrow))
    else:
        parts.append(
            Text("The console has not seen this execution's orders (older than its blotter).", style="dim")
        )
    return Group(*parts)


def summary_text(execution: ExecutionEvent, figures: ExecutionMeasure) -> Text:
    """The execution in one or two lines: status, what filled, what it cost, how long it took."""
    text = Text()
    text.append(f" {execution.status} ", style=EXECUTION_STYLE.get(execution.status, "bold"))
    text.append("  Filled ", style="dim")
    rate = "" if figures.fill_rate is None else f" ({figures.fill_rate:.1%}{_weighed(figures)})"
    text.append(f"{qty(figures.filled)} of {qty(figures.quantity)}{rate}", style="bold")
    text.append("  ·  Slippage ", style="dim")
    if figures.slippage_bps is None:
        text.append("unknown (no arrival price or no fill)", style="dim")
    else:
        cost = figures.shortfall or 0.0
        text.append(f"{figures.slippage_bps:+.1f} bps", style=_cost_style(figures.slippage_bps))
        said = "cost" if cost >= 0 else "saved"
        text.append(f" ({said} {money(abs(cost))} against arrival)", style=_cost_style(cost))
    if figures.time_to_last_fill is not None:
        text.append("  ·  First order to last fill ", style="dim")
        text.append(duration(figures.time_to_last_fill), style="bold")
    if execution.message:
        text.append(f"\n{execution.message}", style="bold" if execution.status in FAILED_EXECUTION else "")
    return text


def order_table(rows: Sequence[OrderFigures], *, narrow: bool = False) -> Table:
    """Every figure of every order; ``narrow`` (an 80-column terminal) keeps those that judge the
    execution (filled of quantity, arrival, average fill, slippage, last fill) and drops the rest."""
    headers = NARROW_HEADERS if narrow else ORDER_HEADERS
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold")
    for header in headers:
        table.add_column(header, justify="left" if header in LEFT else "right", no_wrap=True)
    for f in rows:
        cells = _cells(f)
        table.add_row(*(cells[h] for h in headers))
    return table


def _weighed(figures: ExecutionMeasure) -> str:
    """Say so when the rate is by value at arrival, not the share count printed beside it (they
    differ when the execution trades more than one symbol; ``engine.model.quality`` says why)."""
    return " by value" if figures.by_value else ""


def _cells(row: OrderFigures) -> dict[str, Text]:
    o, f = row.order, row.measure
    return {
        "Order": Text(("  " * max(row.depth - 1, 0) + CHILD_MARK if row.depth else "") + o.client_order_id),
        "Symbol": Text(o.symbol, style="" if row.depth else "bold"),
        "Side": Text(o.side.value, style=GAIN if o.side is Side.BUY else LOSS),
        "Qty": right(qty(o.quantity)),
        "Type": Text(o.algo or o.order_type.value),
        "Status": status_text(o.status),
        "Filled": right(qty(f.filled)),
        "Filled/qty": right(f"{qty(f.filled)}/{qty(o.quantity)}"),
        "Fill rate": right("" if f.fill_rate is None else f"{f.fill_rate:.0%}"),
        "Arrival": right("" if f.arrival is None else money(f.arrival)),
        "Avg fill": right("" if f.average is None else money(f.average)),
        "Slip bps": slippage_cell(f.slippage_bps),
        "Cost $": right(
            "" if f.shortfall is None else signed_money(f.shortfall), style=_cost_style(f.shortfall)
        ),
        "1st fill": right(_time(f.timing.first)),
        "Last fill": right(_time(f.timing.last, estimated=f.timing.estimated)),
    }


def _time(value: timedelta | None, *, estimated: bool = False) -> str:
    if value is None:
        return ""
    return ("≈" if estimated else "") + duration(value)


def _cost_style(value: float | None) -> str:
    """A cost is red and an improvement green: the opposite of P&L's sign convention."""
    return "" if value is None else pnl_style(-value)
