"""The configured market's daily bars: the shipped data, or the user's CSV/Parquet file.

One function for the engine, research and the headless commands, so all of them read the same
bars the same way (validated, with the same jump threshold)."""

from __future__ import annotations

from pathlib import Path

from engine.config import Settings
from engine.data.intraday_sets import IntradaySet, join_replay_sets, read_sets, sets_path
from engine.data.loader import DataError, MarketData, load_user_file
from engine.data.shipped import load_shipped

_last: list[MarketData] = []


def last_loaded() -> MarketData | None:
    """The market ``load_market`` read last in this process: the commands print its summary line
    (and, with ``--verbose``, every issue) after their results, without reading the data twice."""
    return _last[-1] if _last else None


def load_market(settings: Settings) -> MarketData:
    """The configured market's daily bars: the shipped data, or the user's file; and the intraday
    sets ``[data] replay_sets`` names, joined to it (``engine.data.intraday_sets``)."""
    sets = _replay_sets(settings)
    market = _load(settings, {s.series.symbol for s in sets})
    join_replay_sets(market, sets, settings.universe.symbols)
    _last[:] = [market]
    return market


def _replay_sets(settings: Settings) -> list[IntradaySet]:
    names = settings.data.replay_sets
    if not names:
        return []
    path = sets_path(settings.data.intraday)
    if path is None:
        raise DataError("[data] replay_sets names sets, but [data] intraday names no sets file")
    try:
        return read_sets(path, names)
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _load(settings: Settings, intraday: set[str]) -> MarketData:
    """The daily bars of every symbol the replayed sets do not bring."""
    symbols = [s for s in (*settings.universe.symbols, settings.universe.benchmark) if s not in intraday]
    threshold = settings.data.jump_threshold
    if settings.data.source == "file":
        if not settings.data.path:
            raise DataError('[data] source = "file" needs [data] path to a CSV or Parquet file')
        specs = None
        if settings.data.instruments:
            from engine.data.instruments import load_instruments

            specs = load_instruments(Path(settings.data.instruments).expanduser())
        market = load_user_file(Path(settings.data.path).expanduser(), jump_threshold=threshold, specs=specs)
        market.require([s for s in settings.universe.symbols if s not in intraday])  # named at once
        return market
    return load_shipped(symbols, jump_threshold=threshold)
