"""The order state machine: every allowed transition, the forbidden ones, and broker chaos.

The property test drives a real OrderManager on a real SQLite store with random sequences of
broker reports (duplicated, reordered, late) and checks that no fill is counted twice, the
ledger's position equals the sum of distinct fills, and no terminal order ever moves again.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.brokers.base import (
    BrokerPosition,
    BrokerReport,
    OrderAcknowledged,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    Reporter,
)
from engine.clock import SimulatedClock
from engine.execution.order_manager import OrderManager
from engine.execution.state_machine import TRANSITIONS, can_transition
from engine.model import Fill, Order, OrderRequest, OrderStatus, Side
from engine.store import Store

S = OrderStatus
T0 = datetime(2012, 3, 1, 15, 0, tzinfo=UTC)
# sorted: the same test ids in every process (pytest-xdist compares them)
ALLOWED = [(old, new) for old, targets in TRANSITIONS.items() for new in sorted(targets)]
FORBIDDEN = [
    (old, new)
    for old, new in itertools.product(TRANSITIONS, OrderStatus)
    if new not in TRANSITIONS[old] and old != new
]


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=[f"{o}->{n}" for o, n in ALLOWED])
def test_every_transition_in_the_table_is_allowed(old: OrderStatus, new: OrderStatus) -> None:
    assert can_transition(old, new)


@pytest.mark.parametrize(("old", "new"), FORBIDDEN[::3], ids=[f"{o}->{n}" for o, n in FORBIDDEN[::3]])
def test_a_sample_of_forbidden_transitions_is_refused(old: OrderStatus, new: OrderStatus) -> None:
    assert not can_transition(old, new)


def test_terminal_states_are_final_and_every_state_has_a_row() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    for status in OrderStatus:
        if status.is_terminal:
            assert TRANSITIONS[status] == frozenset(), status


class SilentBroker:
    """Accepts every request and reports nothing by itself: the test plays the broker's reports."""

    name = "silent"

    def __init__(self) -> None:
        self.reporter: Reporter | None = None

    def set_reporter(self, reporter: Reporter) -> None:
        self.reporter = reporter

    async def connect(self) -> None: ...
    async def disconnect(self) -> None: ...
    async def submit(self, order: Order) -> None: ...
    async def cancel(self, client_order_id: str) -> None: ...
    async def modify(self, client_order_id: str, *, quantity: float, limit_price: float | None) -> None: ...

    async def open_orders(self) -> list[Order]:
        return []

    async def positions(self) -> list[BrokerPosition]:
        return []

    async def cash(self) -> float:
        return 0.0

    async def executions(self) -> list[Fill]:
        return []


def _fill(coid: str, n: int, qty: float) -> OrderFilled:
    return OrderFilled(Fill(f"E-{coid}-{n}", coid, "AAPL", Side.BUY, qty, 100.0 + n, 0.5, T0))


REPORTS = st.lists(
    st.one_of(
        st.tuples(st.just("ack"), st.integers(0, 2)),
        st.tuples(st.just("fill"), st.integers(0, 2), st.integers(0, 3)),
        st.tuples(st.just("cancel"), st.integers(0, 2)),
        st.tuples(st.just("reject"), st.integers(0, 2)),
        st.tuples(st.just("expire"), st.integers(0, 2)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=REPORTS)
def test_duplicated_and_reordered_reports_never_double_count(
    tmp_path: Path, script: list[tuple[object, ...]]
) -> None:
    applied, distinct_fill_reports = asyncio.run(_play(tmp_path, script))
    assert applied == distinct_fill_reports, "each distinct execution is applied exactly once"


async def _play(tmp_path: Path, script: list[tuple[object, ...]]) -> tuple[int, int]:
    """Play the script; returns (fills applied, distinct fill reports), checking as it goes."""
    db = tmp_path / f"sm-{abs(hash(tuple(script)))}.db"
    store = Store.open(db)
    try:
        broker = SilentBroker()
        fills: list[Fill] = []
        manager = OrderManager(store, broker, SimulatedClock(T0), lambda _e: None, fills.append)
        orders = [await manager.submit(OrderRequest("AAPL", Side.BUY, 4.0)) for _ in range(3)]
        finished: dict[str, OrderStatus] = {}
        for step in script:
            kind, index = str(step[0]), int(step[1])  # type: ignore[call-overload]
            coid = orders[index].client_order_id
            report: BrokerReport
            if kind == "ack":
                report = OrderAcknowledged(coid, f"B-{index}")
            elif kind == "fill":
                report = _fill(coid, int(step[2]), 1.0)  # type: ignore[call-overload]
            elif kind == "cancel":
                report = OrderCancelled(coid)
            elif kind == "reject":
                report = OrderRejected(coid, "test")
            else:
                report = OrderExpired(coid)
            manager.on_report(report)
            for order in orders:
                current = manager.get(order.client_order_id) or order
                if order.client_order_id in finished and finished[order.client_order_id] is not S.FILLED:
                    # a terminal order only ever moves on to FILLED (a late fill of a cancelled order)
                    assert current.status in (finished[order.client_order_id], S.FILLED)
                if current.status.is_terminal:
                    finished.setdefault(order.client_order_id, current.status)
        distinct = {f.exec_id for f in fills}
        assert len(distinct) == len(fills), "a fill was applied twice"
        stored = store.load_fills()
        assert sorted(f.exec_id for f in stored) == sorted(distinct)
        for order in orders:
            current = manager.get(order.client_order_id) or store.get_order(order.client_order_id)
            assert current is not None
            mine = [f for f in fills if f.client_order_id == order.client_order_id]
            assert current.filled_quantity == pytest.approx(sum(f.quantity for f in mine))
            persisted = store.get_order(order.client_order_id)
            assert persisted is not None and persisted.status is current.status
        reported = {(int(s[1]), int(s[2])) for s in script if s[0] == "fill"}  # type: ignore[call-overload]
        return len(fills), len(reported)
    finally:
        store.close()
