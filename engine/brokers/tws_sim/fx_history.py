"""Forex history (reqHistoricalData on a CASH pair) from the series the simulator quotes it from.

IDEALPRO prints no trades, so a pair's bars are of quotes: ``whatToShow`` MIDPOINT, BID or ASK
(TRADES is refused with error 162, as at IB). The series is the ask side (``fx.py``), on the
pair's tick as its quotes are; the bid is the ask less the driver's spread (invented, as the
quotes' bid is) and the midpoint halfway.
Bar sizes: ``1 hour`` (the series' own bars) and ``1 day`` (IDEALPRO's day, 17:00 to 17:00 New
York, labelled with the day it ends on). Volume, WAP and bar count are -1, as IB sends them for
quote bars.

**Never past the pair's clock.** The pair runs on its own series' time, played by ``FxDriver``
(not the stock replay's clock): the bars served are those the driver has finished, and the bar
in progress carries only the quotes shown so far (its open, the high and low seen, the last
quote as its close), never the series' final values, as ``history.py`` does for stocks. Before
the first quote the pair has no history; an end after the pair's clock is clamped to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from engine.brokers.tws_sim.codec import Field
from engine.brokers.tws_sim.history import HistoryAnswer
from engine.brokers.tws_sim.timefmt import EXCHANGE_ZONE, parse_ib_datetime

SIDES = ("MIDPOINT", "BID", "ASK")
HOURLY = ("1 hour", "1 hours", "60 mins")
DAILY = ("1 day", "1 d", "1day")
DAY_ROLL = timedelta(hours=7)
"""17:00 New York + 7 h = midnight: IDEALPRO's day ends at 17:00 New York."""
_DURATION = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$", re.IGNORECASE)


def _fail(problem: str) -> HistoryAnswer:
    return HistoryAnswer([], "", "", f"Historical Market Data Service error message:{problem}")


def _span(duration: str) -> pd.DateOffset | None:
    match = _DURATION.match(duration)
    if match is None or int(match[1]) <= 0:
        return None
    n, unit = int(match[1]), match[2].upper()
    return {
        "S": pd.DateOffset(seconds=n),
        "D": pd.DateOffset(days=n),
        "W": pd.DateOffset(weeks=n),
        "M": pd.DateOffset(months=n),
        "Y": pd.DateOffset(years=n),
    }[unit]


def fx_day(ts: pd.Timestamp) -> pd.Timestamp:
    """IDEALPRO's trading day of an instant: the New York day that ends at the next 17:00."""
    return pd.Timestamp((ts.tz_convert(EXCHANGE_ZONE) + DAY_ROLL).date())


@dataclass(slots=True)
class _Partial:
    index: int
    open: float
    high: float
    low: float
    close: float


class FxTape:
    """One pair's ask series and how far the simulator has played it (``see`` per quote shown)."""

    def __init__(self, bars: pd.DataFrame, *, tick: float, spread: float, places: int) -> None:
        prices = bars[["open", "high", "low", "close"]]
        self.bars = ((prices / tick).round() * tick).round(places)
        """The series on the pair's tick, as its quotes are played (``fx.quotes_of``)."""
        self.spread = spread
        self.places = places
        self._starts = {ts: i for i, ts in enumerate(bars.index)}
        self._partial: _Partial | None = None
        step = bars.index.to_series().diff().dropna()
        self.bar_length = step.min().to_pytimedelta() if len(step) else timedelta(hours=1)

    @property
    def now(self) -> datetime | None:
        """The pair's clock: the start of the bar in progress (None before the first quote)."""
        p = self._partial
        return None if p is None else self.bars.index[p.index].to_pydatetime()

    def see(self, bar_start: datetime, ask: float) -> None:
        """A quote was shown from the bar that starts at ``bar_start``."""
        index = self._starts.get(pd.Timestamp(bar_start))
        if index is None:
            raise KeyError(f"{bar_start} is not a bar of the pair's series")
        p = self._partial
        if p is None or p.index != index:
            self._partial = _Partial(index, ask, ask, ask, ask)
            return
        p.high, p.low, p.close = max(p.high, ask), min(p.low, ask), ask

    def shown(self) -> pd.DataFrame:
        """The ask bars so far: the finished ones, then the one in progress as far as shown."""
        p = self._partial
        if p is None:
            return self.bars.iloc[:0]
        done = self.bars.iloc[: p.index].copy()
        now = pd.DataFrame(
            [[p.open, p.high, p.low, p.close]],
            columns=done.columns,
            index=self.bars.index[p.index : p.index + 1],
        )
        return pd.concat([done, now]) if len(done) else now

    def answer(
        self, what: str, end_text: str, duration: str, bar_size: str, format_date: int
    ) -> HistoryAnswer:
        """reqHistoricalData's bars for this pair (a 162 text for what it cannot answer)."""
        side = what.strip().upper()
        if side not in SIDES:
            return _fail(
                f"no {side or 'empty'} data for forex (IDEALPRO quotes only): ask MIDPOINT, BID or ASK"
            )
        size = bar_size.strip().lower()
        if size not in HOURLY + DAILY:
            return _fail(f"bar size {bar_size!r} is not available for forex (1 hour or 1 day)")
        span = _span(duration)
        if span is None:
            return _fail(f"invalid duration {duration!r} (expected 'N S', 'N D', 'N W', 'N M' or 'N Y')")
        frame = self.shown()
        now = self.now
        if now is None:
            return _fail("HMDS query returned no data")
        end = pd.Timestamp(now)
        if end_text.strip():
            asked = parse_ib_datetime(end_text)
            if asked is None:
                return _fail(f"invalid end date/time {end_text!r}")
            if pd.Timestamp(asked) < end:  # an earlier end: the bars finished by then
                end = pd.Timestamp(asked)
                frame = frame[frame.index + self.bar_length <= end]
        shift = {"ASK": 0.0, "BID": self.spread, "MIDPOINT": self.spread / 2.0}[side]
        quoted = (frame - shift).round(self.places + 1)
        if size in DAILY:
            return self._daily(quoted, end, span)
        window = quoted[quoted.index > end - span]
        out: list[list[Field]] = []
        for ts, (o, h, lo, c) in zip(window.index, window.to_numpy().tolist(), strict=True):
            stamp = (
                str(int(ts.timestamp()))
                if format_date == 2
                else f"{ts.tz_convert(EXCHANGE_ZONE):%Y%m%d %H:%M:%S} {EXCHANGE_ZONE.key}"
            )
            out.append([stamp, o, h, lo, c, -1, -1, -1])
        return self._done(out, end - span, end)

    def _daily(self, quoted: pd.DataFrame, end: pd.Timestamp, span: pd.DateOffset) -> HistoryAnswer:
        stamps = pd.DatetimeIndex(quoted.index)
        labels = (stamps.tz_convert(EXCHANGE_ZONE) + DAY_ROLL).tz_localize(None).normalize()
        days = quoted.groupby(labels).agg({"open": "first", "high": "max", "low": "min", "close": "last"})
        last_day = fx_day(end)
        days = days[(days.index > last_day - span) & (days.index <= last_day)]
        out: list[list[Field]] = []
        for day, (o, h, lo, c) in zip(days.index, days.to_numpy().tolist(), strict=True):
            out.append([f"{day:%Y%m%d}", o, h, lo, c, -1, -1, -1])
        return self._done(out, end - span, end)

    @staticmethod
    def _done(bars: list[list[Field]], start: pd.Timestamp, end: pd.Timestamp) -> HistoryAnswer:
        if not bars:
            return _fail("HMDS query returned no data")
        return HistoryAnswer(bars, f"{start:%Y%m%d %H:%M:%S}", f"{end:%Y%m%d %H:%M:%S}")
