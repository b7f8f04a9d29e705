"""Reports read from a database after the fact, for ``onetap report ...``.

The console may import neither the store nor the execution package (the import-linter contract
"the console talks to the engine only through its client, the model and config"); this module is
the engine's door for offline reports, as ``engine.service.halt_offline`` is for the offline
kill switch. It is light to import: the store is opened only when a report is asked for.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from engine.config import Settings
from engine.execution.costs import CostEstimate
from engine.execution.plan import expected_cost_of
from engine.execution.quality import ExecutionQuality, OrderQuality, executions_quality

__all__ = ["ExecutionQuality", "OrderQuality", "ReportError", "database_path", "load_execution_quality"]


class ReportError(Exception):
    """A report cannot be made; the message is one line naming what is wrong."""


def database_path(settings: Settings, override: Path | None = None) -> Path:
    """The database a command works on: ``--database``, else ``[store] database``, else the default."""
    from engine.store.db import default_database_path

    if override is not None:
        return Path(override).expanduser()
    return Path(settings.store.database).expanduser() if settings.store.database else default_database_path()


def load_execution_quality(database: Path, since: datetime) -> list[ExecutionQuality]:
    """Execution quality of every order created at or after ``since`` (tz-aware), by execution.

    A missing file is an error rather than an empty report: opening it would create an empty
    database, and a mistyped path should not look like a quiet day.
    """
    from engine.store.db import StoreError
    from engine.store.repository import Store

    if since.tzinfo is None:
        raise ReportError(f"report start {since!r} has no time zone")
    path = Path(database)
    if not path.is_file():
        raise ReportError(f"{path}: no such database")
    try:
        store = Store.open(path)
    except StoreError as exc:
        raise ReportError(str(exc)) from None
    try:
        orders = store.load_orders(since=since)
        fills = [f for o in orders for f in store.load_fills(client_order_id=o.client_order_id)]
        expected: dict[str, CostEstimate] = {}
        for execution_id, card_id in {(o.execution_id, o.card_id) for o in orders if o.execution_id}:
            card = store.load_card(card_id) if card_id else None
            estimate = expected_cost_of(card) if card is not None else None
            if estimate is not None and execution_id is not None:
                expected[execution_id] = estimate
    except StoreError as exc:
        raise ReportError(str(exc)) from None
    finally:
        store.close()
    return executions_quality(orders, fills, expected=expected)
