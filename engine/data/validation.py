"""Checks daily bars before anything trades on them, and says exactly what was wrong and where.

Two severities, because real data and broken data look alike at a glance:

* ``error``: the row cannot be a real bar (a missing or unparseable value, a non-positive price,
  ``high < low``, ``open``/``close`` outside ``[low, high]``, a second bar for the same day, a bar on a
  day the exchange was closed). The row is excluded: the replay never quotes it and no strategy
  sees it, because a single bad print would otherwise become a fill or a signal.
* ``warning``: the data is plausible but worth a look (a close-to-close jump beyond the threshold,
  which real stocks do on splits and crashes; sessions without a bar; rows out of date order).
  Nothing is dropped for a warning.

Every issue carries the source file, the 1-based line of the file (header = line 1) where there is
one, the symbol, the date, a kind and a detail, so the one-line message is enough to fix the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.data.calendar import why_closed

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
BAR_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")

Severity = Literal["error", "warning"]


class IssueKind(StrEnum):
    """The value is the text shown to the operator; counts in a report are keyed by it."""

    UNPARSEABLE = "unparseable row"
    MISSING = "missing value"
    NON_POSITIVE = "non-positive price"
    NEGATIVE_VOLUME = "negative volume"
    HIGH_BELOW_LOW = "high < low"
    OPEN_OUTSIDE = "open outside [low, high]"
    CLOSE_OUTSIDE = "close outside [low, high]"
    NOT_A_SESSION = "not a trading session"
    DUPLICATE = "duplicate date"
    UNSORTED = "unsorted date"
    GAP = "calendar gap"
    JUMP = "price jump"


@dataclass(frozen=True, slots=True)
class DataIssue:
    source: str
    line: int | None
    symbol: str
    day: date | None
    kind: IssueKind
    detail: str
    severity: Severity = "error"
    excluded: bool = False

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        what = self.symbol if self.day is None else f"{self.symbol} {self.day.isoformat()}"
        detail = f" ({self.detail})" if self.detail else ""
        tail = "; row excluded" if self.excluded else ""
        return f"{where}: {what}: {self.kind}{detail}{tail}"


@dataclass
class ValidationReport:
    """Everything validation found across all sources of one load, for the log and the console."""

    issues: list[DataIssue] = field(default_factory=list)
    rows_kept: dict[str, int] = field(default_factory=dict)
    rows_excluded: dict[str, int] = field(default_factory=dict)

    def record(self, symbol: str, kept: int, excluded: int, issues: Sequence[DataIssue]) -> None:
        self.rows_kept[symbol] = self.rows_kept.get(symbol, 0) + kept
        self.rows_excluded[symbol] = self.rows_excluded.get(symbol, 0) + excluded
        self.issues.extend(issues)

    @property
    def counts(self) -> dict[str, int]:
        """Issues per kind, e.g. ``{"price jump": 3}``."""
        return dict(Counter(str(i.kind) for i in self.issues))

    @property
    def errors(self) -> list[DataIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[DataIssue]:
        return [i for i in self.issues if i.severity == "warning"]

    def summary(self) -> str:
        kept = sum(self.rows_kept.values())
        excluded = sum(self.rows_excluded.values())
        lines = [
            f"{len(self.rows_kept)} symbols, {kept:,} rows kept, {excluded:,} excluded; "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings"
        ]
        for symbol in self.rows_kept:
            lines.append(
                f"  {symbol}: {self.rows_kept[symbol]:,} kept, {self.rows_excluded.get(symbol, 0):,} excluded"
            )
        for kind, n in sorted(self.counts.items()):
            lines.append(f"  {kind}: {n}")
        return "\n".join(lines)


def validate_bars(
    df: pd.DataFrame,
    symbol: str,
    source: str,
    calendar_sessions: pd.DatetimeIndex | npt.NDArray[np.datetime64] | Sequence[date] | None,
    jump_threshold: float = 0.25,
    *,
    closed_reason: Callable[[date], str] = why_closed,
) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Return the clean bars (indexed by ``date``, sorted, unique) and every issue found.

    ``df`` holds the rows in file order: ``date`` (datetime64, NaT where unreadable), ``open high low
    close volume`` (floats, NaN where empty), and optionally ``line`` (the row's line in the file) and
    ``parse_error`` (why the reader could not read the row, else empty). ``calendar_sessions`` lists
    the sessions of the symbol's own exchange (``closed_reason`` says why a day is not one); dates
    outside its first..last are not checked against it (nobody knows
    the calendar there). ``None`` skips the calendar checks.
    """
    rows = _Rows.of(df, symbol, source)
    sessions = _session_days(calendar_sessions)
    rows.check_parse()
    rows.check_values()
    if sessions is not None:
        rows.check_sessions(sessions, closed_reason)
    rows.check_order()
    clean = rows.clean()
    issues = sorted(rows.issues, key=lambda pair: pair[0])
    out = [issue for _, issue in issues]
    out.extend(_jumps(clean, rows, jump_threshold))
    if sessions is not None:
        out.extend(_gaps(clean, sessions, symbol, source))
    return clean, out


class _Rows:
    """The rows of one symbol as arrays, with a running exclusion mask and the issues found so far."""

    def __init__(
        self,
        symbol: str,
        source: str,
        days: npt.NDArray[np.datetime64],
        values: npt.NDArray[np.float64],
        lines: npt.NDArray[np.int64] | None,
        parse_errors: list[str] | None,
    ) -> None:
        self.symbol = symbol
        self.source = source
        self.days = days
        self.values = values
        self.lines = lines
        self.parse_errors = parse_errors
        self.bad = np.zeros(len(days), dtype=bool)
        self.issues: list[tuple[int, DataIssue]] = []
        self.kept_positions: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)

    @classmethod
    def of(cls, df: pd.DataFrame, symbol: str, source: str) -> _Rows:
        if "date" in df.columns:
            raw_days = pd.to_datetime(df["date"])
        elif isinstance(df.index, pd.DatetimeIndex):
            raw_days = pd.Series(df.index)
        else:
            raise ValueError("validate_bars needs a 'date' column or a DatetimeIndex")
        missing = [c for c in BAR_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"validate_bars needs columns {', '.join(missing)}")
        days = raw_days.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        values = df[list(BAR_COLUMNS)].to_numpy(dtype=np.float64, na_value=np.nan)
        lines = df["line"].to_numpy(dtype=np.int64) if "line" in df.columns else None
        parse_errors: list[str] | None = None
        if "parse_error" in df.columns:
            parse_errors = ["" if not isinstance(e, str) else e for e in df["parse_error"].tolist()]
        return cls(symbol, source, days, values, lines, parse_errors)

    # ---------------------------------------------------------------- helpers
    def line(self, i: int) -> int | None:
        return int(self.lines[i]) if self.lines is not None else None

    def day(self, i: int) -> date | None:
        d = self.days[i]
        return None if np.isnat(d) else _day(d)

    def add(self, i: int, kind: IssueKind, detail: str, *, severity: Severity = "error") -> None:
        excluded = severity == "error"
        if excluded:
            self.bad[i] = True
        issue = DataIssue(
            self.source, self.line(i), self.symbol, self.day(i), kind, detail, severity, excluded
        )
        self.issues.append((i, issue))

    def good(self) -> npt.NDArray[np.bool_]:
        return ~self.bad

    # ---------------------------------------------------------------- checks
    def check_parse(self) -> None:
        if self.parse_errors is not None:
            for i, err in enumerate(self.parse_errors):
                if err:
                    self.add(i, IssueKind.UNPARSEABLE, err)
        for i in np.flatnonzero(np.isnat(self.days) & self.good()).tolist():
            self.add(int(i), IssueKind.MISSING, "date")

    def check_values(self) -> None:
        v = self.values
        nan = np.isnan(v)
        for i in np.flatnonzero(nan.any(axis=1) & self.good()).tolist():
            cols = [BAR_COLUMNS[j] for j in np.flatnonzero(nan[i])]
            self.add(int(i), IssueKind.MISSING, ", ".join(cols))
        with np.errstate(invalid="ignore"):
            nonpos = v[:, :4] <= 0.0
            negvol = v[:, 4] < 0.0
        for i in np.flatnonzero(nonpos.any(axis=1) & self.good()).tolist():
            cols = [f"{PRICE_COLUMNS[j]} {_num(v[i, j])}" for j in np.flatnonzero(nonpos[i])]
            self.add(int(i), IssueKind.NON_POSITIVE, ", ".join(cols))
        for i in np.flatnonzero(negvol & self.good()).tolist():
            self.add(int(i), IssueKind.NEGATIVE_VOLUME, f"volume {_num(v[i, 4])}")
        o, h, lo, c = v[:, 0], v[:, 1], v[:, 2], v[:, 3]
        with np.errstate(invalid="ignore"):
            inverted = (h < lo) & self.good()
        for i in np.flatnonzero(inverted).tolist():
            self.add(int(i), IssueKind.HIGH_BELOW_LOW, f"high {_num(h[i])}, low {_num(lo[i])}")
        with np.errstate(invalid="ignore"):
            open_out = ((o < lo) | (o > h)) & self.good()
            close_out = ((c < lo) | (c > h)) & self.good()
        for i in np.flatnonzero(open_out).tolist():
            self.add(
                int(i), IssueKind.OPEN_OUTSIDE, f"open {_num(o[i])}, low {_num(lo[i])}, high {_num(h[i])}"
            )
        for i in np.flatnonzero(close_out).tolist():
            self.add(
                int(i), IssueKind.CLOSE_OUTSIDE, f"close {_num(c[i])}, low {_num(lo[i])}, high {_num(h[i])}"
            )

    def check_sessions(
        self, sessions: npt.NDArray[np.datetime64], closed_reason: Callable[[date], str] = why_closed
    ) -> None:
        if len(sessions) == 0:
            return
        covered = (self.days >= sessions[0]) & (self.days <= sessions[-1]) & self.good()
        closed = covered & ~np.isin(self.days, sessions)
        for i in np.flatnonzero(closed).tolist():
            self.add(int(i), IssueKind.NOT_A_SESSION, closed_reason(_day(self.days[i])))

    def check_order(self) -> None:
        """Duplicates are excluded (which copy is right is unknowable); late rows are only sorted."""
        pos = np.flatnonzero(self.good())
        if len(pos) == 0:
            return
        days = self.days[pos]
        dup = pd.Series(days).duplicated(keep="first").to_numpy()
        if dup.any():
            first: dict[np.datetime64, int] = {}
            for k in range(len(pos)):
                if not dup[k]:
                    first.setdefault(days[k], int(pos[k]))
            for k in np.flatnonzero(dup).tolist():
                i, j = int(pos[k]), first[days[k]]
                same = bool(np.array_equal(self.values[i], self.values[j], equal_nan=True))
                where = f"line {self.line(j)}" if self.lines is not None else f"row {j + 1}"
                self.add(
                    i, IssueKind.DUPLICATE, f"same values as {where}" if same else f"first bar on {where}"
                )
        pos, days = pos[~dup], days[~dup]
        ints = days.astype(np.int64)
        running = np.maximum.accumulate(ints)
        late = np.zeros(len(ints), dtype=bool)
        late[1:] = ints[1:] < running[:-1]
        if not late.any():
            return
        # Where the running maximum was set: the row a late row should have come before.
        setter = np.maximum.accumulate(np.where(ints == running, np.arange(len(ints)), 0))
        for k in np.flatnonzero(late).tolist():
            j = int(pos[setter[k - 1]])
            where = f" on line {self.line(j)}" if self.lines is not None else ""
            detail = f"after {_day(self.days[j]).isoformat()}{where}; sorted into place"
            self.add(int(pos[k]), IssueKind.UNSORTED, detail, severity="warning")

    def clean(self) -> pd.DataFrame:
        keep = self.good()
        order = np.argsort(self.days[keep], kind="stable")
        index = pd.DatetimeIndex(self.days[keep][order].astype("datetime64[ns]"), name="date")
        frame = pd.DataFrame(self.values[keep][order], index=index, columns=list(BAR_COLUMNS))
        self.kept_positions = np.flatnonzero(keep)[order]
        return frame


def _jumps(clean: pd.DataFrame, rows: _Rows, threshold: float) -> list[DataIssue]:
    close = clean["close"].to_numpy()
    if len(close) < 2:
        return []
    change = close[1:] / close[:-1] - 1.0
    out = []
    for k in np.flatnonzero(np.abs(change) > threshold).tolist():
        i = int(rows.kept_positions[k + 1])
        prev_day = clean.index[k].date()
        detail = f"close {_num(close[k + 1])} vs {_num(close[k])} on {prev_day.isoformat()}: {change[k]:+.1%}"
        out.append(
            DataIssue(
                rows.source, rows.line(i), rows.symbol, rows.day(i), IssueKind.JUMP, detail, "warning", False
            )
        )
    return out


def _gaps(
    clean: pd.DataFrame, sessions: npt.NDArray[np.datetime64], symbol: str, source: str
) -> list[DataIssue]:
    """One warning per run of consecutive missing sessions: a halted month is one fact, not twenty."""
    if len(clean) < 2 or len(sessions) == 0:
        return []
    have = clean.index.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    lo = max(have[0], sessions[0])
    hi = min(have[-1], sessions[-1])
    inside = sessions[(sessions >= lo) & (sessions <= hi)]
    absent = ~np.isin(inside, have)
    if not absent.any():
        return []
    out = []
    idx = np.flatnonzero(absent)
    breaks = np.flatnonzero(np.diff(idx) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(idx) - 1]))
    for s, e in zip(starts, ends, strict=True):
        first, last = _day(inside[idx[s]]), _day(inside[idx[e]])
        n = int(e - s + 1)
        span = first.isoformat() if n == 1 else f"{first.isoformat()}..{last.isoformat()}"
        detail = f"{n} session{'s' if n > 1 else ''} without a bar: {span}"
        out.append(DataIssue(source, None, symbol, first, IssueKind.GAP, detail, "warning", False))
    return out


def _session_days(
    sessions: pd.DatetimeIndex | npt.NDArray[np.datetime64] | Sequence[date] | None,
) -> npt.NDArray[np.datetime64] | None:
    if sessions is None:
        return None
    if isinstance(sessions, pd.DatetimeIndex):
        arr = sessions.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    else:
        arr = np.asarray(sessions, dtype="datetime64[D]")
    return np.sort(arr)


def _day(value: np.datetime64) -> date:
    out = value.astype("datetime64[D]").item()
    assert isinstance(out, date)
    return out


def _num(x: float) -> str:
    """Short, exact-looking numbers in messages: float32 noise (11.180000305175781) reads as 11.18."""
    return repr(round(float(x), 6))
