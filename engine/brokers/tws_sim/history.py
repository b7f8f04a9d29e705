"""Daily historical bars (reqHistoricalData) cut from the project's shipped data.

A request names an end (empty = the later of the clock's day and the last bar, capped by the data)
and a duration ``N D|W|M|Y`` counted back in calendar time, like TWS. Only ``1 day`` bars are kept
in the shipped data, so any other bar size is answered with error 162.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from engine.brokers.tws_sim.codec import Field
from engine.brokers.tws_sim.timefmt import EXCHANGE_ZONE, parse_ib_datetime

_DURATION = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$", re.IGNORECASE)
DAILY_BAR_SIZES = ("1 day", "1 d", "1day")


@dataclass(frozen=True, slots=True)
class HistoryAnswer:
    """Bars ready for the wire, or the text of error 162."""

    bars: list[list[Field]]
    start: str
    end: str
    problem: str | None = None


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
    bars: Mapping[str, pd.DataFrame], symbol: str, end_text: str, duration: str, bar_size: str, today: date
) -> HistoryAnswer:
    """The bars of ``symbol`` in (end - duration, end]; a 162 text for anything not answerable."""
    if bar_size.strip().lower() not in DAILY_BAR_SIZES:
        return _fail(f"bar size {bar_size!r} is not available (the simulator has daily bars only)")
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
        end_day = end_at.astimezone(EXCHANGE_ZONE).date()
    else:
        end_day = min(today, frame.index[-1].date())
    end_ts = pd.Timestamp(end_day)
    start_ts = end_ts - offset
    window = frame[(frame.index > start_ts) & (frame.index <= end_ts)]
    if window.empty:
        return _fail("HMDS query returned no data")
    out: list[list[Field]] = []
    values = window[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64")
    for ts, row in zip(window.index, values.tolist(), strict=True):
        o, h, lo, c, v = row
        out.append([f"{ts:%Y%m%d}", o, h, lo, c, v, round((h + lo + c) / 3.0, 4), 0])
    return HistoryAnswer(out, f"{start_ts:%Y%m%d} 00:00:00", f"{end_ts:%Y%m%d} 23:59:59")


def day_of(when: datetime) -> date:
    """The exchange's calendar day of an instant."""
    return when.astimezone(EXCHANGE_ZONE).date()
