"""The Store: the one object the engine holds, and the one place the model meets the ORM.

Domain objects go in and come out; no SQLModel row leaves this module. Every public write runs in
its own transaction and is committed (fsynced, under ``synchronous=FULL``) before the method
returns, so a caller that sends an order to a broker after ``insert_order`` returned knows the
order will be there after a crash. A write that fails leaves the database as it was and raises
``StoreError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, Integer, and_, cast, func, not_
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, delete, select, update

from engine.model import (
    ExecutionStatus,
    Fill,
    Order,
    OrderStatus,
    Position,
    StrategyCard,
)
from engine.store import audit, rows
from engine.store.audit import AuditEntry, AuditRecord, AuditVerification
from engine.store.db import IMMEDIATE, StoreError, integrity_check, open_database
from engine.store.rows import ExecutionRecord, RiskEventRecord
from engine.store.sealing import (
    AuditKey,
    AuditProtection,
    SealVerdict,
    database_identity,
    load_or_create_key,
    publish,
    verify_sealed,
)
from engine.store.tables import (
    METADATA,
    AuditEventRow,
    EngineStateRow,
    FillRow,
    IdSequenceRow,
    OrderRow,
    PositionRow,
    RiskEventRow,
    StrategyCardRow,
    StrategyExecutionRow,
)

CLIENT_ORDER_ID_SEQUENCE = "client_order_id"
CLIENT_ORDER_ID_PREFIX = "OT-"

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

_QTY_EPS = 1e-9
"""Quantities closer than this are equal (the order manager's tolerance)."""
# Fills are read as plain tuples too: a restart reads every one of them (100,000 after a year of
# active trading), and an ORM object per row cost more than the rest of the fold.
_FILL_COLUMNS = sa_select(
    col(FillRow.exec_id),
    col(FillRow.client_order_id),
    col(FillRow.symbol),
    col(FillRow.side),
    col(FillRow.quantity),
    col(FillRow.price),
    col(FillRow.commission),
    col(FillRow.ts),
)

_OPEN_STATUSES = tuple(status.value for status in OrderStatus if status.is_open)
_FINISHED_EXECUTIONS = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.ROLLED_BACK}
)


class _StaleTail(Exception):
    """Another writer appended to the audit chain since this store last did."""


_ORDER_INSERT = sa_insert(METADATA.tables[OrderRow.__tablename__])
_AUDIT_INSERT = sa_insert(METADATA.tables[AuditEventRow.__tablename__])
_ID_UPSERT = (
    sqlite_insert(IdSequenceRow)
    .values(name=CLIENT_ORDER_ID_SEQUENCE, value=1)
    .on_conflict_do_update(
        index_elements=[col(IdSequenceRow.name)],
        set_={"value": col(IdSequenceRow.value) + 1},
    )
    .returning(col(IdSequenceRow.value))
)
"""Built once: SQLAlchemy then reuses the compiled statements on the write-ahead path."""


class Store:
    """The engine's memory. Use from one thread at a time (the engine's own)."""

    def __init__(
        self,
        engine: Engine,
        path: Path,
        *,
        protection: AuditProtection | None = None,
        fresh: bool = False,
    ) -> None:
        """Wrap an engine from ``open_database``; ``Store.open`` is the usual way in.

        ``fresh`` says the file did not exist before (see ``sealing.verify_sealed``).
        """
        self._engine = engine
        self._writer = engine.execution_options(**{IMMEDIATE: True})
        self._path = path
        self._closed = False
        # Rows in audit_events, counted once and then kept: COUNT(*) scans the table, and the
        # anchor is rewritten on every append. Another writer makes this an undercount at worst,
        # which the anchor check tolerates (it only refuses a table shorter than the anchor).
        self._audit_entries: int | None = None
        self._batch: Session | None = None
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

    @classmethod
    def open(cls, path: Path, *, verify: bool = False, protection: AuditProtection | None = None) -> Store:
        """Open (creating if needed) the database at ``path``.

        ``verify=True`` checks the audit chain, its keyed anchor and the witness at once, before
        anything can be written, and never raises for what it finds: the findings are in
        ``integrity_problems`` and, while any stand, the chain is sealed (``audit_sealed``):
        appends are held aside and the anchor is never rewritten. Without it the same check
        runs at the first append (a read-only report never pays for it). ``protection`` says
        where the audit key and the witness are (default: ``AuditProtection.default()``).
        """
        path = Path(path)
        fresh = not path.exists()
        store = cls(open_database(path), path, protection=protection, fresh=fresh)
        audit.remove_orphaned_anchor_temps(audit.anchor_path(path))  # left by a crash mid-write
        if verify:
            store.verify_before_append(at_open=True)
        return store

    @property
    def path(self) -> Path:
        return self._path

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the connections; the last one out checkpoints the WAL into the main file."""
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def integrity_check(self) -> list[str]:
        self._check_open()
        return integrity_check(self._engine)

    # ----------------------------------------------------------------------- verify before append
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

    # ----------------------------------------------------------------------- ids
    def next_client_order_id(self) -> str:
        """A client order id never handed out before by this database (``OT-00000001``, ...).

        The increment is committed before the id is returned: a crash right after cannot hand the
        same id out again, at the price of an occasional unused id.
        """
        with self._write("take the next client order id") as session:
            value = int(session.connection().execute(_ID_UPSERT).scalar_one())
        return f"{CLIENT_ORDER_ID_PREFIX}{value:08d}"

    # ----------------------------------------------------------------------- orders
    def insert_order(self, order: Order) -> None:
        """Write a new order. Raises ``StoreError`` if its client order id is already stored."""
        values = rows.order_to_row(order).model_dump(exclude={"seq"})
        # One INSERT statement (the unique id refuses a second one): this is the write-ahead path.
        with self._write(f"insert order {order.client_order_id}") as session:
            try:
                session.connection().execute(_ORDER_INSERT, values)
            except IntegrityError:
                raise StoreError(
                    f"order {order.client_order_id} is already stored; ids are never reused"
                ) from None

    def update_order(self, order: Order) -> None:
        """Overwrite a stored order with ``order``. Raises ``StoreError`` if it was never inserted."""
        row = rows.order_to_row(order)
        values = row.model_dump(exclude={"seq", "client_order_id"})
        # One UPDATE statement, no load-and-merge: order updates are the kill switch's hot path.
        stmt = update(OrderRow).where(col(OrderRow.client_order_id) == order.client_order_id).values(**values)
        with self._write(f"update order {order.client_order_id}") as session:
            result = session.connection().execute(stmt)
            if result.rowcount == 0:
                raise StoreError(f"order {order.client_order_id} is not stored; insert it before updating")

    def get_order(self, client_order_id: str) -> Order | None:
        with self._read(f"read order {client_order_id}") as session:
            row = rows.find_order(session, client_order_id)
            return None if row is None else rows.order_from_row(row)

    def load_orders(
        self, *, open_only: bool = False, since: datetime | None = None, limit: int | None = None
    ) -> list[Order]:
        """Orders in the order they were inserted, newest last.

        ``open_only`` keeps orders not in a terminal state; ``since`` keeps orders created at or
        after it; ``limit`` keeps the newest ``limit`` of those.
        """
        stmt = select(OrderRow)
        if open_only:
            stmt = stmt.where(col(OrderRow.status).in_(_OPEN_STATUSES))
        if since is not None:
            stmt = stmt.where(col(OrderRow.created_at) >= rows.aware(since, "load_orders since"))
        if limit is not None:
            rows.check_limit(limit)
            stmt = stmt.order_by(col(OrderRow.seq).desc()).limit(limit)
        else:
            stmt = stmt.order_by(col(OrderRow.seq))
        with self._read("load orders") as session:
            orders = [rows.order_from_row(row) for row in session.exec(stmt)]
        if limit is not None:
            orders.reverse()
        return orders

    def highest_numeric_broker_order_id(self) -> int:
        """The highest all-digit broker order id stored (IBKR's ids), 0 when none: one query, no rows
        loaded, because it is asked at every (re)connection."""
        ids = col(OrderRow.broker_order_id)
        glob = ids.op("GLOB", is_comparison=True)
        numeric = and_(glob("[0-9]*"), not_(glob("*[^0-9]*")))
        stmt = select(func.max(cast(ids, Integer))).where(numeric)
        with self._read("highest broker order id") as session:
            value = session.exec(stmt).one()
        return int(value or 0)

    # ----------------------------------------------------------------------- fills
    def insert_fill(self, fill: Fill) -> bool:
        """Store a fill unless its ``exec_id`` is already stored; True when it was new.

        Brokers replay executions after a reconnect, so a repeat is normal and writes nothing.
        A fill for an order that was never stored raises ``StoreError`` (the fills table points
        at orders); the caller decides how to record such a foreign order.
        """
        values = rows.fill_to_row(fill).model_dump(exclude={"id"})
        stmt = sqlite_insert(FillRow).values(**values).on_conflict_do_nothing(index_elements=["exec_id"])
        with self._write(f"insert fill {fill.exec_id} of order {fill.client_order_id}") as session:
            result = session.exec(stmt)
            return result.rowcount == 1

    def orders_behind_their_fills(self) -> list[Order]:
        """Orders whose stored filled quantity is less than the sum of their stored fills.

        One aggregate query, no fills loaded. Only a crash between a fill's row and its order's
        update, in a database from before the two were one transaction, leaves such an order;
        reconciliation brings it up to its fills instead of closing it as vanished.
        """
        totals = (
            sa_select(
                col(FillRow.client_order_id).label("coid"), func.sum(col(FillRow.quantity)).label("qty")
            )
            .group_by(col(FillRow.client_order_id))
            .subquery()
        )
        stmt = (
            select(OrderRow)
            .join(totals, totals.c.coid == col(OrderRow.client_order_id))
            .where(totals.c.qty > col(OrderRow.filled_quantity) + _QTY_EPS)
            .order_by(col(OrderRow.seq))
        )
        with self._read("orders behind their fills") as session:
            return [rows.order_from_row(row) for row in session.exec(stmt)]

    def unaudited_fills(self) -> list[Fill]:
        """Stored fills that no ``fill`` audit entry names (by exec id), in the order they arrived.

        Every fill is audited in the transaction that stores it; one without its entry comes from
        a database written before that was so (a crash between the two writes).
        """
        named = func.json_extract(col(AuditEventRow.payload_json), "$.exec_id")
        audited = (
            sa_select(named).where(col(AuditEventRow.action) == audit.FILL_ACTION).where(named.is_not(None))
        )
        stmt = select(FillRow).where(col(FillRow.exec_id).not_in(audited)).order_by(col(FillRow.id))
        with self._read("unaudited fills") as session:
            return [rows.fill_from_row(row) for row in session.exec(stmt)]

    def has_fills(self) -> bool:
        """Whether any fill is stored (one row read, not all of them)."""
        with self._read("look for a fill") as session:
            return session.connection().execute(sa_select(col(FillRow.exec_id)).limit(1)).first() is not None

    def fill_exec_ids(self) -> set[str]:
        """The execution id of every stored fill (one column: reconciliation's dedup key)."""
        with self._read("load fill execution ids") as session:
            return {exec_id for (exec_id,) in session.connection().execute(sa_select(col(FillRow.exec_id)))}

    def load_fills(self, *, client_order_id: str | None = None) -> list[Fill]:
        """Fills in the order they arrived, newest last."""
        stmt = _FILL_COLUMNS.order_by(col(FillRow.id))
        if client_order_id is not None:
            stmt = stmt.where(col(FillRow.client_order_id) == client_order_id)
        with self._read("load fills") as session:
            return [rows.fill_from_columns(*row) for row in session.connection().execute(stmt)]

    def card_ids_of_orders(self) -> dict[str, str]:
        """client order id -> card id of every stored order a card sent (two columns, one query)."""
        stmt = sa_select(col(OrderRow.client_order_id), col(OrderRow.card_id)).where(
            col(OrderRow.card_id).is_not(None)
        )
        with self._read("load the cards of orders") as session:
            return {coid: card_id for coid, card_id in session.connection().execute(stmt) if card_id}

    def card_templates(self, card_ids: Iterable[str]) -> dict[str, str]:
        """card id -> template of the stored cards among ``card_ids`` (absent ids are left out)."""
        wanted = sorted(set(card_ids))
        out: dict[str, str] = {}
        with self._read("load card templates") as session:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                stmt = sa_select(col(StrategyCardRow.card_id), col(StrategyCardRow.template)).where(
                    col(StrategyCardRow.card_id).in_(chunk)
                )
                for card_id, template in session.connection().execute(stmt):
                    out[card_id] = template
        return out

    # ----------------------------------------------------------------------- positions
    def save_positions(self, positions: Iterable[Position], *, ts: datetime | None = None) -> None:
        """Replace every stored position with ``positions`` (all or nothing)."""
        records = [rows.position_to_row(position, ts) for position in positions]
        seen: set[str] = set()
        for row in records:
            if row.symbol in seen:
                raise StoreError(f"positions: {row.symbol} appears twice; one net position per symbol")
            seen.add(row.symbol)
        with self._write("save positions") as session:
            session.exec(delete(PositionRow))
            session.add_all(records)

    def load_positions(self) -> list[Position]:
        with self._read("load positions") as session:
            found = session.exec(select(PositionRow).order_by(col(PositionRow.symbol)))
            return [rows.position_from_row(row) for row in found]

    # ----------------------------------------------------------------------- cards
    def save_cards(self, cards: Iterable[StrategyCard]) -> None:
        """Insert new cards and overwrite stored ones with the same ``card_id``."""
        records = [rows.card_to_row(card) for card in cards]
        with self._write("save strategy cards") as session:
            for row in records:
                session.merge(row)

    def load_card(self, card_id: str) -> StrategyCard | None:
        with self._read(f"read card {card_id}") as session:
            row = session.get(StrategyCardRow, card_id)
            return None if row is None else rows.card_from_row(row)

    def load_cards(self) -> list[StrategyCard]:
        """Every stored card, oldest ``asof`` first."""
        stmt = select(StrategyCardRow).order_by(col(StrategyCardRow.asof), col(StrategyCardRow.card_id))
        with self._read("load cards") as session:
            return [rows.card_from_row(row) for row in session.exec(stmt)]

    # ----------------------------------------------------------------------- executions
    def insert_execution(
        self, execution_id: str, card_id: str, status: ExecutionStatus, ts: datetime
    ) -> None:
        row = StrategyExecutionRow(
            execution_id=execution_id,
            card_id=card_id,
            status=ExecutionStatus(status).value,
            started_at=rows.aware(ts, f"execution {execution_id} ts"),
        )
        with self._write(f"insert execution {execution_id}") as session:
            if session.get(StrategyExecutionRow, execution_id) is not None:
                raise StoreError(f"execution {execution_id} is already stored")
            session.add(row)

    def update_execution(
        self, execution_id: str, status: ExecutionStatus, ts: datetime, message: str = ""
    ) -> None:
        """Move an execution to ``status``; a finishing status stamps ``finished_at`` with ``ts``."""
        status = ExecutionStatus(status)
        values: dict[str, Any] = {"status": status.value, "message": message}
        if status in _FINISHED_EXECUTIONS:
            values["finished_at"] = rows.aware(ts, f"execution {execution_id} ts")
        stmt = (
            update(StrategyExecutionRow)
            .where(col(StrategyExecutionRow.execution_id) == execution_id)
            .values(**values)
        )
        with self._write(f"update execution {execution_id}") as session:
            if session.exec(stmt).rowcount != 1:
                raise StoreError(f"execution {execution_id} is not stored; insert it before updating")

    def load_executions(self, *, card_id: str | None = None) -> list[ExecutionRecord]:
        """Executions, oldest first."""
        stmt = select(StrategyExecutionRow).order_by(
            col(StrategyExecutionRow.started_at), col(StrategyExecutionRow.execution_id)
        )
        if card_id is not None:
            stmt = stmt.where(col(StrategyExecutionRow.card_id) == card_id)
        with self._read("load executions") as session:
            return [rows.execution_from_row(row) for row in session.exec(stmt)]

    # ----------------------------------------------------------------------- risk events
    def record_risk_event(
        self, ts: datetime, kind: str, code: str, message: str, details: Mapping[str, object] | None = None
    ) -> None:
        row = RiskEventRow(
            ts=rows.aware(ts, f"risk event {code} ts"),
            kind=kind,
            code=code,
            message=message,
            details_json=rows.json_text(details or {}, f"risk event {code} details"),
        )
        with self._write(f"record risk event {code}") as session:
            session.add(row)

    def load_risk_events(self, limit: int = 100) -> list[RiskEventRecord]:
        """The newest ``limit`` risk events, newest last."""
        rows.check_limit(limit)
        stmt = select(RiskEventRow).order_by(col(RiskEventRow.id).desc()).limit(limit)
        with self._read("load risk events") as session:
            records = [rows.risk_event_from_row(row) for row in session.exec(stmt)]
        records.reverse()
        return records

    # ----------------------------------------------------------------------- engine state
    def get_state(self, key: str) -> str | None:
        """A persisted engine setting (the kill switch, for one), or None if never set."""
        with self._read(f"read engine state {key}") as session:
            row = session.get(EngineStateRow, key)
            return None if row is None else row.value

    def set_state(self, key: str, value: str, ts: datetime) -> None:
        row = EngineStateRow(key=key, value=value, updated_at=rows.aware(ts, f"engine state {key} ts"))
        with self._write(f"write engine state {key}") as session:
            session.merge(row)

    # ----------------------------------------------------------------------- audit
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
        self._check_open()
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
        with self._write(f"append audit entry {action}") as session:
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
        if self._batch is None:
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
        with self._read("read the audit log") as session:
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
        with self._read("count audit entries") as session:
            return int(session.exec(select(func.count()).select_from(AuditEventRow)).one())

    def load_audit(self, *, limit: int | None = None) -> list[AuditRecord]:
        """Audit entries in seq order; with ``limit``, the newest ``limit`` of them."""
        stmt = _AUDIT_COLUMNS
        if limit is not None:
            rows.check_limit(limit)
            stmt = stmt.order_by(col(AuditEventRow.seq).desc()).limit(limit)
        else:
            stmt = stmt.order_by(col(AuditEventRow.seq))
        with self._read("load audit entries") as session:
            entries = [rows.audit_entry(*row) for row in session.connection().execute(stmt)]
        if limit is not None:
            entries.reverse()
        try:
            return [AuditRecord.from_entry(entry) for entry in entries]
        except ValueError as exc:
            raise StoreError(f"{self._path}: an audit entry is damaged ({exc}); run verify_audit") from exc

    # ----------------------------------------------------------------------- sessions
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self._path}: the store is closed")

    @contextmanager
    def batch(self, what: str, *, anchor: bool = True) -> Iterator[None]:
        """Make every write inside one transaction: one commit, one fsync, all or nothing.

        For bursts that must be fast, such as the kill switch's hundred cancels (each one an
        order update and an audit entry): 400 fsyncs become one. Nested batches join the outer
        one. The audit anchor moves once, after the commit; with ``anchor=False`` it moves at the
        next ``flush_anchor`` (or the next write outside a batch) instead, for a caller with
        something more urgent to do first, such as sending the order it just recorded. A crash
        in between leaves the anchor one step behind the chain, which verification accepts (it
        refuses only a chain shorter than its anchor).
        """
        if self._batch is not None:
            yield
            return
        try:
            with self._write(what) as session:
                self._batch = session
                try:
                    yield
                finally:
                    self._batch = None
        except BaseException:
            self._pending_anchor = None
            self._audit_entries = None  # recount: the batch's entries were rolled back
            self._audit_tail = None
            raise
        if anchor:
            self._flush_anchor()

    @contextmanager
    def _write(self, what: str) -> Iterator[Session]:
        """One transaction, begun IMMEDIATE and committed on leaving; rolled back on any error.

        Inside ``batch`` the batch's transaction is used and nothing is committed here.
        """
        self._check_open()
        if self._batch is not None:
            yield self._batch
            return
        with Session(self._writer) as session:
            try:
                yield session
                session.commit()
            except StoreError:
                session.rollback()
                raise
            except IntegrityError as exc:
                session.rollback()
                raise StoreError(f"{what}: refused by the database ({exc.orig})") from exc
            except SQLAlchemyError as exc:
                session.rollback()
                raise StoreError(f"{self._path}: {what} failed ({rows.reason(exc)})") from exc

    @contextmanager
    def _read(self, what: str) -> Iterator[Session]:
        """A read session; inside ``batch``, the batch's own, so reads see the batch's writes."""
        self._check_open()
        if self._batch is not None:
            yield self._batch
            return
        with Session(self._engine) as session:
            try:
                yield session
            except StoreError:
                raise
            except SQLAlchemyError as exc:
                raise StoreError(f"{self._path}: {what} failed ({rows.reason(exc)})") from exc
            except ValueError as exc:
                raise StoreError(f"{self._path}: {what}: a stored value is damaged ({exc})") from exc


# =========================================================================== mapping
# Each domain type is mapped to and from its row in exactly one pair of functions below.


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
