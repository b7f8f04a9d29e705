"""Execution quality as the desk reads it: the algo order tree, slippage, fill rate, time to fill.

Plain Python over the domain model, no Textual: the blotter and the execution report draw the
same figures from here, so a slippage in one always equals the slippage in the other.

Slippage is implementation shortfall against the arrival price (the mid when the order was
decided), in basis points, signed so that a positive figure is a cost: a buy filled above its
arrival or a sell filled below it. An algo's child order is measured against its own arrival
price when it has one, else against its parent's: the parent's arrival is the price the
decision was made at, which is what the whole algo is judged by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from console.state import FillTimes
from engine.model import Order, Side, contract_multiplier
from engine.model.events import ExecutionEvent

BPS = 10_000.0


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


def arrival_price(order: Order, orders: Mapping[str, Order]) -> float | None:
    """The order's own arrival price, else its parent's (see the module's note)."""
    if order.arrival_price is not None:
        return order.arrival_price
    parent = orders.get(order.parent_id) if order.parent_id is not None else None
    return parent.arrival_price if parent is not None else None


def filled_and_average(order: Order, children: Sequence[Order] = ()) -> tuple[float, float | None]:
    """Filled quantity and average price: the order's own figures, or, for a parent that reports
    none yet, the quantity-weighted figures of its children."""
    if order.filled_quantity > 0 or not children:
        return order.filled_quantity, order.avg_fill_price
    filled = sum(c.filled_quantity for c in children if c.avg_fill_price is not None)
    if filled <= 0:
        return 0.0, None
    value = sum(c.filled_quantity * (c.avg_fill_price or 0.0) for c in children)
    return filled, value / filled


def slippage_bps(side: Side, arrival: float | None, average: float | None) -> float | None:
    """Signed shortfall in basis points (positive = cost); None when either price is unknown."""
    if arrival is None or average is None or arrival <= 0:
        return None
    return side.sign * (average - arrival) / arrival * BPS


def shortfall(
    side: Side, arrival: float | None, average: float | None, filled: float, multiplier: float = 1.0
) -> float | None:
    """The same cost in money: what the fills cost beyond filling at the arrival price.

    ``multiplier``: money per unit of price and quantity (``contract_multiplier``: 100 for an option).
    """
    if arrival is None or average is None or filled <= 0:
        return None
    return side.sign * (average - arrival) * filled * multiplier


def fill_rate(quantity: float, filled: float) -> float | None:
    return filled / quantity if quantity > 0 else None


@dataclass(frozen=True, slots=True)
class Timing:
    """Time from an order's creation to its first and last fill.

    ``estimated`` when no fill was seen by this console and the last fill is taken from the
    order's created/updated times (a filled order's last update is its last fill).
    """

    first: timedelta | None
    last: timedelta | None
    estimated: bool = False


def fill_timing(order: Order, fill_times: Mapping[str, FillTimes], children: Sequence[Order] = ()) -> Timing:
    """From the fills this console saw (the order's own, or its children's), else an estimate."""
    start = order.created_at
    seen = [t for t in (fill_times.get(o.client_order_id) for o in (order, *children)) if t is not None]
    if start is None:
        return Timing(None, None)
    if seen:
        first = min(t.first for t in seen)
        last = max(t.last for t in seen)
        return Timing(max(first - start, timedelta(0)), max(last - start, timedelta(0)))
    filled, _ = filled_and_average(order, children)
    if filled > 0 and order.updated_at is not None:
        return Timing(None, max(order.updated_at - start, timedelta(0)), estimated=True)
    return Timing(None, None)


@dataclass(frozen=True, slots=True)
class OrderFigures:
    """One order's line in the execution report."""

    order: Order
    depth: int
    filled: float
    average: float | None
    arrival: float | None
    fill_rate: float | None
    slippage_bps: float | None
    shortfall: float | None
    timing: Timing


def order_figures(
    row: TreeRow, orders: Mapping[str, Order], fill_times: Mapping[str, FillTimes]
) -> OrderFigures:
    order = row.order
    kids = children_of(order, orders.values())
    filled, average = filled_and_average(order, kids)
    arrival = arrival_price(order, orders)
    return OrderFigures(
        order=order,
        depth=row.depth,
        filled=filled,
        average=average,
        arrival=arrival,
        fill_rate=fill_rate(order.quantity, filled),
        slippage_bps=slippage_bps(order.side, arrival, average),
        shortfall=shortfall(order.side, arrival, average, filled, contract_multiplier(order.symbol)),
        timing=fill_timing(order, fill_times, kids),
    )


@dataclass(frozen=True, slots=True)
class ExecutionFigures:
    """A whole execution: shares asked and filled, cost against arrival, and how long it took.

    Slippage here is the shortfall of every top-level order that has an arrival price, over the
    value of their fills at arrival, so a large leg weighs more than a small one.
    """

    quantity: float
    filled: float
    fill_rate: float | None
    slippage_bps: float | None
    shortfall: float | None
    started: datetime | None
    last_fill: datetime | None

    @property
    def duration(self) -> timedelta | None:
        if self.started is None or self.last_fill is None:
            return None
        return max(self.last_fill - self.started, timedelta(0))


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


def execution_figures(
    execution: ExecutionEvent, rows: Sequence[OrderFigures], fill_times: Mapping[str, FillTimes]
) -> ExecutionFigures:
    quantity = sum(leg.quantity for leg in execution.legs)
    filled = sum(leg.filled for leg in execution.legs)
    costed = [f for f in rows if f.depth == 0 and f.shortfall is not None and f.arrival is not None]
    at_arrival = sum((f.arrival or 0.0) * f.filled * contract_multiplier(f.order.symbol) for f in costed)
    cost = sum(f.shortfall or 0.0 for f in costed) if costed else None
    created = [f.order.created_at for f in rows if f.order.created_at is not None]
    times = [fill_times[f.order.client_order_id] for f in rows if f.order.client_order_id in fill_times]
    return ExecutionFigures(
        quantity=quantity,
        filled=filled,
        fill_rate=fill_rate(quantity, filled),
        slippage_bps=(cost / at_arrival * BPS) if cost is not None and at_arrival > 0 else None,
        shortfall=cost,
        started=min(created) if created else None,
        last_fill=max(t.last for t in times) if times else None,
    )


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
