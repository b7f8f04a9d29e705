"""Intraday bars played as quotes: each bar through its own open, high, low and close.

The daily replay (``engine.data.replay``) turns one daily bar into a session of quotes with
``intraday_path`` (a Brownian bridge through O, H, L, C, clipped to the range) and ``quote_sides``
(a spread around each trade). An intraday bar is played the same way at its own scale: ``steps``
quotes spread evenly over ``[start, start + bar)``, the first trade at the bar's open, the last at
its close, the high and the low touched at interior steps, every price within the bar's range, the
bar's volume split over its steps. A 15-minute bar with 5 steps quotes every 3 minutes.

Deterministic: each bar's generator is seeded from (seed, symbol, bar start), so the same bar
replays the same quotes whatever else is replayed and wherever it starts. Bars follow each other
in time with their calendar's gaps (a 24/5 pair is silent over the weekend; a 24/7 coin is not).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from engine.data.intraday import IntradaySeries
from engine.data.replay import NOMINAL_VOLUME, intraday_path, quote_sides, volume_path
from engine.model import Quote

FloatArray = npt.NDArray[np.float64]
MIN_STEPS = 4
"""O, H, L and C each need a step of their own."""


def bar_seed(seed: int, symbol: str, start: np.datetime64) -> int:
    digest = hashlib.blake2b(f"{seed}|{symbol}|{start}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


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
    f = series.frame.iloc[start:stop]
    values = f[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    starts = f.index.values.astype("datetime64[ms]")
    step_ms = series.bar.minutes * 60_000 // steps
    offsets = (np.arange(steps) * step_ms).astype("timedelta64[ms]")
    tick = series.spec.tick_size
    n = len(values)
    last = np.empty((n, steps))
    size = np.empty((n, steps))
    cum = np.empty((n, steps))
    for i in range(n):
        o, h, lo, c, v = values[i]
        rng = np.random.default_rng(bar_seed(seed, series.symbol, starts[i]))
        last[i] = intraday_path(o, h, lo, c, steps, rng, tick=tick).last
        size[i], cum[i] = volume_path(v if v > 0 else NOMINAL_VOLUME / 96.0, steps, rng)
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
    for k in range(len(q.last)):
        ts = q.ts[k].astype("datetime64[us]").astype(datetime).replace(tzinfo=UTC)
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
