"""Daily bars from IBKR, cached on disk so that a restart does not ask for them again.

IBKR paces historical requests (about 60 in ten minutes) and a two-year request takes seconds, so
a restart that refetched the universe would keep the cards away for minutes. Bars are cached per
symbol in the user's cache directory as CSV (small, readable, diffable); on start the cache is
used as it is when it already reaches the last finished session, and otherwise the missing days
alone are asked for and appended. Every bar then goes through the same validation as shipped data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import pandas as pd
import platformdirs

from engine.brokers.base import BrokerError
from engine.brokers.ibkr.broker import IbkrBroker
from engine.data import calendar
from engine.data.loader import MarketData, build_market_data
from engine.model import Instrument

log = logging.getLogger(__name__)

COLUMNS = ["date", "open", "high", "low", "close", "volume"]


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("onetap")) / "ibkr-bars"


def cache_file(folder: Path, symbol: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in symbol)
    return folder / f"{safe}.csv"


def read_cached(path: Path) -> pd.DataFrame | None:
    """The cached rows, or None when there are none or the file is unreadable (then refetched)."""
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, parse_dates=["date"])
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        log.warning("ignoring the unreadable bar cache %s: %s", path, exc)
        return None
    if list(frame.columns) != COLUMNS or frame.empty:
        return None
    return frame


def write_cached(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False, date_format="%Y-%m-%d")
    tmp.replace(path)


def _days_duration(first_missing: date, today: date) -> str:
    return f"{max((today - first_missing).days + 1, 1)} D"


async def fetch_bars(
    broker: IbkrBroker, symbol: str, *, duration: str, folder: Path, today: date
) -> tuple[pd.DataFrame, int]:
    """The symbol's bars up to the last session before ``today``; returns (rows, rows fetched)."""
    path = cache_file(folder, symbol)
    cached = read_cached(path)
    wanted_last = calendar.previous_session(today)
    if cached is not None:
        last = pd.Timestamp(cached["date"].iloc[-1]).date()
        if last >= wanted_last:
            return cached, 0
        fresh = await broker.history(symbol, _days_duration(last, today))
        merged = pd.concat([cached, fresh[fresh["date"] > pd.Timestamp(last)]], ignore_index=True)
    else:
        fresh = await broker.history(symbol, duration)
        merged = fresh
    merged = merged[merged["date"] < pd.Timestamp(today)].reset_index(drop=True)
    write_cached(path, merged[COLUMNS])
    return merged[COLUMNS], len(fresh)


async def load_market(
    broker: IbkrBroker,
    symbols: Sequence[str],
    *,
    duration: str,
    folder: Path,
    today: date,
    instruments: Mapping[str, Instrument],
    jump_threshold: float,
) -> tuple[MarketData, list[str]]:
    """Bars for every symbol IBKR can give, validated; plus one line per symbol it could not."""
    raw: dict[str, tuple[pd.DataFrame, str]] = {}
    problems: list[str] = []
    for symbol in symbols:
        try:
            frame, _fetched = await fetch_bars(broker, symbol, duration=duration, folder=folder, today=today)
        except BrokerError as exc:
            cached = read_cached(cache_file(folder, symbol))
            if cached is None:
                problems.append(f"no daily bars for {symbol}: {exc}")
                continue
            problems.append(f"{symbol}: using cached bars ({exc})")
            frame = cached
        raw[symbol] = (frame, f"IBKR {symbol}")
    return build_market_data(raw, instruments, jump_threshold=jump_threshold), problems
