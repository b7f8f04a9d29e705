"""Brokers replay executions after reconnects, in any order: each exec_id must land exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.model import Fill, Side
from engine.store import Store
from tests.engine.store.conftest import T0, make_order

_EXEC_IDS = [f"E{i}" for i in range(8)]


def _fill(exec_id: str, variant: int) -> Fill:
    n = int(exec_id[1:])
    return Fill(
        exec_id=exec_id,
        client_order_id="OT-1" if n % 2 else "OT-2",
        symbol="SPY",
        side=Side.BUY,
        quantity=1.0 + n,
        price=100.0 + variant,  # a replay may carry different numbers; the first one stored wins
        commission=0.01 * n,
        ts=T0 + timedelta(seconds=n, microseconds=variant),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrivals=st.lists(st.tuples(st.sampled_from(_EXEC_IDS), st.integers(0, 3)), max_size=30))
def test_each_exec_id_is_stored_exactly_once(
    arrivals: list[tuple[str, int]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("fills") / "onetap.db"
    with Store.open(path) as store:
        store.insert_order(make_order("OT-1"))
        store.insert_order(make_order("OT-2"))
        first_seen: dict[str, Fill] = {}
        for exec_id, variant in arrivals:
            fill = _fill(exec_id, variant)
            is_new = exec_id not in first_seen
            first_seen.setdefault(exec_id, fill)
            assert store.insert_fill(fill) is is_new
        stored = store.load_fills()
    assert [f.exec_id for f in stored] == list(first_seen)  # once each, in arrival order
    assert stored == list(first_seen.values())
