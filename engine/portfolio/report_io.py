"""The portfolio report as files: ``portfolio.json`` (everything) and one CSV per table.

The JSON is the report's fields as they are (dates ISO-8601, holding terms as words, an
undefined figure ``null``), without the codec's type tags: it is for scripts and spreadsheets,
not for decoding back. The CSVs are the tables an analyst pastes somewhere, one row per line,
full float precision, so a sum taken in a spreadsheet matches the report's total.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

from engine.model.portfolio_report import AttributionLine, PortfolioReport

JSON_FILE = "portfolio.json"
CSV_FILES = (
    "equity_curve.csv",
    "attribution_strategy.csv",
    "attribution_symbol.csv",
    "attribution_sector.csv",
    "brinson_sector.csv",
    "realized_gains.csv",
)
_ATTRIBUTION_HEADER = ("realized", "unrealized_change", "dividends", "commissions", "total", "contribution")


def report_json(report: PortfolioReport) -> dict[str, Any]:
    """The report as plain JSON data."""
    return {f.name: _plain(getattr(report, f.name)) for f in dataclasses.fields(report)}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def write_report_files(report: PortfolioReport, folder: Path) -> list[Path]:
    """Write ``portfolio.json`` and the CSVs into ``folder`` (made if missing); returns the paths.

    An OSError (no permission, a file where the folder should be) is left to the caller, which
    names the folder.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / JSON_FILE]
    written[0].write_text(json.dumps(report_json(report), indent=2) + "\n", encoding="utf-8")
    tables: dict[str, tuple[Sequence[str], Iterable[Sequence[object]]]] = {
        "equity_curve.csv": (
            ("date", "equity", "cash", "long_value", "short_value", "daily_return", "drawdown"),
            (
                (p.day.isoformat(), p.equity, p.cash, p.long_value, p.short_value, p.daily_return, p.drawdown)
                for p in report.equity_curve
            ),
        ),
        "attribution_strategy.csv": (("strategy", *_ATTRIBUTION_HEADER), _attribution(report.by_strategy)),
        "attribution_symbol.csv": (("symbol", *_ATTRIBUTION_HEADER), _attribution(report.by_symbol)),
        "attribution_sector.csv": (("sector", *_ATTRIBUTION_HEADER), _attribution(report.by_sector)),
        "brinson_sector.csv": (
            (
                "sector",
                "portfolio_weight",
                "benchmark_weight",
                "allocation",
                "selection",
                "interaction",
                "total",
            ),
            (
                (
                    b.sector,
                    b.portfolio_weight,
                    b.benchmark_weight,
                    b.allocation,
                    b.selection,
                    b.interaction,
                    b.total,
                )
                for b in (report.brinson.sectors if report.brinson is not None else ())
            ),
        ),
        "realized_gains.csv": (
            (
                "symbol",
                "strategy",
                "quantity",
                "opened",
                "closed",
                "holding_days",
                "proceeds",
                "basis",
                "gain",
                "term",
            ),
            (
                (
                    r.symbol,
                    r.strategy,
                    r.quantity,
                    r.opened.isoformat(),
                    r.closed.isoformat(),
                    r.holding_days,
                    r.proceeds,
                    r.basis,
                    r.gain,
                    r.term.value,
                )
                for r in report.realized.lots
            ),
        ),
    }
    for name, (header, rows) in tables.items():
        path = folder / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        written.append(path)
    return written


def _attribution(lines: Sequence[AttributionLine]) -> Iterable[Sequence[object]]:
    return (
        (
            line.key,
            line.realized,
            line.unrealized_change,
            line.dividends,
            line.commissions,
            line.total,
            "" if line.contribution is None else line.contribution,
        )
        for line in lines
    )
