"""Execution quality: how well orders were executed, measured from their orders and fills.

Pure functions over the domain model (no store, no clock), so the engine, the report command
and research measure the same way.

The yardstick is **implementation shortfall** against the **arrival price** (the mid when the
order was decided, ``Order.arrival_price``): the money lost between deciding and trading,
positive when it cost. For a buy ``(avg - arrival) / arrival``, for a sell
``(arrival - avg) / arrival``, in basis points. It contains the half spread, the market impact
and the drift while an algo worked, which is why it is the number to compare with the
pre-trade estimate (``engine.execution.costs``): realized cost = shortfall + commission.

Algo children are folded into their parent: a parent's fills are its children's, and an
execution (one card's orders, by ``execution_id``) aggregates its top-level orders weighted by
value at arrival, so a large leg counts more than a small one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from engine.execution.costs import CostEstimate
from engine.model import Fill, Order, OrderStatus, Side, contract_multiplier


@dataclass(frozen=True, slots=True)
class OrderQuality:
    """How one order (a parent with its children's fills, or a plain order) was executed."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    filled_quantity: float
    arrival_price: float | None
    avg_fill_price: float | None
    slippage_bps: float | None
    """Implementation shortfall in bps of the arrival price; positive = cost. None without an
    arrival price or without fills."""
    fill_rate: float
    """Filled quantity / ordered quantity."""
    time_to_first_fill_s: float | None
    """Seconds of market time from the order's creation to its first fill."""
    time_to_last_fill_s: float | None
    commission: float
    status: OrderStatus
    created_at: datetime | None = None
    execution_id: str | None = None
    card_id: str | None = None
    parent_id: str | None = None
    algo: str = ""
    fills: int = 0
    """How many executions filled it."""

    @property
    def multiplier(self) -> float:
        """Money per unit of price and quantity: 100 for an option (OCC symbol), 1 for a stock."""
        return contract_multiplier(self.symbol)

    @property
    def slippage_cost(self) -> float | None:
        """The shortfall in money: ``side * (avg - arrival) * filled * multiplier`` (positive = cost)."""
        if self.arrival_price is None or self.avg_fill_price is None or self.filled_quantity <= 0:
            return None
        return (
            self.side.sign
            * (self.avg_fill_price - self.arrival_price)
            * self.filled_quantity
            * self.multiplier
        )

    @property
    def realized_cost(self) -> float | None:
        """Shortfall plus commission, in money; None without an arrival price."""
        slip = self.slippage_cost
        if slip is None:
            return None if self.filled_quantity > 0 else 0.0
        return slip + self.commission


@dataclass(frozen=True, slots=True)
class ExecutionQuality:
    """One card's execution (or one order sent on its own), aggregated over its orders.

    Prices, slippage and fill rate are weighted by value at the arrival price; ``arrival_price``
    and ``avg_fill_price`` are only given when every order is in the same symbol (an average
    price across symbols means nothing).
    """

    execution_id: str | None
    """None for an order sent outside any card execution (it is then its own execution)."""
    card_id: str | None
    symbols: tuple[str, ...]
    sides: tuple[Side, ...]
    quantity: float
    filled_quantity: float
    arrival_price: float | None
    avg_fill_price: float | None
    slippage_bps: float | None
    fill_rate: float
    time_to_first_fill_s: float | None
    """From the first order's creation to the first fill of any order."""
    time_to_last_fill_s: float | None
    commission: float
    realized_cost: float | None
    """Shortfall plus commission of what was filled, in money."""
    realized_cost_bps: float | None
    """``realized_cost`` in bps of the filled quantity's value at arrival."""
    expected: CostEstimate | None
    """The pre-trade estimate, when one was given (for the whole ordered quantity)."""
    orders: tuple[OrderQuality, ...]
    """Top-level orders: plain orders and algo parents."""
    children: tuple[OrderQuality, ...] = ()
    """Algo children, each with ``parent_id`` naming its parent in ``orders``."""
    started_at: datetime | None = None

    @property
    def key(self) -> str:
        return self.execution_id or self.orders[0].client_order_id

    @property
    def cost_vs_expected_bps(self) -> float | None:
        """Realized minus expected cost, in bps (positive: it cost more than the model said)."""
        if self.expected is None or self.realized_cost_bps is None:
            return None
        return self.realized_cost_bps - self.expected.total_bps


# --------------------------------------------------------------------------- per order
def order_quality(order: Order, fills: Iterable[Fill]) -> OrderQuality:
    """The quality of one order from its fills (for a parent: its children's fills).

    Without any fill records the order's own ``filled_quantity`` and ``avg_fill_price`` are used
    (commission 0, times unknown), so an order whose fills were not loaded still reports its price.
    """
    own = sorted(fills, key=lambda f: f.ts)
    if own:
        filled = sum(f.quantity for f in own)
        avg: float | None = sum(f.quantity * f.price for f in own) / filled if filled > 0 else None
        commission = sum(f.commission for f in own)
    else:
        filled, avg, commission = order.filled_quantity, order.avg_fill_price, 0.0
    arrival = order.arrival_price if order.arrival_price and order.arrival_price > 0 else None
    slippage = None
    if arrival is not None and avg is not None and filled > 0:
        slippage = order.side.sign * (avg - arrival) / arrival * 1e4
    first = last = None
    if own and order.created_at is not None:
        first = (own[0].ts - order.created_at).total_seconds()
        last = (own[-1].ts - order.created_at).total_seconds()
    return OrderQuality(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        filled_quantity=filled,
        arrival_price=arrival,
        avg_fill_price=avg,
        slippage_bps=slippage,
        fill_rate=filled / order.quantity if order.quantity > 0 else 0.0,
        time_to_first_fill_s=first,
        time_to_last_fill_s=last,
        commission=commission,
        status=order.status,
        created_at=order.created_at,
        execution_id=order.execution_id,
        card_id=order.card_id,
        parent_id=order.parent_id,
        algo=order.algo,
        fills=len(own),
    )


# --------------------------------------------------------------------------- per execution
def execution_quality(
    orders: Sequence[OrderQuality],
    children: Sequence[OrderQuality] = (),
    *,
    expected: CostEstimate | None = None,
) -> ExecutionQuality:
    """Aggregate the top-level ``orders`` of one execution (children only ride along)."""
    if not orders:
        raise ValueError("an execution needs at least one order")
    symbols = tuple(dict.fromkeys(o.symbol for o in orders))
    sides = tuple(dict.fromkeys(o.side for o in orders))
    priced = [o for o in orders if o.arrival_price is not None]
    filled_priced = [o for o in priced if o.slippage_cost is not None]
    at_arrival = sum(o.filled_quantity * (o.arrival_price or 0.0) * o.multiplier for o in filled_priced)
    slippage_cost = sum(o.slippage_cost or 0.0 for o in filled_priced)
    slippage = slippage_cost / at_arrival * 1e4 if at_arrival > 0 else None
    ordered_value = sum(o.quantity * (o.arrival_price or 0.0) * o.multiplier for o in priced)
    if ordered_value > 0 and len(priced) == len(orders):
        fill_rate = (
            sum(o.filled_quantity * (o.arrival_price or 0.0) * o.multiplier for o in priced) / ordered_value
        )
    else:
        ordered = sum(o.quantity for o in orders)
        fill_rate = sum(o.filled_quantity for o in orders) / ordered if ordered > 0 else 0.0
    commission = sum(o.commission for o in orders)
    quantity = sum(o.quantity for o in orders)
    filled = sum(o.filled_quantity for o in orders)
    realized: float | None = None
    if filled_priced:
        realized = slippage_cost + commission
    elif filled <= 0:
        realized = commission  # nothing traded: the cost is whatever was charged (normally 0)
    arrival = avg = None
    if len(symbols) == 1:
        if priced and len(priced) == len(orders) and quantity > 0:
            arrival = sum(o.quantity * (o.arrival_price or 0.0) for o in priced) / quantity
        with_avg = [o for o in orders if o.avg_fill_price is not None and o.filled_quantity > 0]
        if with_avg:
            avg = sum(o.filled_quantity * (o.avg_fill_price or 0.0) for o in with_avg) / sum(
                o.filled_quantity for o in with_avg
            )
    starts = [o.created_at for o in orders if o.created_at is not None]
    started = min(starts) if starts else None
    first, last = _fill_times(orders, started)
    return ExecutionQuality(
        execution_id=orders[0].execution_id,
        card_id=next((o.card_id for o in orders if o.card_id), None),
        symbols=symbols,
        sides=sides,
        quantity=quantity,
        filled_quantity=filled,
        arrival_price=arrival,
        avg_fill_price=avg,
        slippage_bps=slippage,
        fill_rate=fill_rate,
        time_to_first_fill_s=first,
        time_to_last_fill_s=last,
        commission=commission,
        realized_cost=realized,
        realized_cost_bps=realized / at_arrival * 1e4 if realized is not None and at_arrival > 0 else None,
        expected=expected,
        orders=tuple(orders),
        children=tuple(children),
        started_at=started,
    )


def executions_quality(
    orders: Sequence[Order],
    fills: Iterable[Fill],
    *,
    expected: Mapping[str, CostEstimate] | None = None,
) -> list[ExecutionQuality]:
    """Group orders into executions and measure each, in the order the executions started.

    Children (``parent_id`` naming an order in ``orders``) are folded into their parent; a child
    whose parent is not among ``orders`` counts as an order of its own. Orders without an
    ``execution_id`` are each their own execution. ``expected`` maps an execution id to its
    pre-trade estimate.
    """
    by_order: dict[str, list[Fill]] = {}
    for fill in fills:
        by_order.setdefault(fill.client_order_id, []).append(fill)
    ids = {o.client_order_id for o in orders}
    kids: dict[str, list[Order]] = {}
    for o in orders:
        if o.parent_id is not None and o.parent_id in ids:
            kids.setdefault(o.parent_id, []).append(o)
    groups: dict[str, tuple[list[OrderQuality], list[OrderQuality]]] = {}
    for o in orders:
        if o.parent_id is not None and o.parent_id in ids:
            continue
        family = kids.get(o.client_order_id, [])
        own = list(by_order.get(o.client_order_id, []))
        for child in family:
            own.extend(by_order.get(child.client_order_id, []))
        parent = o
        if o.arrival_price is None:
            parent = _with_arrival(o, family)
        tops, subs = groups.setdefault(o.execution_id or f"\0{o.client_order_id}", ([], []))
        tops.append(order_quality(parent, own))
        subs.extend(order_quality(c, by_order.get(c.client_order_id, [])) for c in family)
    out = []
    for key, (tops, subs) in groups.items():
        estimate = None if expected is None or key.startswith("\0") else expected.get(key)
        out.append(execution_quality(tops, subs, expected=estimate))
    return out


def _with_arrival(order: Order, children: Sequence[Order]) -> Order:
    """A parent stored without an arrival price takes its first child's (they carry the parent's)."""
    arrival = next((c.arrival_price for c in children if c.arrival_price), None)
    return order if arrival is None else replace(order, arrival_price=arrival)


def _fill_times(
    orders: Sequence[OrderQuality], started: datetime | None
) -> tuple[float | None, float | None]:
    """First and last fill of the execution, in seconds from its start."""
    if started is None:
        return None, None
    firsts = [
        (o.created_at - started).total_seconds() + o.time_to_first_fill_s
        for o in orders
        if o.created_at is not None and o.time_to_first_fill_s is not None
    ]
    lasts = [
        (o.created_at - started).total_seconds() + o.time_to_last_fill_s
        for o in orders
        if o.created_at is not None and o.time_to_last_fill_s is not None
    ]
    return (min(firsts) if firsts else None), (max(lasts) if lasts else None)
