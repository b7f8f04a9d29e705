"""Shared real data for the optimizer tests (no tests here): the shipped close panel and five stocks.

Returns are cached per process: the panel's csv is parsed once for all optimizer test modules.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from engine.data.shipped import load_close_panel
from tests.shipped import shipped_market

FIVE = ("AAPL", "AMZN", "GOOG", "IBM", "MSFT")

SECTORS = {
    "AAPL": "Information Technology",
    "AMD": "Information Technology",
    "MSFT": "Information Technology",
    "BAC": "Financials",
    "JPM": "Financials",
    "BBY": "Consumer Discretionary",
    "HD": "Consumer Discretionary",
    "CVX": "Energy",
    "RRC": "Energy",
    "XOM": "Energy",
    "GE": "Industrials",
    "JNJ": "Health Care",
    "LLY": "Health Care",
    "MRK": "Health Care",
    "PFE": "Health Care",
    "UNH": "Health Care",
    "KO": "Consumer Staples",
    "PEP": "Consumer Staples",
    "PG": "Consumer Staples",
    "WMT": "Consumer Staples",
}
"""GICS sectors of the 20 panel stocks."""


@cache
def panel_returns(days: int = 2_000) -> pd.DataFrame:
    """Daily simple returns of the 20-stock panel, the last ``days`` sessions (to end-2022)."""
    closes = load_close_panel()
    return closes.pct_change().dropna().iloc[-days:]


@cache
def five_returns() -> pd.DataFrame:
    """Daily returns of the five shipped stocks over their common sessions (2004-2013)."""
    md = shipped_market()
    closes = pd.concat({s: md.bars[s]["close"] for s in FIVE}, axis=1, join="inner")
    return closes.pct_change().dropna()


def frame(values: np.ndarray, returns: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(values, index=returns.columns, columns=returns.columns)


def series(values: np.ndarray, returns: pd.DataFrame) -> pd.Series:
    return pd.Series(values, index=returns.columns)
