"""The modify dialog (``m`` in the blotter): a working LMT order's new quantity and/or limit price;
on a position's protective order, its new stop (or target) price: its quantity follows the position.

The engine owns the order and decides (``ModifyOrder``: a quantity below what has filled, a
price outside the band or an order that filled meanwhile comes back refused); the dialog only
carries the operator's numbers and shows the answer in place, the way the limits dialog does.
A blank field keeps that value. It follows the desk's fold (``FollowsDesk``): if the order
fills or is cancelled while the dialog is open, it says so rather than send a modify that
cannot succeed. The kill switch (a priority binding) works here as on every screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Set
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from console.state import DeskState
from console.widgets.blotter import PROTECTIVE_STOPS, modifiable
from console.widgets.fmt import money, qty
from engine.model import CommandSource, DeskArea, Order
from engine.model.events import Command, CommandResult, ModifyOrder

Send = Callable[[Command], Awaitable[CommandResult]]
HELP = "Blank keeps a value. Enter sends; Escape closes without changing anything. ctrl+k halts trading."


def describe(order: Order) -> str:
    limit = "" if order.limit_price is None else f" @ {money(order.limit_price)}"
    what = f"{order.side} {qty(order.quantity)} {order.symbol} {order.order_type}{limit}"
    return f"{order.client_order_id}: {what}, filled {qty(order.filled_quantity)}, {order.status}"


class ModifyDialog(ModalScreen[bool]):
    """Dismisses with True once the engine accepted the modify, False on Escape."""

    AUTO_FOCUS = "#modify-quantity"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, order: Order, send: Send) -> None:
        super().__init__(id="modify-dialog")
        self._order = order
        self._send = send
        self._stop = order.protects is not None and order.order_type in PROTECTIVE_STOPS

    def on_mount(self) -> None:
        if self._order.protects is not None:  # no quantity field: the price to move has the focus
            self.query_one("#modify-stop" if self._stop else "#modify-limit", Input).focus()

    def compose(self) -> ComposeResult:
        order = self._order
        with Vertical(id="modify-box"):
            protective = order.protects is not None
            yield Static("Modify protection" if protective else "Modify order", id="modify-title")
            yield Static(describe(order), id="modify-order", markup=False)
            if self._stop:
                with Horizontal(classes="modify-field"):
                    yield Label("New stop", classes="modify-label")
                    stop = "" if order.stop_price is None else f"{order.stop_price:g}"
                    yield Input(placeholder=stop, type="number", id="modify-stop")
            if not protective:
                with Horizontal(classes="modify-field"):
                    yield Label("New quantity", classes="modify-label")
                    yield Input(placeholder=qty(order.quantity), type="number", id="modify-quantity")
            if not self._stop or order.limit_price is not None:
                with Horizontal(classes="modify-field"):
                    yield Label("New target" if protective else "New limit", classes="modify-label")
                    limit = "" if order.limit_price is None else f"{order.limit_price:g}"
                    yield Input(placeholder=limit, type="number", id="modify-limit")
            yield Static("", id="modify-outcome", markup=False)
            yield Static(HELP, id="modify-help", markup=False)

    @property
    def order(self) -> Order:
        return self._order

    def follow(self, state: DeskState, areas: Set[DeskArea]) -> None:
        """Keep the order as the engine last announced it (``FollowsDesk``)."""
        if DeskArea.ORDERS not in areas:
            return
        order = state.orders.get(self._order.client_order_id)
        if order is None:
            return
        self._order = order
        self.query_one("#modify-order", Static).update(describe(order))
        gone = modifiable(order)
        if gone is not None:
            self._outcome(gone, ok=False)

    @on(Input.Submitted)
    def _submitted(self, _event: Input.Submitted) -> None:
        try:
            quantity = _number(self._field("#modify-quantity"), "quantity")
            limit = _number(self._field("#modify-limit"), "limit price")
            stop = _number(self._field("#modify-stop"), "stop price")
        except ValueError as exc:
            self._outcome(str(exc), ok=False)
            return
        order = self._order
        quantity = None if quantity == order.quantity else quantity
        limit = None if limit == order.limit_price else limit
        stop = None if stop == order.stop_price else stop
        if quantity is None and limit is None and stop is None:
            wanted = "a new stop or target price" if order.protects else "a new quantity or a new limit price"
            self._outcome(f"type {wanted}", ok=False)
            return
        self._modify(
            ModifyOrder(order.client_order_id, quantity, limit, source=CommandSource.HOTKEY, stop_price=stop)
        )

    def _field(self, selector: str) -> str:
        """A field's text ("" when this dialog has no such field: a protective order's quantity)."""
        found = self.query(selector)
        return found.first(Input).value if found else ""

    @work(exclusive=True, group="modify")
    async def _modify(self, command: ModifyOrder) -> None:
        result = await self._send(command)
        if result.ok:
            self.dismiss(True)
            return
        code = f" [{result.code}]" if result.code else ""
        self._outcome(f"Refused{code}: {result.message or 'refused'}", ok=False)

    def _outcome(self, text: str, *, ok: bool) -> None:
        outcome = self.query_one("#modify-outcome", Static)
        outcome.update(text)
        outcome.set_class(ok, "-ok")
        outcome.set_class(not ok, "-error")

    def action_close(self) -> None:
        self.dismiss(False)


def _number(text: str, what: str) -> float | None:
    """A blank field keeps the value; anything else must be a positive number."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"the {what} {text!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"the {what} must be more than zero")
    return value
