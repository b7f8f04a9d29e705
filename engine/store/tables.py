"""The SQLModel tables. Only ``engine.store`` imports this module; everything else speaks the model.

Enums are stored by value (plain strings), so a row stays readable with the sqlite3 shell and
an enum renamed in code cannot silently reinterpret old rows. Times are stored as fixed-width
UTC ISO-8601 text (``UtcDateTime``): exact to the microsecond, zone kept, sortable as text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Dialect, MetaData, String, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from engine.store.audit import format_ts, parse_ts


class UtcDateTime(TypeDecorator[datetime]):
    """A tz-aware datetime as UTC ISO text; a naive one is refused rather than guessed at."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        return None if value is None else format_ts(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:
        return None if value is None else parse_ts(value)


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"

    # A surrogate integer key keeps insertion order stable ("newest last") even after VACUUM.
    seq: int | None = Field(default=None, primary_key=True)
    client_order_id: str = Field(unique=True)
    symbol: str
    side: str
    quantity: float
    order_type: str
    limit_price: float | None = None
    stop_price: float | None = None
    tif: str
    status: str = Field(index=True)
    filled_quantity: float
    avg_fill_price: float | None = None
    broker_order_id: str | None = None
    card_id: str | None = None
    execution_id: str | None = None
    created_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    reason: str = ""
    parent_id: str | None = Field(default=None, index=True)
    algo: str = ""
    arrival_price: float | None = None
    trail_amount: float | None = None
    trail_percent: float | None = None
    oca_group: str | None = None
    protects: str | None = Field(default=None, index=True)


class FillRow(SQLModel, table=True):
    __tablename__ = "fills"

    id: int | None = Field(default=None, primary_key=True)
    exec_id: str = Field(unique=True)
    client_order_id: str = Field(foreign_key="orders.client_order_id", index=True)
    symbol: str
    side: str
    quantity: float
    price: float
    commission: float
    ts: datetime = Field(sa_type=UtcDateTime)
    currency: str = ""
    """The currency of the price and commission ("" before schema 6: as the instrument is configured)."""


class PositionRow(SQLModel, table=True):
    __tablename__ = "positions"

    symbol: str = Field(primary_key=True)
    quantity: float
    avg_cost: float
    last: float
    realized_pnl: float
    day_open_value: float
    updated_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class StrategyCardRow(SQLModel, table=True):
    __tablename__ = "strategy_cards"

    card_id: str = Field(primary_key=True)
    template: str
    name: str
    legs_json: str
    confidence: float
    expected_return: float
    max_risk: float
    reason: str
    asof: datetime = Field(sa_type=UtcDateTime)
    horizon_days: int
    stop_price: float | None = None
    target_price: float | None = None
    score: float
    details_json: str
    plan_json: str = "[]"
    notes_json: str = "[]"
    exit_json: str = ""


class StrategyExecutionRow(SQLModel, table=True):
    __tablename__ = "strategy_executions"

    execution_id: str = Field(primary_key=True)
    card_id: str = Field(index=True)
    status: str
    started_at: datetime = Field(sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    message: str = ""


class ForecastOutcomeRow(SQLModel, table=True):
    """One executed card's forecast beside its realized outcome (``engine.model.forecast``):
    written once, when the trade ends, keyed by the execution."""

    __tablename__ = "forecast_outcomes"

    execution_id: str = Field(primary_key=True)
    card_id: str
    template: str = Field(index=True)
    symbols_json: str
    status: str
    opened_at: datetime = Field(sa_type=UtcDateTime)
    closed_at: datetime = Field(sa_type=UtcDateTime, index=True)
    confidence: float
    expected_return: float
    max_risk: float
    expected_cost: float
    capital: float
    gross_pnl: float
    entry_commission: float
    exit_commission: float
    entry_slippage: float
    exit_slippage: float


class AuditEventRow(SQLModel, table=True):
    __tablename__ = "audit_events"
    # AUTOINCREMENT: a seq is never handed out twice, so entries cut from the end and then
    # followed by new appends leave a visible gap instead of being silently overwritten.
    __table_args__ = {"sqlite_autoincrement": True}

    seq: int | None = Field(default=None, primary_key=True)
    ts: str  # the exact text the hash was taken over; see audit.format_ts
    actor: str
    source: str
    action: str
    payload_json: str
    prev_hash: str
    hash: str


class RiskEventRow(SQLModel, table=True):
    __tablename__ = "risk_events"

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(sa_type=UtcDateTime, index=True)
    kind: str
    code: str
    message: str
    details_json: str


class EngineStateRow(SQLModel, table=True):
    __tablename__ = "engine_state"

    key: str = Field(primary_key=True)
    value: str
    updated_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class IdSequenceRow(SQLModel, table=True):
    __tablename__ = "id_sequences"

    name: str = Field(primary_key=True)
    value: int


METADATA: MetaData = SQLModel.metadata

TABLE_NAMES = (
    "orders",
    "fills",
    "positions",
    "strategy_cards",
    "strategy_executions",
    "audit_events",
    "risk_events",
    "engine_state",
    "id_sequences",
    "forecast_outcomes",
)

ALL_TABLES: tuple[Table, ...] = tuple(METADATA.tables[name] for name in TABLE_NAMES)
"""Created explicitly by name: SQLModel's metadata is process-wide and must not leak other tables in."""
