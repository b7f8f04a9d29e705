"""The hash-chained audit log: the pure chain first, then the chain as the store keeps it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.model import CommandSource, Side
from engine.store import Store, StoreError
from engine.store.audit import (
    GENESIS_HASH,
    Anchor,
    AuditEntry,
    anchor_path,
    canonical_json,
    read_anchor,
    seal,
    verify,
    write_anchor,
)
from tests.engine.store.conftest import T0, make_order


def _chain(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        entry = seal(
            seq=seq,
            prev_hash=prev,
            ts=T0 + timedelta(seconds=seq),
            actor="operator",
            source="hotkey",
            action="execute_card",
            payload={"card_id": f"c-{seq}", "n": seq},
        )
        entries.append(entry)
        prev = entry.hash
    return entries


# --------------------------------------------------------------------------- pure chain
def test_hash_is_sha256_of_prev_hash_and_canonical_entry() -> None:
    entry = _chain(1)[0]
    body = {
        "seq": 1,
        "ts": "2024-03-04T14:30:01.123456+00:00",
        "actor": "operator",
        "source": "hotkey",
        "action": "execute_card",
        "payload": {"card_id": "c-1", "n": 1},
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert entry.prev_hash == "0" * 64
    assert entry.hash == hashlib.sha256((GENESIS_HASH + text).encode()).hexdigest()
    assert entry.payload_json == canonical_json({"n": 1, "card_id": "c-1"}) == '{"card_id":"c-1","n":1}'


def test_pure_chain_verifies() -> None:
    result = verify(_chain(5))
    assert result.ok and result.count == 5 and result.first_bad_seq is None
    assert "no anchor" in result.message


def test_empty_chain_verifies() -> None:
    assert verify([]).ok


@pytest.mark.parametrize("field", ["ts", "actor", "source", "action", "payload_json", "prev_hash", "hash"])
def test_any_changed_field_is_caught(field: str) -> None:
    entries = _chain(6)
    victim = entries[3]
    text = getattr(victim, field)
    changed = text[:-2] + ("0" if text[-2] != "0" else "1") + text[-1:]
    entries[3] = dataclasses.replace(victim, **{field: changed})
    result = verify(entries)
    assert not result.ok
    assert result.first_bad_seq == 4


def test_changed_seq_is_caught() -> None:
    entries = _chain(4)
    entries[3] = dataclasses.replace(entries[3], seq=5)
    result = verify(entries)
    assert not result.ok and result.first_bad_seq == 4


def test_payload_with_model_values_and_odd_keys_verifies() -> None:
    # int keys are outside the declared type but happen in practice; they must not break the chain
    payload: dict[Any, object] = {
        "order": make_order("OT-1"),
        "side": Side.SELL,
        10: "ten",
        2: "two",
        "at": T0,
    }
    entry = seal(
        seq=1,
        prev_hash=GENESIS_HASH,
        ts=T0,
        actor="engine",
        source=CommandSource.ENGINE,
        action="order",
        payload=payload,
    )
    assert entry.source == "engine"
    assert json.loads(entry.payload_json)["order"]["client_order_id"] == "OT-1"
    assert verify([entry]).ok


def test_anchor_catches_a_cut_tail() -> None:
    entries = _chain(10)
    anchor = Anchor(count=10, last_seq=10, last_hash=entries[-1].hash)
    assert verify(entries, anchor).ok
    result = verify(entries[:7], anchor)
    assert not result.ok
    assert result.first_bad_seq == 8
    assert "tail was cut" in result.message


def test_anchor_catches_a_rewritten_chain() -> None:
    real = _chain(3)
    forged = [
        seal(seq=e.seq, prev_hash=p, ts=T0, actor="mallory", source="cli", action="x", payload={})
        for e, p in zip(real, [GENESIS_HASH], strict=False)
    ]
    anchor = Anchor(count=1, last_seq=1, last_hash=real[0].hash)
    result = verify(forged, anchor)
    assert not result.ok and result.first_bad_seq == 1


def test_anchor_file_round_trip_and_mode(tmp_path: Path) -> None:
    path = anchor_path(tmp_path / "onetap.db")
    assert path == tmp_path / "onetap.db.audit.anchor"
    assert read_anchor(path) is None
    write_anchor(path, Anchor(3, 3, "ab" * 32))
    write_anchor(path, Anchor(4, 4, "cd" * 32))
    assert read_anchor(path) == Anchor(4, 4, "cd" * 32)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onetap.db.audit.anchor"]  # no temp left
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not an audit anchor"):
        read_anchor(path)


# --------------------------------------------------------------------------- the stored chain
def _append_20(store: Store) -> None:
    for i in range(1, 21):
        store.append_audit(
            T0 + timedelta(seconds=i), "operator", "hotkey", "execute_card", {"card_id": f"c-{i}", "n": i}
        )


def _sql(db_path: Path, statement: str) -> None:
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(statement)
    conn.close()


def test_stored_chain_of_20_verifies(store: Store, db_path: Path) -> None:
    _append_20(store)
    result = store.verify_audit()
    assert result.ok, result.message
    assert result.count == 20 == store.audit_count()
    assert read_anchor(anchor_path(db_path)) is not None


def test_append_returns_the_record(store: Store) -> None:
    first = store.append_audit(T0, "operator", CommandSource.HOTKEY, "kill", {"reason": "test"})
    second = store.append_audit(T0, "engine", "engine", "cancel_all", {"orders": ["OT-1", "OT-2"]})
    assert first.seq == 1 and first.prev_hash == GENESIS_HASH
    assert first.ts == T0 and first.source == "hotkey" and first.payload == {"reason": "test"}
    assert second.seq == 2 and second.prev_hash == first.hash
    assert store.load_audit() == [first, second]
    assert store.load_audit(limit=1) == [second]


def test_changed_payload_byte_names_the_entry(store: Store, db_path: Path) -> None:
    _append_20(store)
    _sql(db_path, "UPDATE audit_events SET payload_json = replace(payload_json, 'c-7', 'c-8') WHERE seq = 7")
    result = store.verify_audit()
    assert not result.ok
    assert result.first_bad_seq == 7
    assert "7" in result.message


def test_whitespace_added_to_a_payload_is_caught(store: Store, db_path: Path) -> None:
    _append_20(store)
    _sql(db_path, "UPDATE audit_events SET payload_json = replace(payload_json, ':', ': ') WHERE seq = 12")
    result = store.verify_audit()
    assert not result.ok and result.first_bad_seq == 12


def test_deleted_middle_entry_is_caught(store: Store, db_path: Path) -> None:
    _append_20(store)
    _sql(db_path, "DELETE FROM audit_events WHERE seq = 10")
    result = store.verify_audit()
    assert not result.ok
    assert result.first_bad_seq == 10
    assert "missing" in result.message


def test_deleted_first_entry_is_caught(store: Store, db_path: Path) -> None:
    _append_20(store)
    _sql(db_path, "DELETE FROM audit_events WHERE seq = 1")
    result = store.verify_audit()
    assert not result.ok and result.first_bad_seq == 1


def test_cut_tail_is_caught_by_the_anchor(store: Store, db_path: Path) -> None:
    _append_20(store)
    _sql(db_path, "DELETE FROM audit_events WHERE seq > 17")
    result = store.verify_audit()
    assert not result.ok
    assert result.first_bad_seq == 18
    assert result.count == 17
    assert "tail was cut" in result.message


def test_cut_tail_then_new_appends_leave_a_gap(store: Store, db_path: Path) -> None:
    _append_20(store)
    _sql(db_path, "DELETE FROM audit_events WHERE seq > 17")
    record = store.append_audit(T0, "operator", "cli", "resume", {})
    assert record.seq == 21  # seqs are never handed out twice
    result = store.verify_audit()
    assert not result.ok and result.first_bad_seq == 18


def test_chain_continues_across_reopen(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.append_audit(T0, "operator", "hotkey", "kill", {})
    with Store.open(db_path) as store:
        record = store.append_audit(T0, "operator", "hotkey", "reset_kill", {})
        assert record.seq == 2
        assert store.verify_audit().ok


def test_missing_anchor_fails_verification(store: Store, db_path: Path) -> None:
    _append_20(store)
    anchor_path(db_path).unlink()
    result = store.verify_audit()
    assert not result.ok and "there is no anchor file" in result.message


def test_damaged_anchor_fails_verification(store: Store, db_path: Path) -> None:
    _append_20(store)
    anchor_path(db_path).write_text("garbage")
    result = store.verify_audit()
    assert not result.ok and "anchor" in result.message


def test_unserialisable_payload_is_refused_and_nothing_written(store: Store) -> None:
    with pytest.raises(StoreError, match="JSON"):
        store.append_audit(T0, "operator", "hotkey", "odd", {"x": object()})
    assert store.audit_count() == 0


def test_opening_the_store_removes_anchor_temps_that_crashed_writers_left(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "onetap.db"
    Store.open(db).close()
    anchor = anchor_path(db)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)  # exited: its temp is an orphan
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        orphan = anchor.with_name(f".{anchor.name}.{dead_pid}.tmp")
        writing = anchor.with_name(f".{anchor.name}.{live.pid}.tmp")
        unrelated = anchor.with_name(f".{anchor.name}.notapid.tmp")
        for path in (orphan, writing, unrelated):
            path.write_text("{}")
        store = Store.open(db)
        store.close()
        assert not orphan.exists()
        assert writing.exists() and unrelated.exists()  # a live writer's temp is about to be renamed
    finally:
        live.kill()
        live.wait()
    Store.open(db).close()
    assert not writing.exists()  # its writer is gone now
