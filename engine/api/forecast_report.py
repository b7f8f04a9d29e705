"""``onetap report cards``: the template scoreboard read from a database after the fact.

The engine stores each executed card's outcome when its trade ends (``engine.runtime.forecasts``).
A report also folds the stored orders and fills through the same ``TradeBook``, so it counts the
trades still open (pending) and scores trades a database holds but has no outcome row for yet
(a file from before the table, which the engine fills at its next start). It writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from engine.api.reports import ReportError
from engine.execution.plan import executed_card_id
from engine.model import StrategyCard
from engine.model.forecast import CardReport
from engine.portfolio.forecasts import TradeBook
from engine.portfolio.scoreboard import scoreboard
from engine.store.db import StoreError
from engine.store.repository import Store

__all__ = ["CardReport", "load_card_report"]


def load_card_report(database: Path, since: datetime, *, asof: datetime | None = None) -> CardReport:
    """Outcomes closed at or after ``since`` (tz-aware) and the scoreboard over them."""
    if since.tzinfo is None:
        raise ReportError(f"report start {since!r} has no time zone")
    path = Path(database)
    if not path.is_file():  # opening it would create an empty database: a typo is not a quiet day
        raise ReportError(f"{path}: no such database")
    try:
        store = Store.open(path)
    except StoreError as exc:
        raise ReportError(str(exc)) from None
    try:

        def card(card_id: str, execution_id: str) -> StrategyCard | None:
            return store.load_card(executed_card_id(card_id, execution_id)) or store.load_card(card_id)

        book = TradeBook(card)
        computed = book.fold(store.load_orders(), store.load_fills())
        stored = store.load_outcomes()
    except StoreError as exc:
        raise ReportError(str(exc)) from None
    finally:
        store.close()
    known = {o.execution_id for o in stored}
    every = sorted(
        [*stored, *(o for o in computed if o.execution_id not in known)],
        key=lambda o: (o.closed_at, o.execution_id),
    )
    chosen = tuple(o for o in every if o.closed_at >= since)
    pending = tuple(book.open_trades())
    by_template: dict[str, int] = {}
    for trade in pending:
        by_template[trade.template] = by_template.get(trade.template, 0) + 1
    last = max((o.closed_at for o in every), default=since)
    board = scoreboard(chosen, asof=asof or last, since=since, open_trades=by_template)
    return CardReport(board, chosen, pending)
