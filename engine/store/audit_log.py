"""``AuditLog``: the hash-chained audit log in the store's database, its keyed anchor beside it and
the witness; verified before anything extends it, sealed (appends held aside) when that fails."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from engine.store import audit, rows
from engine.store.audit import AuditEntry, AuditRecord, AuditVerification
from engine.store.db import StoreError
from engine.store.sealing import (
    AuditKey,
    AuditProtection,
    SealVerdict,
    database_identity,
    load_or_create_key,
    publish,
    verify_sealed,
)
from engine.store.tables import METADATA, AuditEventRow
from engine.store.unit_of_work import UnitOfWork

# Audit rows are read as plain tuples in AuditEntry's field order: verification walks the whole
# table, and building an ORM object per entry costs more than the hashing.
_AUDIT_COLUMNS = sa_select(
    col(AuditEventRow.seq),
    col(AuditEventRow.ts),
    col(AuditEventRow.actor),
    col(AuditEventRow.source),
    col(AuditEventRow.action),
    col(AuditEventRow.payload_json),
    col(AuditEventRow.prev_hash),
    col(AuditEventRow.hash),
)
_AUDIT_INSERT = sa_insert(METADATA.tables[AuditEventRow.__tablename__])


class _StaleTail(Exception):
    """Another writer appended to the audit chain since this store last did."""


class AuditLog:
    def __init__(
        self, uow: UnitOfWork, path: Path, *, protection: AuditProtection | None, fresh: bool
    ) -> None:
        """``fresh`` says the database file did not exist before (see ``sealing.verify_sealed``)."""
        self._uow = uow
        self._path = path
        # Rows in audit_events, counted once and then kept: COUNT(*) scans the table, and the
        # anchor is rewritten on every append. Another writer makes this an undercount at worst,
        # which the anchor check tolerates (it only refuses a table shorter than the anchor).
        self._audit_entries: int | None = None
        self._audit_tail: tuple[int, str] | None = None
        self._pending_anchor: audit.Anchor | None = None
        self._protection = protection or AuditProtection.default()
        self._fresh = fresh
        self._key: AuditKey | None = None
        # Verify before append: the first append (or ``verify_before_append``) checks the chain,
        # the anchor and the witness; until that passed nothing extends the chain.
        self._verified = False
        self._verdict_unused = False
        self._problems: list[str] = []
        self._migrate: audit.Anchor | None = None
        self._held_tail: tuple[int, str] | None = None
        uow.on_batch_end(committed=self._flush_anchor, rolled_back=self._forget_batch)

    def _forget_batch(self) -> None:
        """The batch's entries were rolled back: recount and re-read the tail at the next append."""
        self._pending_anchor = None
        self._audit_entries = None
        self._audit_tail = None

    @property
    def protection(self) -> AuditProtection:
        return self._protection

    @property
    def integrity_problems(self) -> list[str]:
        """What the check before the first append found wrong (empty: intact, or not checked yet)."""
        return list(self._problems)

    @property
    def audit_sealed(self) -> bool:
        """True while problems stand: the chain and its anchor are kept exactly as they were found."""
        return bool(self._problems)

    @property
    def held_path(self) -> Path:
        """Where appends go while the chain is sealed: ``<database>.audit.held``, JSON lines."""
        return self._path.with_name(f"{self._path.name}.audit.held")

    def verify_before_append(self, *, at_open: bool = False) -> list[str]:
        """Check the chain, the anchor and the witness once, before anything extends the chain.

        Returns the problems (also in ``integrity_problems``); any problem seals the chain for
        the life of this store. Runs at most once; ``audit_problems`` checks again, except right
        after a check made at open (``at_open``: an engine's start, which reconciles moments later
        with nothing but its own appends in between), whose verdict it reuses once.
        """
        if not self._verified:
            self._apply(self._seal_verdict())
            self._verified = True
            self._verdict_unused = at_open
        return list(self._problems)

    def audit_problems(self) -> list[str]:
        """Check the chain, its anchor and the witness again; seal the chain on a problem.

        For reconciliation (start and every reconnect): a chain tampered with while the engine
        runs is caught at the next reconcile, and from then on nothing is appended to it. The
        first call after the check before the first append reuses that check's verdict (at
        start-up they run moments apart, and the walk over a long log costs seconds); every
        later call walks the chain afresh.
        """
        if self._problems:
            return list(self._problems)
        if self._verified and self._verdict_unused:
            self._verdict_unused = False
            return []
        self._apply(self._seal_verdict())
        self._verified = True
        return list(self._problems)

    def seal_verdict(self) -> SealVerdict:
        """The full check (chain, keyed anchor, witness) as a value; changes nothing, seals nothing."""
        return self._seal_verdict()

    def _seal_verdict(self) -> SealVerdict:
        return verify_sealed(
            self.audit_entries(), database=self._path, protection=self._protection, fresh=self._fresh
        )

    def _apply(self, verdict: SealVerdict) -> None:
        self._problems = list(verdict.problems)
        self._migrate = verdict.migrate
        if self._problems and self._held_tail is None:
            self._held_tail = rows.held_tail(self.held_path) or (verdict.last_seq, verdict.last_hash)

    def append_audit(
        self, ts: datetime, actor: str, source: str, action: str, payload: Mapping[str, object]
    ) -> AuditRecord:
        """Append one entry to the hash chain, then move the anchor beside the database to it.

        The seq comes from SQLite's AUTOINCREMENT counter, which never goes back: entries cut
        from the end and followed by new ones leave a gap that ``verify_audit`` reports.

        The chain's tail is remembered between appends (this store is normally the file's only
        writer), which saves two reads on every order event; should another writer have
        appended meanwhile, the insert collides on the seq and the append is redone from the
        real tail.
        """
        rows.aware(ts, f"audit {action} ts")
        self._uow.check_open()
        self.verify_before_append()
        if self._problems:
            return self._hold(ts, actor, source, action, payload)
        migrate = self._migrate
        if migrate is not None:
            self._migrate = None
            self._append_once(
                ts,
                "engine",
                "engine",
                "audit_anchor_keyed",
                {
                    "previous_anchor": migrate.head(),
                    "key": str(self._protection.key_path),
                    "witness": str(self._protection.witness_path),
                },
            )
        return self._append_once(ts, actor, source, action, payload)

    def _append_once(
        self, ts: datetime, actor: str, source: str, action: str, payload: Mapping[str, object]
    ) -> AuditRecord:
        try:
            return self._append_audit(ts, actor, source, action, payload)
        except _StaleTail:
            self._audit_tail = None
            self._audit_entries = None
            return self._append_audit(ts, actor, source, action, payload)

    def _append_audit(
        self, ts: datetime, actor: str, source: str, action: str, payload: Mapping[str, object]
    ) -> AuditRecord:
        with self._uow.write(f"append audit entry {action}") as session:
            if self._audit_tail is not None:
                last_seq, prev_hash = self._audit_tail
                handed_out = last_seq
            else:
                last = session.exec(
                    select(AuditEventRow.seq, AuditEventRow.hash)
                    .order_by(col(AuditEventRow.seq).desc())
                    .limit(1)
                ).first()
                last_seq, prev_hash = (
                    (0, audit.GENESIS_HASH) if last is None else (int(last[0] or 0), last[1])
                )
                handed_out = int(
                    session.connection()
                    .exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'")
                    .scalar()
                    or 0
                )
            count = self._audit_entries
            if count is None:
                count = int(session.exec(select(func.count()).select_from(AuditEventRow)).one())
            seq = max(int(handed_out or 0), last_seq) + 1
            entry = _seal(seq, prev_hash, ts, actor, source, action, payload)
            try:
                session.connection().execute(_AUDIT_INSERT, rows.audit_row(entry).model_dump())
            except IntegrityError:
                if self._audit_tail is None:
                    raise
                raise _StaleTail from None
        self._audit_tail = (entry.seq, entry.hash)
        self._audit_entries = count + 1
        self._pending_anchor = audit.Anchor(count + 1, entry.seq, entry.hash)
        if not self._uow.in_batch:
            self._flush_anchor()
        return AuditRecord.from_entry(entry)

    def flush_anchor(self) -> None:
        """Move the audit anchor to the chain's end now, if a batch left it behind."""
        self._flush_anchor()

    def _flush_anchor(self) -> None:
        """Write the keyed anchor, then publish it to the witness (creating the key on first use)."""
        anchor = self._pending_anchor
        if anchor is None:
            return
        self._pending_anchor = None
        anchor_file = audit.anchor_path(self._path)
        try:
            if self._key is None:
                self._key = load_or_create_key(self._protection.key_path)
        except (ValueError, OSError) as exc:
            why = str(exc) if isinstance(exc, ValueError) else f"{exc.filename}: {exc.strerror}"
            raise StoreError(
                f"audit entry {anchor.last_seq} is stored but it cannot be anchored: the audit key "
                f"cannot be used ({why})"
            ) from exc
        signed = self._key.sign(anchor)
        try:
            audit.write_anchor(anchor_file, signed)
        except OSError as exc:
            raise StoreError(
                f"{anchor_file}: audit entry {anchor.last_seq} is stored but its anchor could not be written "
                f"({exc.strerror}); a cut tail goes unnoticed until an append succeeds"
            ) from exc
        witness = self._protection.witness_path
        try:
            publish(witness, self._key, database_identity(self._path), signed)
        except OSError as exc:
            raise StoreError(
                f"{witness}: audit entry {anchor.last_seq} is anchored but the witness could not be "
                f"written ({exc.strerror}); deleting the log's end with its anchor goes unnoticed "
                "until a publication succeeds"
            ) from exc

    def _hold(
        self, ts: datetime, actor: str, source: str, action: str, payload: Mapping[str, object]
    ) -> AuditRecord:
        """Record an entry while the chain is sealed: in ``held_path``, never in the chain.

        The held entries chain on from the sealed chain's end (or the last held entry), in the
        chain's own format, so they can be verified and read like the log itself; the log and
        its anchor stay exactly as they were found.
        """
        last_seq, prev_hash = self._held_tail or (0, audit.GENESIS_HASH)
        entry = _seal(last_seq + 1, prev_hash, ts, actor, source, action, payload)
        line = json.dumps(
            {
                "seq": entry.seq,
                "ts": entry.ts,
                "actor": entry.actor,
                "source": entry.source,
                "action": entry.action,
                "payload_json": entry.payload_json,
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            },
            separators=(",", ":"),
        )
        try:
            fd = os.open(self.held_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(
                f"{self.held_path}: audit {action} could not be recorded ({exc.strerror}); the audit "
                "log is sealed because it failed verification"
            ) from exc
        self._held_tail = (entry.seq, entry.hash)
        return AuditRecord.from_entry(entry)

    def audit_entries(self) -> list[AuditEntry]:
        """Every audit entry exactly as stored (text, not parsed), in seq order.

        For verification and export: a damaged entry still comes out, byte for byte, so an
        export of a tampered log shows the tampering instead of failing on it.
        """
        with self._uow.read("read the audit log") as session:
            return [
                rows.audit_entry(*row)
                for row in session.connection().execute(_AUDIT_COLUMNS.order_by(col(AuditEventRow.seq)))
            ]

    def verify_audit(self) -> AuditVerification:
        """Check the whole chain, and its end against the keyed anchor and the witness.

        A non-empty chain without its anchor fails: the store writes one on every append, so a
        missing one was deleted (or not copied), and a cut tail cannot be ruled out.
        """
        return self._seal_verdict().verification

    def audit_count(self) -> int:
        with self._uow.read("count audit entries") as session:
            return int(session.exec(select(func.count()).select_from(AuditEventRow)).one())

    def load_audit(self, *, limit: int | None = None) -> list[AuditRecord]:
        """Audit entries in seq order; with ``limit``, the newest ``limit`` of them."""
        stmt = _AUDIT_COLUMNS
        if limit is not None:
            rows.check_limit(limit)
            stmt = stmt.order_by(col(AuditEventRow.seq).desc()).limit(limit)
        else:
            stmt = stmt.order_by(col(AuditEventRow.seq))
        with self._uow.read("load audit entries") as session:
            entries = [rows.audit_entry(*row) for row in session.connection().execute(stmt)]
        if limit is not None:
            entries.reverse()
        try:
            return [AuditRecord.from_entry(entry) for entry in entries]
        except ValueError as exc:
            raise StoreError(f"{self._path}: an audit entry is damaged ({exc}); run verify_audit") from exc


def _seal(
    seq: int,
    prev_hash: str,
    ts: datetime,
    actor: str,
    source: str,
    action: str,
    payload: Mapping[str, object],
) -> AuditEntry:
    """One entry sealed onto ``prev_hash`` (the chain's or the held file's); a payload JSON cannot
    carry is the caller's error, named, not a crash half-way through a batch."""
    try:
        return audit.seal(
            seq=seq, prev_hash=prev_hash, ts=ts, actor=actor, source=source, action=action, payload=payload
        )
    except (TypeError, ValueError) as exc:
        raise StoreError(f"audit {action}: payload cannot be stored as JSON ({exc})") from exc
