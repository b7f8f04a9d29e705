"""``HistoryPanel``: every symbol's daily closes and returns as numpy arrays, read from the feed once.

At a session start the risk gauge (VaR inputs), the risk report, the option volatilities, the
prices of unquoted symbols and the status line's previous closes all want "the history before
today" of every symbol. Slicing 500 DataFrames for each of them held the event loop for most of
a second at every session start at 500 symbols (issue 18). The panel reads each symbol's whole
daily history once (``feed.history(symbol, before=FAR)``), keeps its closes, bar dates and simple
returns (``engine.signals.indicators.returns``) as arrays, and answers "before ``day``" with a
searchsorted cut and views: the window moves one row per session, no frame is sliced again.

A feed's daily bars do not change while the engine runs (the replay's and the recording's are
fixed; IBKR's are fetched before the engine starts), which is what makes one read enough.
The arrays are read-only, so the views can go to a worker thread (the risk report) as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from engine.signals.indicators import returns as simple_returns

FAR = date(2262, 1, 1)
"""A ``before`` past every bar pandas can hold (its nanosecond timestamps end in April 2262)."""

FloatArray = NDArray[np.float64]


class HistorySource(Protocol):
    """What the panel reads: a feed's daily bars before a day (``MarketFeed.history``)."""

    def history(self, symbol: str, before: date) -> pd.DataFrame: ...


@dataclass(frozen=True, slots=True)
class _Series:
    """One symbol's whole daily history: bar dates (ns since the epoch), closes and returns."""

    dates: NDArray[np.int64]
    close: FloatArray
    returns: FloatArray
    """``returns[t] = close[t] / close[t-1] - 1`` (NaN at 0 and next to a missing close)."""


def _day_ns(day: date) -> np.int64:
    return np.datetime64(day, "ns").astype(np.int64)


def _frozen(a: FloatArray) -> FloatArray:
    a.flags.writeable = False
    return a


class HistoryPanel:
    def __init__(self, feed: HistorySource) -> None:
        self._feed = feed
        self._series: dict[str, _Series] = {}
        self._returns: dict[int, tuple[date, tuple[str, ...], dict[str, FloatArray]]] = {}
        """window -> (day, symbols asked, symbol -> returns): one session's cut, kept until the next."""

    def _get(self, symbol: str) -> _Series:
        """The symbol's history, read from the feed the first time (whatever the feed raises for
        a symbol it has no bars for propagates, as ``feed.history`` would)."""
        series = self._series.get(symbol)
        if series is None:
            frame = self._feed.history(symbol, before=FAR)
            dates = frame.index.to_numpy().astype("datetime64[ns]").astype(np.int64)
            close = np.ascontiguousarray(frame["close"].to_numpy(dtype=np.float64))
            series = _Series(dates=dates, close=_frozen(close), returns=_frozen(simple_returns(close)))
            self._series[symbol] = series
        return series

    def _cut(self, series: _Series, day: date) -> int:
        """How many of the symbol's bars lie strictly before ``day``."""
        return int(np.searchsorted(series.dates, _day_ns(day), side="left"))

    def closes_before(self, symbol: str, day: date) -> FloatArray:
        """The closes strictly before ``day`` (a read-only view)."""
        series = self._get(symbol)
        return series.close[: self._cut(series, day)]

    def last_close(self, symbol: str, day: date) -> float | None:
        """The last close before ``day``; None when there is none."""
        series = self._get(symbol)
        k = self._cut(series, day)
        return float(series.close[k - 1]) if k else None

    def returns_before(self, symbol: str, day: date, window: int) -> FloatArray | None:
        """The last ``window`` daily returns before ``day``, exactly what
        ``returns(closes[-(window + 1):])[1:]`` of the closes before ``day`` gives (returns are
        pairwise, so the whole series' tail is the same numbers); None with fewer than 2 closes."""
        series = self._get(symbol)
        k = self._cut(series, day)
        if k < 2:
            return None
        return series.returns[max(1, k - window) : k]

    def returns(self, symbols: Iterable[str], day: date, window: int) -> dict[str, FloatArray]:
        """symbol -> ``returns_before(symbol, day, window)`` for those with two closes or more;
        computed once a session for each window (the gauge's and the VaR model's differ)."""
        asked = tuple(symbols)
        cached = self._returns.get(window)
        if cached is not None and cached[0] == day and cached[1] == asked:
            return cached[2]
        out: dict[str, FloatArray] = {}
        for sym in asked:
            r = self.returns_before(sym, day, window)
            if r is not None:
                out[sym] = r
        self._returns[window] = (day, asked, out)
        return out
