from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.loader import DataError, load_user_file
from engine.data.validation import IssueKind
from engine.model import AssetClass

GOOD = """date,open,high,low,close,volume
2012-03-01,10.0,10.5,9.8,10.2,1000
2012-03-02,10.2,10.6,10.0,10.4,1100
2012-03-05,10.4,10.8,10.3,10.5,1200
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_user_csv_single_symbol_named_after_the_file(tmp_path: Path) -> None:
    market = load_user_file(write(tmp_path / "acme.csv", GOOD))
    assert list(market.bars) == ["ACME"]
    frame = market.bars["ACME"]
    assert [ts.date() for ts in frame.index] == [date(2012, 3, 1), date(2012, 3, 2), date(2012, 3, 5)]
    assert frame.index.name == "date"
    assert frame.loc["2012-03-05", "close"] == 10.5
    assert market.report.issues == []
    assert market.instruments["ACME"].tradable


def test_symbol_argument_names_a_single_symbol_file(tmp_path: Path) -> None:
    market = load_user_file(write(tmp_path / "prices.csv", GOOD), symbol="xyz")
    assert list(market.bars) == ["XYZ"]


def test_column_names_are_case_insensitive_and_extra_columns_ignored(tmp_path: Path) -> None:
    text = "Date,Open,HIGH,Low,Close,Adj Close,Volume\r\n2012-03-01,10,11,9,10.5,10.4,5\r\n"
    market = load_user_file(write(tmp_path / "k.csv", text))
    assert market.bars["K"].iloc[0].tolist() == [10.0, 11.0, 9.0, 10.5, 5.0]


def test_long_format_with_symbol_column(tmp_path: Path) -> None:
    text = (
        "Symbol,date,open,high,low,close,volume\n"
        "aaa,2012-03-01,1,2,1,1.5,10\n"
        "BBB,2012-03-01,5,6,4,5.5,20\n"
        "AAA,2012-03-02,1.5,2,1.4,1.8,11\n"
        "SPX,2012-03-02,1370,1375,1365,1374,3e9\n"
    )
    market = load_user_file(write(tmp_path / "many.csv", text))
    assert list(market.bars) == ["AAA", "BBB", "SPX"]
    assert len(market.bars["AAA"]) == 2
    # A symbol the product knows keeps its metadata: SPX is the benchmark index, not tradable.
    assert market.instruments["SPX"].asset_class is AssetClass.INDEX
    assert not market.instruments["SPX"].tradable
    only = load_user_file(tmp_path / "many.csv", symbol="bbb")
    assert list(only.bars) == ["BBB"]
    with pytest.raises(DataError, match=r"many.csv: no rows for symbol 'ZZZ'$"):
        load_user_file(tmp_path / "many.csv", symbol="ZZZ")


def test_gzip_csv(tmp_path: Path) -> None:
    path = tmp_path / "gz.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(GOOD)
    assert len(load_user_file(path).bars["GZ"]) == 3


def test_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "Date": pd.to_datetime(["2012-03-01", "2012-03-02", "2012-03-05"]),
            "open": [10.0, 10.2, 10.4],
            "High": [10.5, 10.6, 10.8],
            "low": [9.8, 10.0, 10.3],
            "close": [10.2, 10.4, np.nan],
            "volume": [1000, 1100, 1200],
            "symbol": ["pq", "pq", "pq"],
        }
    )
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    market = load_user_file(path)
    assert list(market.bars) == ["PQ"]
    assert market.bars["PQ"]["close"].tolist() == [10.2, 10.4]
    (issue,) = market.report.issues
    assert str(issue) == f"{path}: PQ 2012-03-05: missing value (close); row excluded"


def test_parquet_with_string_dates_and_a_time_of_day(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "date": ["2012-03-01", "2012-03-02"],
            "open": [1.0, 1.0],
            "high": [2.0, 2.0],
            "low": [1.0, 1.0],
            "close": [1.5, 1.5],
            "volume": [1.0, 1.0],
        }
    )
    path = tmp_path / "s.parquet"
    frame.to_parquet(path)
    assert len(load_user_file(path).bars["S"]) == 2
    frame["date"] = pd.to_datetime(["2012-03-01 16:00", "2012-03-02 16:00"])
    frame.to_parquet(path)
    with pytest.raises(DataError, match=r"s.parquet: dates carry a time of day \(2012-03-01 16:00:00\)"):
        load_user_file(path)


CORRUPT = """date,open,high,low,close,volume
2012-03-01,10.0,10.5,9.8,10.2,1000
2012-03-02,10.2,10.6,10.0,10.4,1100
2012-03-05,10.4,10.0,11.0,10.5,1200
2012-03-06,10.5,10.9,10.3,,1300
2012-03-07,-10.5,10.9,10.3,10.6,1300
2012-03-08,10.6,11.0,10.5,11.2,1400
2012-03-09,10.6,11.0,10.5,10.9,1400
2012-03-09,10.7,11.0,10.5,10.8,1400
2012-03-12,10.9,11.3
2012-03-13,11.0,11.3,10.8,11.1,1500
2012-03-12,11.0,11.3,10.8,11.0,1500
2012-03-14,abc,11.3,10.8,11.0,1500
03/15/2012,11.0,11.3,10.8,11.0,1500
2012-03-10,11.0,11.3,10.8,11.0,1500
2012-03-16,11.0,11.3,10.8,11.0,1500
"""


def test_corrupted_csv_is_reported_line_by_line_and_bad_rows_excluded(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", CORRUPT)
    market = load_user_file(path)
    lines = [str(i) for i in market.report.issues]
    src = str(path)
    assert lines == [
        f"{src}:4: X 2012-03-05: high < low (high 10.0, low 11.0); row excluded",
        f"{src}:5: X 2012-03-06: missing value (close); row excluded",
        f"{src}:6: X 2012-03-07: non-positive price (open -10.5); row excluded",
        f"{src}:7: X 2012-03-08: close outside [low, high] (close 11.2, low 10.5, high 11.0); row excluded",
        f"{src}:9: X 2012-03-09: duplicate date (first bar on line 8); row excluded",
        f"{src}:10: X 2012-03-12: unparseable row (expected 6 fields, got 3); row excluded",
        f"{src}:12: X 2012-03-12: unsorted date (after 2012-03-13 on line 11; sorted into place)",
        f"{src}:13: X 2012-03-14: unparseable row (open 'abc' is not a number); row excluded",
        f"{src}:14: X: unparseable row (date '03/15/2012' is not YYYY-MM-DD); row excluded",
        f"{src}:15: X 2012-03-10: not a trading session (Saturday); row excluded",
        f"{src}: X 2012-03-05: calendar gap (4 sessions without a bar: 2012-03-05..2012-03-08)",
        f"{src}: X 2012-03-14: calendar gap (2 sessions without a bar: 2012-03-14..2012-03-15)",
    ]
    kept = market.bars["X"]
    assert [ts.date().isoformat() for ts in kept.index] == [
        "2012-03-01",
        "2012-03-02",
        "2012-03-09",
        "2012-03-12",
        "2012-03-13",
        "2012-03-16",
    ]
    # The first of the two 2012-03-09 bars is kept; the late 2012-03-12 row is sorted into place.
    assert kept.loc["2012-03-09", "open"] == 10.6
    assert kept.loc["2012-03-12", "close"] == 11.0
    report = market.report
    assert report.rows_kept == {"X": 6} and report.rows_excluded == {"X": 9}
    assert len(report.errors) == 9 and len(report.warnings) == 3
    assert report.counts[str(IssueKind.UNPARSEABLE)] == 3
    assert report.summary().splitlines()[0] == "1 symbols, 6 rows kept, 9 excluded; 9 errors, 3 warnings"
    excluded = {i.line for i in report.issues if i.excluded}
    assert excluded == {4, 5, 6, 7, 9, 10, 13, 14, 15}


def test_missing_column_message(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "date,open,high,low,volume\n2012-03-01,1,2,1,5\n")
    with pytest.raises(DataError) as err:
        load_user_file(path)
    assert (
        str(err.value)
        == f"{path}: missing column 'close' (expected date, close[, open, high, low][, volume][, symbol])"
    )
    assert isinstance(err.value, ValueError)


def test_missing_column_message_is_relative_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    write(tmp_path / "data" / "x.csv", "date,open,low,volume\n2012-03-01,1,1,5\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as err:
        load_user_file(Path("data/x.csv"))
    assert str(err.value) == (
        "data/x.csv: missing columns 'high', 'close' "
        "(expected date, close[, open, high, low][, volume][, symbol])"
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty file"),
        ("header.csv", "date,open,high,low,close,volume\n", "no data rows after the header"),
        (
            "us.csv",
            "date,open,high,low,close,volume\n1/4/1999,1,2,1,1,1\n",
            "unparseable dates (line 2 has '1/4/1999'; expected ISO YYYY-MM-DD)",
        ),
        ("semi.csv", "date;open;high;low;close;volume\n", "is the file separated by ';' or tabs?"),
        ("dup.csv", "date,open,Open,high,low,close,volume\n", "duplicate column 'open'"),
        ("bars.xlsx", "x", "unsupported file type"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(DataError, match=r"^" + str(path).replace(".", r"\.") + ": ") as err:
        load_user_file(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_and_all_rows_bad(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: no such file$"):
        load_user_file(tmp_path / "nope.csv")
    path = write(tmp_path / "bad.csv", "date,open,high,low,close,volume\n2012-03-01,1,0.5,1,1,1\n")
    with pytest.raises(
        DataError, match=r"bad.csv: no valid rows \(1 read, all excluded; first problem: .*high < low"
    ):
        load_user_file(path)


def test_not_parquet(tmp_path: Path) -> None:
    path = write(tmp_path / "fake.parquet", "date,open\n")
    with pytest.raises(DataError, match=r"fake\.parquet: unreadable Parquet file"):
        load_user_file(path)


def test_a_symbol_the_data_lacks_is_a_data_error_naming_every_missing_one(tmp_path: Path) -> None:
    from engine.data.loader import MissingSymbolError

    path = write(
        tmp_path / "bars.csv", "date,open,high,low,close,volume,symbol\n2020-01-02,1,2,0.5,1.5,100,AAPL\n"
    )
    market = load_user_file(path)
    market.require(["AAPL"])  # present: nothing raised
    with pytest.raises(MissingSymbolError) as info:
        market.require(["AAPL", "MSFT", "IBM"])
    assert isinstance(info.value, DataError) and isinstance(info.value, KeyError)
    shown = str(info.value)
    assert shown.endswith(
        "bars.csv: no bars for symbols MSFT, IBM (the data has AAPL); "
        "add them or remove them from [universe] symbols"
    )
    with pytest.raises(MissingSymbolError, match="no bars for symbol MSFT "):
        market.bars_before("MSFT", date(2020, 1, 3))


def test_closes_before_are_the_frames_closes_strictly_before_the_day(tmp_path: Path) -> None:
    """The arrays the risk gauge's daily returns read equal ``bars_before``'s closes on every day
    (before the first bar, on a bar's own day, between bars, after the last); a replaced frame is
    read afresh, and a missing symbol is the same data error."""
    from engine.data.loader import MissingSymbolError

    rows = "".join(f"2020-01-{d:02d},1,2,0.5,{1 + d / 10},100,AAPL\n" for d in (2, 3, 6, 7, 8))
    market = load_user_file(write(tmp_path / "bars.csv", "date,open,high,low,close,volume,symbol\n" + rows))
    for day in range(1, 11):
        when = date(2020, 1, day)
        expected = market.bars_before("AAPL", when)["close"].to_numpy(dtype=np.float64)
        assert market.closes_before("AAPL", when).tolist() == expected.tolist()
    assert market.closes_before("AAPL", date(2020, 1, 7)).tolist() == [1.2, 1.3, 1.6]
    market.bars["AAPL"] = market.bars["AAPL"].iloc[:2]
    assert market.closes_before("AAPL", date(2020, 1, 9)).tolist() == [1.2, 1.3]
    with pytest.raises(MissingSymbolError, match="no bars for symbol MSFT "):
        market.closes_before("MSFT", date(2020, 1, 3))
