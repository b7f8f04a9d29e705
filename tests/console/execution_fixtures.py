"""Hand-built orders, fills, executions and reconciliation summaries for the console's execution
tests and snapshot: fixed prices, fixed times, so what the screens draw depends on this file alone.

The book: a two-leg card executing. Its AAPL leg is a TWAP parent (``OT-10``, arrival 410.00)
worked by two child orders, one filled (``OT-11``, 17 @ 410.10) and one partly filled
(``OT-12``, 3 of 17 @ 410.25), so the parent has 20 of 34 at 410.1225: a buy above its arrival,
about +3.0 bps of cost. Its MSFT leg is an immediate sell (``OT-9``, arrival 405.00) filled at
404.90: a sell below its arrival, about +2.5 bps of cost. The desk tests' two orders
(``OT-1`` filled, ``OT-2`` a working LMT without an arrival price) stay in the blotter.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from engine.model import (
    Algo,
    ExecutionStatus,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Side,
)
from engine.model.events import (
    ExecutionEvent,
    FillEvent,
    LegProgress,
    ReconciliationSummary,
    SnapshotEvent,
)
from tests.console.helpers import T0
from tests.console.test_widgets import snapshot


def at(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def algo_orders() -> tuple[Order, ...]:
    """The TWAP parent, its two children and the immediate MSFT sell, as the engine reports them."""
    parent = Order(
        client_order_id="OT-10",
        symbol="AAPL",
        side=Side.BUY,
        quantity=34,
        order_type=OrderType.LMT,
        limit_price=411.00,
        status=OrderStatus.ACKNOWLEDGED,
        filled_quantity=20,
        avg_fill_price=410.1225,
        execution_id="EX-1",
        card_id="C-1",
        created_at=T0 + at(2),
        updated_at=T0 + at(5),
        algo=Algo.TWAP,
        arrival_price=410.00,
    )
    first = Order(
        client_order_id="OT-11",
        symbol="AAPL",
        side=Side.BUY,
        quantity=17,
        order_type=OrderType.LMT,
        limit_price=410.10,
        status=OrderStatus.FILLED,
        filled_quantity=17,
        avg_fill_price=410.10,
        execution_id="EX-1",
        created_at=T0 + at(2),
        updated_at=T0 + at(3),
        parent_id="OT-10",
    )
    second = Order(
        client_order_id="OT-12",
        symbol="AAPL",
        side=Side.BUY,
        quantity=17,
        order_type=OrderType.LMT,
        limit_price=410.30,
        status=OrderStatus.PARTIALLY_FILLED,
        filled_quantity=3,
        avg_fill_price=410.25,
        execution_id="EX-1",
        created_at=T0 + at(4),
        updated_at=T0 + at(5),
        parent_id="OT-10",
    )
    sell = Order(
        client_order_id="OT-9",
        symbol="MSFT",
        side=Side.SELL,
        quantity=10,
        order_type=OrderType.MKT,
        status=OrderStatus.FILLED,
        filled_quantity=10,
        avg_fill_price=404.90,
        execution_id="EX-1",
        card_id="C-1",
        created_at=T0 + at(1.5),
        updated_at=T0 + at(2.5),
        arrival_price=405.00,
    )
    return (sell, parent, first, second)


def fills() -> tuple[FillEvent, ...]:
    """The fills behind the orders above, in the order they arrived."""
    return (
        FillEvent(Fill("E-1", "OT-9", "MSFT", Side.SELL, 10, 404.90, 1.0, T0 + at(2))),
        FillEvent(Fill("E-2", "OT-11", "AAPL", Side.BUY, 10, 410.10, 1.0, T0 + at(2.5))),
        FillEvent(Fill("E-3", "OT-11", "AAPL", Side.BUY, 7, 410.10, 1.0, T0 + at(3))),
        FillEvent(Fill("E-4", "OT-12", "AAPL", Side.BUY, 3, 410.25, 1.0, T0 + at(5))),
    )


def legs(
    aapl: tuple[float, float | None, str] = (20, 410.12, "WORKING"),
    msft: tuple[float, float | None, str] = (10, 404.90, "FILLED"),
) -> tuple[LegProgress, ...]:
    """The card's two legs as far as they got: (filled, average price, status) each."""
    return (
        LegProgress("AAPL", Side.BUY, 34, aapl[0], aapl[1], aapl[2], Algo.TWAP, "OT-10"),
        LegProgress("MSFT", Side.SELL, 10, msft[0], msft[1], msft[2], Algo.IMMEDIATE, "OT-9"),
    )


def execution(
    status: ExecutionStatus = ExecutionStatus.EXECUTING,
    *,
    execution_id: str = "EX-1",
    minutes: float = 5,
    message: str = "",
    leg_progress: tuple[LegProgress, ...] | None = None,
) -> ExecutionEvent:
    return ExecutionEvent(
        ts=T0 + at(minutes),
        execution_id=execution_id,
        card_id="C-1",
        name="Pair AAPL/MSFT",
        status=status,
        legs=legs() if leg_progress is None else leg_progress,
        message=message,
    )


def algo_snapshot(*, reconciliation: ReconciliationSummary | None = None) -> SnapshotEvent:
    """The desk tests' snapshot with the algo orders in the blotter and the execution running."""
    base = snapshot()
    return replace(
        base,
        orders=(*base.orders, *algo_orders()),
        executions=(execution(),),
        reconciliation=reconciliation,
    )


def reconciliation(*, problems: tuple[str, ...] = (), approved: bool = False) -> ReconciliationSummary:
    """A restart that found something of every kind."""
    return ReconciliationSummary(
        ts=T0,
        open_orders_matched=3,
        fills_applied=("E-77", "E-78"),
        lost=("OT-41",),
        external=("9001", "9002"),
        position_mismatches=("AAPL: engine 10, broker 12",),
        cancels_sent=1,
        approved=approved,
        problems=problems,
    )
