"""Book volatility, beta, correlation and concentration against pandas, numpy.polyfit and hand cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.data.loader import MarketData
from engine.risk.book_risk import (
    book_beta,
    book_volatility,
    correlation_matrix,
    diversification_ratio,
    effective_positions,
    holding_betas,
)
from engine.risk.var import align_book

STOCKS = ("AAPL", "AMZN", "GOOG", "IBM", "MSFT")


@pytest.fixture(scope="module")
def real(shipped: MarketData) -> tuple[pd.DataFrame, pd.Series]:
    """The last 250 common daily returns of the five stocks, and the SPX's on the same days."""
    closes = pd.concat({s: shipped.bars[s]["close"] for s in (*STOCKS, "SPX")}, axis=1, join="inner")
    daily = closes.pct_change().dropna().iloc[-250:]
    return daily[list(STOCKS)], daily["SPX"]


VALUES = {"AAPL": 40_000.0, "AMZN": 25_000.0, "GOOG": -15_000.0, "IBM": 30_000.0, "MSFT": 20_000.0}


def test_correlation_matches_pandas(real: tuple[pd.DataFrame, pd.Series]) -> None:
    stocks, _ = real
    book = align_book(VALUES, {s: stocks[s].to_numpy() for s in STOCKS})
    assert book.symbols == STOCKS
    expected = stocks[list(book.symbols)].corr().to_numpy()
    np.testing.assert_allclose(np.array(correlation_matrix(book)), expected, atol=1e-12)


def test_betas_match_polyfit(real: tuple[pd.DataFrame, pd.Series]) -> None:
    stocks, spx = real
    book = align_book(VALUES, {s: stocks[s].to_numpy() for s in STOCKS})
    betas = holding_betas(book, spx.to_numpy())
    for s in STOCKS:
        assert betas[s] == pytest.approx(np.polyfit(spx, stocks[s], 1)[0], rel=1e-9)
    equity = 100_000.0
    pnl_share = (stocks @ pd.Series(VALUES)) / equity
    assert book_beta(book, spx.to_numpy(), equity=equity) == pytest.approx(
        np.polyfit(spx, pnl_share, 1)[0], rel=1e-9
    )


def test_volatility_hand(real: tuple[pd.DataFrame, pd.Series]) -> None:
    stocks, _ = real
    book = align_book(VALUES, {s: stocks[s].to_numpy() for s in STOCKS})
    pnl = stocks @ pd.Series(VALUES)
    assert book_volatility(book, equity=200_000.0) == pytest.approx(pnl.std() / 200_000.0 * math.sqrt(252))
    assert book_volatility(book, equity=0.0) == 0.0


def test_effective_positions_hand() -> None:
    assert effective_positions({}) == 0.0
    assert effective_positions({"A": 100.0}) == 1.0
    assert effective_positions({"A": 50.0, "B": -50.0}) == pytest.approx(2.0)
    assert effective_positions({"A": 60.0, "B": 20.0, "C": 20.0}) == pytest.approx(1 / (0.36 + 0.04 + 0.04))


def test_diversification_ratio_cases() -> None:
    # Orthogonal, zero-mean, equal-variance series: sigma_p = sqrt(2) sigma, ratio = 2 / sqrt(2).
    a = np.tile([1.0, -1.0, 1.0, -1.0], 10) * 0.01
    b = np.tile([1.0, 1.0, -1.0, -1.0], 10) * 0.01
    assert diversification_ratio(align_book({"A": 1.0, "B": 1.0}, {"A": a, "B": b})) == pytest.approx(
        math.sqrt(2)
    )
    assert diversification_ratio(align_book({"A": 5.0}, {"A": a})) == 1.0
    assert diversification_ratio(align_book({"A": 1.0, "B": 3.0}, {"A": a, "B": 2 * a})) == pytest.approx(1.0)
    assert diversification_ratio(align_book({"A": 1.0, "B": -1.0}, {"A": a, "B": a})) == math.inf
    flat = np.zeros(40)
    assert diversification_ratio(align_book({"A": 1.0, "B": 1.0}, {"A": flat, "B": flat})) == 1.0


def test_single_holding_and_flat_series_leak_no_nan() -> None:
    rng = np.random.default_rng(8)
    moving = rng.normal(0, 0.01, 60)
    flat = np.full(60, 0.002)
    one = align_book({"A": 1.0}, {"A": moving})
    assert correlation_matrix(one) == ((1.0,),)
    book = align_book({"A": 1.0, "B": 1.0}, {"A": moving, "B": flat})
    assert correlation_matrix(book) == ((1.0, 0.0), (0.0, 1.0))
    betas = holding_betas(book, moving)
    assert betas["A"] == pytest.approx(1.0) and betas["B"] == pytest.approx(0.0, abs=1e-12)
    # A benchmark that never moves: beta undefined -> None, not NaN or 0.
    assert holding_betas(book, flat) == {"A": None, "B": None}
    assert book_beta(book, flat, equity=1.0) is None
    assert book_beta(book, None, equity=1.0) is None
    assert book_beta(book, moving[:10], equity=1.0) is None  # too little common history
    assert correlation_matrix(align_book({}, {})) == ()
