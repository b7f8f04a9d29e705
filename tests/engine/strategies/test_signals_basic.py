"""Indicators against independent pandas computations, warm-up NaNs included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.signals.basic import atr, bollinger_pct_b, roc, rsi, sma


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    from engine.data.shipped import load_shipped

    return load_shipped(["AAPL"]).bars["AAPL"].iloc[:600]


def test_sma_matches_pandas(bars: pd.DataFrame) -> None:
    close = bars["close"]
    np.testing.assert_allclose(sma(close.to_numpy(), 20), close.rolling(20).mean().to_numpy(), rtol=1e-10)


def test_roc_matches_pandas(bars: pd.DataFrame) -> None:
    close = bars["close"]
    np.testing.assert_allclose(roc(close.to_numpy(), 20), close.pct_change(20).to_numpy(), rtol=1e-10)


def test_bollinger_pct_b_matches_pandas(bars: pd.DataFrame) -> None:
    close = bars["close"]
    mid, sd = close.rolling(20).mean(), close.rolling(20).std(ddof=0)
    ref = (close - (mid - 2 * sd)) / (4 * sd)
    np.testing.assert_allclose(bollinger_pct_b(close.to_numpy()), ref.to_numpy(), rtol=1e-8)


def test_rsi_wilder_matches_ewm_reference(bars: pd.DataFrame) -> None:
    """Wilder's smoothing seeded with the simple mean equals pandas' ewm(alpha=1/n) after the seed."""
    close = bars["close"]
    d = close.diff()
    gain, loss = d.clip(lower=0), (-d).clip(lower=0)
    n = 14
    ag = gain.copy()
    al = loss.copy()
    ag.iloc[: n + 1] = np.nan
    al.iloc[: n + 1] = np.nan
    ag.iloc[n] = gain.iloc[1 : n + 1].mean()
    al.iloc[n] = loss.iloc[1 : n + 1].mean()
    ag = pd.concat([ag.iloc[:n], ag.iloc[n:].fillna(gain).ewm(alpha=1 / n, adjust=False).mean()])
    al = pd.concat([al.iloc[:n], al.iloc[n:].fillna(loss).ewm(alpha=1 / n, adjust=False).mean()])
    ref = 100 - 100 / (1 + ag / al)
    out = rsi(close.to_numpy(), n)
    assert np.isnan(out[:n]).all()
    np.testing.assert_allclose(out[n:], ref.to_numpy()[n:], rtol=1e-9)


def test_atr_wilder(bars: pd.DataFrame) -> None:
    h, lo, c = (bars[k].to_numpy() for k in ("high", "low", "close"))
    tr = np.maximum(h - lo, np.maximum(np.abs(h - np.roll(c, 1)), np.abs(lo - np.roll(c, 1))))
    tr[0] = h[0] - lo[0]
    ref = pd.Series(tr).copy()
    seed = ref.iloc[:14].mean()
    expected = pd.concat([pd.Series([seed]), ref.iloc[14:]]).ewm(alpha=1 / 14, adjust=False).mean().to_numpy()
    out = atr(h, lo, c, 14)
    assert np.isnan(out[:13]).all()
    np.testing.assert_allclose(out[13:], expected, rtol=1e-9)
