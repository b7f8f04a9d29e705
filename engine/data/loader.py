"""Market data in memory (``MarketData``) and the reader for a user's own CSV or Parquet file.

User file format (one file, one or many symbols):

==========  ========================================================================
column      meaning
==========  ========================================================================
``date``    the session date, ISO ``YYYY-MM-DD`` (Parquet: a date or timestamp column
            at midnight is accepted too)
``open``    opening price, > 0
``high``    highest price, >= every other price of the day
``low``     lowest price, > 0
``close``   closing price, > 0
``volume``  shares traded, >= 0; optional (absent: the series has no volume)
``symbol``  optional. Present: the file is "long", one row per symbol and day. Absent:
            the whole file is one symbol, named by the ``symbol`` argument or else by
            the file name (``aapl.csv`` -> ``AAPL``).
==========  ========================================================================

Only ``date`` and ``close`` are required: a file without ``open``/``high``/``low`` is *closes only*
(each bar is open = high = low = close, so every fill is at the close, and the reports say so); a
file without ``volume`` has no volume (the templates that read volume are held back for it).

``[data] path`` may also be a directory: every CSV and Parquet file in it is read (one symbol per
file, named by the file, or long files with a ``symbol`` column).

Each symbol is validated on its own exchange calendar (``engine.model.instruments``): a row on a
day that calendar has no session is reported and left out, and the summary line of every command
says how many.

Column names are case-insensitive and may come in any order; other columns are ignored.
CSV files are comma-separated UTF-8 (a BOM is fine), optionally gzip-compressed (``.csv.gz``).

A file that cannot be read at all (missing, empty, missing columns, no readable date) raises
``DataError`` with one line naming the file and the problem. A file that can be read but has
bad rows loads anyway: each bad row is reported with its line number and left out (see
``engine.data.validation``), because one bad row should not stop an engine from starting.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from engine.data import calendar
from engine.data.validation import BAR_COLUMNS, ValidationReport, validate_bars
from engine.model import Bar, Instrument
from engine.model.instruments import InstrumentSpec, spec_of

REQUIRED_COLUMNS: tuple[str, ...] = ("date", *BAR_COLUMNS)
MINIMAL_COLUMNS: tuple[str, ...] = ("date", "close")
EXPECTED = "expected date, close[, open, high, low][, volume][, symbol]"
_MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "."})
_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class DataError(ValueError):
    """A data file that cannot be used at all; the message is one line naming the file."""


class MissingSymbolError(DataError, KeyError):
    """The data has no bars for a symbol the engine asked for (a universe symbol absent from the file).

    A DataError, so start-up reports it as one line and exits 2 like any unusable data; a KeyError
    too, so code that looks a symbol up and handles its absence keeps working.
    """

    def __str__(self) -> str:  # KeyError's own str() would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


@dataclass
class MarketData:
    """Clean daily bars per symbol, what each symbol is, and what validation found on the way."""

    bars: dict[str, pd.DataFrame]
    instruments: dict[str, Instrument]
    report: ValidationReport = field(default_factory=ValidationReport)
    source: str = ""
    """Where the bars came from (a user's file as shown to them); names it in errors."""
    specs: dict[str, InstrumentSpec] = field(default_factory=dict)
    """Each symbol's conventions (exchange, calendar, volume); a symbol absent is a US stock."""
    closes_only: set[str] = field(default_factory=set)
    """Symbols whose data has closes only: every bar is O=H=L=C and fills are at the close."""
    _closes: dict[str, tuple[pd.DataFrame, np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """symbol -> (its frame, its days, its closes) as arrays, made on first ask (``closes_before``)."""

    def spec(self, symbol: str) -> InstrumentSpec:
        known = self.specs.get(symbol)
        if known is not None:
            return known
        instrument = self.instruments.get(symbol)
        return spec_of(instrument) if instrument is not None else InstrumentSpec(symbol)

    def no_volume(self) -> set[str]:
        """Symbols whose volume is missing, zero or constant: a volume signal is undefined on them."""
        out = set()
        for symbol, frame in self.bars.items():
            if not self.spec(symbol).has_volume:
                out.add(symbol)
                continue
            volume = frame["volume"].to_numpy()
            if (
                len(volume) == 0
                or float(np.nanmax(volume)) <= 0
                or float(np.nanmin(volume)) == float(np.nanmax(volume))
            ):
                out.add(symbol)
        return out

    def needs_summary(self) -> bool:
        """True when the summary says more than the per-row notices do: rows were left out, a
        series is closes only, or a symbol trades on a calendar other than New York's."""
        return (
            sum(self.report.rows_excluded.values()) > 0
            or bool(self.closes_only)
            or any(self.spec(s).calendar != calendar.EXCHANGE for s in self.bars)
        )

    def summary(self) -> str:
        """One line: what was loaded, dropped and repaired, and where the details are."""
        return data_summary(self)

    @property
    def symbols(self) -> list[str]:
        return list(self.bars)

    @property
    def tradable_symbols(self) -> list[str]:
        return [s for s in self.bars if self.instruments[s].tradable]

    def bars_before(self, symbol: str, before: date) -> pd.DataFrame:
        """The bars strictly before ``before``: everything known at that session's open."""
        frame = self.bars.get(symbol)
        if frame is None:
            self.require([symbol])
        assert frame is not None  # require raised otherwise
        return frame.iloc[: int(frame.index.searchsorted(pd.Timestamp(before), side="left"))]

    def closes_before(self, symbol: str, before: date) -> np.ndarray:
        """``bars_before(symbol, before)["close"]`` as float64, without a frame per call (the
        risk gauge asks it of every symbol once a day: 500 pandas slices were a stall)."""
        frame = self.bars.get(symbol)
        if frame is None:
            self.require([symbol])
        assert frame is not None  # require raised otherwise
        cached = self._closes.get(symbol)
        if cached is None or cached[0] is not frame:
            days = frame.index.to_numpy(dtype="datetime64[ns]")
            cached = self._closes[symbol] = (frame, days, frame["close"].to_numpy(dtype=np.float64))
        end = int(np.searchsorted(cached[1], pd.Timestamp(before).to_datetime64(), side="left"))
        closes: np.ndarray = cached[2][:end]
        return closes

    def require(self, symbols: Iterable[str]) -> None:
        """Raise MissingSymbolError naming every one of ``symbols`` without bars (start-up calls this
        with the universe, so a file that lacks a symbol is one clear line, not a traceback later)."""
        missing = [s for s in symbols if s not in self.bars]
        if not missing:
            return
        where = f"{self.source}: " if self.source else ""
        one = len(missing) == 1
        has = ", ".join(self.bars) or "none"
        raise MissingSymbolError(
            f"{where}no bars for {'symbol' if one else 'symbols'} {', '.join(missing)} (the data has {has}); "
            f"add {'it' if one else 'them'} or remove {'it' if one else 'them'} from [universe] symbols"
        )

    def bar(self, symbol: str, day: date) -> Bar | None:
        frame = self.bars.get(symbol)
        if frame is None:
            return None
        ts = pd.Timestamp(day)
        i = int(frame.index.searchsorted(ts))
        if i >= len(frame) or frame.index[i] != ts:
            return None
        o, h, lo, c, v = (float(x) for x in frame.iloc[i].to_numpy())
        return Bar(symbol, day, o, h, lo, c, v)

    def date_range(self, symbol: str) -> tuple[date, date] | None:
        frame = self.bars.get(symbol)
        if frame is None or frame.empty:
            return None
        return frame.index[0].date(), frame.index[-1].date()


def display_path(path: Path) -> str:
    """A path as short as it can be while still findable: relative to the working directory if under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def build_market_data(
    raw: Mapping[str, tuple[pd.DataFrame, str]],
    instruments: Mapping[str, Instrument],
    *,
    jump_threshold: float = 0.25,
    specs: Mapping[str, InstrumentSpec] | None = None,
) -> MarketData:
    """Validate each symbol's raw rows (see ``validate_bars``) on its own exchange calendar and keep
    the symbols that have any left."""
    report = ValidationReport()
    bars: dict[str, pd.DataFrame] = {}
    kept_instruments: dict[str, Instrument] = {}
    kept_specs: dict[str, InstrumentSpec] = {}
    for symbol, (frame, source) in raw.items():
        spec = (specs or {}).get(symbol)
        if spec is None:
            known = instruments.get(symbol)
            spec = spec_of(known) if known is not None else InstrumentSpec(symbol)
        cal = calendar.for_code(spec.calendar)
        clean, issues = validate_bars(
            frame, symbol, source, cal.sessions_array(), jump_threshold, closed_reason=cal.why_closed
        )
        report.record(symbol, len(clean), len(frame) - len(clean), issues)
        if len(clean):
            bars[symbol] = clean
            kept_instruments[symbol] = instruments.get(symbol) or spec.instrument()
            kept_specs[symbol] = spec
    return MarketData(bars=bars, instruments=kept_instruments, report=report, specs=kept_specs)


def data_summary(market: MarketData) -> str:
    """``data: 3 symbols (XNYS, XTKS, 24/7), 4,120 rows kept; 12 left out (not a trading session 9, ...)``."""
    report = market.report
    kept = sum(report.rows_kept.values())
    excluded = sum(report.rows_excluded.values())
    calendars = sorted({market.spec(s).calendar for s in market.bars})
    parts = [f"data: {len(market.bars)} symbols ({', '.join(calendars)}), {kept:,} rows kept"]
    if excluded:
        kinds: dict[str, int] = {}
        for issue in report.errors:
            kinds[str(issue.kind)] = kinds.get(str(issue.kind), 0) + 1
        listed = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        parts.append(f"{excluded:,} rows left out ({listed})")
    else:
        parts.append("none left out")
    if report.warnings:
        parts.append(f"{len(report.warnings)} warnings")
    if market.closes_only:
        parts.append(f"closes only, filled at the close: {', '.join(sorted(market.closes_only))}")
    return "; ".join(parts)


def load_user_file(
    path: Path,
    symbol: str | None = None,
    *,
    jump_threshold: float = 0.25,
    specs: Mapping[str, InstrumentSpec] | None = None,
) -> MarketData:
    """Read a user's CSV or Parquet file, or every such file in a directory (format in the module
    docstring), and validate each symbol on its own calendar (``specs``; absent: a US stock).

    With a ``symbol`` column and a ``symbol`` argument, only that symbol is loaded.
    Symbols the product ships (e.g. ``SPX``) keep their shipped metadata (index, sector).
    """
    path = Path(path)
    shown = display_path(path)
    files = _files_of(path, shown)
    raw: dict[str, tuple[pd.DataFrame, str]] = {}
    closes_only: set[str] = set()
    no_volume: set[str] = set()
    total = 0
    for file in files:
        file_shown = display_path(file)
        table, partial = _read_table(file, file_shown)
        total += len(table)
        long = "symbol" in table.columns
        if not long:
            table["symbol"] = (
                (symbol if len(files) == 1 and symbol else file.name.split(".")[0]).strip().upper()
            )
        elif symbol is not None:
            wanted = symbol.strip().upper()
            table = table[table["symbol"] == wanted]
            if table.empty:
                if len(files) == 1:
                    raise DataError(f"{file_shown}: no rows for symbol {wanted!r}")
                continue
        for sym, group in table.groupby("symbol", sort=False):
            name = str(sym)
            if name in raw:
                raise DataError(
                    f"{file_shown}: symbol {name} is also in {raw[name][1]} (one source per symbol)"
                )
            raw[name] = (group.drop(columns="symbol").reset_index(drop=True), file_shown)
            if "close only" in partial:
                closes_only.add(name)
            if "no volume" in partial:
                no_volume.add(name)
    from engine.data.shipped import INSTRUMENTS  # shipped builds on this module; import at call time

    chosen = dict(specs or {})
    for name in no_volume:
        base = chosen.get(name) or (
            spec_of(INSTRUMENTS[name]) if name in INSTRUMENTS else InstrumentSpec(name)
        )
        chosen[name] = replace(base, has_volume=False)
    market = build_market_data(raw, INSTRUMENTS, jump_threshold=jump_threshold, specs=chosen)
    market.source = shown
    market.closes_only = closes_only & set(market.bars)
    if not market.bars:
        first = market.report.issues[0] if market.report.issues else None
        raise DataError(f"{shown}: no valid rows ({total} read, all excluded; first problem: {first})")
    return market


def _files_of(path: Path, shown: str) -> list[Path]:
    """The file itself, or every CSV and Parquet file of a directory (sorted by name)."""
    if not path.exists():
        raise DataError(f"{shown}: no such file")
    if not path.is_dir():
        return [path]
    suffixes = _CSV_SUFFIXES + _PARQUET_SUFFIXES
    files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(suffixes))
    if not files:
        raise DataError(f"{shown}: directory has no .csv, .csv.gz or .parquet file")
    return files


def _read_table(path: Path, shown: str) -> tuple[pd.DataFrame, set[str]]:
    """One file's rows, with its missing columns filled: ``{"close only"}`` when the prices are
    closes only (open = high = low = close), ``{"no volume"}`` when there is no volume column."""
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        table = _read_parquet(path, shown)
    elif name.endswith(_CSV_SUFFIXES):
        table = _read_csv(path, shown)
    else:
        raise DataError(f"{shown}: unsupported file type (expected .csv, .csv.gz or .parquet)")
    partial: set[str] = set()
    filled = table.attrs.get("filled", ())
    if "open" in filled:
        partial.add("close only")
    if "volume" in filled:
        partial.add("no volume")
    return table, partial


# ---------------------------------------------------------------------------------------- CSV


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def _read_csv(path: Path, shown: str) -> pd.DataFrame:
    """Read with the ``csv`` module, not pandas, to know each row's true line and report it."""
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise DataError(f"{shown}: empty file (no header line; {EXPECTED})")
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                rows.append(row)
                lines.append(reader.line_num)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise DataError(f"{shown}: not a readable UTF-8 CSV file ({type(exc).__name__})") from None
    except csv.Error as exc:
        raise DataError(f"{shown}: malformed CSV ({exc})") from None
    columns = _column_positions(header, shown)
    if not rows:
        raise DataError(f"{shown}: no data rows after the header")
    width = len(header)
    cells: dict[str, list[str]] = {name: [] for name in columns}
    errors: list[str] = []
    for row in rows:
        if len(row) > width and not any(c.strip() for c in row[width:]):
            row = row[:width]
        errors.append("" if len(row) == width else f"expected {width} fields, got {len(row)}")
        for name, pos in columns.items():
            cells[name].append(row[pos].strip() if pos < len(row) else "")
    table = _convert(cells, errors, shown, first_line=lines[0])
    table["line"] = np.asarray(lines, dtype=np.int64)
    return table


def _column_positions(header: list[str], shown: str) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    seen: dict[str, int] = {}
    for pos, name in enumerate(names):
        if name in seen and name in (*REQUIRED_COLUMNS, "symbol"):
            raise DataError(f"{shown}: duplicate column {name!r} (column names are case-insensitive)")
        seen.setdefault(name, pos)
    # open, high and low come together or not at all (closes only); some of them is a mistake
    some_ohl = any(c in seen for c in ("open", "high", "low"))
    needed = REQUIRED_COLUMNS[:-1] if some_ohl else MINIMAL_COLUMNS
    missing = [c for c in needed if c not in seen]
    if missing:
        listed = ", ".join(repr(c) for c in missing)
        hint = ""
        if len(names) == 1 and any(sep in header[0] for sep in ";\t|"):
            hint = "; the header has no commas: is the file separated by ';' or tabs?"
        plural = "s" if len(missing) > 1 else ""
        raise DataError(f"{shown}: missing column{plural} {listed} ({EXPECTED}){hint}")
    wanted = (*REQUIRED_COLUMNS, "symbol")
    return {name: pos for name, pos in seen.items() if name in wanted}


def _convert(
    cells: Mapping[str, list[str]],
    errors: list[str],
    shown: str,
    *,
    first_line: int | None,
    numeric: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Strings to typed columns; every value that is present but unreadable becomes a row error.

    ``numeric`` holds columns that are numbers already (Parquet): they skip the text round trip.
    """
    dates_raw = pd.Series(cells["date"], dtype=object)
    dates = pd.to_datetime(dates_raw, format="%Y-%m-%d", errors="coerce")
    bad_date = dates.isna().to_numpy() & np.array(
        [s.strip().lower() not in _MISSING_TOKENS for s in cells["date"]]
    )
    if dates.notna().sum() == 0:
        first = cells["date"][0] if cells["date"] else ""
        where = f"line {first_line}" if first_line is not None else "first row"
        raise DataError(f"{shown}: unparseable dates ({where} has {first!r}; expected ISO YYYY-MM-DD)")
    out = pd.DataFrame({"date": dates})
    notes: list[list[str]] = [[e] if e else [] for e in errors]
    for i in np.flatnonzero(bad_date).tolist():
        if not errors[i]:
            notes[i].append(f"date {cells['date'][i]!r} is not YYYY-MM-DD")
    filled: list[str] = []
    for name in BAR_COLUMNS:
        if numeric is not None and name in numeric:
            out[name] = numeric[name]
            continue
        if name not in cells:
            filled.append(name)
            continue
        raw = cells[name]
        values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").astype(np.float64)
        unreadable = values.isna().to_numpy() & np.array([s.lower() not in _MISSING_TOKENS for s in raw])
        for i in np.flatnonzero(unreadable).tolist():
            if not errors[i]:
                notes[i].append(f"{name} {raw[i]!r} is not a number")
        out[name] = values.to_numpy()
    for name in filled:  # closes only: the bar is its close; no volume column: no volume
        out[name] = 0.0 if name == "volume" else out["close"].to_numpy()
    out.attrs["filled"] = tuple(filled)
    if "symbol" in cells:
        symbols = [s.strip().upper() for s in cells["symbol"]]
        out["symbol"] = [s or "?" for s in symbols]
        for i, s in enumerate(symbols):
            if not s and not errors[i]:
                notes[i].append("symbol is empty")
    out["parse_error"] = ["; ".join(n) for n in notes]
    return out


# ---------------------------------------------------------------------------------------- Parquet


def _read_parquet(path: Path, shown: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for one meaning: this is not a Parquet file
        raise DataError(
            f"{shown}: unreadable Parquet file ({type(exc).__name__}: {exc})".splitlines()[0]
        ) from None
    columns = _column_positions([str(c) for c in frame.columns], shown)
    if frame.empty:
        raise DataError(f"{shown}: no data rows")
    dates = frame.iloc[:, columns["date"]]
    if pd.api.types.is_datetime64_any_dtype(dates.dtype):
        stamps = pd.to_datetime(dates)
        if stamps.dt.tz is not None:
            stamps = stamps.dt.tz_localize(None)
        timed = stamps.notna() & (stamps != stamps.dt.normalize())
        if timed.any():
            first = stamps[timed].iloc[0]
            raise DataError(
                f"{shown}: dates carry a time of day ({first}); expected one bar per session date"
            )
        date_strings = [d.strftime("%Y-%m-%d") if pd.notna(d) else "" for d in stamps]
    else:
        date_strings = [
            "" if _is_missing(d) else (d.isoformat() if isinstance(d, date) else str(d)) for d in dates
        ]
    cells: dict[str, list[str]] = {"date": date_strings}
    numeric: dict[str, np.ndarray] = {}
    for name in (*BAR_COLUMNS, "symbol"):
        if name not in columns:
            continue
        col = frame.iloc[:, columns[name]]
        if (
            name != "symbol"
            and pd.api.types.is_numeric_dtype(col.dtype)
            and not pd.api.types.is_bool_dtype(col.dtype)
        ):
            numeric[name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            cells[name] = ["" if _is_missing(v) else str(v) for v in col.tolist()]
    errors = [""] * len(frame)
    table = _convert(cells, errors, shown, first_line=None, numeric=numeric)
    table["parse_error"] = [f"row {i + 1}: {e}" if e else "" for i, e in enumerate(table["parse_error"])]
    return table


def _is_missing(value: object) -> bool:
    """None, NaN, NaT and pandas NA: the ways a Parquet cell can be empty."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and value != value
