"""The configured market's daily bars: the shipped data, or the user's CSV/Parquet file.

One function for the engine, research and the headless commands, so all of them read the same
bars the same way (validated, with the same jump threshold)."""

from __future__ import annotations

from pathlib import Path

from engine.config import Settings
from engine.data.loader import DataError, MarketData, load_user_file
from engine.data.shipped import load_shipped

_last: list[MarketData] = []


def last_loaded() -> MarketData | None:
    """The market ``load_market`` read last in this process: the commands print its summary line
    (and, with ``--verbose``, every issue) after their results, without reading the data twice."""
    return _last[-1] if _last else None


def load_market(settings: Settings) -> MarketData:
    """The configured market's daily bars: the shipped data, or the user's file."""
    market = _load(settings)
    _last[:] = [market]
    return market


def _load(settings: Settings) -> MarketData:
    symbols = [*settings.universe.symbols, settings.universe.benchmark]
    threshold = settings.data.jump_threshold
    if settings.data.source == "file":
        if not settings.data.path:
            raise DataError('[data] source = "file" needs [data] path to a CSV or Parquet file')
        specs = None
        if settings.data.instruments:
            from engine.data.instruments import load_instruments

            specs = load_instruments(Path(settings.data.instruments).expanduser())
        market = load_user_file(Path(settings.data.path).expanduser(), jump_threshold=threshold, specs=specs)
        market.require(settings.universe.symbols)  # every universe symbol, named at once if missing
        return market
    return load_shipped(symbols, jump_threshold=threshold)
