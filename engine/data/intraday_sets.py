"""Intraday sets (``[data] intraday``): one instrument's bars at one bar size, and the templates
to run on them; and the sets the paper replay plays (``[data] replay_sets``).

A sets file is TOML, one table per set, ``file`` relative to the sets file:

.. code-block:: toml

    [EURUSD-1h]
    file = "EURUSD_1h.csv.gz"
    symbol = "EURUSD"
    asset_class = "fx"            # its calendar: 24/5 (crypto: 24/7)
    bar = "1h"                    # optional: inferred from the timestamps and checked
    templates = ["trend", "mean_reversion", "trend@1d"]

Research reads every set (``engine.research.intraday.load_sets``, which also checks the template
names). The replay reads the sets ``[data] replay_sets`` names and joins them to the market
(``join_replay_sets``): the engine then quotes each bar through its OHLC at its own times
(``engine.data.intraday_replay``), and ``MarketData.bars`` holds the bars' daily resample (one bar
a session of the instrument's calendar) for what is daily by nature: risk returns, option
volatilities, the previous close.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.data.bar_size import BarSize
from engine.data.intraday import IntradaySeries, read_intraday
from engine.data.loader import DataError, MarketData
from engine.model.instruments import ASSET_CLASS_NAMES, InstrumentSpec
from engine.paths import DEFAULT_CONFIG

SET_KEYS = frozenset({"file", "symbol", "asset_class", "calendar", "bar", "templates", "currency"})


@dataclass(frozen=True, slots=True)
class IntradaySet:
    name: str
    series: IntradaySeries
    templates: tuple[str, ...]


def sets_path(text: str) -> Path | None:
    """``[data] intraday`` as a path: as written (relative to the working directory), or else
    relative to the onetap checkout (so the shipped sample configs work from anywhere)."""
    if not text:
        return None
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        return path
    shipped = DEFAULT_CONFIG.parents[1] / path
    return shipped if shipped.exists() else path


def read_sets(
    path: str | Path,
    only: Sequence[str] | None = None,
    *,
    check_template: Callable[[str, BarSize], object] | None = None,
) -> list[IntradaySet]:
    """The sets of the file (``only``: just those, in that order; a name not in the file is an
    error naming the ones that are). A mistake is one ValueError naming the file, the set and
    the key. ``check_template(name, bar)`` (research's: the strategies are a layer above this
    one) raises ValueError on a template name it does not know, before the bars are read."""
    p = Path(path).expanduser()
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{p}: no such intraday sets file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{p}: not valid TOML ({exc})") from None
    names = list(doc) if only is None else list(only)
    missing = [n for n in names if n not in doc]
    if missing:
        raise ValueError(f"{p}: no set named {', '.join(missing)}; the file has {', '.join(doc) or 'none'}")
    return [_read_set(p, name, doc[name], check_template) for name in names]


def _read_set(
    p: Path, name: str, table: object, check_template: Callable[[str, BarSize], object] | None
) -> IntradaySet:
    where = f"{p}: [{name}]"
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table")
    unknown = set(table) - SET_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key {sorted(unknown)[0]}; expected {', '.join(sorted(SET_KEYS))}")
    if "file" not in table:
        raise ValueError(f"{where}: file is required")
    symbol = str(table.get("symbol", name)).upper()
    cls_name = str(table.get("asset_class", "stock")).lower()
    if cls_name not in ASSET_CLASS_NAMES:
        raise ValueError(
            f"{where}: asset_class: unknown {cls_name!r}; expected {', '.join(ASSET_CLASS_NAMES)}"
        )
    overrides = {k: table[k] for k in ("calendar", "currency") if k in table}
    try:
        spec = InstrumentSpec.default(symbol, ASSET_CLASS_NAMES[cls_name], **overrides)
        bar = BarSize.parse(table["bar"]) if "bar" in table else None
        templates = tuple(str(t) for t in table.get("templates", ("trend", "mean_reversion")))
        if check_template is not None:
            for t in templates:
                check_template(t, bar or BarSize(60))
        series = read_intraday(p.parent / str(table["file"]), spec, bar)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return IntradaySet(name, series, templates)


def session_days(series: IntradaySeries) -> npt.NDArray[np.datetime64]:
    """The session (of the instrument's calendar) each bar belongs to, as ``datetime64[D]``: the
    session whose open is the last one at or before the bar's start (validation kept only bars
    lying wholly within a session)."""
    from engine.data.calendar import for_code

    table = for_code(series.spec.calendar).table
    start_ns = series.frame.index.values.astype("datetime64[ns]").astype(np.int64)
    i = np.searchsorted(table.opens_ns, start_ns, side="right") - 1
    days: npt.NDArray[np.datetime64] = table.days[np.clip(i, 0, len(table.days) - 1)]
    return days


def daily_bars(series: IntradaySeries) -> pd.DataFrame:
    """One bar a session: the first open, the highest high, the lowest low, the last close and the
    volume summed, indexed by the session's date (as ``MarketData.bars`` are)."""
    frame = series.frame
    days = pd.DatetimeIndex(session_days(series).astype("datetime64[ns]"), name="date")
    grouped = frame.groupby(days, sort=True)
    out = pd.DataFrame(
        {
            "open": grouped["open"].first(),
            "high": grouped["high"].max(),
            "low": grouped["low"].min(),
            "close": grouped["close"].last(),
            "volume": grouped["volume"].sum(),
        }
    )
    out.index.name = "date"
    return out


def join_replay_sets(market: MarketData, sets: Sequence[IntradaySet], universe: Sequence[str]) -> MarketData:
    """Add the replayed sets to ``market`` (in place, and returned): each set's symbol gets its
    daily resample in ``bars`` and, finer than a day, its bars in ``intraday``. A set whose symbol
    the universe does not trade, two sets of one symbol, or a symbol the market already has from
    another source is refused with one line naming it."""
    seen: dict[str, str] = {}
    for s in sets:
        symbol = s.series.symbol
        if symbol in seen:
            raise DataError(
                f"[data] replay_sets: {seen[symbol]} and {s.name} are both {symbol}; the replay plays one "
                "bar size a symbol"
            )
        seen[symbol] = s.name
        if symbol not in universe:
            raise DataError(
                f"[data] replay_sets: {s.name} is {symbol}, which is not in [universe] symbols; add it there"
            )
        if symbol in market.bars:
            where = market.source or "the shipped data"
            raise DataError(f"[data] replay_sets: {symbol} is also in {where} (one source a symbol)")
        daily = daily_bars(s.series)
        market.bars[symbol] = daily
        market.specs[symbol] = s.series.spec
        market.instruments[symbol] = s.series.spec.instrument()
        market.report.record(symbol, len(daily), 0, [])  # the bars left out: the series' summary
        if not s.series.bar.daily:
            market.intraday[symbol] = s
    return market
