"""Execution quality: the one copy of its rules, read by the engine's report and the console alike.

Standard library only and no I/O, so the console (which may import ``engine.model``) and the
``onetap report executions`` command (which reads the database) measure an order with the same
code: the blotter, the execution report screen and the CLI can never show two figures for one fill.

The yardstick is **implementation shortfall** against the **arrival price** (the mid when the
order was decided, ``Order.arrival_price``): the money lost between deciding and trading, signed
so that a positive figure is a cost: a buy filled above its arrival or a sell filled below it. In
basis points ``side * (average - arrival) / arrival * 1e4``; in money the same difference times
the filled quantity and the contract multiplier (100 for an option).

Algos. A parent is never at the broker: its fills are its children's. A child is measured against
its own arrival price, else its parent's (the parent's arrival is the price the decision was made
at, which is what the whole algo is judged by); a parent stored without one takes its children's
(they are sent with the parent's).

Fill rate (the rule the console and the engine used to disagree on): ``filled / quantity`` of
the order as it was asked, not capped, and **None** (unknown) when nothing was asked:

- not 0.0 for a zero quantity: "0%" reads as "nothing of what I asked filled", which is a false
  alarm, and would pull an average down; a rate of nothing is undefined and shows blank;
- not capped at 1: an overfill (a broker filling more than was asked) is an incident the trader
  must see as more than 100%, not a quiet "done";
- an algo parent's rate is its children's fills over the *parent's* quantity: children can be
  cancelled and re-sent, so their quantities add up to more than was decided;
- an execution's rate is weighted by value at arrival (with the multiplier) when every order has
  an arrival price: a pair trade that bought 1,000 shares of a $5 stock and none of the $400 hedge
  is not "99% filled". A share count only stands in when a price is missing (and in a
  one-symbol execution the two are the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.model.enums import Side
from engine.model.options import contract_multiplier
from engine.model.orders import Fill, Order

BPS = 10_000.0


# --------------------------------------------------------------------------- the formulas
def slippage_bps(side: Side, arrival: float | None, average: float | None) -> float | None:
    """Signed shortfall in basis points (positive = cost); None when either price is unknown."""
    if arrival is None or average is None or arrival <= 0:
        return None
    return side.sign * (average - arrival) / arrival * BPS


def shortfall(
    side: Side, arrival: float | None, average: float | None, filled: float, multiplier: float = 1.0
) -> float | None:
    """The same cost in money: what the fills cost beyond filling at the arrival price.

    ``multiplier``: money per unit of price and quantity (``contract_multiplier``: 100 for an
    option). None without both prices or without a fill.
    """
    if arrival is None or average is None or arrival <= 0 or filled <= 0:
        return None
    return side.sign * (average - arrival) * filled * multiplier


def fill_rate(quantity: float, filled: float) -> float | None:
    """``filled / quantity``, uncapped; None when nothing was asked (see the module's note)."""
    return filled / quantity if quantity > 0 else None


def arrival_price(order: Order, parent: Order | None = None, children: Sequence[Order] = ()) -> float | None:
    """The order's own arrival price, else its parent's, else its children's (see the module's note).

    A price that is not positive is no price: a zero would turn every fill into a huge "cost".
    """
    for candidate in (order, parent, *children):
        if candidate is not None and candidate.arrival_price is not None and candidate.arrival_price > 0:
            return candidate.arrival_price
    return None


def filled_and_average(
    order: Order, children: Sequence[Order] = (), fills: Sequence[Fill] = ()
) -> tuple[float, float | None]:
    """Filled quantity and average price of an order (for a parent, of its children's executions).

    ``fills`` (the order's and its children's execution records) are the most precise source:
    each execution at its own price. Without them, the order's own cumulative figures; and for a
    parent that reports none yet (its update has not followed its children's), the
    quantity-weighted figures of its children.
    """
    if fills:
        filled = sum(f.quantity for f in fills)
        if filled <= 0:
            return 0.0, None
        return filled, sum(f.quantity * f.price for f in fills) / filled
    if order.filled_quantity > 0 or not children:
        return order.filled_quantity, order.avg_fill_price
    priced = [c for c in children if c.avg_fill_price is not None and c.filled_quantity > 0]
    filled = sum(c.filled_quantity for c in priced)
    if filled <= 0:
        return 0.0, None
    return filled, sum(c.filled_quantity * (c.avg_fill_price or 0.0) for c in priced) / filled


# --------------------------------------------------------------------------- time to fill
@dataclass(frozen=True, slots=True)
class FillSpan:
    """When an order's fills (its own or its children's) came: the first and the last."""

    first: datetime
    last: datetime

    @classmethod
    def of(cls, times: Iterable[datetime]) -> FillSpan | None:
        stamps = list(times)
        return cls(min(stamps), max(stamps)) if stamps else None

    def union(self, other: FillSpan | None) -> FillSpan:
        if other is None:
            return self
        return FillSpan(min(self.first, other.first), max(self.last, other.last))


@dataclass(frozen=True, slots=True)
class Timing:
    """Time from an order's creation to its first and last fill.

    ``estimated`` when no fill was seen and the last fill is taken from the order's own times (a
    filled order's last update is its last fill): the console marks such a figure.
    """

    first: timedelta | None
    last: timedelta | None
    estimated: bool = False


def fill_timing(order: Order, span: FillSpan | None, filled: float) -> Timing:
    """From the fills seen (``span``), else estimated from the order's last update.

    Never negative: a fill stamped before the order's creation (the broker's clock against ours)
    counts as immediate.
    """
    start = order.created_at
    if start is None:
        return Timing(None, None)
    if span is not None:
        return Timing(max(span.first - start, timedelta(0)), max(span.last - start, timedelta(0)))
    if filled > 0 and order.updated_at is not None:
        return Timing(None, max(order.updated_at - start, timedelta(0)), estimated=True)
    return Timing(None, None)


# --------------------------------------------------------------------------- one order
@dataclass(frozen=True, slots=True)
class OrderMeasure:
    """Every execution-quality figure of one order (a parent: with its children's fills)."""

    symbol: str
    side: Side
    quantity: float
    filled: float
    average: float | None
    arrival: float | None
    fill_rate: float | None
    slippage_bps: float | None
    shortfall: float | None
    """``slippage_bps`` in money (positive = cost)."""
    timing: Timing
    created_at: datetime | None
    span: FillSpan | None
    """The fills seen, for an execution's time to fill."""

    @property
    def multiplier(self) -> float:
        return contract_multiplier(self.symbol)

    @property
    def filled_at_arrival(self) -> float:
        """The filled quantity's value at the arrival price (0 without one): the weight of its cost."""
        return self.filled * (self.arrival or 0.0) * self.multiplier

    @property
    def ordered_at_arrival(self) -> float:
        return self.quantity * (self.arrival or 0.0) * self.multiplier


def measure_order(
    order: Order,
    *,
    parent: Order | None = None,
    children: Sequence[Order] = (),
    fills: Sequence[Fill] = (),
    span: FillSpan | None = None,
) -> OrderMeasure:
    """Measure ``order``: ``parent`` if it is an algo's child, ``children`` if it is a parent,
    ``fills`` the execution records of it and its children when they are at hand (the database),
    ``span`` the fills' times when only those were seen (the console); from ``fills`` otherwise."""
    filled, average = filled_and_average(order, children, fills)
    arrival = arrival_price(order, parent, children)
    multiplier = contract_multiplier(order.symbol)
    if span is None:
        span = FillSpan.of(f.ts for f in fills)
    return OrderMeasure(
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        filled=filled,
        average=average,
        arrival=arrival,
        fill_rate=fill_rate(order.quantity, filled),
        slippage_bps=slippage_bps(order.side, arrival, average) if filled > 0 else None,
        shortfall=shortfall(order.side, arrival, average, filled, multiplier),
        timing=fill_timing(order, span, filled),
        created_at=order.created_at,
        span=span,
    )


# --------------------------------------------------------------------------- one execution
@dataclass(frozen=True, slots=True)
class ExecutionMeasure:
    """One execution (a card's top-level orders: plain orders and algo parents), aggregated.

    Slippage is the shortfall of every order with an arrival price and a fill over the value of
    those fills at arrival, so a large leg weighs more than a small one; ``arrival`` and
    ``average`` are only given when every order is in one symbol (a price across symbols means
    nothing).
    """

    quantity: float
    filled: float
    fill_rate: float | None
    by_value: bool
    """``fill_rate`` is weighted by value at arrival (else it is ``filled / quantity``)."""
    arrival: float | None
    average: float | None
    slippage_bps: float | None
    shortfall: float | None
    filled_at_arrival: float
    """The value at arrival of what was filled (of the orders with a shortfall): the bps base."""
    started: datetime | None
    """The first order's creation."""
    time_to_first_fill: timedelta | None
    time_to_last_fill: timedelta | None
    """From ``started`` to the last fill seen: how long the whole execution took."""


def measure_execution(orders: Sequence[OrderMeasure]) -> ExecutionMeasure:
    """Aggregate an execution's top-level orders (children are inside their parents' figures)."""
    quantity = sum(o.quantity for o in orders)
    filled = sum(o.filled for o in orders)
    costed = [o for o in orders if o.shortfall is not None]
    at_arrival = sum(o.filled_at_arrival for o in costed)
    cost = sum(o.shortfall or 0.0 for o in costed) if costed else None
    priced = all(o.arrival is not None for o in orders)
    ordered_value = sum(o.ordered_at_arrival for o in orders)
    by_value = bool(orders) and priced and ordered_value > 0
    if by_value:
        rate: float | None = sum(o.filled_at_arrival for o in orders) / ordered_value
    else:
        rate = fill_rate(quantity, filled)
    arrival = average = None
    if len({o.symbol for o in orders}) == 1:
        if priced and quantity > 0:
            arrival = sum(o.quantity * (o.arrival or 0.0) for o in orders) / quantity
        with_average = [o for o in orders if o.average is not None and o.filled > 0]
        if with_average:
            average = sum(o.filled * (o.average or 0.0) for o in with_average) / sum(
                o.filled for o in with_average
            )
    starts = [o.created_at for o in orders if o.created_at is not None]
    started = min(starts) if starts else None
    spans = [o.span for o in orders if o.span is not None]
    first = last = None
    if started is not None and spans:
        first = max(min(s.first for s in spans) - started, timedelta(0))
        last = max(max(s.last for s in spans) - started, timedelta(0))
    return ExecutionMeasure(
        quantity=quantity,
        filled=filled,
        fill_rate=rate,
        by_value=by_value,
        arrival=arrival,
        average=average,
        slippage_bps=(cost / at_arrival * BPS) if cost is not None and at_arrival > 0 else None,
        shortfall=cost,
        filled_at_arrival=at_arrival,
        started=started,
        time_to_first_fill=first,
        time_to_last_fill=last,
    )
