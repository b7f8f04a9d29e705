"""The desk's view of execution quality: the algo order tree, and each order's figures in it.

Tree-walking and plumbing only, no Textual and no formula: every figure (slippage against the
arrival price, shortfall, fill rate, a parent's fills from its children, time to fill, the
execution's aggregate) comes from ``engine.model.quality``, the module the engine's
``onetap report executions`` measures with too, so the blotter, the execution report screen and
the CLI show the same numbers for the same fills. What is the console's own is where the inputs
come from: the orders it was sent, and the times of the fills it saw (``FillTimes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from console.state import FillTimes
from engine.model import Order
from engine.model.events import ExecutionEvent
from engine.model.quality import ExecutionMeasure, FillSpan, OrderMeasure, measure_execution, measure_order


@dataclass(frozen=True, slots=True)
class TreeRow:
    """One order in tree order: ``depth`` 0 for a parent or a plain order, 1 for an algo's child."""

    order: Order
    depth: int


def order_tree(orders: Sequence[Order], *, open_only: bool = False) -> list[TreeRow]:
    """Orders (newest first) as a tree: each top-level order, then its children oldest first.

    A child whose parent this console does not know (pruned, or not announced yet) stands on its
    own rather than disappear. With ``open_only`` an order is kept while it is open, and a parent
    is kept while any of its children is, so an open slice is never shown without its algo.
    """
    known = {o.client_order_id for o in orders}
    children: dict[str, list[Order]] = {}
    for order in reversed(orders):  # oldest first: an algo's slices read in the order they went out
        if order.parent_id is not None and order.parent_id in known:
            children.setdefault(order.parent_id, []).append(order)
    top = [o for o in orders if o.parent_id is None or o.parent_id not in known]

    def walk(order: Order, depth: int, seen: frozenset[str]) -> list[TreeRow]:
        below: list[TreeRow] = []
        for child in children.get(order.client_order_id, ()):
            if child.client_order_id not in seen:  # a malformed cycle must not recurse forever
                below += walk(child, depth + 1, seen | {child.client_order_id})
        if open_only and not order.status.is_open and not below:
            return []
        return [TreeRow(order, depth), *below]

    rows: list[TreeRow] = []
    for order in top:
        rows += walk(order, 0, frozenset({order.client_order_id}))
    return rows


def children_of(order: Order, orders: Iterable[Order]) -> list[Order]:
    return [o for o in orders if o.parent_id == order.client_order_id]


def seen_span(orders: Iterable[Order], fill_times: Mapping[str, FillTimes]) -> FillSpan | None:
    """When the fills of ``orders`` (an order and its children) came, as this console saw them."""
    span: FillSpan | None = None
    for order in orders:
        times = fill_times.get(order.client_order_id)
        if times is not None:
            span = FillSpan(times.first, times.last).union(span)
    return span


def measure(
    order: Order,
    orders: Mapping[str, Order],
    fill_times: Mapping[str, FillTimes] | None = None,
    *,
    children: Sequence[Order] | None = None,
) -> OrderMeasure:
    """The model's figures of ``order`` among the console's ``orders`` (client id -> order).

    ``children``: its children when the caller already has them (else they are looked up).
    """
    kids = children_of(order, orders.values()) if children is None else children
    parent = orders.get(order.parent_id) if order.parent_id is not None else None
    span = seen_span((order, *kids), fill_times) if fill_times else None
    return measure_order(order, parent=parent, children=kids, span=span)


@dataclass(frozen=True, slots=True)
class OrderFigures:
    """One order's line in the execution report: the order, its depth in the tree, its figures."""

    order: Order
    depth: int
    measure: OrderMeasure


def order_figures(
    row: TreeRow, orders: Mapping[str, Order], fill_times: Mapping[str, FillTimes]
) -> OrderFigures:
    return OrderFigures(row.order, row.depth, measure(row.order, orders, fill_times))


def execution_orders(execution: ExecutionEvent, orders: Sequence[Order]) -> list[TreeRow]:
    """The execution's orders in tree order: those it created, its legs' orders and their children."""
    legs = {leg.client_order_id for leg in execution.legs if leg.client_order_id}
    mine = {o.client_order_id for o in orders if o.execution_id == execution.execution_id}
    mine |= legs & {o.client_order_id for o in orders}
    grew = True
    while grew:  # children of children: algo slices may have been re-priced into new orders
        more = {o.client_order_id for o in orders if o.parent_id in mine} - mine
        grew = bool(more)
        mine |= more
    return order_tree([o for o in orders if o.client_order_id in mine])


def execution_figures(execution: ExecutionEvent, rows: Sequence[OrderFigures]) -> ExecutionMeasure:
    """The execution's aggregate over its top-level orders, as the engine's report makes it.

    Before the console has seen any of its orders, the legs' progress stands in (they carry no
    arrival price, so the quantities and a share-count fill rate are all that is known).
    """
    tops = [f.measure for f in rows if f.depth == 0]
    if not tops:
        tops = [
            measure_order(
                Order(
                    leg.client_order_id,
                    leg.symbol,
                    leg.side,
                    leg.quantity,
                    filled_quantity=leg.filled,
                    avg_fill_price=leg.avg_price,
                )
            )
            for leg in execution.legs
        ]
    return measure_execution(tops)


def duration(value: timedelta | None) -> str:
    """``4.2s``, ``3m 12s``, ``1h 02m``: precise when it is short, readable when it is long."""
    if value is None:
        return ""
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"
