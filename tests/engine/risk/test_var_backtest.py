"""Kupiec's POF test by hand, and a rolling historical-VaR backtest on the shipped real data.

The backtest asserts only sanity (p-values in [0, 1], exceedance rates in a broad band): how well
a 250-day historical VaR did through 2008 is a finding, reported by tests/bench/risk_portfolio.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.data.loader import MarketData
from engine.risk.var import historical_var, kupiec_pof, rolling_historical_var

STOCKS = ("AAPL", "AMZN", "GOOG", "IBM", "MSFT")
WINDOW = 250


def test_kupiec_hand_computed() -> None:
    x, t, p = 5, 250, 0.01
    lr = -2 * ((t - x) * math.log(1 - p) + x * math.log(p)) + 2 * (
        (t - x) * math.log(1 - x / t) + x * math.log(x / t)
    )
    assert lr == pytest.approx(1.9568, abs=1e-4)
    assert kupiec_pof(x, t, 0.99) == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-12)
    # Edge counts: none at all, and exactly the expected number (p-value 1).
    assert kupiec_pof(0, 250, 0.99) == pytest.approx(stats.chi2.sf(-2 * 250 * math.log(0.99), 1), rel=1e-12)
    assert kupiec_pof(25, 500, 0.95) == pytest.approx(1.0)
    assert kupiec_pof(250, 250, 0.99) == pytest.approx(0.0, abs=1e-300)


def test_kupiec_rejects_nonsense() -> None:
    for args in ((1, 0, 0.99), (-1, 10, 0.99), (11, 10, 0.99), (1, 10, 1.0)):
        with pytest.raises(ValueError):
            kupiec_pof(*args)


@pytest.fixture(scope="module")
def book_pnl(shipped: MarketData) -> np.ndarray:
    """Daily P&L of $1 equally split across the five stocks (rebalanced daily), common days."""
    closes = pd.concat({s: shipped.bars[s]["close"] for s in STOCKS}, axis=1, join="inner")
    daily = closes.pct_change().dropna()
    return daily.mean(axis=1).to_numpy()


def test_rolling_forecast_equals_historical_var(book_pnl: np.ndarray) -> None:
    forecasts = rolling_historical_var(book_pnl, window=WINDOW, level=0.99)
    assert forecasts.size == book_pnl.size - WINDOW
    for t in (0, 123, forecasts.size - 1):
        window = book_pnl[t : t + WINDOW]
        assert forecasts[t] == pytest.approx(
            historical_var({"BOOK": 1.0}, {"BOOK": window}).var_99, rel=1e-12
        )


def test_backtest_on_shipped_data_is_sane(book_pnl: np.ndarray) -> None:
    realised = book_pnl[WINDOW:]
    assert realised.size > 1_500  # 2005-2013: the 2008 crisis is in the sample
    for level, band in ((0.95, (0.02, 0.10)), (0.99, (0.002, 0.04))):
        forecasts = rolling_historical_var(book_pnl, window=WINDOW, level=level)
        exceedances = int(np.count_nonzero(-realised > forecasts))
        assert band[0] < exceedances / realised.size < band[1]
        p_value = kupiec_pof(exceedances, realised.size, level)
        assert 0.0 <= p_value <= 1.0
