"""Synthetic intraday bars for the tests: a seeded random walk on a grid of bar starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def walk(starts: pd.DatetimeIndex, seed: int = 3, price: float = 100.0, vol: float = 0.004) -> pd.DataFrame:
    """OHLCV bars at ``starts`` (a geometric random walk with some trend, high/low bounding open/close)."""
    rng = np.random.default_rng(seed)
    n = len(starts)
    steps = rng.normal(0.0, vol, n) + 0.6 * vol * np.sin(np.arange(n) / 150.0)
    close = price * np.exp(np.cumsum(steps))
    open_ = np.r_[price, close[:-1]]
    span = np.abs(rng.normal(0.0, vol, n)) * close
    high = np.maximum(open_, close) + span
    low = np.minimum(open_, close) - span
    volume = rng.integers(100, 1000, n).astype(float)
    return pd.DataFrame(
        {
            "timestamp": starts.strftime("%Y-%m-%d %H:%M:%S"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )


def write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def every(freq: str, start: str, periods: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=periods, freq=freq)


def weekdays_only(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index[index.dayofweek < 5]
