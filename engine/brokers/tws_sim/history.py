"""Daily historical bars (reqHistoricalData) cut from the project's shipped data.

A request names an end (empty = the clock's day, capped by the data) and a duration ``N D|W|M|Y``
counted back in calendar time, like TWS. Only ``1 day`` bars are kept in the shipped data, so any
other bar size is answered with error 162.

The simulator never answers with the future, because a third-party client (unlike onetap's own IBKR
path) does not drop it: an end after the clock is clamped to the clock, and the bar of a session
still in progress carries what has traded so far (open, the high and low of the trades seen, the
last trade as its close, the volume so far), never the day's final close. Before the first trade of
that session has been seen, the day has no bar yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from engine.brokers.tws_sim.codec import Field
from engine.brokers.tws_sim.timefmt import EXCHANGE_ZONE, parse_ib_datetime
from engine.data import calendar

_DURATION = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$", re.IGNORECASE)
DAILY_BAR_SIZES = ("1 day", "1 d", "1day")


@dataclass(frozen=True, slots=True)
class HistoryAnswer:
    """Bars ready for the wire, or the text of error 162."""

    bars: list[list[Field]]
    start: str
    end: str
    problem: str | None = None


@dataclass(slots=True)
class _DayTape:
    day: date
    high: float
    low: float
    last: float
    volume: float


class TradeTape:
    """The trades the simulator has printed this session, per contract: the day's bar so far.

    Fed by every quote change (``see``); ``daily_bars`` reads it for the session in progress.
    """

    def __init__(self) -> None:
        self._days: dict[str, _DayTape] = {}

    def see(self, key: str, day: date, last: float, volume: float) -> None:
        if last <= 0:
            return
        tape = self._days.get(key)
        if tape is None or tape.day != day:
            self._days[key] = _DayTape(day, last, last, last, volume)
            return
        tape.high = max(tape.high, last)
        tape.low = min(tape.low, last)
        tape.last = last
        tape.volume = max(tape.volume, volume)

    def so_far(self, key: str, day: date) -> tuple[float, float, float, float] | None:
        """(high, low, last, volume) of ``day``'s trades seen for ``key``; None before the first."""
        tape = self._days.get(key)
        if tape is None or tape.day != day:
            return None
        return tape.high, tape.low, tape.last, tape.volume


def _session_over(day: date, now: datetime) -> bool:
    """True once ``day``'s session has closed at ``now`` (a day that is no session counts as over)."""
    try:
        if not calendar.is_session(day):
            return True
        return now >= calendar.session_open_close(day)[1]
    except ValueError:  # outside the calendar's range: no session schedule to wait for
        return True


def _offset(duration: str) -> pd.DateOffset | None:
    match = _DURATION.match(duration)
    if match is None or int(match[1]) <= 0:
        return None
    n, unit = int(match[1]), match[2].upper()
    if unit == "S":
        return pd.DateOffset(days=max(1, n // 86_400))
    if unit == "D":
        return pd.DateOffset(days=n)
    if unit == "W":
        return pd.DateOffset(weeks=n)
    if unit == "M":
        return pd.DateOffset(months=n)
    return pd.DateOffset(years=n)


def _fail(problem: str) -> HistoryAnswer:
    return HistoryAnswer([], "", "", f"Historical Market Data Service error message:{problem}")


def daily_bars(
    bars: Mapping[str, pd.DataFrame],
    symbol: str,
    end_text: str,
    duration: str,
    bar_size: str,
    now: datetime,
    tape: TradeTape | None = None,
) -> HistoryAnswer:
    """The bars of ``symbol`` in (end - duration, end], never past ``now`` (the simulator's clock);
    a 162 text for anything not answerable."""
    if bar_size.strip().lower() not in DAILY_BAR_SIZES:
        return _fail(f"bar size {bar_size!r} is not available (the simulator has daily bars only)")
    today = day_of(now)
    offset = _offset(duration)
    if offset is None:
        return _fail(f"invalid duration {duration!r} (expected 'N D', 'N W', 'N M' or 'N Y')")
    frame = bars.get(symbol)
    if frame is None or frame.empty:
        return _fail(f"no historical data for {symbol}")
    if end_text.strip():
        end_at = parse_ib_datetime(end_text)
        if end_at is None:
            return _fail(f"invalid end date/time {end_text!r}")
        end_day = min(end_at.astimezone(EXCHANGE_ZONE).date(), today)  # the future is clamped
    else:
        end_day = min(today, frame.index[-1].date())
    end_ts = pd.Timestamp(end_day)
    start_ts = end_ts - offset
    window = frame[(frame.index > start_ts) & (frame.index <= end_ts)]
    values = window[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64").tolist()
    stamps = list(window.index)
    if stamps and stamps[-1].date() == today and not _session_over(today, now):
        seen = tape.so_far(symbol, today) if tape is not None else None
        if seen is None:  # the session is open but nothing has traded that the simulator has shown
            stamps, values = stamps[:-1], values[:-1]
        else:
            high, low, last, volume = seen
            o = values[-1][0]
            values[-1] = [o, max(o, high), min(o, low), last, volume]
    if not stamps:
        return _fail("HMDS query returned no data")
    out: list[list[Field]] = []
    for ts, row in zip(stamps, values, strict=True):
        o, h, lo, c, v = row
        out.append([f"{ts:%Y%m%d}", o, h, lo, c, v, round((h + lo + c) / 3.0, 4), 0])
    return HistoryAnswer(out, f"{start_ts:%Y%m%d} 00:00:00", f"{end_ts:%Y%m%d} 23:59:59")


def day_of(when: datetime) -> date:
    """The exchange's calendar day of an instant."""
    return when.astimezone(EXCHANGE_ZONE).date()
