"""Reports read from a database after the fact, for ``onetap report ...``.

The console may import neither the store nor the execution package (the import-linter contract
"the console talks to the engine only through its client, the model and config"); this module is
the engine's door for offline reports, as ``engine.runtime.startup.halt_offline`` is for the offline
kill switch. It is light to import: the store is opened only when a report is asked for.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import Settings
from engine.execution.costs import CostEstimate
from engine.execution.plan import executed_card_id, expected_cost_of
from engine.execution.quality import ExecutionQuality, OrderQuality, executions_quality
from engine.store.db import StoreError
from engine.store.repository import Store

if TYPE_CHECKING:
    from typing import Any

    from engine.model.portfolio_report import PortfolioReport

__all__ = [
    "ExecutionQuality",
    "OrderQuality",
    "ReportError",
    "database_path",
    "load_execution_quality",
    "load_portfolio_report",
    "portfolio_report_json",
    "write_portfolio_report",
]


class ReportError(Exception):
    """A report cannot be made; the message is one line naming what is wrong."""


def database_path(settings: Settings, override: Path | None = None) -> Path:
    """The database a command works on: ``--database``, else ``[store] database``, else the default."""
    from engine.store.paths import database_path as engine_database_path

    return engine_database_path(settings, override)


def load_execution_quality(database: Path, since: datetime) -> list[ExecutionQuality]:
    """Execution quality of every order created at or after ``since`` (tz-aware), by execution.

    A missing file is an error rather than an empty report: opening it would create an empty
    database, and a mistyped path should not look like a quiet day.
    """
    if since.tzinfo is None:
        raise ReportError(f"report start {since!r} has no time zone")
    path = Path(database)
    store = _open_existing(path)
    try:
        orders = store.load_orders(since=since)
        fills = [f for o in orders for f in store.load_fills(client_order_id=o.client_order_id)]
        expected: dict[str, CostEstimate] = {}
        for execution_id, card_id in {(o.execution_id, o.card_id) for o in orders if o.execution_id}:
            card = None
            if card_id and execution_id is not None:  # the card as executed, then (older files) as last saved
                card = store.load_card(executed_card_id(card_id, execution_id)) or store.load_card(card_id)
            estimate = expected_cost_of(card) if card is not None else None
            if estimate is not None and execution_id is not None:
                expected[execution_id] = estimate
    except StoreError as exc:
        raise ReportError(str(exc)) from None
    finally:
        store.close()
    return executions_quality(orders, fills, expected=expected)


def load_portfolio_report(
    database: Path, settings: Settings, since: date, until: date | None = None
) -> PortfolioReport:
    """The portfolio report of [since, until] from the database's fills and the market's closes.

    The market is the one the engine trades (``[data]``: the shipped files or the user's file),
    cut at ``until``, which defaults to the last session the engine played (else the last fill):
    a replayed market must not be marked at closes the engine has not reached. Strategies are
    the templates of the orders' cards (``manual`` without one); the benchmark is the universe
    equal-weighted unless ``[universe] benchmark_weights`` names one. A missing database is an
    error, as for ``load_execution_quality``.
    """
    from engine.data.loader import DataError
    from engine.data.market import load_market as _load_market
    from engine.model.lots import trade_date
    from engine.portfolio.report import build_portfolio_report, closes_from_bars, sectors_of, tag_fills
    from engine.runtime.markets import REPLAY_KEY
    from engine.runtime.startup import EngineStartError

    if until is not None and until < since:
        raise ReportError(f"the report ends ({until}) before it starts ({since})")
    path = Path(database)
    store = _open_existing(path)
    try:
        fills = store.load_fills()
        tagged = tag_fills(fills, store.load_orders(), store.load_cards())
        last_played = store.get_state(REPLAY_KEY)
    except StoreError as exc:
        raise ReportError(str(exc)) from None
    finally:
        store.close()
    end = until
    if end is None:
        last_fill = max((trade_date(f.ts) for f in fills), default=None)
        played = date.fromisoformat(last_played) if last_played else None
        end = max((d for d in (played, last_fill) if d is not None), default=since)
    if end < since:
        raise ReportError(f"{path}: nothing happened on or after {since} (the last session played is {end})")
    try:
        market = _load_market(settings)
    except (DataError, EngineStartError) as exc:
        raise ReportError(str(exc)) from None
    try:
        return build_portfolio_report(
            tagged,
            closes_from_bars(market.bars, end),
            start=since,
            end=end,
            starting_cash=settings.broker.starting_cash,
            sectors=sectors_of(market.instruments, settings.universe.sectors),
            universe=settings.universe.symbols,
            benchmark_weights=settings.universe.benchmark_weights or None,
        )
    except ValueError as exc:
        raise ReportError(str(exc)) from None


def portfolio_report_json(report: PortfolioReport) -> dict[str, Any]:
    """The report as plain JSON data (what ``portfolio.json`` holds)."""
    from engine.portfolio.report_io import report_json

    return report_json(report)


def write_portfolio_report(report: PortfolioReport, folder: Path) -> list[Path]:
    """Write ``portfolio.json`` and the report's CSVs into ``folder``; ReportError names a failure."""
    from engine.portfolio.report_io import write_report_files

    try:
        return write_report_files(report, Path(folder).expanduser())
    except OSError as exc:
        raise ReportError(f"{folder}: cannot write the report ({exc.strerror or exc})") from None


def _open_existing(path: Path) -> Store:
    """The database a report reads: it must exist (a mistyped path must not look like a quiet day)."""
    if not path.is_file():
        raise ReportError(f"{path}: no such database")
    try:
        return Store.open(path)
    except StoreError as exc:
        raise ReportError(str(exc)) from None
