"""The New York Stock Exchange calendar (XNYS): sessions, opening and closing times.

Holidays, early closes and unscheduled closures (2001-09-11, Hurricane Sandy, state funerals)
come from ``exchange_calendars``, a community-maintained library, because a hand-written
holiday list is wrong in ways nobody notices until a replay plays a closed day.

Building the library's calendar takes a few hundred milliseconds, so it is built once, lazily,
for a fixed range (1990..2030, every shipped bar and any plausible replay), and kept as plain
arrays in the user's cache directory, keyed by the library's version so that an upgrade with
new holidays rebuilds it: later starts read it in a millisecond. Outside that range
every function raises ``ValueError`` rather than guess. The library's own default bounds are
narrower than our data, which is why the range is passed explicitly.
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import platformdirs

EXCHANGE = "XNYS"
NEW_YORK = ZoneInfo("America/New_York")
CALENDAR_START = date(1990, 1, 1)
CALENDAR_END = date(2030, 12, 31)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SessionTable:
    """The calendar reduced to plain arrays: lookups then cost a binary search, not a pandas index."""

    days: npt.NDArray[np.datetime64]  # datetime64[D], sorted sessions
    opens_ns: npt.NDArray[np.int64]  # UTC nanoseconds since the epoch
    closes_ns: npt.NDArray[np.int64]
    first: date
    last: date

    def position(self, day: date) -> int:
        """Index of the first session on or after ``day``."""
        return int(np.searchsorted(self.days, np.datetime64(day, "D"), side="left"))


@cache
def _table() -> SessionTable:
    """The table this process uses: ``load_table`` over the user's cache, once."""
    return load_table(cache_path())


def load_table(cache: Path | None, code: str = EXCHANGE) -> SessionTable:
    """The table read from ``cache`` when that file is valid, else built now and written there.

    ``cache`` None builds without caching. A cache that is missing, unreadable or inconsistent
    is rebuilt, never trusted; a cache that cannot be written is skipped (nothing fails).
    Public so that a tool can warm or repair a cache at a path of its choosing.
    """
    table = _read_cached(cache) if cache is not None else None
    if table is None:
        table = _build_table(code)
        if cache is not None:
            _write_cached(cache, table)
    return table


def cache_path(code: str = EXCHANGE) -> Path | None:
    """Where the calendar is cached: ``$XDG_CACHE_HOME/onetap/calendar-XNYS-<library version>-<range>.npz``.

    The name carries the library's version, so an upgrade with new holidays reads a new file.
    None when the library's version cannot be known (then nothing is cached).
    """
    try:
        version = importlib.metadata.version("exchange_calendars")
    except importlib.metadata.PackageNotFoundError:
        return None
    safe = code.replace("/", "x")  # "24/7" -> "24x7": a file name
    name = f"calendar-{safe}-{version}-{CALENDAR_START:%Y%m%d}-{CALENDAR_END:%Y%m%d}.npz"
    return Path(platformdirs.user_cache_dir("onetap")) / name


def _read_cached(path: Path) -> SessionTable | None:
    """A cache that is missing, unreadable or inconsistent is ignored (and rebuilt), never trusted."""
    try:
        with np.load(path) as data:
            days = data["days"].astype("datetime64[D]")
            opens, closes = data["opens_ns"].astype(np.int64), data["closes_ns"].astype(np.int64)
    except (OSError, KeyError, ValueError):
        return None
    if not (len(days) == len(opens) == len(closes) > 0) or bool(np.any(np.diff(days) <= np.timedelta64(0))):
        return None
    return SessionTable(
        days=days, opens_ns=opens, closes_ns=closes, first=_to_date(days[0]), last=_to_date(days[-1])
    )


def _write_cached(path: Path, table: SessionTable) -> None:
    """Best effort and atomic: a start-up never fails, nor reads half a file, because of the cache."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, days=table.days.astype(np.int64), opens_ns=table.opens_ns, closes_ns=table.closes_ns)
        tmp.replace(path)
    except OSError:
        return


def _build_table(code: str = EXCHANGE) -> SessionTable:
    import exchange_calendars as xcals  # imported here: it is slow to import and to build

    with warnings.catch_warnings():
        # exchange_calendars 4.x reads Series.values on tz-aware columns, which pandas 3 deprecates;
        # the values it gets are the right UTC nanoseconds, so the warning is noise for our users.
        warnings.simplefilter("ignore")
        start = pd.Timestamp(CALENDAR_START)
        bound = type(xcals.get_calendar(code)).bound_min()  # e.g. XTKS is known from 1997 only
        if bound is not None and pd.Timestamp(bound).tz_localize(None) > start:
            start = pd.Timestamp(bound).tz_localize(None)
        cal = xcals.get_calendar(code, start=start.date().isoformat(), end=CALENDAR_END.isoformat())
        days = np.asarray(cal.sessions.values, dtype="datetime64[D]")
        opens = np.asarray(cal.opens_nanos, dtype=np.int64)
        closes = np.asarray(cal.closes_nanos, dtype=np.int64)
    return SessionTable(
        days=days,
        opens_ns=opens,
        closes_ns=closes,
        first=_to_date(days[0]),
        last=_to_date(days[-1]),
    )


def _to_date(value: np.datetime64) -> date:
    out = value.astype("datetime64[D]").item()
    assert isinstance(out, date)
    return out


def _check(day: date) -> SessionTable:
    table = _table()
    if not CALENDAR_START <= day <= CALENDAR_END:
        raise ValueError(
            f"{day.isoformat()} is outside the trading calendar's range "
            f"{CALENDAR_START.isoformat()}..{CALENDAR_END.isoformat()}"
        )
    return table


def _as_date(day: date | datetime) -> date:
    """A ``datetime`` is read as its New York calendar day, the only reading an exchange has."""
    if isinstance(day, datetime):
        if day.tzinfo is None:
            raise ValueError(f"naive datetime {day!r}: every time in onetap carries a zone")
        return day.astimezone(NEW_YORK).date()
    return day


def sessions(start: date, end: date) -> list[date]:
    """Every XNYS session in ``[start, end]`` (both inclusive), oldest first."""
    out: list[date] = sessions_array(start, end).tolist()
    return out


def sessions_array(start: date, end: date) -> npt.NDArray[np.datetime64]:
    """The sessions in ``[start, end]`` as ``datetime64[D]``: the vectorised form validation needs."""
    table = _check(start)
    _check(end)
    if end < start:
        return table.days[:0]
    lo = table.position(start)
    hi = int(np.searchsorted(table.days, np.datetime64(end, "D"), side="right"))
    return table.days[lo:hi]


def sessions_index(start: date, end: date) -> pd.DatetimeIndex:
    """The sessions in ``[start, end]`` as a tz-naive ``DatetimeIndex`` named ``date``."""
    return pd.DatetimeIndex(sessions_array(start, end).astype("datetime64[ns]"), name="date")


def is_session(day: date | datetime) -> bool:
    d = _as_date(day)
    table = _check(d)
    i = table.position(d)
    return i < len(table.days) and table.days[i] == np.datetime64(d, "D")


def _index_of(day: date) -> int:
    table = _check(day)
    i = table.position(day)
    if i >= len(table.days) or table.days[i] != np.datetime64(day, "D"):
        raise ValueError(f"{day.isoformat()} is not an {EXCHANGE} session ({why_closed(day)})")
    return i


def why_closed(day: date) -> str:
    """A short reason a non-session day is closed, for messages ("Saturday", "exchange holiday ...")."""
    return day.strftime("%A") if day.weekday() >= 5 else "exchange holiday or closure"


def session_open_close(day: date | datetime) -> tuple[datetime, datetime]:
    """Opening and closing time of the session, tz-aware UTC; early closes (13:00 New York) included."""
    d = _as_date(day)
    i = _index_of(d)
    table = _table()
    return (
        _EPOCH + timedelta(microseconds=int(table.opens_ns[i]) // 1000),
        _EPOCH + timedelta(microseconds=int(table.closes_ns[i]) // 1000),
    )


def next_session(day: date | datetime) -> date:
    """The first session strictly after ``day`` (which need not be a session itself)."""
    d = _as_date(day)
    table = _check(d)
    i = int(np.searchsorted(table.days, np.datetime64(d, "D"), side="right"))
    if i >= len(table.days):
        raise ValueError(f"no session after {d.isoformat()} within the calendar's range")
    return _to_date(table.days[i])


def previous_session(day: date | datetime) -> date:
    """The last session strictly before ``day``."""
    d = _as_date(day)
    table = _check(d)
    i = table.position(d) - 1
    if i < 0:
        raise ValueError(f"no session before {d.isoformat()} within the calendar's range")
    return _to_date(table.days[i])


def calendar_range() -> tuple[date, date]:
    """First and last session the cached calendar knows."""
    table = _table()
    return table.first, table.last


# ------------------------------------------------------------------------------ other exchanges


CALENDAR_ALIASES: dict[str, str] = {"CRYPTO": "24/7", "FX": "24/5"}
"""Shorthands accepted where a calendar code is expected."""


@dataclass(frozen=True, slots=True)
class TradingCalendar:
    """One exchange's sessions, for an instrument that does not trade on New York's calendar.

    The module-level functions are XNYS (the engine's own clock: the autopilot's 15:55, the
    protection horizons); an instrument from another exchange is validated, scanned and replayed on
    its own ``TradingCalendar`` (``for_code``), so an XTKS index keeps its XTKS sessions and a 24/7
    coin keeps its weekends.
    """

    code: str
    table: SessionTable

    @property
    def first(self) -> date:
        return self.table.first

    @property
    def last(self) -> date:
        return self.table.last

    def sessions_array(
        self, start: date | None = None, end: date | None = None
    ) -> npt.NDArray[np.datetime64]:
        days = self.table.days
        lo = 0 if start is None else self.table.position(start)
        hi = len(days) if end is None else int(np.searchsorted(days, np.datetime64(end, "D"), side="right"))
        return days[lo:hi]

    def is_session(self, day: date) -> bool:
        i = self.table.position(day)
        return i < len(self.table.days) and self.table.days[i] == np.datetime64(day, "D")

    def session_open_close(self, day: date) -> tuple[datetime, datetime]:
        i = self.table.position(day)
        if i >= len(self.table.days) or self.table.days[i] != np.datetime64(day, "D"):
            raise ValueError(f"{day.isoformat()} is not an {self.code} session")
        return (
            _EPOCH + timedelta(microseconds=int(self.table.opens_ns[i]) // 1000),
            _EPOCH + timedelta(microseconds=int(self.table.closes_ns[i]) // 1000),
        )

    def why_closed(self, day: date) -> str:
        if self.code == EXCHANGE:
            return why_closed(day)
        if not self.table.first <= day <= self.table.last:
            return f"outside the {self.code} calendar's range {self.table.first}..{self.table.last}"
        if day.weekday() >= 5 and self.code not in ("24/7",):
            return f"{day:%A} ({self.code})"
        return f"{self.code} holiday or closure"


def canonical_code(code: str) -> str:
    """The exchange_calendars name for ``code`` (case-insensitive; ``CRYPTO`` -> ``24/7``)."""
    text = code.strip().upper()
    return CALENDAR_ALIASES.get(text, text)


@cache
def known_codes() -> frozenset[str]:
    import exchange_calendars as xcals

    return frozenset(xcals.get_calendar_names(include_aliases=True))


def for_code(code: str) -> TradingCalendar:
    """The calendar named ``code`` (an exchange_calendars name such as XTKS, XLON, 24/7, 24/5);
    ValueError naming the code when the library does not know it."""
    return _for_code(canonical_code(code))


@cache
def _for_code(code: str) -> TradingCalendar:
    if code == EXCHANGE:
        return TradingCalendar(code, _table())
    path = cache_path(code)
    cached = _read_cached(path) if path is not None else None
    if cached is not None:  # built before: the library (slow to import) is not needed to know it
        return TradingCalendar(code, cached)
    if code not in known_codes():
        raise ValueError(
            f"unknown exchange calendar {code!r} (an exchange_calendars name: XNYS, XTKS, XLON, "
            "24/7 for crypto, 24/5 for FX, ...)"
        )
    return TradingCalendar(code, load_table(path, code))
