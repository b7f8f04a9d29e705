"""The one mapping between the domain model and the store's rows (and the records only the
store returns): every table's to-row and from-row, so the repository's queries stay queries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

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
from engine.model.exits import ExitPolicy
from engine.model.forecast import ForecastOutcome, OutcomeStatus
from engine.store.audit import AuditEntry
from engine.store.db import StoreError
from engine.store.tables import (
    AuditEventRow,
    FillRow,
    ForecastOutcomeRow,
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


def order_to_row(order: Order) -> OrderRow:
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
        created_at=aware_or_none(order.created_at, f"{what} created_at"),
        updated_at=aware_or_none(order.updated_at, f"{what} updated_at"),
        reason=order.reason,
        parent_id=order.parent_id,
        algo=order.algo,
        arrival_price=order.arrival_price,
        trail_amount=order.trail_amount,
        trail_percent=order.trail_percent,
        oca_group=order.oca_group,
        protects=order.protects,
    )


def order_from_row(row: OrderRow) -> Order:
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
            trail_amount=row.trail_amount,
            trail_percent=row.trail_percent,
            oca_group=row.oca_group,
            protects=row.protects,
        )
    except ValueError as exc:
        raise StoreError(f"order {row.client_order_id}: a stored value is not understood ({exc})") from exc


def fill_to_row(fill: Fill) -> FillRow:
    return FillRow(
        exec_id=fill.exec_id,
        client_order_id=fill.client_order_id,
        symbol=fill.symbol,
        side=Side(fill.side).value,
        quantity=fill.quantity,
        price=fill.price,
        commission=fill.commission,
        ts=aware(fill.ts, f"fill {fill.exec_id} ts"),
        currency=fill.currency,
    )


def fill_from_row(row: FillRow) -> Fill:
    try:
        side = Side(row.side)
    except ValueError as exc:
        raise StoreError(f"fill {row.exec_id}: a stored value is not understood ({exc})") from exc
    return Fill(
        exec_id=row.exec_id,
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=side,
        quantity=row.quantity,
        price=row.price,
        commission=row.commission,
        ts=row.ts,
        currency=row.currency,
    )


_SIDES = {side.value: side for side in Side}


def fill_from_columns(
    exec_id: str,
    client_order_id: str,
    symbol: str,
    side: str,
    quantity: float,
    price: float,
    commission: float,
    ts: datetime,
    currency: str = "",
) -> Fill:
    """A fill from its row read as plain columns (a restart reads every fill: an ORM object per
    row cost more than the rest of the fold)."""
    known = _SIDES.get(side)
    if known is None:
        raise StoreError(f"fill {exec_id}: a stored value is not understood ({side!r} is not a Side)")
    return Fill(exec_id, client_order_id, symbol, known, quantity, price, commission, ts, currency)


def position_to_row(position: Position, ts: datetime | None) -> PositionRow:
    return PositionRow(
        symbol=position.symbol,
        quantity=position.quantity,
        avg_cost=position.avg_cost,
        last=position.last,
        realized_pnl=position.realized_pnl,
        day_open_value=position.day_open_value,
        updated_at=aware_or_none(ts, "positions ts"),
    )


def position_from_row(row: PositionRow) -> Position:
    return Position(
        symbol=row.symbol,
        quantity=row.quantity,
        avg_cost=row.avg_cost,
        last=row.last,
        realized_pnl=row.realized_pnl,
        day_open_value=row.day_open_value,
    )


def card_to_row(card: StrategyCard) -> StrategyCardRow:
    what = f"card {card.card_id}"
    return StrategyCardRow(
        card_id=card.card_id,
        template=card.template,
        name=card.name,
        legs_json=json_text([to_jsonable(leg) for leg in card.legs], f"{what} legs"),
        confidence=card.confidence,
        expected_return=card.expected_return,
        max_risk=card.max_risk,
        reason=card.reason,
        asof=aware(card.asof, f"{what} asof"),
        horizon_days=card.horizon_days,
        stop_price=card.stop_price,
        target_price=card.target_price,
        score=card.score,
        details_json=json_text(dict(card.details), f"{what} details"),
        plan_json=json_text(list(card.plan), f"{what} plan"),
        notes_json=json_text(list(card.notes), f"{what} notes"),
        exit_json=exit_policy_text(card.exit_policy),
    )


def card_from_row(row: StrategyCardRow) -> StrategyCard:
    try:
        legs = tuple(leg(item) for item in json.loads(row.legs_json))
        details = {str(key): float(value) for key, value in json.loads(row.details_json).items()}
        plan = tuple(str(step) for step in json.loads(row.plan_json))
        notes = tuple(str(note) for note in json.loads(row.notes_json))
        exit_policy = exit_policy_from_text(row.exit_json)
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
        exit_policy=exit_policy,
    )


def exit_policy_text(policy: ExitPolicy | None) -> str:
    """A card's exit policy as stored: "" for none, else the codec's JSON of it."""
    return "" if policy is None else json.dumps(to_jsonable(policy), sort_keys=True)


def exit_policy_from_text(text: str) -> ExitPolicy | None:
    if not text:
        return None
    try:
        policy = from_jsonable(json.loads(text))
    except DecodeError as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(policy, ExitPolicy):
        raise ValueError(f"expected an ExitPolicy, found {type(policy).__name__}")
    return policy


def leg(data: object) -> Leg:
    try:
        leg = from_jsonable(data)
    except DecodeError as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(leg, Leg):
        raise ValueError(f"expected a Leg, found {type(leg).__name__}")
    return leg


def execution_from_row(row: StrategyExecutionRow) -> ExecutionRecord:
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


def outcome_to_row(o: ForecastOutcome) -> ForecastOutcomeRow:
    return ForecastOutcomeRow(
        execution_id=o.execution_id,
        card_id=o.card_id,
        template=o.template,
        symbols_json=json.dumps(list(o.symbols)),
        status=OutcomeStatus(o.status).value,
        opened_at=aware(o.opened_at, f"outcome {o.execution_id} opened_at"),
        closed_at=aware(o.closed_at, f"outcome {o.execution_id} closed_at"),
        confidence=o.confidence,
        expected_return=o.expected_return,
        max_risk=o.max_risk,
        expected_cost=o.expected_cost,
        capital=o.capital,
        gross_pnl=o.gross_pnl,
        entry_commission=o.entry_commission,
        exit_commission=o.exit_commission,
        entry_slippage=o.entry_slippage,
        exit_slippage=o.exit_slippage,
    )


def outcome_from_row(row: ForecastOutcomeRow) -> ForecastOutcome:
    symbols = json.loads(row.symbols_json)
    if not isinstance(symbols, list):
        raise ValueError(f"forecast outcome {row.execution_id}: symbols are not a list")
    return ForecastOutcome(
        execution_id=row.execution_id,
        card_id=row.card_id,
        template=row.template,
        symbols=tuple(str(s) for s in symbols),
        status=OutcomeStatus(row.status),
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        confidence=row.confidence,
        expected_return=row.expected_return,
        max_risk=row.max_risk,
        expected_cost=row.expected_cost,
        capital=row.capital,
        gross_pnl=row.gross_pnl,
        entry_commission=row.entry_commission,
        exit_commission=row.exit_commission,
        entry_slippage=row.entry_slippage,
        exit_slippage=row.exit_slippage,
    )


def risk_event_from_row(row: RiskEventRow) -> RiskEventRecord:
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


def held_tail(path: Path) -> tuple[int, str] | None:
    """(seq, hash) of the last entry held aside earlier, so new held entries chain on from it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in reversed(lines):
        try:
            data = json.loads(line)
            return int(data["seq"]), str(data["hash"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def audit_row(entry: AuditEntry) -> AuditEventRow:
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


def audit_entry(
    seq: int | None, ts: str, actor: str, source: str, action: str, payload_json: str, prev: str, digest: str
) -> AuditEntry:
    return AuditEntry(int(seq or 0), ts, actor, source, action, payload_json, prev, digest)


# =========================================================================== helpers
def find_order(session: Session, client_order_id: str) -> OrderRow | None:
    return session.exec(select(OrderRow).where(col(OrderRow.client_order_id) == client_order_id)).first()


def aware(ts: datetime, what: str) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise StoreError(f"{what}: naive datetime {ts.isoformat()}; every stored time carries a zone")
    return ts


def aware_or_none(ts: datetime | None, what: str) -> datetime | None:
    return None if ts is None else aware(ts, what)


def json_text(value: object, what: str) -> str:
    try:
        return json.dumps(to_jsonable(value), separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what}: cannot be stored as JSON ({exc})") from exc


def check_limit(limit: int) -> None:
    if limit < 0:
        raise ValueError(f"limit must be zero or more, not {limit}")


def reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original if original is not None else exc)
