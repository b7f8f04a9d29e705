"""Shared fixtures: the shipped data (loaded once) and a small hand-made market around Thanksgiving 2012."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.data.loader import MarketData, build_market_data
from engine.model import AssetClass, Instrument


def bars_frame(
    days: list[str],
    opens: list[float],
    highs: list[float],
    lows: list[float],
    closes: list[float],
    volumes: list[float],
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(days),
            "open": opens,
            "high": highs,
            "low": lows,
            "close": closes,
            "volume": volumes,
            "line": np.arange(2, len(days) + 2),
        }
    )


# 2012-11-19 .. 2012-11-27: Thanksgiving (11-22) closed, 11-23 closes at 13:00 New York.
SMALL_DAYS = ["2012-11-19", "2012-11-20", "2012-11-21", "2012-11-23", "2012-11-26", "2012-11-27"]


@pytest.fixture
def small() -> MarketData:
    n = len(SMALL_DAYS)
    aaa = bars_frame(
        SMALL_DAYS,
        [10.0, 10.5, 10.2, 10.8, 11.0, 10.9],
        [10.8, 10.9, 10.9, 11.1, 11.4, 11.0],
        [9.9, 10.1, 10.0, 10.7, 10.8, 10.5],
        [10.5, 10.2, 10.8, 11.0, 10.9, 10.6],
        [100_000, 120_000, 90_000, 40_000, 150_000, 130_000],
    )
    # BBB has no bar on 2012-11-21.
    bbb_days = [d for d in SMALL_DAYS if d != "2012-11-21"]
    bbb = bars_frame(
        bbb_days,
        [50.0] * (n - 1),
        [51.0] * (n - 1),
        [49.5] * (n - 1),
        [50.5] * (n - 1),
        [2_000_000] * (n - 1),
    )
    idx = bars_frame(SMALL_DAYS, [1400.0] * n, [1410.0] * n, [1390.0] * n, [1405.0] * n, [3e9] * n)
    instruments = {
        "AAA": Instrument("AAA"),
        "BBB": Instrument("BBB"),
        "IDX": Instrument("IDX", asset_class=AssetClass.INDEX, tradable=False),
    }
    raw = {"AAA": (aaa, "aaa.csv"), "BBB": (bbb, "bbb.csv"), "IDX": (idx, "idx.csv")}
    market = build_market_data(raw, instruments)
    # BBB's missing day is reported as a calendar gap, nothing else.
    assert [str(i) for i in market.report.issues] == [
        "bbb.csv: BBB 2012-11-21: calendar gap (1 session without a bar: 2012-11-21)"
    ]
    return market


SMALL_START = date(2012, 11, 19)
