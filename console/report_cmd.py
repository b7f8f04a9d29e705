"""``onetap report executions|portfolio``: reports from the database, for the operator and for scripts.

    onetap report executions --since 2012-01-03 [--database PATH] [--json]
    onetap report portfolio --since 2012-01-03 [--until DATE] [--out DIR] [--database PATH] [--json]
    onetap report cards --since 2012-01-03 [--database PATH] [--json]

For every execution (a card's orders, or an order sent on its own) started since the date, then
for each of its orders (algo children indented under their parent): symbol, side, quantity,
filled, arrival price, average fill, slippage in bps (implementation shortfall, positive =
cost), fill rate, time to the first and the last fill, commission. ``--json`` prints the same as
one JSON object per line (``"type"``: execution, order or child), for scripts.

``portfolio`` prints the period's equity, returns, drawdown, exposures, VaR, P&L attribution by
strategy, symbol and sector, Brinson-Fachler by sector against the benchmark, turnover and
realized gains by holding term; ``--out DIR`` also writes ``portfolio.json`` and one CSV per
table, ``--json`` prints the whole report as one JSON object instead of the summary.

``cards`` prints the template scoreboard of the card trades closed since the date: per template
the closed trades, the realized hit rate against the mean confidence the cards showed, the mean
realized return against the expected, the entry cost against the expected cost (bps of capital,
95% intervals), and the drift tests; then every trade's forecast beside its outcome. ``--json``
prints one JSON object per line (``"type"``: template, outcome or open).

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
    from engine.api.reports import ExecutionQuality, OrderQuality
    from engine.model.portfolio_report import AttributionLine, PortfolioReport

EXIT_USAGE = 2
NEW_YORK = ZoneInfo("America/New_York")
"""``--since`` is a trading date: it starts at midnight in New York, the exchange's zone."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report executions`` to the ``onetap`` command's subcommands."""
    report = subparsers.add_parser("report", help="reports from the database (executions, portfolio, cards)")
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
    _add_portfolio_parser(kinds)
    _add_cards_parser(kinds)


def _add_cards_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cards = kinds.add_parser(
        "cards", help="forecast vs outcome by template: hit rate, return and cost against the cards', drift"
    )
    cards.add_argument(
        "--since", required=True, metavar="YYYY-MM-DD", help="trades closed on or after this trading date"
    )
    cards.add_argument(
        "--database",
        type=Path,
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the SQLite database (overrides [store] database)",
    )
    cards.add_argument("--json", action="store_true", help="one JSON object per line")


def _add_portfolio_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    portfolio = kinds.add_parser(
        "portfolio",
        help="equity, returns, drawdown, exposures, VaR, attribution, Brinson, turnover, realized gains",
    )
    portfolio.add_argument("--since", required=True, metavar="YYYY-MM-DD", help="first trading date")
    portfolio.add_argument(
        "--until", metavar="YYYY-MM-DD", help="last trading date (default: the engine's last session)"
    )
    portfolio.add_argument(
        "--out", type=Path, metavar="DIR", help="also write portfolio.json and the tables as CSV files here"
    )
    portfolio.add_argument(
        "--database",
        type=Path,
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the SQLite database (overrides [store] database)",
    )
    portfolio.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """Print the report; 0 on success, 2 with one line on stderr when it cannot be made."""
    from engine.api.reports import ReportError, database_path, load_execution_quality

    out = out or sys.stdout
    if args.report == "portfolio":
        return run_portfolio(args, settings, out)
    if args.report == "cards":
        return run_cards(args, settings, out)
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


# --------------------------------------------------------------------------- cards
def run_cards(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``report cards``: the template scoreboard and each trade's forecast vs outcome (or ``--json``)."""
    from console.card_scores import report_lines, report_records
    from engine.api.forecast_report import load_card_report
    from engine.api.reports import ReportError, database_path

    try:
        day = date.fromisoformat(args.since)
    except ValueError:
        return _error(f"--since expects a date YYYY-MM-DD, got {args.since!r}")
    path = database_path(settings, getattr(args, "database", None))
    try:
        report = load_card_report(path, datetime.combine(day, time(0), tzinfo=NEW_YORK))
    except ReportError as exc:
        return _error(str(exc))
    if args.json:
        for record in report_records(report):
            out.write(json.dumps(record) + "\n")
        return 0
    for line in report_lines(report, day.isoformat()):
        out.write(line + "\n")
    return 0


# --------------------------------------------------------------------------- portfolio
def run_portfolio(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``report portfolio``: the summary (or ``--json``), and the files when ``--out`` is given."""
    from engine.api.reports import (
        ReportError,
        database_path,
        load_portfolio_report,
        portfolio_report_json,
        write_portfolio_report,
    )

    try:
        since = date.fromisoformat(args.since)
    except ValueError:
        return _error(f"--since expects a date YYYY-MM-DD, got {args.since!r}")
    until = None
    if args.until is not None:
        try:
            until = date.fromisoformat(args.until)
        except ValueError:
            return _error(f"--until expects a date YYYY-MM-DD, got {args.until!r}")
    path = database_path(settings, getattr(args, "database", None))
    try:
        report = load_portfolio_report(path, settings, since, until)
        written = write_portfolio_report(report, args.out) if args.out is not None else []
    except ReportError as exc:
        return _error(str(exc))
    if args.json:
        out.write(json.dumps(portfolio_report_json(report)) + "\n")
        return 0
    for line in format_portfolio(report):
        out.write(line + "\n")
    if written:
        out.write(f"wrote {len(written)} files to {args.out}: {', '.join(p.name for p in written)}\n")
    return 0


def format_portfolio(report: PortfolioReport) -> list[str]:
    """The report as text lines that fit 100 columns, tables aligned."""
    r, e = report.returns, report.exposures
    lines = [
        f"portfolio {report.start} .. {report.end}  ({r.sessions} sessions, {report.fills} fills)",
        f"equity     {report.start_equity:,.2f} -> {report.end_equity:,.2f}  P&L {report.total_pnl:+,.2f}",
        f"returns    total {_pct(r.total_return)}  annualised {_pct(r.annualized_return)}  "
        f"vol {_share(r.daily_volatility)} a day ({_share(r.annualized_volatility)} a year)  "
        f"Sharpe {_num(r.sharpe)}",
        f"drawdown   max {_pct(r.max_drawdown)}  now {_pct(r.current_drawdown)}",
        f"exposure   gross {e.gross_value:,.0f} ({_share(e.gross_share)})  net {e.net_value:,.0f} "
        f"({_share(e.net_share)})  long {e.long_value:,.0f}  short {e.short_value:,.0f}  "
        f"cash {e.cash:,.0f} ({_share(e.cash_share)})",
    ]
    lines += [f"  {s.sector:<28} net {s.net_value:>14,.0f}  {_share(s.net_share):>8}" for s in e.sectors]
    risk = report.risk
    if risk.var_95 is None:
        var = f": not estimated, only {risk.observations} daily moves in the period"
    else:
        var = f" {_money(risk.var_95)} ({_share(risk.var_95_share)})"
        var += f": the end book over {risk.observations} daily moves"
    lines.append(f"risk       VaR 95% one day{var}")
    lines.append(
        f"turnover   {_num(report.turnover)} (traded {report.traded_value:,.2f} on average equity "
        f"{report.average_equity:,.2f})"
    )
    for title, rows in (
        ("strategy", report.by_strategy),
        ("symbol", report.by_symbol),
        ("sector", report.by_sector),
    ):
        lines += ["", *_attribution_table(title, rows)]
    lines += ["", *_brinson_lines(report)]
    g = report.realized
    lines += [
        "",
        f"realized   short term {g.short_term:+,.2f} ({_lots(g.short_count)})  long term "
        f"{g.long_term:+,.2f} ({_lots(g.long_count)})  total {g.total:+,.2f}",
        "dividends  " + (", ".join(f"{d.symbol} {d.amount:,.2f}" for d in report.dividends) or "none"),
    ]
    lines += [f"note       {note}" for note in report.notes]
    return lines


def _attribution_table(title: str, rows: tuple[AttributionLine, ...]) -> list[str]:
    head = f"P&L by {title:<20} {'realized':>12} {'unrealized':>12} {'dividends':>10} {'commiss.':>9} "
    out = [head + f"{'total':>12} {'contrib':>8}"]
    out += [
        f"  {row.key[:26]:<26} {row.realized:>12,.2f} {row.unrealized_change:>12,.2f} "
        f"{row.dividends:>10,.2f} {row.commissions:>9,.2f} {row.total:>12,.2f} {_pct(row.contribution):>8}"
        for row in rows
    ]
    if not rows:
        out.append("  (no positions in the period)")
    return out


def _brinson_lines(report: PortfolioReport) -> list[str]:
    b = report.brinson
    if b is None:
        return ["Brinson-Fachler: no session to attribute"]
    out = [
        f"Brinson-Fachler by sector, {_days(b.days)} linked (Carino); benchmark: {b.benchmark}",
        f"  portfolio {_pct(b.portfolio_return)}  benchmark {_pct(b.benchmark_return)}  active "
        f"{_pct(b.active_return)} = allocation {_pct(b.allocation)} + selection {_pct(b.selection)} "
        f"+ interaction {_pct(b.interaction)}",
        f"  {'sector':<26} {'w port':>8} {'w bench':>8} {'alloc':>8} {'select':>8} "
        f"{'interact':>8} {'total':>8}",
    ]
    out += [
        f"  {s.sector[:26]:<26} {_share(s.portfolio_weight):>8} {_share(s.benchmark_weight):>8} "
        f"{_pct(s.allocation):>8} {_pct(s.selection):>8} {_pct(s.interaction):>8} {_pct(s.total):>8}"
        for s in b.sectors
    ]
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _lots(n: int) -> str:
    return f"{n} lot" if n == 1 else f"{n} lots"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


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
    fill_rate: float | None,
    first: float | None,
    last: float | None,
    commission: float,
) -> str:
    return (
        f"qty {_shares(qty)}  filled {_shares(filled)}  arrival {_price(arrival)}  avg {_price(avg)}  "
        f"slippage {_bps(slippage)}  fill {_rate(fill_rate)}  "
        f"first fill {_seconds(first)}  last fill {_seconds(last)}  commission {commission:.2f}"
    )


def _shares(qty: float) -> str:
    text = f"{qty:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _price(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _bps(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} bps"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


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
