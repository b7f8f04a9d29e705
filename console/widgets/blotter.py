"""The order blotter: every order this session knows, newest first, status coloured.

An algo (TWAP, VWAP, limit-at-mid) is one parent order that is never sent to a broker and the
child orders that work it; the blotter shows the parent and then its children under it, marked
``└``, so a column of slices reads as the one decision it is. Each row carries what it cost:
filled quantity, average fill price and slippage in basis points against the arrival price
(positive = cost; blank while unknown), from ``engine.model.quality`` like the execution report and
the engine's ``onetap report executions``.

Keys (remappable): ``c`` cancels the selected open order, ``m`` asks to modify a working LMT
order (the app opens the dialog: it holds the engine link), ``o`` shows open orders only or all.
Cancel-all is the desk's (``C``): it does not depend on the selection.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive

from console.keys import Hotkeys
from console.messages import CommandRequest, ModifyRequest
from console.tca import TreeRow, children_of, measure, order_tree
from console.widgets.fmt import GAIN, LOSS, NEW_YORK, ny_time, price, qty, right, status_text
from console.widgets.table import Column, Row, SyncedTable
from engine.model import Order, OrderStatus, OrderType, Side
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
    Column("slip", "Slip bps"),
)

ESSENTIAL = ("symbol", "side", "qty", "status", "filled")
SPARE = ("time", "id")
"""Dropped first, in this order, when the pane is a little too narrow for every column."""
CHILD_MARK = "└ "
"""Marks an algo's child order; drawn in the symbol column, which even an 80-column desk shows."""


def modifiable(order: Order) -> str | None:
    """Why ``order`` cannot be modified, or None if it can: a working LMT order sent to a broker.

    A parent is worked by its algo and is not at the broker; a market order has no price to move.
    The engine still has the last word (a fill may beat the modify).
    """
    if not order.status.is_open or order.status is OrderStatus.PENDING_CANCEL:
        return f"{order.client_order_id} is {order.status}; nothing to modify"
    if order.algo:
        return (
            f"{order.client_order_id} is worked by {order.algo}, which sets its own prices; cancel it instead"
        )
    if order.protects is not None and order.order_type in PROTECTIVE_STOPS:
        return None  # a position's protective stop: its stop price moves (the engine checks the side)
    if order.order_type is not OrderType.LMT:
        return f"{order.client_order_id} is a {order.order_type} order; only LMT orders can be modified"
    return None


PROTECTIVE_STOPS = (OrderType.STP, OrderType.STP_LMT, OrderType.TRAIL)
PROTECTIVE_MARK = " exit"
"""Marks a position's protective order (stop, target, time exit) in the type column."""


class OrderBlotter(Vertical):
    """Assign ``orders`` newest first; the blotter orders them as a tree and applies the filter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel_order", "Cancel", id="onetap.cancel_order"),
        Binding("m", "modify_order", "Modify", show=False, id="onetap.modify"),
        Binding("o", "toggle_open", "Open/all", show=False, id="onetap.filter_open"),
    ]
    """``m`` and ``o`` are named in the pane's subtitle and the command palette (the footer must fit
    80 columns)."""

    orders: reactive[tuple[Order, ...]] = reactive((), init=False, always_update=True)
    """Always redrawn on assignment: Order is a mutable dataclass, so equality is no proof of no change."""
    open_only: reactive[bool] = reactive(False, init=False)

    def __init__(self, hotkeys: Hotkeys | None = None, *, id: str | None = None) -> None:
        """``hotkeys``: the keys the pane's subtitle names (the bindings take theirs from the keymap)."""
        super().__init__(id=id)
        self._keys = hotkeys or Hotkeys()

    def compose(self) -> ComposeResult:
        yield SyncedTable(COLUMNS, essential=ESSENTIAL, spare=SPARE, id="blotter-table")

    def on_mount(self) -> None:
        self.border_title = "Orders"
        self._subtitle()

    def watch_orders(self) -> None:
        self._redraw()

    def watch_open_only(self) -> None:
        self._redraw()

    def on_resize(self) -> None:
        self._subtitle()

    @property
    def shown(self) -> list[TreeRow]:
        """The rows as drawn: tree order, filtered."""
        return order_tree(self.orders, open_only=self.open_only)

    @property
    def selected(self) -> Order | None:
        key = self.query_one(SyncedTable).selected_key
        return next((o for o in self.orders if o.client_order_id == key), None)

    def _redraw(self) -> None:
        by_id = {o.client_order_id: o for o in self.orders}
        dated = spans_days(self.orders)
        self.query_one(SyncedTable).sync([_row(r, by_id, dated=dated) for r in self.shown])
        self._subtitle()

    def _subtitle(self) -> None:
        """How many orders work at the broker and how many algos run, the filter, and the keys,
        as much of that as the pane's width allows."""
        live = sum(1 for o in self.orders if o.status.is_open and not o.algo)
        algos = sum(1 for o in self.orders if o.status.is_open and o.algo)
        counts = [f"{live} working"] if live else []
        counts += [f"{algos} algo{'s' if algos > 1 else ''}"] if algos else []
        shown = "open only" if self.open_only else "all orders"
        keys = self._keys
        toggle = keys.filter_open
        candidates = (
            [
                *counts,
                shown,
                f"{toggle} {'all' if self.open_only else 'open only'}",
                f"{keys.modify} modify",
                f"{keys.cancel_all} cancel all",
            ],
            [*counts, f"{shown} ({toggle})"],
            [*counts, f"{'open' if self.open_only else 'all'} ({toggle})"],
        )
        room = self.size.width - 6
        for parts in candidates:
            text = " · ".join(parts)
            if len(text) <= room or parts is candidates[-1]:
                self.border_subtitle = text
                return

    def action_toggle_open(self) -> None:
        self.open_only = not self.open_only

    def action_cancel_order(self) -> None:
        if self.query_one(SyncedTable).selection_lost:
            self.notify(
                "the order you had selected left the list; move to the order you want", severity="warning"
            )
            return
        order = self.selected
        if order is None:
            self.notify("no order selected", severity="warning")
        elif not order.status.is_open:
            self.notify(f"{order.client_order_id} is {order.status}; nothing to cancel", severity="warning")
        else:
            self.post_message(CommandRequest(CancelOrder(order.client_order_id)))

    def action_modify_order(self) -> None:
        order = self.selected
        if order is None:
            self.notify("no order selected", severity="warning")
            return
        refusal = modifiable(order)
        if refusal is not None:
            self.notify(refusal, severity="warning")
        else:
            self.post_message(ModifyRequest(order))


def slippage_cell(value: float | None) -> Text:
    """Positive (a cost) red, negative (better than arrival) green, blank while unknown."""
    if value is None:
        return right("")
    return right(f"{value:+.1f}", style=LOSS if value > 0 else GAIN if value < 0 else "")


def spans_days(orders: Iterable[Order]) -> bool:
    """True when the orders were created on more than one New York day: their times then carry the
    date, or yesterday's 15:59 would read as later than today's 09:31."""
    days = {stamp.astimezone(NEW_YORK).date() for o in orders if (stamp := o.created_at or o.updated_at)}
    return len(days) > 1


def order_time(ts: datetime | None, *, dated: bool) -> str:
    """``10:31:05``, or ``03-14 15:59:58`` when the blotter spans sessions."""
    if ts is None or not dated:
        return ny_time(ts)
    return ts.astimezone(NEW_YORK).strftime("%m-%d %H:%M:%S")


def _row(row: TreeRow, by_id: dict[str, Order], *, dated: bool = False) -> Row:
    o = row.order
    m = measure(o, by_id, children=children_of(o, by_id.values()) if o.algo else ())
    mark = "  " * max(row.depth - 1, 0) + CHILD_MARK if row.depth else ""
    symbol = Text(mark, style="dim")
    symbol.append(o.symbol, style="" if row.depth else "bold")
    cells = (
        Text(order_time(o.created_at or o.updated_at, dated=dated)),
        Text(o.client_order_id),
        symbol,
        Text(o.side.value, style=GAIN if o.side is Side.BUY else LOSS),
        right(qty(o.quantity)),
        _type_cell(o),
        right(_price(o)),
        status_text(o.status),
        right(qty(m.filled)),
        right("" if m.average is None else price(m.average, o.symbol)),
        slippage_cell(m.slippage_bps),
    )
    return o.client_order_id, cells


def _type_cell(o: Order) -> Text:
    if o.algo:
        return Text(o.algo, style="bold")
    if o.protects is not None:
        return Text(o.order_type.value + PROTECTIVE_MARK, style="cyan")
    return Text(o.order_type.value)


def _price(o: Order) -> str:
    """The limit; for a stop without one, its stop price (a protective stop shows where it rests)."""
    if o.limit_price is not None:
        return price(o.limit_price, o.symbol)
    if o.stop_price is not None:
        return f"stp {price(o.stop_price, o.symbol)}"
    return ""
