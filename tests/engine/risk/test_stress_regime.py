"""Stress at today's volatility, the volatility shock and the correlation-to-one shock."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from engine.risk.stress import SCENARIOS, stress_test
from engine.risk.stress_regime import correlation_one, ewma_sigma, regime_stress, volatility_regime
from engine.risk.var import align_book


def book(last_vol: float) -> object:
    rng = np.random.default_rng(8)
    a = np.concatenate([rng.normal(0, 0.01, 230), rng.normal(0, last_vol, 20)])
    b = np.concatenate([rng.normal(0, 0.02, 230), rng.normal(0, 2 * last_vol, 20)])
    return align_book({"A": 60_000.0, "B": -20_000.0}, {"A": a, "B": b})


def test_the_regime_is_today_over_the_window() -> None:
    calm, stormy = book(0.01), book(0.04)
    assert 0.6 < volatility_regime(calm) < 1.4  # type: ignore[arg-type]
    assert volatility_regime(stormy) > 1.8  # type: ignore[arg-type]
    pnl = stormy.pnl()  # type: ignore[attr-defined]
    assert volatility_regime(stormy) == pytest.approx(  # type: ignore[arg-type]
        float(ewma_sigma(pnl[:, None])[0]) / float(pnl.std(ddof=1))
    )


def test_replays_scale_with_the_regime_and_two_shocks_join_them() -> None:
    stormy = book(0.04)
    regime = volatility_regime(stormy)  # type: ignore[arg-type]
    got = regime_stress(stormy, equity=100_000.0)  # type: ignore[arg-type]
    plain = stress_test(stormy, equity=100_000.0)  # type: ignore[arg-type]
    assert [r.scenario for r in got] == [*(s.name for s in SCENARIOS), "vol x3", "correlation 1"]
    for scaled, flat in zip(got, plain, strict=False):
        assert scaled.pnl == flat.pnl  # the replayed fall is history
        assert scaled.vol_multiplier == pytest.approx(flat.vol_multiplier * regime)
        assert scaled.var_99 > flat.var_99  # the aftermath starts from today's storm
    vol = got[-2]
    assert vol.pnl == 0.0 and vol.shock == 0.0 and vol.vol_multiplier == pytest.approx(3 * regime)


def test_correlation_one_by_hand() -> None:
    stormy = book(0.04)
    sigma = ewma_sigma(stormy.returns)  # type: ignore[attr-defined]
    z = -stats.norm.ppf(0.01)
    result = correlation_one(stormy, equity=50_000.0)  # type: ignore[arg-type]
    assert result.pnl == pytest.approx(-z * (60_000.0 * sigma[0] - 20_000.0 * sigma[1]))
    assert result.var_99 == pytest.approx(z * abs(60_000.0 * sigma[0] - 20_000.0 * sigma[1]))
    assert result.pnl_pct == pytest.approx(result.pnl / 50_000.0)
    empty = correlation_one(align_book({}, {}), equity=1.0)
    assert (empty.pnl, empty.var_99) == (0.0, 0.0)
