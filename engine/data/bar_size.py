"""Bar sizes from one minute to one day, and how many of them make a year on a calendar.

A bar size is a whole number of minutes (``1min`` .. ``4h``) or ``1d`` (one session, whatever its
length). Annualisation follows the instrument's calendar and the bar size, because a Sharpe ratio
or a volatility computed on hourly returns scaled by sqrt(252) is off by sqrt(24) for FX:

==========  ==================  =====================================================
calendar    sessions a year     bars a session (bar of ``m`` minutes)
==========  ==================  =====================================================
``24/7``    365                 1440 / m   (15-minute crypto: 96 x 365 = 35,040)
``24/5``    260                 1440 / m   (hourly FX: 24 x 260 = 6,240)
exchange    252                 ceil(session minutes / m)  (XNYS 390 minutes: 7 hourly bars)
==========  ==================  =====================================================

A daily bar is one bar a session: 365 for crypto, 260 for FX, 252 for an exchange.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DAY_MINUTES = 1440
ALLOWED_MINUTES: tuple[int, ...] = (1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 240, DAY_MINUTES)
"""The bar sizes the engine accepts (each divides a day, so bars sit on one grid from midnight UTC)."""

SESSIONS_PER_YEAR: dict[str, float] = {"24/7": 365.0, "24/5": 260.0}
"""Sessions a year on the round-the-clock calendars; any exchange calendar: ``EXCHANGE_SESSIONS``."""
EXCHANGE_SESSIONS = 252.0
SESSION_MINUTES: dict[str, float] = {"24/7": 1440.0, "24/5": 1440.0, "XNYS": 390.0}
"""Minutes of a regular session; another exchange's is measured from its calendar's table."""

_PATTERN = re.compile(r"^\s*(\d+)\s*(m|min|mins|minute|minutes|h|hr|hour|hours|d|day|days)\s*$", re.I)


@dataclass(frozen=True, slots=True, order=True)
class BarSize:
    """A bar's length in minutes; 1440 is one session (a daily bar)."""

    minutes: int

    def __post_init__(self) -> None:
        if self.minutes not in ALLOWED_MINUTES:
            allowed = ", ".join(str(BarSize(m)) for m in ALLOWED_MINUTES if m != self.minutes)
            raise ValueError(
                f"bar size of {self.minutes} minutes is not supported; expected one of {allowed}"
            )

    @property
    def daily(self) -> bool:
        return self.minutes == DAY_MINUTES

    @property
    def delta(self) -> np.timedelta64:
        return np.timedelta64(self.minutes, "m")

    def __str__(self) -> str:
        if self.daily:
            return "1d"
        return f"{self.minutes // 60}h" if self.minutes % 60 == 0 else f"{self.minutes}min"

    @classmethod
    def parse(cls, text: str | int) -> BarSize:
        """``"15min"``, ``"15m"``, ``"1h"``, ``"4h"``, ``"1d"`` or a number of minutes."""
        if isinstance(text, int):
            return cls(text)
        match = _PATTERN.match(text)
        if match is None:
            raise ValueError(f"bar size {text!r} is not understood; write e.g. 1min, 15min, 1h, 4h or 1d")
        n, unit = int(match.group(1)), match.group(2).lower()
        minutes = n * (DAY_MINUTES if unit.startswith("d") else 60 if unit.startswith("h") else 1)
        return cls(minutes)


ONE_DAY = BarSize(DAY_MINUTES)


def infer_bar_size(starts: npt.NDArray[np.datetime64]) -> BarSize:
    """The bar size of a series of bar start times: the most common gap between consecutive bars.

    Gaps longer than the bar (a weekend, a night, a missing bar) do not vote against it since the
    commonest gap is the bar itself in any series that is mostly complete; a series whose commonest
    gap is not a supported size raises ValueError naming it.
    """
    ts = np.sort(np.asarray(starts, dtype="datetime64[m]"))
    if len(ts) < 2:
        raise ValueError("cannot infer a bar size from fewer than 2 bars; declare it (bar = '1h')")
    gaps = np.diff(ts).astype(np.int64)
    gaps = gaps[gaps > 0]
    if len(gaps) == 0:
        raise ValueError("cannot infer a bar size: every timestamp is the same")
    values, counts = np.unique(gaps, return_counts=True)
    mode = int(values[np.argmax(counts)])
    if mode not in ALLOWED_MINUTES:
        raise ValueError(f"the commonest gap between bars is {mode} minutes, not a supported bar size")
    return BarSize(mode)


def session_minutes(calendar_code: str) -> float:
    """Minutes of a regular session on the calendar (the median over its table for an exchange)."""
    known = SESSION_MINUTES.get(calendar_code)
    if known is not None:
        return known
    from engine.data.calendar import for_code

    table = for_code(calendar_code).table
    return float(np.median((table.closes_ns - table.opens_ns) / 60e9))


def sessions_per_year(calendar_code: str) -> float:
    return SESSIONS_PER_YEAR.get(calendar_code, EXCHANGE_SESSIONS)


def bars_per_session(calendar_code: str, bar: BarSize) -> float:
    """Bars in one session: 1 for a daily bar, else the session's minutes over the bar's, rounded up
    (an exchange's last hourly bar of a 390-minute session is a half bar, but a bar all the same)."""
    if bar.daily:
        return 1.0
    return float(math.ceil(session_minutes(calendar_code) / bar.minutes - 1e-9))


def periods_per_year(calendar_code: str, bar: BarSize) -> int:
    """Bars in a year on ``calendar_code`` at ``bar``: what returns are annualised by."""
    return round(sessions_per_year(calendar_code) * bars_per_session(calendar_code, bar))


def daily_periods_of(days: npt.NDArray[np.datetime64]) -> int:
    """Sessions a year of a daily series (or a union of several), read from its own dates when the
    calendar behind them is not at hand (research on a panel): 365 when weekends trade (a coin on
    24/7), 260 for weekdays without holidays (24/5 FX), else 252 (an exchange). The dates' own
    rate picks between 260 and 252 over a year or more; a shorter weekday series is taken as 252.
    """
    d = np.unique(np.asarray(days, dtype="datetime64[D]"))
    if len(d) < 2:
        return round(EXCHANGE_SESSIONS)
    weekday = (d.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday: Monday = 0
    if np.count_nonzero(weekday >= 5) >= max(2, len(d) // 20):
        return round(SESSIONS_PER_YEAR["24/7"])
    span_days = int((d[-1] - d[0]).astype(np.int64)) + 1
    if span_days < 365:
        return round(EXCHANGE_SESSIONS)
    rate = len(d) / span_days * 365.25
    return (
        round(SESSIONS_PER_YEAR["24/5"])
        if rate > (EXCHANGE_SESSIONS + 260.0) / 2
        else round(EXCHANGE_SESSIONS)
    )
