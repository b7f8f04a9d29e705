"""``onetap audit``'s engine side: verify a database's audit chain, export it as JSON lines.

The console may not reach into ``engine.store`` (the import contracts keep the ORM behind the
engine), so the command goes through this module, as ``onetap kill`` goes through
``engine.runtime.startup.halt_offline``. Nothing here needs a running engine: both work on the file,
also while an engine has it open (SQLite WAL readers never block the writer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from engine.config import Settings
from engine.store.audit import AuditEntry
from engine.store.db import StoreError
from engine.store.repository import Store
from engine.store.sealing import AuditProtection

EXPORT_FIELDS = ("seq", "ts", "actor", "source", "action", "payload", "prev_hash", "hash")
"""The keys of every exported line, in this order: what ``entry_hash`` is computed over, plus the link."""


class AuditToolError(Exception):
    """The database cannot be examined at all (missing, not onetap's); the message says which file."""


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """The verdict in one line (without the ``audit:`` prefix) and the number of entries read."""

    ok: bool
    line: str
    count: int


def database_path(settings: Settings, database: Path | None) -> Path:
    """The database the engine would use: ``--database``, else ``[store] database``, else the default."""
    from engine.store.paths import database_path as engine_database_path

    return engine_database_path(settings, database)


def audit_protection(settings: Settings) -> AuditProtection:
    """Where the audit key and the witness are: ``[store] audit_key`` and ``audit_witness``."""
    return AuditProtection.from_settings(settings.store)


def verify_database(path: Path, protection: AuditProtection | None = None) -> AuditCheck:
    """SQLite's own integrity check, then the hash chain, its keyed anchor and the witness.

    Strict where ``Store.verify_audit`` is lenient: a chain without its anchor fails here (the
    engine writes one on every append, so a missing one was removed or not copied with the
    database, and a cut tail cannot be ruled out). Every problem found is in the line, the
    first one first. Entries an engine recorded aside while the log was sealed are mentioned.
    """
    with _open(path, protection) as store:
        try:
            problems = store.integrity_check()
            if problems:
                return AuditCheck(False, f"the database file is damaged: {'; '.join(problems[:3])}", 0)
            verdict = store.seal_verdict()
        except StoreError as exc:
            return AuditCheck(False, f"the audit log cannot be read: {exc}", 0)
        held = _held_count(store.held_path)
    if verdict.problems:
        line = verdict.problems[0]
        if len(verdict.problems) > 1:
            line += "; also: " + "; ".join(verdict.problems[1:])
        if held:
            line += (
                f"; {held} later entries were recorded aside in {store.held_path} because the log "
                "failed verification"
            )
        return AuditCheck(False, line, verdict.count)
    return AuditCheck(True, verdict.verification.message, verdict.count)


def _held_count(path: Path) -> int:
    try:
        with path.open("rb") as held:
            return sum(1 for _ in held)
    except OSError:
        return 0


def export_database(path: Path, out: TextIO) -> int:
    """Write every entry to ``out`` as one JSON object per line; returns how many were written.

    Entries go out as stored, damaged or not: an export is evidence, and hiding a bad entry
    would make it worthless. A payload that is not JSON is exported as its raw text.
    """
    with _open(path) as store:
        try:
            entries = store.audit_entries()
        except StoreError as exc:
            raise AuditToolError(f"the audit log cannot be read: {exc}") from exc
    count = 0
    for line in export_lines(entries):
        out.write(line)
        out.write("\n")
        count += 1
    out.flush()
    return count


def export_lines(entries: list[AuditEntry]) -> Iterator[str]:
    """One JSON text per entry, keys in ``EXPORT_FIELDS`` order."""
    for entry in entries:
        payload: Any
        try:
            payload = json.loads(entry.payload_json)
        except json.JSONDecodeError:
            payload = entry.payload_json
        record = {
            "seq": entry.seq,
            "ts": entry.ts,
            "actor": entry.actor,
            "source": entry.source,
            "action": entry.action,
            "payload": payload,
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
        }
        yield json.dumps(record, separators=(",", ":"))


def _open(path: Path, protection: AuditProtection | None = None) -> Store:
    # Store.open creates a missing file; an audit of a mistyped path must not invent an empty log.
    if not path.exists():
        raise AuditToolError(f"{path}: no database there; pass --database PATH or set [store] database")
    try:
        return Store.open(path, protection=protection)
    except StoreError as exc:
        raise AuditToolError(str(exc)) from exc
