"""The Store: the one object the engine holds, and the one place the model meets the ORM.

Domain objects go in and come out; no SQLModel row leaves the store. This module holds the
queries by table; the transactions are ``unit_of_work.py``'s, the audit log ``audit_log.py``'s,
and the row mappings ``rows.py``'s. Every public write runs in
its own transaction and is committed (fsynced, under ``synchronous=FULL``) before the method
returns, so a caller that sends an order to a broker after ``insert_order`` returned knows the
order will be there after a crash. A write that fails leaves the database as it was and raises
``StoreError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, Integer, and_, cast, func, not_
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update

from engine.model import (
    ExecutionStatus,
    Fill,
    Order,
    OrderStatus,
    Position,
    StrategyCard,
)
from engine.model.forecast import ForecastOutcome
from engine.store import audit, rows
from engine.store.audit import AuditEntry, AuditRecord, AuditVerification
from engine.store.audit_log import AuditLog
from engine.store.db import StoreError, integrity_check, open_database
from engine.store.rows import ExecutionRecord, RiskEventRecord
from engine.store.sealing import (
    AuditProtection,
    SealVerdict,
)
from engine.store.tables import (
    METADATA,
    AuditEventRow,
    EngineStateRow,
    FillRow,
    ForecastOutcomeRow,
    IdSequenceRow,
    OrderRow,
    PositionRow,
    RiskEventRow,
    StrategyCardRow,
    StrategyExecutionRow,
)
from engine.store.unit_of_work import UnitOfWork, WriteStats

CLIENT_ORDER_ID_SEQUENCE = "client_order_id"
CLIENT_ORDER_ID_PREFIX = "OT-"

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
    col(FillRow.currency),
)

_OPEN_STATUSES = tuple(status.value for status in OrderStatus if status.is_open)
_FINISHED_EXECUTIONS = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.ROLLED_BACK}
)


_ORDER_INSERT = sa_insert(METADATA.tables[OrderRow.__tablename__])
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
_CARDS = METADATA.tables[StrategyCardRow.__tablename__]
_CARD_INSERT = sqlite_insert(_CARDS)
_CARD_UPSERT = _CARD_INSERT.on_conflict_do_update(
    index_elements=["card_id"],
    set_={c.name: _CARD_INSERT.excluded[c.name] for c in _CARDS.columns if c.name != "card_id"},
)


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
        self._uow = UnitOfWork(engine, path)
        self._path = path
        self._audit = AuditLog(self._uow, path, protection=protection, fresh=fresh)

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
    def write_stats(self) -> WriteStats:
        """Committed write transactions and their time (for the metrics)."""
        return self._uow.stats

    @property
    def closed(self) -> bool:
        return self._uow.closed

    def close(self) -> None:
        """Release the connections; the last one out checkpoints the WAL into the main file."""
        self._uow.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def integrity_check(self) -> list[str]:
        self._check_open()
        return integrity_check(self._uow.engine)

    # ----------------------------------------------------------------------- the audit log (audit_log.py)
    @property
    def protection(self) -> AuditProtection:
        return self._audit.protection

    @property
    def integrity_problems(self) -> list[str]:
        """What the check before the first append found wrong (empty: intact, or not checked yet)."""
        return self._audit.integrity_problems

    @property
    def audit_sealed(self) -> bool:
        """True while problems stand: the chain and its anchor are kept exactly as they were found."""
        return self._audit.audit_sealed

    @property
    def held_path(self) -> Path:
        return self._audit.held_path

    def verify_before_append(self, *, at_open: bool = False) -> list[str]:
        return self._audit.verify_before_append(at_open=at_open)

    def audit_problems(self) -> list[str]:
        return self._audit.audit_problems()

    def seal_verdict(self) -> SealVerdict:
        return self._audit.seal_verdict()

    def append_audit(
        self, ts: datetime, actor: str, source: str, action: str, payload: Mapping[str, object]
    ) -> AuditRecord:
        """Append one entry to the hash chain and move the keyed anchor (see ``AuditLog``)."""
        return self._audit.append_audit(ts, actor, source, action, payload)

    def flush_anchor(self) -> None:
        """Move the audit anchor to the chain's end now, if a batch left it behind."""
        self._audit.flush_anchor()

    def audit_entries(self) -> list[AuditEntry]:
        return self._audit.audit_entries()

    def verify_audit(self) -> AuditVerification:
        return self._audit.verify_audit()

    def audit_count(self) -> int:
        return self._audit.audit_count()

    def load_audit(self, *, limit: int | None = None) -> list[AuditRecord]:
        return self._audit.load_audit(limit=limit)

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

    def load_protection(self, protects: str | None = None) -> list[Order]:
        """Protective orders (those with ``protects`` set), oldest first: of one entry order, or all.

        The protection manager finds an entry's stop and target here after a restart, so what
        is already placed is never placed again."""
        stmt = select(OrderRow).where(col(OrderRow.protects).is_not(None))
        if protects is not None:
            stmt = select(OrderRow).where(col(OrderRow.protects) == protects)
        with self._read("load protective orders") as session:
            return [rows.order_from_row(row) for row in session.exec(stmt.order_by(col(OrderRow.seq)))]

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
        """Insert new cards and overwrite stored ones with the same ``card_id``: one upsert
        statement for them all (a merge per card read each row back first: ~7 ms a card)."""
        records = [rows.card_to_row(card).model_dump() for card in cards]
        if not records:
            return
        with self._write("save strategy cards") as session:
            session.connection().execute(_CARD_UPSERT, records)

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

    # ----------------------------------------------------------------------- forecast outcomes
    def save_outcomes(self, outcomes: Iterable[ForecastOutcome]) -> int:
        """Store each outcome unless its execution already has one; answers how many were new.

        Written once: a restart that computes an outcome again (``engine.runtime.forecasts``)
        finds it stored and writes nothing, so a trade is never scored twice.
        """
        values = [rows.outcome_to_row(o).model_dump() for o in outcomes]
        if not values:
            return 0
        added = 0
        with self._write(f"save {len(values)} forecast outcome(s)") as session:
            for value in values:
                stmt = (
                    sqlite_insert(ForecastOutcomeRow)
                    .values(**value)
                    .on_conflict_do_nothing(index_elements=["execution_id"])
                )
                added += session.exec(stmt).rowcount
        return added

    def load_outcomes(self, *, since: datetime | None = None) -> list[ForecastOutcome]:
        """Stored outcomes closed at or after ``since`` (all when None), in the order they closed."""
        stmt = select(ForecastOutcomeRow).order_by(
            col(ForecastOutcomeRow.closed_at), col(ForecastOutcomeRow.execution_id)
        )
        if since is not None:
            stmt = stmt.where(col(ForecastOutcomeRow.closed_at) >= rows.aware(since, "load_outcomes since"))
        with self._read("load forecast outcomes") as session:
            return [rows.outcome_from_row(row) for row in session.exec(stmt)]

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

    # ----------------------------------------------------------------------- transactions (unit_of_work.py)
    def batch(self, what: str, *, anchor: bool = True) -> AbstractContextManager[None]:
        """Make every write inside one transaction: one commit, one fsync (see ``UnitOfWork.batch``)."""
        return self._uow.batch(what, anchor=anchor)

    def _write(self, what: str) -> AbstractContextManager[Session]:
        return self._uow.write(what)

    def _read(self, what: str) -> AbstractContextManager[Session]:
        return self._uow.read(what)

    def _check_open(self) -> None:
        self._uow.check_open()


# =========================================================================== mapping
# Each domain type is mapped to and from its row in exactly one pair of functions below.
