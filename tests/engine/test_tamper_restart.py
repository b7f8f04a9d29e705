"""Tamper, then start and stop the real engine: the evidence is still there and trading is refused.

Issue 14, failure 2: starting the engine used to append an entry and rewrite the anchor before
the chain was verified, so a start and stop made a tampered log verify again. Each test runs a
real engine on a real SQLite file with its own audit key and witness (``XDG_CONFIG_HOME`` under
tmp_path), tampers with what it wrote, starts and stops it again, and checks what
``onetap audit verify`` checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.actor import Actor
from engine.api.auditing import verify_database
from engine.config import Settings, load_settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource, TradingState
from engine.model.events import ApproveRecovery
from engine.store.audit import anchor_path
from engine.store.sealing import AuditProtection
from tests.engine.store.test_sealing import TAMPERS

OPERATOR = Actor("tester", CommandSource.HOTKEY)


@pytest.fixture
def protection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AuditProtection:
    """This test's own key and witness, where the engine looks for them by default."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    default = AuditProtection.default()
    assert str(default.key_path).startswith(str(tmp_path))
    return default


async def _run(settings: Settings, db: Path, shipped: MarketData, entries: int = 0) -> Engine:
    """Start and stop an engine; ``entries`` more audit entries are appended through its store."""
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    try:
        for i in range(entries):
            engine.store.append_audit(
                engine.clock.now(), "tester", "hotkey", "execute_card", {"card_id": f"c-{i}", "n": i}
            )
    finally:
        await engine.stop()
    return engine


def _evidence(db: Path) -> tuple[bytes, bytes | None]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        rows = repr(list(conn.execute("SELECT * FROM audit_events ORDER BY seq"))).encode()
    finally:
        conn.close()
    anchor = anchor_path(db)
    return rows, anchor.read_bytes() if anchor.exists() else None


def _enough_entries(db: Path) -> None:
    """The tamper helpers work on seqs 5..20: make sure the log is at least that long."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        (count,) = conn.execute("SELECT count(*) FROM audit_events").fetchone()
    finally:
        conn.close()
    assert count >= 20, f"the engine wrote only {count} audit entries"


@pytest.mark.parametrize("kind", list(TAMPERS))
async def test_tamper_is_still_detected_after_a_start_and_stop_and_trading_is_refused(
    kind: str, settings: Settings, db: Path, shipped: MarketData, protection: AuditProtection
) -> None:
    first = await _run(settings, db, shipped, entries=20)
    assert first.reconciliation is not None and first.reconciliation.problems == ()
    _enough_entries(db)  # the helpers address entries up to seq 20
    assert verify_database(db, protection).ok

    tamper, expected = TAMPERS[kind]
    tamper(db)
    before = verify_database(db, protection)
    assert not before.ok and expected in before.line, before.line
    evidence = _evidence(db)

    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    try:
        summary = engine.reconciliation
        assert summary is not None
        assert any(expected in p for p in summary.problems), summary.problems
        assert not summary.approved
        assert engine.snapshot().risk.trading_state is TradingState.RECOVERING
        refused = await engine.handle(ApproveRecovery(), OPERATOR)
        assert not refused.ok and refused.code == "RECOVERY_PROBLEMS"
        assert engine.store.audit_sealed
    finally:
        await engine.stop()

    assert _evidence(db) == evidence  # nothing appended, nothing re-anchored
    after = verify_database(db, protection)
    assert not after.ok and expected in after.line, after.line
    assert "recorded aside" in after.line  # engine_start and the rest went to the held file


async def test_a_clean_restart_extends_the_chain_and_keys_it(
    settings: Settings, db: Path, shipped: MarketData, protection: AuditProtection
) -> None:
    first = await _run(settings, db, shipped)
    assert first.reconciliation is not None and first.reconciliation.problems == ()
    count = verify_database(db, protection).count
    second = await _run(settings, db, shipped)
    assert second.reconciliation is not None and second.reconciliation.problems == ()
    check = verify_database(db, protection)
    assert check.ok and check.count > count
    assert protection.key_path.exists() and protection.witness_path.exists()


async def test_the_engine_uses_the_configured_key_and_witness(
    db: Path, shipped: MarketData, tmp_path: Path, protection: AuditProtection
) -> None:
    """``[store] audit_key`` / ``audit_witness`` reach the engine's store (service.py must pass them)."""
    key, witness = tmp_path / "keys" / "k", tmp_path / "keys" / "w"
    settings = load_settings(
        environ={
            "ONETAP_REPLAY__STEPS_PER_DAY": "30",
            "ONETAP_STORE__AUDIT_KEY": str(key),
            "ONETAP_STORE__AUDIT_WITNESS": str(witness),
        }
    )
    await _run(settings, db, shipped)
    assert key.exists() and witness.exists()
    assert not protection.key_path.exists()
