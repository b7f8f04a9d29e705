"""The live book's model VaR: delta-gamma options in the P&L, the backtest, the fit cache."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from engine.risk.book_var import (
    BACKTEST_DAYS,
    RECENT_DAYS,
    FitCache,
    book_key,
    book_pnl,
    model_view,
    session_number,
)
from engine.risk.greeks import OptionPosition, position_greeks
from engine.risk.var_models import forecast


def garchy(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out, s2 = np.empty(n), 1e-4
    for t in range(n):
        out[t] = np.sqrt(s2) * rng.standard_normal()
        s2 = 2e-6 + 0.08 * out[t] ** 2 + 0.9 * s2
    return out


RETURNS = {"A": garchy(1_250, 1), "B": garchy(1_250, 2)}
CALL = OptionPosition(
    symbol="A C",
    underlying="A",
    right="C",
    strike=100.0,
    expiry_years=0.5,
    quantity=-3,
    underlying_price=100.0,
    volatility=0.25,
    rate=0.01,
)


def test_options_enter_the_pnl_by_delta_gamma() -> None:
    g = position_greeks(CALL)
    units = -3 * 100.0
    r = RETURNS["A"]
    expected = 5_000.0 * RETURNS["B"] + units * (g.delta * 100.0 * r + 0.5 * g.gamma * (100.0 * r) ** 2)
    np.testing.assert_allclose(book_pnl({"B": 5_000.0}, RETURNS, (CALL,)), expected, rtol=1e-12)
    shares = book_pnl({"A": 1_000.0, "B": -2_000.0}, RETURNS)
    np.testing.assert_allclose(shares, 1_000.0 * RETURNS["A"] - 2_000.0 * RETURNS["B"])
    assert book_pnl({}, RETURNS).size == 0


def test_the_view_is_the_model_forecast_and_a_year_of_backtest() -> None:
    pnl = book_pnl({"A": 10_000.0, "B": 5_000.0}, RETURNS)
    figures, tests = model_view(pnl, "fhs_ewma")
    (v95, e95), (v99, e99) = forecast(pnl, "fhs_ewma", (0.95, 0.99), window=1_000)
    assert figures.method == "fhs_ewma"
    assert (figures.var_95, figures.var_99) == pytest.approx((v95, v99))
    assert (figures.cvar_95, figures.cvar_99) == pytest.approx((e95, e99))
    assert figures.cvar_99 >= figures.var_99 > figures.var_95 > 0
    assert [t.level for t in tests] == [0.95, 0.99]
    for t in tests:
        assert t.observations == BACKTEST_DAYS and t.expected == pytest.approx(BACKTEST_DAYS * (1 - t.level))
        assert len(t.recent) == RECENT_DAYS
        assert sum(r > 1.0 for r in t.recent) <= t.exceedances


def test_too_little_history_gives_figures_without_a_backtest_then_nothing() -> None:
    pnl = book_pnl({"A": 10_000.0}, {"A": RETURNS["A"][-200:]})
    figures, tests = model_view(pnl, "evt_gjr")
    assert figures.var_99 > 0 and tests == ()  # a 199-day window, nothing left to test on
    empty, none = model_view(np.zeros(10), "evt_gjr")
    assert empty.var_99 == 0.0 and none == ()


def test_the_fit_cache_reuses_parameters_for_the_same_book() -> None:
    cache = FitCache(size=2)
    values = {"A": 10_000.0, "B": 5_000.0}
    key = book_key("evt_gjr", values, 1_250)
    assert key == book_key("evt_gjr", {"A": 12_000.0, "B": 5_000.0}, 1_250)  # a fill
    assert key != book_key("evt_gjr", {"A": 12_000.0, "B": -5_000.0}, 1_250)  # a side flipped
    assert key != book_key("evt_gjr", {"A": 1.0, "B": 1.0, "C": 1.0}, 1_250)  # a new holding
    fits = cache.fits(key)
    pnl = book_pnl(values, RETURNS)
    first = model_view(pnl, "evt_gjr", fits=fits)
    assert len(fits) == 13  # 250 days in blocks of 20, the last holding today
    assert model_view(pnl, "evt_gjr", fits=cache.fits(key)) == first
    cache.fits("b")
    cache.fits("c")
    assert cache.fits(key) == {}  # evicted: bounded


def test_a_new_session_fits_only_its_new_block() -> None:
    """Blocks laid on session numbers: the day after, every block but the newest is reused, and the
    reused ones were fitted on exactly the same days' data (so the figures are a fresh roll's)."""
    full = book_pnl({"A": 10_000.0, "B": 5_000.0}, {s: garchy(1_260, i + 1) for i, s in enumerate("AB")})
    fits: dict[int, object] = {}
    session = session_number(date(2024, 3, 15))
    for day in range(10):
        before = set(fits)
        pnl = full[day : day + 1_250]  # the window slides one session
        figures, tests = model_view(pnl, "evt_gjr", fits=fits, session=session + day)  # type: ignore[arg-type]
        assert 231 <= tests[0].observations <= 250
        assert all((k % 20) == 0 for k in fits) and len(set(fits) - before) <= 1 + 13 * (day == 0)
        assert min(fits) >= session + day - 250
    fresh, fresh_tests = model_view(pnl, "evt_gjr", fits={}, session=session + 9)
    # the same up to the optimiser's tolerance (a warm start from the previous block's fit)
    assert fresh.var_99 == pytest.approx(figures.var_99, rel=1e-5)
    assert [(b.exceedances, b.observations) for b in fresh_tests] == [
        (b.exceedances, b.observations) for b in tests
    ]
    assert session_number(date(2024, 3, 18)) == session_number(date(2024, 3, 16)) == session + 1
