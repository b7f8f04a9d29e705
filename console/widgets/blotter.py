"""The order blotter: every order this session knows, newest first, status coloured."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive

from console.messages import CommandRequest
from console.widgets.fmt import GAIN, LOSS, money, ny_time, qty, right, status_text
from console.widgets.table import Column, Row, SyncedTable
from engine.model import Order, Side
from engine.model.events import CancelOrder

COLUMNS = (
    Column("time", "Time"),
    Column("id", "Client id"),
    Column("symbol", "Symbol"),
    Column("side", "Side"),
    Column("qty", "Qty"),
    Column("type", "Type"),
    Column("limit", "Limit"),
    Column("status", "Status"),
    Column("filled", "Filled"),
    Column("avg", "Avg price"),
)

ESSENTIAL = ("symbol", "side", "qty", "status", "filled")


class OrderBlotter(Vertical):
    """Assign ``orders`` newest first. ``c`` on a working order asks the app to cancel it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel_order", "Cancel order", id="onetap.cancel_order"),
    ]

    orders: reactive[tuple[Order, ...]] = reactive((), init=False, always_update=True)
    """Always redrawn on assignment: Order is a mutable dataclass, so equality is no proof of no change."""

    def compose(self) -> ComposeResult:
        yield SyncedTable(COLUMNS, essential=ESSENTIAL, id="blotter-table")

    def on_mount(self) -> None:
        self.border_title = "Orders"

    def watch_orders(self, orders: tuple[Order, ...]) -> None:
        self.query_one(SyncedTable).sync([_row(o) for o in orders])
        working = sum(1 for o in orders if o.status.is_open)
        self.border_subtitle = f"{working} working" if working else ""

    def action_cancel_order(self) -> None:
        key = self.query_one(SyncedTable).selected_key
        order = next((o for o in self.orders if o.client_order_id == key), None)
        if order is None:
            self.notify("no order selected", severity="warning")
        elif not order.status.is_open:
            self.notify(f"{order.client_order_id} is {order.status}; nothing to cancel", severity="warning")
        else:
            self.post_message(CommandRequest(CancelOrder(order.client_order_id)))


def _row(o: Order) -> Row:
    cells = (
        Text(ny_time(o.created_at or o.updated_at)),
        Text(o.client_order_id),
        Text(o.symbol, style="bold"),
        Text(o.side.value, style=GAIN if o.side is Side.BUY else LOSS),
        right(qty(o.quantity)),
        Text(o.order_type.value),
        right("" if o.limit_price is None else money(o.limit_price)),
        status_text(o.status),
        right(qty(o.filled_quantity)),
        right("" if o.avg_fill_price is None else money(o.avg_fill_price)),
    )
    return o.client_order_id, cells
