"""The console shows the engine's execution-quality numbers: the same orders and fills, measured
through the engine's report (a real SQLite database read by ``load_execution_quality``, what
``onetap report executions`` prints) and through the console (events folded into ``DeskState``,
then the execution report's ``report_for`` and the blotter's ``measure``), give equal figures.

The orders include every case the two copies used to measure differently: an execution's fill
rate (the console counted shares, the engine weighted by value at arrival), a zero-quantity order
(0.0 in the engine, unknown in the console), a child without its own arrival price (the console
took its parent's, the engine had none), a parent stored without one (the engine took its
children's, the console had none), an overfill and a fill stamped before its order (negative in
the engine, zero in the console).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.state import DeskState
from console.tca import measure
from console.widgets.exec_report import report_for
from engine.api.reports import load_execution_quality
from engine.execution.quality import ExecutionQuality, OrderQuality
from engine.model import Algo, ExecutionStatus, Fill, Order, OrderStatus, Side
from engine.model.events import ExecutionEvent, FillEvent, LegProgress, OrderEvent
from engine.model.quality import ExecutionMeasure, OrderMeasure
from engine.store.repository import Store

T0 = datetime(2024, 3, 15, 14, 30, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def book() -> tuple[list[Order], list[Fill]]:
    """Three executions' orders and fills, as the engine stores and announces them."""
    orders = [
        # EX-1: a pair. MSFT sold at once; AAPL worked by a TWAP whose first child was sent
        # without an arrival price. 30 of 44 shares is 68.2%; by value at arrival it is 68.1%.
        Order("OT-9", "MSFT", Side.SELL, 10, status=OrderStatus.FILLED, filled_quantity=10,
              avg_fill_price=404.90, execution_id="EX-1", card_id="C-1", created_at=at(1.5),
              updated_at=at(2.5), arrival_price=405.00),
        Order("OT-10", "AAPL", Side.BUY, 34, status=OrderStatus.ACKNOWLEDGED, filled_quantity=20,
              avg_fill_price=410.1225, execution_id="EX-1", card_id="C-1", created_at=at(2),
              updated_at=at(5), algo=Algo.TWAP, arrival_price=410.00),
        Order("OT-11", "AAPL", Side.BUY, 17, status=OrderStatus.FILLED, filled_quantity=17,
              avg_fill_price=410.10, execution_id="EX-1", created_at=at(2), updated_at=at(3),
              parent_id="OT-10"),
        Order("OT-12", "AAPL", Side.BUY, 17, status=OrderStatus.PARTIALLY_FILLED, filled_quantity=3,
              avg_fill_price=410.25, execution_id="EX-1", created_at=at(4), updated_at=at(5),
              parent_id="OT-10", arrival_price=410.00),
        # EX-2: a zero-quantity order, and an overfill with a fill stamped before its order.
        Order("OT-20", "IBM", Side.BUY, 0, status=OrderStatus.CANCELLED, execution_id="EX-2",
              card_id="C-2", created_at=at(10), updated_at=at(10), arrival_price=180.00),
        Order("OT-21", "IBM", Side.BUY, 10, status=OrderStatus.FILLED, filled_quantity=12,
              avg_fill_price=180.50, execution_id="EX-2", card_id="C-2", created_at=at(10),
              updated_at=at(11), arrival_price=180.00),
        # EX-3: a parent stored without an arrival price whose own update has not followed its
        # child's fill (it still says 0 filled).
        Order("OT-30", "MSFT", Side.SELL, 10, status=OrderStatus.ACKNOWLEDGED, execution_id="EX-3",
              card_id="C-3", created_at=at(20), updated_at=at(20), algo=Algo.TWAP),
        Order("OT-31", "MSFT", Side.SELL, 5, status=OrderStatus.FILLED, filled_quantity=5,
              avg_fill_price=49.95, execution_id="EX-3", created_at=at(21), updated_at=at(22),
              parent_id="OT-30", arrival_price=50.00),
    ]  # fmt: skip
    fills = [
        Fill("E-1", "OT-9", "MSFT", Side.SELL, 10, 404.90, 1.0, at(2)),
        Fill("E-2", "OT-11", "AAPL", Side.BUY, 10, 410.10, 1.0, at(2.5)),
        Fill("E-3", "OT-11", "AAPL", Side.BUY, 7, 410.10, 1.0, at(3)),
        Fill("E-4", "OT-12", "AAPL", Side.BUY, 3, 410.25, 1.0, at(5)),
        Fill("E-5", "OT-21", "IBM", Side.BUY, 12, 180.50, 1.0, at(10) - timedelta(seconds=1)),
        Fill("E-6", "OT-31", "MSFT", Side.SELL, 5, 49.95, 1.0, at(22)),
    ]
    return orders, fills


def executions(orders: list[Order]) -> list[ExecutionEvent]:
    """The engine's word on each execution, a leg per top-level order."""
    out: dict[str, list[LegProgress]] = {}
    for o in orders:
        if o.parent_id is None and o.execution_id is not None:
            leg = LegProgress(o.symbol, o.side, o.quantity, o.filled_quantity, o.avg_fill_price,
                              client_order_id=o.client_order_id)  # fmt: skip
            out.setdefault(o.execution_id, []).append(leg)
    return [
        ExecutionEvent(at(30), eid, f"C-{eid[-1]}", eid, ExecutionStatus.EXECUTING, tuple(legs))
        for eid, legs in out.items()
    ]


def engine_report(tmp_path: Path, orders: list[Order], fills: list[Fill]) -> list[ExecutionQuality]:
    path = tmp_path / "onetap.db"
    store = Store.open(path)
    try:
        for order in orders:
            store.insert_order(order)
        for fill in fills:
            assert store.insert_fill(fill)
    finally:
        store.close()
    return load_execution_quality(path, T0)


def console_state(orders: list[Order], fills: list[Fill]) -> DeskState:
    state = DeskState()
    for order in orders:
        state.apply(OrderEvent(order))
    for fill in fills:
        state.apply(FillEvent(fill))
    return state


def seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def order_figures(m: OrderMeasure) -> tuple[object, ...]:
    return (m.filled, m.average, m.arrival, m.fill_rate, m.slippage_bps, seconds(m.timing.first),
            seconds(m.timing.last))  # fmt: skip


def engine_order_figures(q: OrderQuality) -> tuple[object, ...]:
    return (q.filled_quantity, q.avg_fill_price, q.arrival_price, q.fill_rate, q.slippage_bps,
            q.time_to_first_fill_s, q.time_to_last_fill_s)  # fmt: skip


def execution_figures(m: ExecutionMeasure) -> tuple[object, ...]:
    return (m.quantity, m.filled, m.fill_rate, m.slippage_bps, seconds(m.time_to_first_fill),
            seconds(m.time_to_last_fill))  # fmt: skip


def engine_execution_figures(x: ExecutionQuality) -> tuple[object, ...]:
    return (x.quantity, x.filled_quantity, x.fill_rate, x.slippage_bps, x.time_to_first_fill_s,
            x.time_to_last_fill_s)  # fmt: skip


def approx(values: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(pytest.approx(v) if isinstance(v, float) else v for v in values)


def test_the_console_and_the_engine_report_give_the_same_figures(tmp_path: Path) -> None:
    orders, fills = book()
    engine = {x.execution_id: x for x in engine_report(tmp_path, orders, fills)}
    engine_orders = {q.client_order_id: q for x in engine.values() for q in (*x.orders, *x.children)}
    state = console_state(orders, fills)
    shown = state.orders_newest_first()
    by_id = {o.client_order_id: o for o in shown}

    assert sorted(engine) == ["EX-1", "EX-2", "EX-3"] and len(engine_orders) == len(orders)
    compared = 0
    for event in executions(orders):
        figures, rows = report_for(event, shown, state.fill_times)
        assert approx(execution_figures(figures)) == engine_execution_figures(engine[event.execution_id])
        for row in rows:
            coid = row.order.client_order_id
            expected = engine_order_figures(engine_orders[coid])
            assert approx(order_figures(row.measure)) == expected, coid
            blotter = measure(row.order, by_id, children=[o for o in shown if o.parent_id == coid])
            assert (blotter.filled, blotter.average, blotter.slippage_bps) == approx(
                expected[:2] + expected[4:5]
            )
            compared += 1
    assert compared == len(orders), "every order was measured on both sides"


def test_the_cases_they_used_to_disagree_on_have_the_one_answer(tmp_path: Path) -> None:
    orders, fills = book()
    engine = {x.execution_id: x for x in engine_report(tmp_path, orders, fills)}
    q = {o.client_order_id: o for x in engine.values() for o in (*x.orders, *x.children)}

    # by value at arrival, not by share count: (20 * 410 + 10 * 405) / (34 * 410 + 10 * 405)
    assert engine["EX-1"].fill_rate == pytest.approx(12_250 / 17_990)
    assert round(engine["EX-1"].fill_rate or 0.0, 3) == 0.681 != round(30 / 44, 3)
    # a child without an arrival price is measured against its parent's
    assert q["OT-11"].arrival_price == 410.00
    assert q["OT-11"].slippage_bps == pytest.approx((410.10 - 410.00) / 410.00 * 1e4)
    # nothing asked: the rate is unknown, not 0%
    assert q["OT-20"].fill_rate is None
    # an overfill shows above 100%; a fill stamped before its order counts as immediate
    assert q["OT-21"].fill_rate == pytest.approx(1.2)
    assert (q["OT-21"].time_to_first_fill_s, q["OT-21"].time_to_last_fill_s) == (0.0, 0.0)
    # a parent without an arrival price takes its children's, and its children's fills
    assert (q["OT-30"].arrival_price, q["OT-30"].filled_quantity) == (50.00, 5)
    assert q["OT-30"].slippage_bps == pytest.approx(10.0)

    state = console_state(orders, fills)
    (ex1,) = [e for e in executions(orders) if e.execution_id == "EX-1"]
    figures, _ = report_for(ex1, state.orders_newest_first(), state.fill_times)
    assert figures.fill_rate == engine["EX-1"].fill_rate and figures.by_value
