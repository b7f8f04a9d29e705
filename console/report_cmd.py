"""``onetap report executions``: execution quality from the database, one line per execution and order.

    onetap report executions --since 2012-01-03 [--database PATH] [--json]

For every execution (a card's orders, or an order sent on its own) started since the date, then
for each of its orders (algo children indented under their parent): symbol, side, quantity,
filled, arrival price, average fill, slippage in bps (implementation shortfall, positive =
cost), fill rate, time to the first and the last fill, commission. ``--json`` prints the same as
one JSON object per line (``"type"``: execution, order or child), for scripts.

It reads the database only; the engine may be running. Nothing here imports Textual.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo

from engine.config import Settings

if TYPE_CHECKING:
    from engine.reports import ExecutionQuality, OrderQuality

EXIT_USAGE = 2
NEW_YORK = ZoneInfo("America/New_York")
"""``--since`` is a trading date: it starts at midnight in New York, the exchange's zone."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report executions`` to the ``onetap`` command's subcommands."""
    report = subparsers.add_parser("report", help="reports from the database (execution quality)")
    kinds = report.add_subparsers(dest="report", metavar="REPORT", required=True)
    executions = kinds.add_parser(
        "executions", help="execution quality: slippage vs arrival, fill rate, time to fill, commission"
    )
    executions.add_argument(
        "--since", required=True, metavar="YYYY-MM-DD", help="orders created on or after this trading date"
    )
    executions.add_argument(
        "--database",
        type=Path,
        metavar="PATH",
        default=argparse.SUPPRESS,  # keeps `onetap --database PATH report ...` working too
        help="the SQLite database (overrides [store] database)",
    )
    executions.add_argument("--json", action="store_true", help="one JSON object per line")


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """Print the report; 0 on success, 2 with one line on stderr when it cannot be made."""
    from engine.reports import ReportError, database_path, load_execution_quality

    out = out or sys.stdout
    try:
        day = date.fromisoformat(args.since)
    except ValueError:
        return _error(f"--since expects a date YYYY-MM-DD, got {args.since!r}")
    since = datetime.combine(day, time(0), tzinfo=NEW_YORK)
    path = database_path(settings, getattr(args, "database", None))
    try:
        executions = load_execution_quality(path, since)
    except ReportError as exc:
        return _error(str(exc))
    if args.json:
        for ex in executions:
            for record in _records(ex):
                out.write(json.dumps(record) + "\n")
        return 0
    if not executions:
        out.write(f"no executions since {day.isoformat()} in {path}\n")
        return 0
    for ex in executions:
        out.write(format_execution(ex) + "\n")
        for order in ex.orders:
            out.write("  " + format_order(order) + "\n")
            for child in ex.children:
                if child.parent_id == order.client_order_id:
                    out.write("    " + format_order(child) + "\n")
    return 0


def _error(message: str) -> int:
    print(f"onetap: report: {message}", file=sys.stderr)
    return EXIT_USAGE


# --------------------------------------------------------------------------- text
def format_execution(ex: ExecutionQuality) -> str:
    """One line: the execution's id and card, then the aggregated figures."""
    head = f"execution {ex.execution_id or '-'}  card {ex.card_id or '-'}"
    what = f"{','.join(ex.symbols)} {'/'.join(s.value for s in ex.sides)}"
    cost = "cost -"
    if ex.realized_cost is not None:
        cost = f"cost {ex.realized_cost:.2f}"
        if ex.realized_cost_bps is not None:
            cost += f" ({ex.realized_cost_bps:.2f} bps)"
    if ex.expected is not None:
        cost += f"  expected {ex.expected.total:.2f} ({ex.expected.total_bps:.2f} bps)"
    figures = _figures(
        ex.quantity,
        ex.filled_quantity,
        ex.arrival_price,
        ex.avg_fill_price,
        ex.slippage_bps,
        ex.fill_rate,
        ex.time_to_first_fill_s,
        ex.time_to_last_fill_s,
        ex.commission,
    )
    return f"{head}  {what}  {figures}  {cost}"


def format_order(order: OrderQuality) -> str:
    """One line: the order's id, symbol and side, the figures, then its algo and status."""
    kind = "child" if order.parent_id else "order"
    figures = _figures(
        order.quantity,
        order.filled_quantity,
        order.arrival_price,
        order.avg_fill_price,
        order.slippage_bps,
        order.fill_rate,
        order.time_to_first_fill_s,
        order.time_to_last_fill_s,
        order.commission,
    )
    tags = ", ".join(t for t in (order.algo, order.status.value) if t)
    return f"{kind} {order.client_order_id}  {order.symbol} {order.side.value}  {figures}  [{tags}]"


def _figures(
    qty: float,
    filled: float,
    arrival: float | None,
    avg: float | None,
    slippage: float | None,
    fill_rate: float,
    first: float | None,
    last: float | None,
    commission: float,
) -> str:
    return (
        f"qty {_shares(qty)}  filled {_shares(filled)}  arrival {_price(arrival)}  avg {_price(avg)}  "
        f"slippage {_bps(slippage)}  fill {fill_rate * 100:.1f}%  "
        f"first fill {_seconds(first)}  last fill {_seconds(last)}  commission {commission:.2f}"
    )


def _shares(qty: float) -> str:
    text = f"{qty:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _price(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _bps(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} bps"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s"


# --------------------------------------------------------------------------- JSON
def _records(ex: ExecutionQuality) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [
        {
            "type": "execution",
            "execution_id": ex.execution_id,
            "card_id": ex.card_id,
            "symbols": list(ex.symbols),
            "sides": [s.value for s in ex.sides],
            "quantity": ex.quantity,
            "filled_quantity": ex.filled_quantity,
            "arrival_price": ex.arrival_price,
            "avg_fill_price": ex.avg_fill_price,
            "slippage_bps": ex.slippage_bps,
            "fill_rate": ex.fill_rate,
            "time_to_first_fill_s": ex.time_to_first_fill_s,
            "time_to_last_fill_s": ex.time_to_last_fill_s,
            "commission": ex.commission,
            "realized_cost": ex.realized_cost,
            "realized_cost_bps": ex.realized_cost_bps,
            "expected_cost": None if ex.expected is None else ex.expected.total,
            "expected_cost_bps": None if ex.expected is None else ex.expected.total_bps,
            "started_at": None if ex.started_at is None else ex.started_at.isoformat(),
        }
    ]
    for order in ex.orders:
        records.append(_order_record(order, ex))
        records.extend(_order_record(c, ex) for c in ex.children if c.parent_id == order.client_order_id)
    return records


def _order_record(order: OrderQuality, ex: ExecutionQuality) -> dict[str, Any]:
    return {
        "type": "child" if order.parent_id else "order",
        "execution_id": ex.execution_id,
        "client_order_id": order.client_order_id,
        "parent_id": order.parent_id,
        "card_id": order.card_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "algo": order.algo,
        "status": order.status.value,
        "quantity": order.quantity,
        "filled_quantity": order.filled_quantity,
        "arrival_price": order.arrival_price,
        "avg_fill_price": order.avg_fill_price,
        "slippage_bps": order.slippage_bps,
        "fill_rate": order.fill_rate,
        "time_to_first_fill_s": order.time_to_first_fill_s,
        "time_to_last_fill_s": order.time_to_last_fill_s,
        "commission": order.commission,
        "fills": order.fills,
        "created_at": None if order.created_at is None else order.created_at.isoformat(),
    }
