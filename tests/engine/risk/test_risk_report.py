"""compute_risk_report composes the parts over one window, deterministically, on real data."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from engine.data.loader import MarketData
from engine.model.risk import RiskReport
from engine.risk.book_risk import correlation_matrix
from engine.risk.greeks import OptionPosition, book_greeks
from engine.risk.report import compute_risk_report
from engine.risk.var import align_book, historical_var, parametric_var

ASOF = datetime(2013, 3, 1, 21, 0, tzinfo=UTC)
VALUES = {"AAPL": 30_000.0, "MSFT": 20_000.0, "IBM": -10_000.0, "AMZN": 15_000.0, "GOOG": 25_000.0}


@pytest.fixture(scope="module")
def history(shipped: MarketData) -> tuple[dict[str, np.ndarray], np.ndarray]:
    closes = pd.concat({s: shipped.bars[s]["close"] for s in (*VALUES, "SPX")}, axis=1, join="inner")
    daily = closes.pct_change().dropna()
    return {s: daily[s].to_numpy() for s in VALUES}, daily["SPX"].to_numpy()


def report(history: tuple[dict[str, np.ndarray], np.ndarray], **overrides: object) -> RiskReport:
    returns, spx = history
    kwargs: dict[str, object] = {
        "asof": ASOF,
        "equity": 100_000.0,
        "values": VALUES,
        "returns": returns,
        "benchmark": "SPX",
        "benchmark_returns": spx,
        "seed": 7,
        "scenarios": 10_000,
        "window_days": 250,
    }
    kwargs.update(overrides)
    return compute_risk_report(**kwargs)  # type: ignore[arg-type]


def test_report_composes_the_parts(history: tuple[dict[str, np.ndarray], np.ndarray]) -> None:
    returns, _ = history
    option = OptionPosition(
        symbol="AAPL C",
        underlying="AAPL",
        right="C",
        strike=450.0,
        expiry_years=0.25,
        quantity=2,
        underlying_price=430.0,
        volatility=0.3,
        rate=0.01,
    )
    got = report(history, options=(option,))
    window = {s: r[-250:] for s, r in returns.items()}
    assert got.window_days == 250 and got.scenarios == 10_000
    assert got.symbols == tuple(sorted(VALUES))
    assert got.gross_value == pytest.approx(100_000.0)
    assert [f.method for f in got.var] == ["historical", "parametric", "monte_carlo"]
    assert got.var[0] == historical_var(VALUES, window)
    assert got.var[1] == parametric_var(VALUES, window)
    assert got.var[2].var_99 == pytest.approx(got.var[1].var_99, rel=0.1)
    assert got.correlation == correlation_matrix(align_book(VALUES, window))
    assert got.beta is not None and 0.2 < got.beta < 2.0
    assert got.greeks == book_greeks([option])
    assert [s.scenario for s in got.stress] == [
        *("2008", "2020", "flash crash", "correction", "stagflation"),
        *("vol x3", "correlation 1"),
    ]
    assert got.effective_positions > 1.0 and got.diversification_ratio >= 1.0
    assert report(history, options=(option,)) == got  # pure: same inputs, same report


def test_report_on_short_or_empty_history_is_zero_not_an_error(
    history: tuple[dict[str, np.ndarray], np.ndarray],
) -> None:
    returns, _ = history
    short = report(history, returns={s: r[-10:] for s, r in returns.items()})
    assert short.window_days == 10 and short.scenarios == 0
    assert all(f.var_99 == 0.0 for f in short.var)
    assert short.beta is None
    empty = report(history, values={}, benchmark_returns=None)
    assert empty.symbols == () and empty.correlation == () and empty.gross_value == 0.0
    assert empty.effective_positions == 0.0 and empty.diversification_ratio == 1.0


def test_report_rejects_corrupt_returns(history: tuple[dict[str, np.ndarray], np.ndarray]) -> None:
    returns, _ = history
    bad = dict(returns)
    bad["GOOG"] = bad["GOOG"].copy()
    bad["GOOG"][-3] = np.inf
    with pytest.raises(ValueError, match="GOOG"):
        report(history, returns=bad)
