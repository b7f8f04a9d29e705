"""``Store.batch``: many writes, one transaction: the kill switch's burst costs one fsync."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.model import OrderStatus
from engine.store import Store, StoreError
from engine.store.audit import anchor_path, read_anchor
from tests.engine.store.conftest import T0, make_order


def test_batched_updates_and_audit_entries_commit_together_and_verify(store: Store, db_path: Path) -> None:
    for i in range(5):
        store.insert_order(make_order(f"OT-{i}"))
    store.append_audit(T0, "alice", "hotkey", "before", {})
    with store.batch("kill switch"):
        for i in range(5):
            store.update_order(replace(make_order(f"OT-{i}"), status=OrderStatus.CANCELLED))
            store.append_audit(T0, "engine", "engine", "order", {"coid": f"OT-{i}"})
        inside = store.get_order("OT-4")
        assert inside is not None and inside.status is OrderStatus.CANCELLED, "reads see the batch"
    store.append_audit(T0, "alice", "hotkey", "after", {})
    assert all(o.status is OrderStatus.CANCELLED for o in store.load_orders())
    assert [a.action for a in store.load_audit()] == ["before", *["order"] * 5, "after"]
    assert store.verify_audit().ok
    anchor = read_anchor(anchor_path(db_path))
    assert anchor is not None and anchor.count == 7


def test_a_failing_batch_stores_nothing_of_it(store: Store) -> None:
    store.insert_order(make_order("OT-1"))
    store.append_audit(T0, "alice", "hotkey", "before", {})
    with pytest.raises(StoreError), store.batch("kill switch"):
        store.update_order(replace(make_order("OT-1"), status=OrderStatus.CANCELLED))
        store.append_audit(T0, "engine", "engine", "order", {"coid": "OT-1"})
        store.update_order(make_order("OT-404"))  # never inserted: the batch fails
    stored = store.get_order("OT-1")
    assert stored is not None and stored.status is OrderStatus.INTENT
    assert [a.action for a in store.load_audit()] == ["before"]
    store.append_audit(T0, "alice", "hotkey", "after", {})
    assert store.verify_audit().ok
