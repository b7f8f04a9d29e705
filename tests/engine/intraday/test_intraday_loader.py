"""The intraday loader: bar sizes declared or inferred and checked, sessions per the instrument's
calendar (24/7 has no weekend gap, 24/5 has one, an exchange's bars stay within its hours), and
every row left out reported with its line and reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.bar_size import BarSize
from engine.data.intraday import IntradayDataError, read_intraday
from engine.model.enums import AssetClass
from engine.model.instruments import InstrumentSpec
from tests.engine.intraday.bars import every, walk, write

BTC = InstrumentSpec.default("BTCUSD", AssetClass.CRYPTO)
EURUSD = InstrumentSpec.default("EURUSD", AssetClass.FX)
SPY = InstrumentSpec("SPY")


def test_crypto_15min_bars_through_a_weekend_keep_every_bar(tmp_path: Path) -> None:
    # Friday 2021-10-01 00:00 to Tuesday: 4 days x 96 bars, a weekend in the middle
    starts = every("15min", "2021-10-01", 4 * 96)
    s = read_intraday(write(tmp_path / "btc.csv", walk(starts)), BTC)
    assert s.bar == BarSize(15)
    assert len(s.frame) == 4 * 96
    gaps = np.diff(s.starts).astype(np.int64)
    assert set(gaps.tolist()) == {15}  # no weekend gap on 24/7
    assert (s.frame.index.day_of_week >= 5).sum() == 2 * 96
    assert sum(s.dropped.values()) == 0
    assert s.periods_per_year == 35040
    assert "none left out" in s.summary()


def test_fx_hourly_bars_on_a_weekend_are_left_out_and_reported(tmp_path: Path) -> None:
    starts = every("1h", "2017-01-06", 4 * 24)  # Friday .. Monday
    s = read_intraday(write(tmp_path / "eurusd.csv", walk(starts, price=1.05, vol=0.001)), EURUSD, "1h")
    assert len(s.frame) == 2 * 24  # Friday and Monday
    assert s.dropped == {"outside the session": 48}
    assert set(s.frame.index.day_of_week) == {0, 4}
    assert s.issues[0].line == 2 + 24 and s.issues[0].reason == "outside the session"
    assert "48 left out (outside the session 48)" in s.summary()
    assert s.periods_per_year == 6240


def test_exchange_bars_must_lie_within_its_session(tmp_path: Path) -> None:
    # 2021-01-04 XNYS: 14:30-21:00 UTC. 14:15 starts before the open; 21:00 after the close
    starts = pd.DatetimeIndex(
        ["2021-01-04 14:15", "2021-01-04 14:30", "2021-01-04 14:45", "2021-01-04 20:45", "2021-01-04 21:00"]
    )
    s = read_intraday(write(tmp_path / "spy.csv", walk(starts)), SPY, "15min")
    assert [t.strftime("%H:%M") for t in s.frame.index] == ["14:30", "14:45", "20:45"]
    assert s.dropped == {"outside the session": 2}


def test_offsets_are_converted_to_utc_and_day_first_stamps_read(tmp_path: Path) -> None:
    iso = walk(every("15min", "2021-10-01 10:00", 8))
    iso["timestamp"] = [f"2021-10-01 {11 + i // 4:02d}:{15 * (i % 4):02d}:00+01:00" for i in range(8)]
    s = read_intraday(write(tmp_path / "iso.csv", iso), BTC)
    assert s.frame.index[0] == pd.Timestamp("2021-10-01 10:00")
    dayfirst = walk(every("1h", "2017-01-02", 5), price=1.05, vol=0.001)
    dayfirst["timestamp"] = [f"02.01.2017 {h:02d}:00:00.000" for h in range(5)]
    s = read_intraday(write(tmp_path / "dayfirst.csv", dayfirst), EURUSD)
    assert s.frame.index[-1] == pd.Timestamp("2017-01-02 04:00")
    assert s.bar == BarSize(60)


def test_bad_rows_are_left_out_with_their_line_and_reason(tmp_path: Path) -> None:
    frame = walk(every("15min", "2021-10-01", 40))
    frame.loc[2, "timestamp"] = "2021-10-01 00:31:02"  # off the grid
    frame.loc[4, "timestamp"] = frame.loc[3, "timestamp"]  # duplicate
    frame.loc[6, "high"] = frame.loc[6, "low"] * 0.5  # impossible
    frame.loc[8, "close"] = np.nan
    frame.loc[10, "timestamp"] = "yesterday"
    s = read_intraday(write(tmp_path / "bad.csv", frame), BTC)
    assert len(s.frame) == 35
    assert s.bar == BarSize(15)
    reasons = {i.line: i.reason for i in s.issues}
    assert reasons == {
        4: "off the bar grid",
        6: "duplicate timestamp",
        8: "impossible prices",
        10: "missing value",
        12: "unreadable timestamp",
    }


def test_a_declared_bar_size_the_timestamps_contradict_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "btc.csv", walk(every("15min", "2021-10-01", 20)))
    with pytest.raises(
        IntradayDataError, match=r"btc.csv: declared bar size 1h but the bars are 15min apart"
    ):
        read_intraday(path, BTC, "1h")


def test_unusable_files_raise_one_line_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(IntradayDataError, match="no such file"):
        read_intraday(tmp_path / "missing.csv", BTC)
    frame = walk(every("15min", "2021-10-01", 5)).drop(columns=["low"])
    with pytest.raises(IntradayDataError, match=r"nolow.csv: missing low"):
        read_intraday(write(tmp_path / "nolow.csv", frame), BTC)
    weekend = walk(every("1h", "2017-01-07", 30), price=1.05, vol=0.001)  # Saturday, Sunday only
    with pytest.raises(IntradayDataError, match="no usable bar for EURUSD on 24/5"):
        read_intraday(write(tmp_path / "weekend.csv", weekend), EURUSD)


def test_shipped_sets_load() -> None:
    from engine.research.intraday import load_sets

    sets = {
        s.name: s.series for s in load_sets(Path(__file__).parents[3] / "data" / "intraday" / "sets.toml")
    }
    assert sets["EURUSD-1h"].bar == BarSize(60) and len(sets["EURUSD-1h"].frame) == 6088
    assert sets["EURUSD-1h"].dropped == {"outside the session": 137}  # Sunday-evening bars on 24/5
    assert sets["BTCUSD-15min"].dropped == {"duplicate timestamp": 32, "off the bar grid": 3}
    assert sets["BTCUSD-1d"].periods_per_year == 365
