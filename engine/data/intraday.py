"""Intraday bars (1 minute .. 1 day) from a CSV or Parquet file, validated on the instrument's calendar.

File format: one symbol per file, columns case-insensitive, any order, others ignored:

=============  ====================================================================
column         meaning
=============  ====================================================================
``timestamp``  the bar's **start** (also accepted: ``datetime``, ``time``, ``date``);
               ISO ``2021-09-27 14:45:00+01:00`` (an offset is converted to UTC, a
               timestamp without one is UTC) or day-first ``01.01.2017 22:00:00.000``
``open`` ..    ``open``, ``high``, ``low``, ``close`` > 0, high/low bounding the bar
``volume``     optional (absent: no volume)
=============  ====================================================================

The bar size is declared (``bar = "1h"``) or inferred from the commonest gap, and validated: a
declared size the timestamps contradict is refused with one line. Every row that cannot be a bar
of this instrument is **left out and reported** with its line and reason, never silently:

- ``unreadable timestamp``, ``missing value``, ``impossible prices`` (not > 0, high below the open or
  close, low above them), ``duplicate timestamp`` (the first is kept);
- ``off the bar grid``: a start that is not a multiple of the bar from midnight UTC (a stray
  13:50:02 row in a 15-minute file);
- ``outside the session``: a bar that does not lie wholly within one of its calendar's sessions
  (an XNYS bar at 22:00 UTC, a 24/5 FX bar on a Saturday or a Sunday; a 24/7 coin has no such
  row: its weekends are sessions, so there is no weekend gap).

A bar is usable only after its close (start + bar size): that is what ``engine.signals.timeframes``
resamples by, so a higher bar never leaks into the lower bars it spans.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.data.bar_size import BarSize, infer_bar_size, periods_per_year
from engine.model.instruments import InstrumentSpec

TIME_COLUMNS: tuple[str, ...] = ("timestamp", "datetime", "time", "date")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
MAX_ISSUES_KEPT = 200
"""Issues kept with their line (the count by reason is always complete)."""


class IntradayDataError(ValueError):
    """A file that cannot be used at all; the message is one line naming the file."""


@dataclass(frozen=True, slots=True)
class Issue:
    line: int
    """The file's line (header = 1), or the Parquet row + 2."""
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class IntradaySeries:
    """One instrument's validated bars at one bar size, and what validation left out."""

    spec: InstrumentSpec
    bar: BarSize
    frame: pd.DataFrame
    """Indexed by bar start (UTC, naive ``datetime64``), columns open/high/low/close/volume."""
    source: str = ""
    dropped: Counter[str] = field(default_factory=Counter)
    issues: tuple[Issue, ...] = ()
    has_volume: bool = True

    @property
    def symbol(self) -> str:
        return self.spec.symbol

    @property
    def starts(self) -> npt.NDArray[np.datetime64]:
        return self.frame.index.values.astype("datetime64[m]")

    @property
    def closes_at(self) -> npt.NDArray[np.datetime64]:
        """When each bar is complete (its start + the bar size; a daily bar: the next midnight UTC)."""
        return self.starts + self.bar.delta

    def closed_by(self, ts: datetime) -> int:
        """How many bars have closed by ``ts`` (an aware time): start + bar size <= ts."""
        cut = np.datetime64(ts.astimezone(UTC).replace(tzinfo=None), "m")
        return int(np.searchsorted(self.closes_at, cut, side="right"))

    def until(self, ts: datetime) -> IntradaySeries:
        """The bars that have closed by ``ts``: never one still forming."""
        n = self.closed_by(ts)
        return self if n == len(self.frame) else replace(self, frame=self.frame.iloc[:n])

    @property
    def periods_per_year(self) -> int:
        return periods_per_year(self.spec.calendar, self.bar)

    def summary(self) -> str:
        """One line: symbol, bar, calendar, rows kept and left out by reason."""
        kept = len(self.frame)
        head = f"{self.symbol} {self.bar} on {self.spec.calendar}: {kept:,} bars kept"
        if self.frame.empty:
            return head
        span = f" {self.frame.index[0]:%Y-%m-%d %H:%M}..{self.frame.index[-1]:%Y-%m-%d %H:%M} UTC"
        total = sum(self.dropped.values())
        if not total:
            return head + span + "; none left out"
        why = ", ".join(f"{reason} {n}" for reason, n in self.dropped.most_common())
        return head + span + f"; {total:,} left out ({why})"


def _read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise IntradayDataError(f"{path}: no such file") from None
    except Exception as exc:  # a corrupt file of either kind
        raise IntradayDataError(f"{path}: cannot be read ({exc})") from None


def _parse_times(raw: pd.Series) -> pd.Series:
    """UTC-naive timestamps; NaT where unreadable. ISO first, then day-first (``01.01.2017 22:00``)."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.to_datetime(raw, utc=True)
    else:
        text = raw.astype(str).str.strip()
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        if parsed.isna().mean() > 0.5:  # not ISO: a day-first European stamp
            parsed = pd.to_datetime(text, utc=True, errors="coerce", dayfirst=True, format="mixed")
    return parsed.dt.tz_localize(None)


def _in_session(
    spec: InstrumentSpec, starts: npt.NDArray[np.datetime64], bar: BarSize
) -> npt.NDArray[np.bool_]:
    """Whether each bar lies wholly within one session of the instrument's calendar."""
    from engine.data.calendar import for_code

    table = for_code(spec.calendar).table
    if bar.daily:
        return np.isin(starts.astype("datetime64[D]"), table.days)
    start_ns = starts.astype("datetime64[ns]").astype(np.int64)
    end_ns = start_ns + bar.minutes * 60_000_000_000
    i = np.searchsorted(table.opens_ns, start_ns, side="right") - 1
    ok = i >= 0
    j = np.clip(i, 0, len(table.opens_ns) - 1)
    return ok & (start_ns >= table.opens_ns[j]) & (end_ns <= table.closes_ns[j])


def read_intraday(path: str | Path, spec: InstrumentSpec, bar: BarSize | str | None = None) -> IntradaySeries:
    """Read and validate one instrument's bars (see the module docstring for what is left out)."""
    p = Path(path).expanduser()
    table = _read_table(p)
    columns = {str(c).strip().lower(): c for c in table.columns}
    time_col = next((columns[c] for c in TIME_COLUMNS if c in columns), None)
    missing = [c for c in PRICE_COLUMNS if c not in columns]
    if time_col is None or missing:
        what = (
            "a timestamp column (timestamp, datetime, time or date)"
            if time_col is None
            else ", ".join(missing)
        )
        raise IntradayDataError(f"{p}: missing {what}; expected timestamp, open, high, low, close[, volume]")
    n = len(table)
    if n == 0:
        raise IntradayDataError(f"{p}: no rows")
    times = _parse_times(table[time_col])
    prices = {
        c: pd.to_numeric(table[columns[c]], errors="coerce").to_numpy(np.float64) for c in PRICE_COLUMNS
    }
    has_volume = "volume" in columns
    volume = (
        pd.to_numeric(table[columns["volume"]], errors="coerce").to_numpy(np.float64)
        if has_volume
        else np.zeros(n)
    )
    reason = np.full(n, "", dtype=object)

    def mark(mask: npt.NDArray[np.bool_], why: str) -> None:
        reason[mask & (reason == "")] = why

    mark(times.isna().to_numpy(), "unreadable timestamp")
    o, h, lo, c = (prices[k] for k in PRICE_COLUMNS)
    finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
    if has_volume:
        finite &= np.isfinite(volume)
    mark(~finite, "missing value")
    with np.errstate(invalid="ignore"):
        bad = (lo <= 0) | (h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (volume < 0)
    mark(bad, "impossible prices")
    starts = times.to_numpy(dtype="datetime64[ns]")
    usable = reason == ""
    if bar is None:
        size = infer_bar_size(starts[usable])
    else:
        size = bar if isinstance(bar, BarSize) else BarSize.parse(bar)
        seen = infer_bar_size(starts[usable])
        if seen != size:
            raise IntradayDataError(f"{p}: declared bar size {size} but the bars are {seen} apart")
    minutes = starts.astype("datetime64[m]")
    grid = (starts == minutes.astype("datetime64[ns]")) & (
        (minutes - minutes.astype("datetime64[D]")).astype(np.int64) % min(size.minutes, 1440) == 0
    )
    mark(usable & ~grid, "off the bar grid")
    usable = reason == ""
    dup = pd.Series(minutes).duplicated(keep="first").to_numpy()
    mark(usable & dup, "duplicate timestamp")
    usable = reason == ""
    inside = np.zeros(n, dtype=bool)
    inside[usable] = _in_session(spec, minutes[usable], size)
    mark(usable & ~inside, "outside the session")
    keep = reason == ""
    frame = pd.DataFrame(
        {"open": o[keep], "high": h[keep], "low": lo[keep], "close": c[keep], "volume": volume[keep]},
        index=pd.DatetimeIndex(minutes[keep].astype("datetime64[ns]"), name="timestamp"),
    ).sort_index()
    dropped: Counter[str] = Counter(str(r) for r in reason[~keep])
    issues = tuple(
        Issue(int(i) + 2, str(reason[i]), str(table[time_col].iloc[i]))
        for i in np.flatnonzero(~keep)[:MAX_ISSUES_KEPT]
    )
    if frame.empty:
        raise IntradayDataError(f"{p}: no usable bar for {spec.symbol} on {spec.calendar}")
    no_volume = not has_volume or float(frame["volume"].max()) <= 0
    return IntradaySeries(spec, size, frame, str(p), dropped, issues, not no_volume)
