"""Execution quality of orders read from the database, for ``onetap report executions``.

The figures (shortfall against the arrival price in bps and in money, fill rate, a parent's
figures from its children, time to fill, an execution's value-weighted aggregate) are
``engine.model.quality``'s: the one copy of those rules, which the console's blotter and
execution report use too, so the CLI and the screen show the same numbers for the same fills.
This module adds what only the engine knows: commissions, realized cost (shortfall +
commission, the number to compare with the pre-trade estimate of ``engine.execution.costs``)
and the grouping of stored orders into executions (one card's orders, by ``execution_id``;
algo children folded into their parent).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.execution.costs import CostEstimate
from engine.model import Fill, Order, OrderStatus, Side, contract_multiplier
from engine.model.quality import OrderMeasure, measure_execution, measure_order


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
    fill_rate: float | None
    """Filled quantity / ordered quantity, uncapped; None for a zero quantity
    (``engine.model.quality`` says why)."""
    time_to_first_fill_s: float | None
    """Seconds of market time from the order's creation to its first fill."""
    time_to_last_fill_s: float | None
    commission: float
    status: OrderStatus
    measure: OrderMeasure
    """The model's figures behind these, which an execution aggregates."""
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
        return self.measure.shortfall

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
    fill_rate: float | None
    """Weighted by value at arrival when every order has an arrival price, else filled / ordered
    quantity; None when nothing was ordered."""
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
def order_quality(
    order: Order,
    fills: Iterable[Fill],
    *,
    parent: Order | None = None,
    children: Sequence[Order] = (),
) -> OrderQuality:
    """The quality of one order from its fills (for a parent: its children's fills).

    The figures are ``engine.model.quality``'s, the console's too. Without any fill records the
    order's own ``filled_quantity`` and ``avg_fill_price`` are used (commission 0, the last fill's
    time estimated from the order's last update), so an order whose fills were not loaded still
    reports its price. ``parent``: the algo parent of a child (its arrival price stands in);
    ``children``: a parent's children.
    """
    own = sorted(fills, key=lambda f: f.ts)
    m = measure_order(order, parent=parent, children=children, fills=own)
    return OrderQuality(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        filled_quantity=m.filled,
        arrival_price=m.arrival,
        avg_fill_price=m.average,
        slippage_bps=m.slippage_bps,
        fill_rate=m.fill_rate,
        time_to_first_fill_s=_seconds(m.timing.first),
        time_to_last_fill_s=_seconds(m.timing.last),
        commission=sum(f.commission for f in own),
        status=order.status,
        measure=m,
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
    m = measure_execution([o.measure for o in orders])
    commission = sum(o.commission for o in orders)
    realized: float | None = None
    if m.shortfall is not None:
        realized = m.shortfall + commission
    elif m.filled <= 0:
        realized = commission  # nothing traded: the cost is whatever was charged (normally 0)
    at_arrival = m.filled_at_arrival
    return ExecutionQuality(
        execution_id=orders[0].execution_id,
        card_id=next((o.card_id for o in orders if o.card_id), None),
        symbols=tuple(dict.fromkeys(o.symbol for o in orders)),
        sides=tuple(dict.fromkeys(o.side for o in orders)),
        quantity=m.quantity,
        filled_quantity=m.filled,
        arrival_price=m.arrival,
        avg_fill_price=m.average,
        slippage_bps=m.slippage_bps,
        fill_rate=m.fill_rate,
        time_to_first_fill_s=_seconds(m.time_to_first_fill),
        time_to_last_fill_s=_seconds(m.time_to_last_fill),
        commission=commission,
        realized_cost=realized,
        realized_cost_bps=realized / at_arrival * 1e4 if realized is not None and at_arrival > 0 else None,
        expected=expected,
        orders=tuple(orders),
        children=tuple(children),
        started_at=m.started,
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
        tops, subs = groups.setdefault(o.execution_id or f"\0{o.client_order_id}", ([], []))
        tops.append(order_quality(o, own, children=family))
        subs.extend(order_quality(c, by_order.get(c.client_order_id, []), parent=o) for c in family)
    out = []
    for key, (tops, subs) in groups.items():
        estimate = None if expected is None or key.startswith("\0") else expected.get(key)
        out.append(execution_quality(tops, subs, expected=estimate))
    return out


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()
