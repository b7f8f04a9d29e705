"""Higher bars from lower ones, and a higher bar's value on the lower bars, with no look-ahead.

Multi-timeframe rules (a trend on hourly bars confirmed by the daily trend) read a higher bar size's
indicator on every lower bar. The one rule that keeps that honest: **a higher bar is usable only
after it closes**. A daily bar built from hourly bars is complete at its day's end, so the hourly
bar that closes at 15:00 on Tuesday sees Monday's daily bar and no part of Tuesday's; a 4-hour bar
starting 08:00 is seen from the lower bar that closes at 12:00 onward.

Bars are grouped on a grid from midnight UTC (``bar.minutes`` divides a day): a higher bar's start
is its lower bars' start floored to the higher size; it is available at ``start + higher size``
(a day: the next midnight UTC, which is after every session of a 24/7, 24/5 or exchange calendar
day in UTC), never at its last lower bar, so a partial last group cannot pass for a complete one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Times = npt.NDArray[np.datetime64]


@dataclass(frozen=True, slots=True)
class Resampled:
    """Higher bars: their starts, when each becomes usable, and OHLCV."""

    starts: Times
    available_at: Times
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray


def resample(
    starts: Times,
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    lower_minutes: int,
    higher_minutes: int,
) -> Resampled:
    """Aggregate lower bars (sorted by start) into higher ones: first open, max high, min low, last
    close, summed volume."""
    if higher_minutes <= lower_minutes or higher_minutes % lower_minutes:
        raise ValueError(
            f"a higher bar of {higher_minutes} minutes is not a multiple above the {lower_minutes}-minute bar"
        )
    ts = np.asarray(starts, dtype="datetime64[m]")
    if len(ts) and np.any(np.diff(ts) <= np.timedelta64(0, "m")):
        raise ValueError("bar starts must be strictly increasing")
    minute = ts.astype(np.int64)
    group = minute - minute % higher_minutes
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(ts) else np.empty(0, np.int64)
    last = np.r_[first[1:] - 1, len(ts) - 1] if len(ts) else np.empty(0, np.int64)
    g_starts = group[first].astype("datetime64[m]")
    return Resampled(
        starts=g_starts,
        available_at=np.asarray(g_starts + np.timedelta64(higher_minutes, "m"), dtype="datetime64[m]"),
        open=np.asarray(open_, np.float64)[first],
        high=np.maximum.reduceat(np.asarray(high, np.float64), first) if len(ts) else np.empty(0),
        low=np.minimum.reduceat(np.asarray(low, np.float64), first) if len(ts) else np.empty(0),
        close=np.asarray(close, np.float64)[last],
        volume=np.add.reduceat(np.asarray(volume, np.float64), first) if len(ts) else np.empty(0),
    )


def on_lower(values: FloatArray, available_at: Times, lower_closes_at: Times) -> FloatArray:
    """``values`` of the higher bars as known at each lower bar's close: the last higher bar usable
    by then (``available_at <= close``); NaN before the first one."""
    idx = (
        np.searchsorted(
            np.asarray(available_at, "datetime64[m]"),
            np.asarray(lower_closes_at, "datetime64[m]"),
            side="right",
        )
        - 1
    )
    out = np.full(len(idx), np.nan)
    ok = idx >= 0
    out[ok] = np.asarray(values, np.float64)[idx[ok]]
    return out
