"""Intraday bars played as quotes: each bar through its own open, high, low and close.

The daily replay (``engine.data.replay``) turns one daily bar into a session of quotes with
``intraday_path`` (a Brownian bridge through O, H, L, C, clipped to the range) and ``quote_sides``
(a spread around each trade). An intraday bar is played the same way at its own scale: ``steps``
quotes spread evenly over ``[start, start + bar)``, the first trade at the bar's open, the last at
its close, the high and the low touched at interior steps, every price within the bar's range, the
bar's volume split over its steps. A 15-minute bar with 5 steps quotes every 3 minutes.

The bridge and the volume split are ``intraday_path``'s and ``volume_path``'s, vectorised over a
day's bars (a year of 15-minute bars in well under a second). Deterministic: each UTC day's bars
are drawn from a generator seeded by (seed, symbol, day), so the same bar replays the same quotes
whatever else is replayed and wherever the replay starts. Bars follow each other
in time with their calendar's gaps (a 24/5 pair is silent over the weekend; a 24/7 coin is not).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt

from engine.data.bar_size import BarSize, session_minutes
from engine.data.intraday import IntradaySeries
from engine.data.intraday_sets import IntradaySet, session_days
from engine.data.replay import _BRIDGE_VOL, _LOT, _VOLUME_NOISE, NOMINAL_VOLUME, _decimals, quote_sides
from engine.model import Quote

FloatArray = npt.NDArray[np.float64]
MIN_STEPS = 4
"""O, H, L and C each need a step of their own."""


def day_seed(seed: int, symbol: str, day: np.datetime64) -> int:
    digest = hashlib.blake2b(f"{seed}|{symbol}|{day}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def bar_paths(
    values: FloatArray, steps: int, rng: np.random.Generator, tick: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``intraday_path`` and ``volume_path`` for many bars at once (rows of O, H, L, C, V): trade
    prices ``[n, steps]`` exactly O first, C last, H and L at two random interior steps, within the
    range, on the tick grid; the size traded at each step and the cumulative volume."""
    n, m = len(values), steps
    o, h, lo, c, v = (values[:, j] for j in range(5))
    interior = np.argsort(rng.random((n, m - 2)), axis=1)[:, :2] + 1
    i1, i2 = interior.min(axis=1), interior.max(axis=1)
    high_first = rng.random(n) < 0.5
    at = np.column_stack([np.zeros(n, np.int64), i1, i2, np.full(n, m - 1)])
    anchors = np.column_stack([o, np.where(high_first, h, lo), np.where(high_first, lo, h), c])
    sigma = (h - lo) * _BRIDGE_VOL / math.sqrt(m)
    walk = np.zeros((n, m))
    walk[:, 1:] = np.cumsum(rng.normal(0.0, 1.0, (n, m - 1)) * sigma[:, None], axis=1)
    k = np.arange(m)[None, :]
    seg = np.minimum((k >= i1[:, None]).astype(np.int64) + (k >= i2[:, None]), 2)
    x0, x1 = np.take_along_axis(at, seg, 1), np.take_along_axis(at, seg + 1, 1)
    frac = (k - x0) / (x1 - x0)
    line = np.take_along_axis(anchors, seg, 1) * (1 - frac) + np.take_along_axis(anchors, seg + 1, 1) * frac
    w_at = np.take_along_axis(walk, at, 1)
    w_line = np.take_along_axis(w_at, seg, 1) * (1 - frac) + np.take_along_axis(w_at, seg + 1, 1) * frac
    decimals = _decimals(tick)
    path = np.clip(
        np.round(np.round((line + walk - w_line) / tick) * tick, decimals), lo[:, None], h[:, None]
    )
    np.put_along_axis(path, at, anchors, 1)
    x = np.linspace(0.0, 1.0, m)[None, :]
    weights = (0.6 + 2.4 * (2.0 * x - 1.0) ** 2) * rng.lognormal(0.0, _VOLUME_NOISE, (n, m))
    volume = np.where(v > 0, v, NOMINAL_VOLUME / 96.0)
    cum = np.floor(volume[:, None] * np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True))
    cum[:, -1] = volume
    size = np.diff(cum, axis=1, prepend=0.0)
    return path, size, cum


@dataclass(frozen=True, slots=True)
class BarQuotes:
    """The quotes of a run of bars as arrays (one row per step)."""

    ts: npt.NDArray[np.datetime64]
    bar: npt.NDArray[np.int64]
    """The row of the bar each step belongs to."""
    last: FloatArray
    bid: FloatArray
    ask: FloatArray
    size: FloatArray
    volume: FloatArray
    """Cumulative volume within the bar."""


def play_bars(
    series: IntradaySeries,
    *,
    steps: int = 5,
    seed: int = 7,
    spread_bps: float = 2.0,
    start: int = 0,
    stop: int | None = None,
) -> BarQuotes:
    """Bars ``start:stop`` of ``series`` as quotes (see the module docstring)."""
    if steps < MIN_STEPS:
        raise ValueError(
            f"a bar needs at least {MIN_STEPS} quote steps (open, high, low, close), got {steps}"
        )
    if spread_bps < 0:
        raise ValueError(f"spread_bps must not be negative, got {spread_bps}")
    frame = series.frame
    stop = len(frame) if stop is None else min(stop, len(frame))
    every = frame[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    all_starts = frame.index.values.astype("datetime64[ms]")
    days = all_starts.astype("datetime64[D]")
    # whole UTC days are drawn (one generator a day), so a bar's quotes do not depend on where
    # the replay starts; then the rows asked for are kept
    lo_row = int(np.searchsorted(days, days[start], side="left")) if start < stop else start
    hi_row = int(np.searchsorted(days, days[stop - 1], side="right")) if start < stop else start
    tick = series.spec.tick_size
    parts: list[tuple[FloatArray, FloatArray, FloatArray]] = []
    edges = np.flatnonzero(np.r_[True, days[lo_row + 1 : hi_row] != days[lo_row : hi_row - 1]]) + lo_row
    for a, b in zip(edges, np.r_[edges[1:], hi_row], strict=True):
        rng = np.random.default_rng(day_seed(seed, series.symbol, days[a]))
        parts.append(bar_paths(every[a:b], steps, rng, tick))
    cut = slice(start - lo_row, stop - lo_row)
    n = max(stop - start, 0)
    last = np.concatenate([p[0] for p in parts])[cut] if parts else np.empty((0, steps))
    size = np.concatenate([p[1] for p in parts])[cut] if parts else np.empty((0, steps))
    cum = np.concatenate([p[2] for p in parts])[cut] if parts else np.empty((0, steps))
    starts = all_starts[start:stop]
    step_ms = series.bar.minutes * 60_000 // steps
    offsets = (np.arange(steps) * step_ms).astype("timedelta64[ms]")
    flat = last.ravel()
    bid, ask = quote_sides(flat, spread_bps, tick)
    return BarQuotes(
        ts=(starts[:, None] + offsets[None, :]).ravel(),
        bar=np.repeat(np.arange(start, start + n, dtype=np.int64), steps),
        last=flat,
        bid=bid,
        ask=ask,
        size=size.ravel(),
        volume=cum.ravel(),
    )


def quotes(series: IntradaySeries, **kwargs: object) -> Iterator[Quote]:
    """``play_bars`` as the engine's ``Quote`` objects, in time order."""
    q = play_bars(series, **kwargs)  # type: ignore[arg-type]
    stamps: list[datetime] = q.ts.astype("datetime64[us]").tolist()
    for k, naive in enumerate(stamps):
        ts = naive.replace(tzinfo=UTC)
        yield Quote(
            series.symbol,
            ts,
            float(q.bid[k]),
            float(q.ask[k]),
            float(q.last[k]),
            float(q.size[k]),
            float(q.size[k]),
            float(q.size[k]),
            float(q.volume[k]),
        )


def steps_per_bar(bar: BarSize, calendar_code: str, steps_per_day: int) -> int:
    """Quote steps one bar is played in, so that a session keeps about ``[replay] steps_per_day``
    steps whatever its bar size (and ``seconds_per_day`` keeps meaning one session on screen):
    ``steps_per_day`` x the bar's share of the session, at least ``MIN_STEPS``. 390 steps a day on
    a 24-hour session: 16 a 1-hour bar, 4 a 15-minute bar (a quote every 3 min 45 s either way);
    a 1-minute bar still gets 4, so a day of them has more steps and plays each faster."""
    share = bar.minutes / session_minutes(calendar_code)
    return max(MIN_STEPS, round(steps_per_day * share))


class SessionBars:
    """One replayed set's bars as the engine's replay plays them, a session at a time
    (``engine.data.replay.ReplayFeed``): the bars of the session (of the instrument's own
    calendar), each through its OHLC (``play_bars``) at its own times; bid and ask sizes are
    invented (seeded per session) as the daily replay's are, the traded sizes are the bar's volume
    split over its steps."""

    def __init__(self, chosen: IntradaySet, *, steps_per_day: int, seed: int, spread_bps: float) -> None:
        self.series = chosen.series
        self.steps = steps_per_bar(self.series.bar, self.series.spec.calendar, steps_per_day)
        self._days = session_days(self.series)
        self._seed = seed
        self._spread_bps = spread_bps

    def session(self, day: date) -> tuple[list[datetime], tuple[FloatArray, ...]] | None:
        """(step times, bid, ask, last, bid size, ask size, size traded, session volume) of the
        session ``day``; None when the set has no bar in it."""
        key = np.datetime64(day, "D")
        a = int(np.searchsorted(self._days, key, side="left"))
        b = int(np.searchsorted(self._days, key, side="right"))
        if a == b:
            return None
        q = play_bars(
            self.series, steps=self.steps, seed=self._seed, spread_bps=self._spread_bps, start=a, stop=b
        )
        stamps: list[datetime] = q.ts.astype("datetime64[us]").tolist()
        times = [t.replace(tzinfo=UTC) for t in stamps]
        volume = self.series.frame["volume"].to_numpy(np.float64)[q.bar]
        depth = np.floor(np.clip(volume / self.steps / 1000.0, 1.0, 100.0))
        rng = np.random.default_rng(day_seed(self._seed, f"{self.series.symbol}|book", key))
        bid_size = _LOT * (1.0 + np.floor(rng.random(len(times)) * depth))
        ask_size = _LOT * (1.0 + np.floor(rng.random(len(times)) * depth))
        return times, (q.bid, q.ask, q.last, bid_size, ask_size, q.size, np.cumsum(q.size))
