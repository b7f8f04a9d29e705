"""Forex quotes for the simulator from a price series (the shipped hourly EURUSD ask series).

The series is one side of the market (``gym_anytrading_FOREX_EURUSD_1H_ASK.csv``: hourly OHLC
of the ask, ``Time`` as ``DD.MM.YYYY HH:MM:SS.fff`` UTC). Each bar is played as four quotes
through its open, the extreme nearer the open, the other extreme and the close (as the replay
plays a daily bar). The ask is the series on IDEALPRO's tick; **the bid (one pip below by
default) and both sizes are invented**: the file has neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from engine.brokers.tws_sim.depth import decimals_of
from engine.brokers.tws_sim.fx_history import FxTape
from engine.brokers.tws_sim.server import TwsSimulator

COLUMNS = ("Time", "Open", "High", "Low", "Close")


def read_ask_series(path: Path) -> pd.DataFrame:
    """The bars of an ask-side CSV, indexed by UTC time; a clear error for a file of another shape."""
    frame = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: expected columns {', '.join(COLUMNS)}; missing {', '.join(missing)}")
    try:
        stamps = pd.to_datetime(frame["Time"], format="%d.%m.%Y %H:%M:%S.%f", utc=True)
    except ValueError as exc:
        raise ValueError(f"{path}: Time must read DD.MM.YYYY HH:MM:SS.fff ({exc})") from None
    bars = frame[["Open", "High", "Low", "Close"]].astype("float64")
    bars.columns = ["open", "high", "low", "close"]
    bars.index = pd.DatetimeIndex(stamps, name="time")
    if (bars <= 0).to_numpy().any():
        raise ValueError(f"{path}: a price is not positive")
    return bars


@dataclass(frozen=True, slots=True)
class FxQuote:
    ts: datetime
    bid: float
    ask: float
    bid_size: float
    ask_size: float


def quotes_of(
    bars: pd.DataFrame,
    *,
    tick: float = 0.00005,
    spread: float = 0.0001,
    size: float = 1_000_000.0,
) -> Iterator[FxQuote]:
    """Four quotes a bar (open, nearer extreme, farther extreme, close), the ask on ``tick``."""
    places = decimals_of(tick)

    def on_tick(x: float) -> float:
        return round(round(x / tick) * tick, places)

    gap = on_tick(spread)
    prices = bars[["open", "high", "low", "close"]].to_numpy(dtype="float64")
    for ts, (o, h, lo, c) in zip(bars.index, prices.tolist(), strict=True):
        path = (o, h, lo, c) if abs(h - o) <= abs(o - lo) else (o, lo, h, c)
        for price in path:
            ask = on_tick(price)
            yield FxQuote(ts.to_pydatetime(), round(ask - gap, places), ask, size, size)


class FxDriver:
    """Steps one pair of a simulator through a series' quotes (``step`` per quote), and gives the
    simulator the series for the pair's history, served as far as played (``fx_history.py``)."""

    def __init__(self, sim: TwsSimulator, pair: str, bars: pd.DataFrame, **options: float) -> None:
        spec = sim.universe.by_key(pair)
        if spec is None or spec.sec_type != "CASH":
            raise KeyError(f"{pair!r} is not a forex pair the simulator lists")
        self.sim = sim
        self.key = spec.key
        self._quotes = quotes_of(bars, tick=spec.min_tick, **options)
        self.sent = 0
        tick, places = spec.min_tick, decimals_of(spec.min_tick)
        gap = round(round(options.get("spread", 0.0001) / tick) * tick, places)
        self._tape = FxTape(bars, tick=tick, spread=gap, places=places)
        sim.call(sim.fx_tapes.__setitem__, self.key, self._tape)

    def step(self) -> FxQuote | None:
        """Set the pair's next quote; None once the series is over."""
        quote = next(self._quotes, None)
        if quote is not None:
            self.sim.call(self._tape.see, quote.ts, quote.ask)
            self.sim.set_quote(
                self.key, quote.bid, quote.ask, None, bid_size=quote.bid_size, ask_size=quote.ask_size
            )
            self.sent += 1
        return quote
