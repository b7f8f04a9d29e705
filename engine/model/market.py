"""Market data values: instruments, daily bars and intraday quotes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from engine.model.enums import AssetClass


@dataclass(frozen=True, slots=True)
class Instrument:
    """What can be quoted (and, when ``tradable``, traded)."""

    symbol: str
    asset_class: AssetClass = AssetClass.STOCK
    currency: str = "USD"
    sector: str = ""
    tick_size: float = 0.01
    fractional: bool = True
    tradable: bool = True
    name: str = ""


@dataclass(frozen=True, slots=True)
class Bar:
    """One daily OHLCV bar."""

    symbol: str
    day: date
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class Quote:
    """A top-of-book snapshot with the last trade.

    ``volume`` is the cumulative volume of the session so far; ``last_size`` what traded
    since the previous quote of this symbol (what a paper fill may participate in).
    """

    symbol: str
    ts: datetime
    bid: float
    ask: float
    last: float
    bid_size: float
    ask_size: float
    last_size: float
    volume: float

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0
