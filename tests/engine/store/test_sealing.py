"""Tamper evidence that survives: verify before append, the keyed anchor, the witness.

Every tamper kind is made on a real SQLite file (and real anchor, key and witness files under
tmp_path), then shown caught by ``verify_database`` (what ``onetap audit verify`` runs), and still
caught after the store was opened for writing and asked to append: the chain and its anchor are
kept byte for byte and the append lands in the held file instead.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from engine.api.auditing import verify_database
from engine.store import Store
from engine.store.audit import Anchor, anchor_path, entry_hash, read_anchor, write_anchor
from engine.store.sealing import AuditProtection, load_key, load_or_create_key, read_witness
from tests.engine.store.conftest import T0

N = 20


@pytest.fixture
def protection(tmp_path: Path) -> AuditProtection:
    folder = tmp_path / "config" / "onetap"
    return AuditProtection(folder / "audit.key", folder / "audit.witness")


@pytest.fixture
def db(db_path: Path, protection: AuditProtection) -> Path:
    with Store.open(db_path, protection=protection) as store:
        for i in range(1, N + 1):
            store.append_audit(
                T0 + timedelta(seconds=i), "alice", "hotkey", "execute_card", {"card_id": f"c-{i}", "n": i}
            )
    return db_path


def _sql(db: Path, statement: str, *args: object) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(statement, args)
    conn.close()


def _rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute("SELECT * FROM audit_events ORDER BY seq"))
    finally:
        conn.close()


def _rehash_from(db: Path, seq: int) -> str:
    """Change entry ``seq``'s payload and rebuild every hash after it: a chain that walks clean.

    Returns the new hash of the last entry.
    """
    conn = sqlite3.connect(db)
    prev = "0" * 64
    with conn:
        rows = list(
            conn.execute("SELECT seq, ts, actor, source, action, payload_json FROM audit_events ORDER BY seq")
        )
        for s, ts, actor, source, action, payload_json in rows:
            payload = json.loads(payload_json)
            if s == seq:
                payload["card_id"] = "forged"
            text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
            digest = entry_hash(prev, s, ts, actor, source, action, payload)
            conn.execute(
                "UPDATE audit_events SET payload_json = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (text, prev, digest, s),
            )
            prev = digest
    conn.close()
    return prev


# --------------------------------------------------------------------------- the tamper kinds
def _changed_byte(db: Path) -> None:
    """One byte of entry 7: the last digit of its timestamp."""
    _sql(
        db,
        "UPDATE audit_events SET ts = substr(ts, 1, length(ts) - 1) "
        "|| CASE substr(ts, -1) WHEN '0' THEN '1' ELSE '0' END WHERE seq = 7",
    )


def _deleted_row(db: Path) -> None:
    _sql(db, "DELETE FROM audit_events WHERE seq = 10")


def _cut_tail(db: Path) -> None:
    _sql(db, "DELETE FROM audit_events WHERE seq > 17")


def _deleted_anchor(db: Path) -> None:
    anchor_path(db).unlink()


def _edited_anchor(db: Path) -> None:
    """Cut the tail and move the (keyed) anchor to the new end, keeping its MAC: the MAC no longer fits."""
    _cut_tail(db)
    old = read_anchor(anchor_path(db))
    assert old is not None and old.keyed
    last_hash = str(_rows(db)[-1][-1])
    write_anchor(anchor_path(db), Anchor(17, 17, last_hash, old.mac, old.key_id))


def _rehashed_anchor_deleted(db: Path) -> None:
    _rehash_from(db, 5)
    anchor_path(db).unlink()


def _rehashed_unkeyed_anchor(db: Path) -> None:
    last_hash = _rehash_from(db, 5)
    write_anchor(anchor_path(db), Anchor(N, N, last_hash))


TAMPERS: dict[str, tuple[Callable[[Path], None], str]] = {
    "changed byte": (_changed_byte, "entry 7 (seq 7) is altered"),
    "deleted row": (_deleted_row, "entry 10 (seq 10) is missing"),
    "cut tail": (_cut_tail, "the tail was cut"),
    "deleted anchor": (_deleted_anchor, "there is no anchor file"),
    "edited anchor": (_edited_anchor, "does not carry a valid MAC"),
    "re-hashed chain, anchor deleted": (_rehashed_anchor_deleted, "differs from the witness"),
    "re-hashed chain, unkeyed anchor": (_rehashed_unkeyed_anchor, "is not keyed, but the witness"),
}


def _evidence(db: Path) -> tuple[list[tuple[object, ...]], bytes | None]:
    anchor = anchor_path(db)
    return _rows(db), anchor.read_bytes() if anchor.exists() else None


@pytest.mark.parametrize("kind", list(TAMPERS))
def test_every_tamper_kind_is_caught_and_survives_an_append(
    kind: str, db: Path, protection: AuditProtection
) -> None:
    assert verify_database(db, protection).ok  # intact before
    tamper, expected = TAMPERS[kind]
    tamper(db)
    before = verify_database(db, protection)
    assert not before.ok and expected in before.line, before.line
    evidence = _evidence(db)

    with Store.open(db, verify=True, protection=protection) as store:
        assert store.audit_sealed
        assert any(expected in p for p in store.integrity_problems), store.integrity_problems
        record = store.append_audit(T0 + timedelta(hours=1), "engine", "engine", "engine_start", {})
        store.append_audit(T0 + timedelta(hours=1), "alice", "cli", "halt", {"reason": "kill"})
        assert not store.verify_audit().ok

    assert _evidence(db) == evidence  # the chain and the anchor exactly as found
    after = verify_database(db, protection)
    assert not after.ok and expected in after.line
    assert "2 later entries were recorded aside" in after.line
    held = [json.loads(line) for line in (db.with_name("onetap.db.audit.held")).read_text().splitlines()]
    assert [h["action"] for h in held] == ["engine_start", "halt"]
    assert held[0]["hash"] == record.hash and held[1]["prev_hash"] == record.hash


@pytest.mark.parametrize("kind", list(TAMPERS))
def test_the_first_append_verifies_even_without_verify_at_open(
    kind: str, db: Path, protection: AuditProtection
) -> None:
    """Any writer (an offline halt, an engine not yet wired to verify at open) verifies first."""
    tamper, expected = TAMPERS[kind]
    tamper(db)
    evidence = _evidence(db)
    with Store.open(db, protection=protection) as store:
        assert store.integrity_problems == []  # not checked yet: nothing was written
        store.append_audit(T0 + timedelta(hours=1), "alice", "cli", "halt", {})
        assert store.audit_sealed and any(expected in p for p in store.integrity_problems)
    assert _evidence(db) == evidence


def test_an_old_genuine_anchor_put_back_over_a_cut_tail_is_caught_by_the_witness(
    db: Path, protection: AuditProtection
) -> None:
    old_anchor = anchor_path(db).read_bytes()  # keyed, genuine, for 20 entries
    with Store.open(db, protection=protection) as store:
        for i in range(5):
            store.append_audit(T0 + timedelta(minutes=i), "alice", "hotkey", "kill", {"i": i})
    _sql(db, f"DELETE FROM audit_events WHERE seq > {N}")
    anchor_path(db).write_bytes(old_anchor)
    check = verify_database(db, protection)
    assert not check.ok
    assert f"entry {N + 1} (seq {N + 1}) and after are gone" in check.line
    assert str(protection.witness_path) in check.line


def test_an_intact_chain_is_extended_and_stays_verified(db: Path, protection: AuditProtection) -> None:
    with Store.open(db, verify=True, protection=protection) as store:
        assert store.integrity_problems == [] and not store.audit_sealed
        record = store.append_audit(T0 + timedelta(hours=1), "alice", "cli", "resume", {})
        assert record.seq == N + 1
    check = verify_database(db, protection)
    assert check.ok and check.line == f"{N + 1} entries, chain intact, anchor matches"
    assert not db.with_name("onetap.db.audit.held").exists()


def test_anchor_is_keyed_and_witnessed(db: Path, protection: AuditProtection) -> None:
    key = load_key(protection.key_path)
    assert key is not None
    anchor = read_anchor(anchor_path(db))
    assert anchor is not None and anchor.keyed and anchor.key_id == key.key_id
    assert key.signed(anchor)
    record, problems = read_witness(protection.witness_path, str(db.resolve()), key)
    assert problems == [] and record is not None
    assert (record.anchor.count, record.anchor.last_seq, record.anchor.last_hash) == (
        anchor.count,
        anchor.last_seq,
        anchor.last_hash,
    )
    assert record.line == N  # one witness line per anchor
    for path in (protection.key_path, protection.witness_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(protection.key_path.parent.stat().st_mode) == 0o700
    assert protection.key_path.read_text().strip() not in anchor_path(db).read_text()


def test_a_deleted_key_is_a_problem_and_no_new_key_is_made(db: Path, protection: AuditProtection) -> None:
    protection.key_path.unlink()
    with Store.open(db, verify=True, protection=protection) as store:
        assert store.audit_sealed
        assert any("there is no audit key" in p for p in store.integrity_problems)
        store.append_audit(T0 + timedelta(hours=1), "alice", "cli", "halt", {})
    assert not protection.key_path.exists()


def test_another_key_is_a_problem(db: Path, protection: AuditProtection) -> None:
    protection.key_path.unlink()
    load_or_create_key(protection.key_path)
    check = verify_database(db, protection)
    assert not check.ok and "keyed with another key" in check.line


def test_a_key_others_can_read_is_refused(db: Path, protection: AuditProtection) -> None:
    protection.key_path.chmod(0o644)
    check = verify_database(db, protection)
    assert not check.ok and "can be read by other users (mode 644)" in check.line


def test_an_edited_witness_line_is_caught(db: Path, protection: AuditProtection) -> None:
    lines = protection.witness_path.read_text().splitlines()
    last = json.loads(lines[-1])
    last["count"] = 3
    lines[-1] = json.dumps(last)
    protection.witness_path.write_text("\n".join(lines) + "\n")
    check = verify_database(db, protection)
    assert not check.ok and f"line {N} for this database does not carry a valid MAC" in check.line


def test_a_torn_witness_line_is_tolerated_and_the_next_line_starts_afresh(
    db: Path, protection: AuditProtection
) -> None:
    with protection.witness_path.open("a") as witness:  # a crash in the middle of a publication
        witness.write(f'{{"count":21,"db":{json.dumps(str(db.resolve()))},"last_h')
    assert verify_database(db, protection).ok
    with Store.open(db, protection=protection) as store:
        store.append_audit(T0 + timedelta(hours=1), "alice", "cli", "resume", {})
    record, problems = read_witness(protection.witness_path, str(db.resolve()), load_key(protection.key_path))
    assert problems == [] and record is not None and record.anchor.count == N + 1
    assert record.line == N + 2  # the torn line kept its own line
    assert verify_database(db, protection).ok


def test_an_unkeyed_anchor_is_verified_the_old_way_then_keyed_and_audited(
    db_path: Path, tmp_path: Path
) -> None:
    """A database from before keyed anchors: its plain anchor is checked once, then keyed."""
    old = AuditProtection(tmp_path / "old" / "audit.key", tmp_path / "old" / "audit.witness")
    with Store.open(db_path, protection=old) as store:
        for i in range(3):
            store.append_audit(T0 + timedelta(seconds=i), "alice", "hotkey", "kill", {"i": i})
    keyed = read_anchor(anchor_path(db_path))
    assert keyed is not None
    write_anchor(anchor_path(db_path), Anchor(keyed.count, keyed.last_seq, keyed.last_hash))  # as before keys
    new = AuditProtection(tmp_path / "new" / "audit.key", tmp_path / "new" / "audit.witness")
    check = verify_database(db_path, new)
    assert check.ok and "the anchor is not keyed yet" in check.line
    assert not new.key_path.exists()  # a read-only check writes nothing

    with Store.open(db_path, verify=True, protection=new) as store:
        assert store.integrity_problems == []
        store.append_audit(T0 + timedelta(hours=1), "engine", "engine", "engine_start", {})
        actions = [r.action for r in store.load_audit()]
        migration = store.load_audit()[-2]
    assert actions[-2:] == ["audit_anchor_keyed", "engine_start"]
    assert migration.payload["previous_anchor"] == {"count": 3, "last_seq": 3, "last_hash": keyed.last_hash}
    anchor = read_anchor(anchor_path(db_path))
    assert anchor is not None and anchor.keyed and anchor.count == 5
    assert verify_database(db_path, new).line == "5 entries, chain intact, anchor matches"


def test_an_unkeyed_anchor_that_does_not_verify_is_not_keyed(db_path: Path, tmp_path: Path) -> None:
    plain = AuditProtection(tmp_path / "k" / "audit.key", tmp_path / "k" / "audit.witness")
    with Store.open(db_path, protection=plain) as store:
        for i in range(3):
            store.append_audit(T0 + timedelta(seconds=i), "alice", "hotkey", "kill", {"i": i})
    write_anchor(anchor_path(db_path), Anchor(5, 5, "ab" * 32))  # legacy, and the tail is short
    other = AuditProtection(tmp_path / "o" / "audit.key", tmp_path / "o" / "audit.witness")
    with Store.open(db_path, verify=True, protection=other) as store:
        assert store.audit_sealed and "the tail was cut" in store.integrity_problems[0]
        store.append_audit(T0 + timedelta(hours=1), "engine", "engine", "engine_start", {})
    assert read_anchor(anchor_path(db_path)) == Anchor(5, 5, "ab" * 32)


def test_a_new_database_at_a_witnessed_path_starts_clean(db: Path, protection: AuditProtection) -> None:
    """Moving a database (and its anchor) aside to start afresh is allowed; the witness then follows."""
    for suffix in ("", "-wal", "-shm", ".audit.anchor"):
        src = db.with_name(db.name + suffix)
        if src.exists():
            src.rename(db.with_name("evidence-" + db.name + suffix))
    with Store.open(db, verify=True, protection=protection) as store:
        assert store.integrity_problems == []
        store.append_audit(T0, "alice", "cli", "resume", {})
    assert verify_database(db, protection).ok


def test_an_emptied_log_is_caught_by_the_witness_even_without_its_anchor(
    db: Path, protection: AuditProtection
) -> None:
    _sql(db, "DELETE FROM audit_events")
    anchor_path(db).unlink()
    check = verify_database(db, protection)
    assert not check.ok and "the tail was cut" in check.line and "witness" in check.line


def test_reconcile_check_seals_a_chain_tampered_while_open(db: Path, protection: AuditProtection) -> None:
    with Store.open(db, verify=True, protection=protection) as store:
        store.append_audit(T0 + timedelta(hours=1), "alice", "cli", "resume", {})
        assert store.audit_problems() == []  # start-up: the verdict from the open is reused
        _changed_byte(db)
        problems = store.audit_problems()  # a reconnect: checked afresh
        assert problems and "entry 7 (seq 7) is altered" in problems[0]
        assert store.audit_sealed
        rows = _rows(db)
        store.append_audit(T0 + timedelta(hours=2), "alice", "cli", "halt", {})
        assert _rows(db) == rows
