"""The Store: the one object the engine holds, and the one place the model meets the ORM.

Domain objects go in and come out; no SQLModel row leaves this module. Every public write runs in
its own transaction and is committed (fsynced, under ``synchronous=FULL``) before the method
returns, so a caller that sends an order to a broker after ``insert_order`` returned knows the
order will be there after a crash. A write that fails leaves the database as it was and raises
``StoreError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
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
    Leg,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    StrategyCard,
    TimeInForce,
)
from engine.model.codec import DecodeError, from_jsonable, to_jsonable
from engine.store import audit
from engine.store.audit import AuditEntry, AuditRecord, AuditVerification
from engine.store.db import IMMEDIATE, StoreError, integrity_check, open_database
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
_SIDES = {side.value: side for side in Side}

_OPEN_STATUSES = tuple(status.value for status in OrderStatus if status.is_open)
_FINISHED_EXECUTIONS = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.ROLLED_BACK}
)


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One card's group execution as stored (``strategy_executions``)."""

    execution_id: str
    card_id: str
    status: ExecutionStatus
    started_at: datetime
    finished_at: datetime | None
    message: str


@dataclass(frozen=True, slots=True)
class RiskEventRecord:
    """A risk event as stored: a breaker that tripped, a check that refused, a limit crossed."""

    id: int
    ts: datetime
    kind: str
    code: str
    message: str
    details: dict[str, Any]


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

    def __init__(self, engine: Engine, path: Path) -> None:
        """Wrap an engine from ``open_database``; ``Store.open`` is the usual way in."""
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

    @classmethod
    def open(cls, path: Path) -> Store:
        path = Path(path)
        return cls(open_database(path), path)

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
        values = _order_to_row(order).model_dump(exclude={"seq"})
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
        row = _order_to_row(order)
        values = row.model_dump(exclude={"seq", "client_order_id"})
        # One UPDATE statement, no load-and-merge: order updates are the kill switch's hot path.
        stmt = update(OrderRow).where(col(OrderRow.client_order_id) == order.client_order_id).values(**values)
        with self._write(f"update order {order.client_order_id}") as session:
            result = session.connection().execute(stmt)
            if result.rowcount == 0:
                raise StoreError(f"order {order.client_order_id} is not stored; insert it before updating")

    def get_order(self, client_order_id: str) -> Order | None:
        with self._read(f"read order {client_order_id}") as session:
            row = _find_order(session, client_order_id)
            return None if row is None else _order_from_row(row)

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
            stmt = stmt.where(col(OrderRow.created_at) >= _aware(since, "load_orders since"))
        if limit is not None:
            _check_limit(limit)
            stmt = stmt.order_by(col(OrderRow.seq).desc()).limit(limit)
        else:
            stmt = stmt.order_by(col(OrderRow.seq))
        with self._read("load orders") as session:
            orders = [_order_from_row(row) for row in session.exec(stmt)]
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
        values = _fill_to_row(fill).model_dump(exclude={"id"})
        stmt = sqlite_insert(FillRow).values(**values).on_conflict_do_nothing(index_elements=["exec_id"])
        with self._write(f"insert fill {fill.exec_id} of order {fill.client_order_id}") as session:
            result = session.exec(stmt)
            return result.rowcount == 1

    def load_fills(self, *, client_order_id: str | None = None) -> list[Fill]:
        """Fills in the order they arrived, newest last."""
        stmt = _FILL_COLUMNS.order_by(col(FillRow.id))
        if client_order_id is not None:
            stmt = stmt.where(col(FillRow.client_order_id) == client_order_id)
        with self._read("load fills") as session:
            return [_fill_from_columns(*row) for row in session.connection().execute(stmt)]

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
        rows = [_position_to_row(position, ts) for position in positions]
        seen: set[str] = set()
        for row in rows:
            if row.symbol in seen:
                raise StoreError(f"positions: {row.symbol} appears twice; one net position per symbol")
            seen.add(row.symbol)
        with self._write("save positions") as session:
            session.exec(delete(PositionRow))
            session.add_all(rows)

    def load_positions(self) -> list[Position]:
        with self._read("load positions") as session:
            rows = session.exec(select(PositionRow).order_by(col(PositionRow.symbol)))
            return [_position_from_row(row) for row in rows]

    # ----------------------------------------------------------------------- cards
    def save_cards(self, cards: Iterable[StrategyCard]) -> None:
        """Insert new cards and overwrite stored ones with the same ``card_id``."""
        rows = [_card_to_row(card) for card in cards]
        with self._write("save strategy cards") as session:
            for row in rows:
                session.merge(row)

    def load_card(self, card_id: str) -> StrategyCard | None:
        with self._read(f"read card {card_id}") as session:
            row = session.get(StrategyCardRow, card_id)
            return None if row is None else _card_from_row(row)

    def load_cards(self) -> list[StrategyCard]:
        """Every stored card, oldest ``asof`` first."""
        stmt = select(StrategyCardRow).order_by(col(StrategyCardRow.asof), col(StrategyCardRow.card_id))
        with self._read("load cards") as session:
            return [_card_from_row(row) for row in session.exec(stmt)]

    # ----------------------------------------------------------------------- executions
    def insert_execution(
        self, execution_id: str, card_id: str, status: ExecutionStatus, ts: datetime
    ) -> None:
        row = StrategyExecutionRow(
            execution_id=execution_id,
            card_id=card_id,
            status=ExecutionStatus(status).value,
            started_at=_aware(ts, f"execution {execution_id} ts"),
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
            values["finished_at"] = _aware(ts, f"execution {execution_id} ts")
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
            return [_execution_from_row(row) for row in session.exec(stmt)]

    # ----------------------------------------------------------------------- risk events
    def record_risk_event(
        self, ts: datetime, kind: str, code: str, message: str, details: Mapping[str, object] | None = None
    ) -> None:
        row = RiskEventRow(
            ts=_aware(ts, f"risk event {code} ts"),
            kind=kind,
            code=code,
            message=message,
            details_json=_json_text(details or {}, f"risk event {code} details"),
        )
        with self._write(f"record risk event {code}") as session:
            session.add(row)

    def load_risk_events(self, limit: int = 100) -> list[RiskEventRecord]:
        """The newest ``limit`` risk events, newest last."""
        _check_limit(limit)
        stmt = select(RiskEventRow).order_by(col(RiskEventRow.id).desc()).limit(limit)
        with self._read("load risk events") as session:
            records = [_risk_event_from_row(row) for row in session.exec(stmt)]
        records.reverse()
        return records

    # ----------------------------------------------------------------------- engine state
    def get_state(self, key: str) -> str | None:
        """A persisted engine setting (the kill switch, for one), or None if never set."""
        with self._read(f"read engine state {key}") as session:
            row = session.get(EngineStateRow, key)
            return None if row is None else row.value

    def set_state(self, key: str, value: str, ts: datetime) -> None:
        row = EngineStateRow(key=key, value=value, updated_at=_aware(ts, f"engine state {key} ts"))
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
        _aware(ts, f"audit {action} ts")
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
            try:
                entry = audit.seal(
                    seq=max(int(handed_out or 0), last_seq) + 1,
                    prev_hash=prev_hash,
                    ts=ts,
                    actor=actor,
                    source=source,
                    action=action,
                    payload=payload,
                )
            except (TypeError, ValueError) as exc:
                raise StoreError(f"audit {action}: payload cannot be stored as JSON ({exc})") from exc
            try:
                session.connection().execute(_AUDIT_INSERT, _audit_row(entry).model_dump())
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
        anchor = self._pending_anchor
        if anchor is None:
            return
        self._pending_anchor = None
        anchor_file = audit.anchor_path(self._path)
        try:
            audit.write_anchor(anchor_file, anchor)
        except OSError as exc:
            raise StoreError(
                f"{anchor_file}: audit entry {anchor.last_seq} is stored but its anchor could not be written "
                f"({exc.strerror}); a cut tail goes unnoticed until an append succeeds"
            ) from exc

    def audit_entries(self) -> list[AuditEntry]:
        """Every audit entry exactly as stored (text, not parsed), in seq order.

        For verification and export: a damaged entry still comes out, byte for byte, so an
        export of a tampered log shows the tampering instead of failing on it.
        """
        with self._read("read the audit log") as session:
            return [
                _audit_entry(*row)
                for row in session.connection().execute(_AUDIT_COLUMNS.order_by(col(AuditEventRow.seq)))
            ]

    def verify_audit(self) -> AuditVerification:
        """Check the whole chain, and its end against the anchor file."""
        anchor_file = audit.anchor_path(self._path)
        entries = self.audit_entries()
        try:
            anchor = audit.read_anchor(anchor_file)
        except (ValueError, OSError) as exc:
            # The chain's own verdict comes first: a broken entry is the bigger news.
            chain = audit.verify(entries)
            if not chain.ok:
                return chain
            why = str(exc) if isinstance(exc, ValueError) else f"{anchor_file}: unreadable ({exc.strerror})"
            message = f"{chain.count} entries, chain intact, but {why}: the end of the log cannot be checked"
            return AuditVerification(False, chain.count, None, message)
        return audit.verify(entries, anchor)

    def audit_count(self) -> int:
        with self._read("count audit entries") as session:
            return int(session.exec(select(func.count()).select_from(AuditEventRow)).one())

    def load_audit(self, *, limit: int | None = None) -> list[AuditRecord]:
        """Audit entries in seq order; with ``limit``, the newest ``limit`` of them."""
        stmt = _AUDIT_COLUMNS
        if limit is not None:
            _check_limit(limit)
            stmt = stmt.order_by(col(AuditEventRow.seq).desc()).limit(limit)
        else:
            stmt = stmt.order_by(col(AuditEventRow.seq))
        with self._read("load audit entries") as session:
            entries = [_audit_entry(*row) for row in session.connection().execute(stmt)]
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
                raise StoreError(f"{self._path}: {what} failed ({_reason(exc)})") from exc

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
                raise StoreError(f"{self._path}: {what} failed ({_reason(exc)})") from exc
            except ValueError as exc:
                raise StoreError(f"{self._path}: {what}: a stored value is damaged ({exc})") from exc


# =========================================================================== mapping
# Each domain type is mapped to and from its row in exactly one pair of functions below.


def _order_to_row(order: Order) -> OrderRow:
    what = f"order {order.client_order_id}"
    return OrderRow(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=Side(order.side).value,
        quantity=order.quantity,
        order_type=OrderType(order.order_type).value,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        tif=TimeInForce(order.tif).value,
        status=OrderStatus(order.status).value,
        filled_quantity=order.filled_quantity,
        avg_fill_price=order.avg_fill_price,
        broker_order_id=order.broker_order_id,
        card_id=order.card_id,
        execution_id=order.execution_id,
        created_at=_aware_or_none(order.created_at, f"{what} created_at"),
        updated_at=_aware_or_none(order.updated_at, f"{what} updated_at"),
        reason=order.reason,
        parent_id=order.parent_id,
        algo=order.algo,
        arrival_price=order.arrival_price,
    )


def _order_from_row(row: OrderRow) -> Order:
    try:
        return Order(
            client_order_id=row.client_order_id,
            symbol=row.symbol,
            side=Side(row.side),
            quantity=row.quantity,
            order_type=OrderType(row.order_type),
            limit_price=row.limit_price,
            stop_price=row.stop_price,
            tif=TimeInForce(row.tif),
            status=OrderStatus(row.status),
            filled_quantity=row.filled_quantity,
            avg_fill_price=row.avg_fill_price,
            broker_order_id=row.broker_order_id,
            card_id=row.card_id,
            execution_id=row.execution_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            reason=row.reason,
            parent_id=row.parent_id,
            algo=row.algo,
            arrival_price=row.arrival_price,
        )
    except ValueError as exc:
        raise StoreError(f"order {row.client_order_id}: a stored value is not understood ({exc})") from exc


def _fill_to_row(fill: Fill) -> FillRow:
    return FillRow(
        exec_id=fill.exec_id,
        client_order_id=fill.client_order_id,
        symbol=fill.symbol,
        side=Side(fill.side).value,
        quantity=fill.quantity,
        price=fill.price,
        commission=fill.commission,
        ts=_aware(fill.ts, f"fill {fill.exec_id} ts"),
    )


def _fill_from_columns(
    exec_id: str,
    client_order_id: str,
    symbol: str,
    side: str,
    quantity: float,
    price: float,
    commission: float,
    ts: datetime,
) -> Fill:
    """A fill from its row, read as columns (``_FILL_COLUMNS``)."""
    known = _SIDES.get(side)
    if known is None:
        raise StoreError(f"fill {exec_id}: a stored value is not understood ({side!r} is not a Side)")
    return Fill(exec_id, client_order_id, symbol, known, quantity, price, commission, ts)


def _position_to_row(position: Position, ts: datetime | None) -> PositionRow:
    return PositionRow(
        symbol=position.symbol,
        quantity=position.quantity,
        avg_cost=position.avg_cost,
        last=position.last,
        realized_pnl=position.realized_pnl,
        day_open_value=position.day_open_value,
        updated_at=_aware_or_none(ts, "positions ts"),
    )


def _position_from_row(row: PositionRow) -> Position:
    return Position(
        symbol=row.symbol,
        quantity=row.quantity,
        avg_cost=row.avg_cost,
        last=row.last,
        realized_pnl=row.realized_pnl,
        day_open_value=row.day_open_value,
    )


def _card_to_row(card: StrategyCard) -> StrategyCardRow:
    what = f"card {card.card_id}"
    return StrategyCardRow(
        card_id=card.card_id,
        template=card.template,
        name=card.name,
        legs_json=_json_text([to_jsonable(leg) for leg in card.legs], f"{what} legs"),
        confidence=card.confidence,
        expected_return=card.expected_return,
        max_risk=card.max_risk,
        reason=card.reason,
        asof=_aware(card.asof, f"{what} asof"),
        horizon_days=card.horizon_days,
        stop_price=card.stop_price,
        target_price=card.target_price,
        score=card.score,
        details_json=_json_text(dict(card.details), f"{what} details"),
        plan_json=_json_text(list(card.plan), f"{what} plan"),
        notes_json=_json_text(list(card.notes), f"{what} notes"),
    )


def _card_from_row(row: StrategyCardRow) -> StrategyCard:
    try:
        legs = tuple(_leg(item) for item in json.loads(row.legs_json))
        details = {str(key): float(value) for key, value in json.loads(row.details_json).items()}
        plan = tuple(str(step) for step in json.loads(row.plan_json))
        notes = tuple(str(note) for note in json.loads(row.notes_json))
    except (ValueError, TypeError, AttributeError) as exc:
        raise StoreError(f"card {row.card_id}: stored legs or details are damaged ({exc})") from exc
    return StrategyCard(
        card_id=row.card_id,
        template=row.template,
        name=row.name,
        legs=legs,
        confidence=row.confidence,
        expected_return=row.expected_return,
        max_risk=row.max_risk,
        reason=row.reason,
        asof=row.asof,
        horizon_days=row.horizon_days,
        stop_price=row.stop_price,
        target_price=row.target_price,
        score=row.score,
        details=details,
        plan=plan,
        notes=notes,
    )


def _leg(data: object) -> Leg:
    try:
        leg = from_jsonable(data)
    except DecodeError as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(leg, Leg):
        raise ValueError(f"expected a Leg, found {type(leg).__name__}")
    return leg


def _execution_from_row(row: StrategyExecutionRow) -> ExecutionRecord:
    try:
        status = ExecutionStatus(row.status)
    except ValueError as exc:
        raise StoreError(f"execution {row.execution_id}: a stored value is not understood ({exc})") from exc
    return ExecutionRecord(
        execution_id=row.execution_id,
        card_id=row.card_id,
        status=status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        message=row.message,
    )


def _risk_event_from_row(row: RiskEventRow) -> RiskEventRecord:
    try:
        details = json.loads(row.details_json)
    except ValueError as exc:
        raise StoreError(f"risk event {row.id}: stored details are damaged ({exc})") from exc
    return RiskEventRecord(
        id=int(row.id or 0),
        ts=row.ts,
        kind=row.kind,
        code=row.code,
        message=row.message,
        details=details if isinstance(details, dict) else {"value": details},
    )


def _audit_row(entry: AuditEntry) -> AuditEventRow:
    return AuditEventRow(
        seq=entry.seq,
        ts=entry.ts,
        actor=entry.actor,
        source=entry.source,
        action=entry.action,
        payload_json=entry.payload_json,
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )


def _audit_entry(
    seq: int | None, ts: str, actor: str, source: str, action: str, payload_json: str, prev: str, digest: str
) -> AuditEntry:
    return AuditEntry(int(seq or 0), ts, actor, source, action, payload_json, prev, digest)


# =========================================================================== helpers
def _find_order(session: Session, client_order_id: str) -> OrderRow | None:
    return session.exec(select(OrderRow).where(col(OrderRow.client_order_id) == client_order_id)).first()


def _aware(ts: datetime, what: str) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise StoreError(f"{what}: naive datetime {ts.isoformat()}; every stored time carries a zone")
    return ts


def _aware_or_none(ts: datetime | None, what: str) -> datetime | None:
    return None if ts is None else _aware(ts, what)


def _json_text(value: object, what: str) -> str:
    try:
        return json.dumps(to_jsonable(value), separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what}: cannot be stored as JSON ({exc})") from exc


def _check_limit(limit: int) -> None:
    if limit < 0:
        raise ValueError(f"limit must be zero or more, not {limit}")


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original if original is not None else exc)
