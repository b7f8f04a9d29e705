"""The pre-trade cost model against numbers worked out by hand."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from engine.config import load_settings
from engine.execution.costs import (
    CostEstimate,
    MarketStats,
    card_expected_cost,
    combine,
    impact_bps,
    order_cost,
    symbol_commission,
)
from engine.model import Leg, Quote, Side, StrategyCard
from tests.defaults import commissions

ASOF = datetime(2012, 3, 5, 15, 0, tzinfo=UTC)
SCHEDULE = commissions()
"""The ``[broker]`` schedule as shipped: the hand-worked numbers below are its 0.005/share, $1 minimum."""


def history(closes: list[float], volumes: list[float]) -> pd.DataFrame:
    index = pd.bdate_range("2012-01-02", periods=len(closes), name="date")
    return pd.DataFrame(
        {"open": closes, "high": closes, "low": closes, "close": closes, "volume": volumes}, index=index
    )


def alternating(n_returns: int, r: float, start: float = 100.0) -> list[float]:
    """Closes whose log returns are +r, -r, +r, ...: the sample std is known in closed form."""
    closes = [start]
    for k in range(n_returns):
        closes.append(closes[-1] * math.exp(r if k % 2 == 0 else -r))
    return closes


def test_commission_is_the_paper_brokers_schedule() -> None:
    s = commissions()
    assert s.commission(100, 50.0) == 1.0  # 100 * 0.005 = 0.50 -> the $1 minimum
    assert s.commission(1_000, 50.0) == pytest.approx(5.0)  # 1000 * 0.005
    assert s.commission(10, 1.0) == pytest.approx(0.10)  # the minimum capped at 1% of $10
    assert s.commission(0, 50.0) == 0.0
    assert commissions(per_share=0.0, minimum=0.0, pct=0.001).commission(100, 50.0) == pytest.approx(5.0)
    b = load_settings().broker
    assert (s.per_share, s.minimum, s.max_pct) == (
        b.commission_per_share,
        b.commission_min,
        b.commission_max_pct,
    )
    with pytest.raises(ValueError, match="per_share must be a finite number >= 0"):
        commissions(per_share=-1.0)


def test_order_cost_by_hand() -> None:
    stats = MarketStats(daily_vol=0.02, adv=1_000_000.0)
    est = order_cost(1_000, 50.0, stats, spread=0.02, schedule=SCHEDULE)
    # commission: 1000 * 0.005 = 5.00 (over the $1 minimum, under 1% of $50,000)
    assert est.commission == pytest.approx(5.0)
    # spread: half of 2 cents on 1000 shares
    assert est.spread == pytest.approx(10.0)
    # impact: 1.0 * 0.02 * sqrt(1000 / 1e6) * 1e4 = 6.32456 bps of $50,000 = $31.6228
    assert impact_bps(1_000, stats) == pytest.approx(6.324555, rel=1e-6)
    assert est.impact == pytest.approx(31.622777, rel=1e-6)
    assert est.total == pytest.approx(46.622777, rel=1e-6)
    assert est.total_bps == pytest.approx(9.324555, rel=1e-6)  # 46.62 / 50,000 * 1e4
    assert est.value == 50_000.0
    # k scales the impact only; without a spread, DEFAULT_SPREAD_BPS (2 bps) of the price
    doubled = order_cost(1_000, 50.0, stats, schedule=SCHEDULE, k=2.0)
    assert doubled.impact == pytest.approx(2 * est.impact)
    assert doubled.spread == pytest.approx(1_000 * 50.0 * 2e-4 / 2)
    assert order_cost(0, 50.0, stats, schedule=SCHEDULE).total == 0.0
    with pytest.raises(ValueError, match="positive price"):
        order_cost(10, 0.0, stats, schedule=SCHEDULE)


def test_market_stats_from_history_by_hand() -> None:
    closes = alternating(25, 0.01)
    volumes = [1_000.0] * 6 + [2_000.0 + 100 * k for k in range(20)]
    stats = MarketStats.from_history(history(closes, volumes), window=20)
    # the last 20 returns alternate +-1%: mean 0, sample std sqrt(20 * 0.0001 / 19)
    assert stats.daily_vol == pytest.approx(0.01 * math.sqrt(20 / 19), rel=1e-9)
    # the last 20 volumes: 2000 .. 3900, mean 2950
    assert stats.adv == pytest.approx(2_950.0)
    with pytest.raises(ValueError, match="needs at least 3"):
        MarketStats.from_history(history([100.0, 101.0], [10.0, 10.0]))
    with pytest.raises(ValueError, match="no traded volume"):
        MarketStats.from_history(history(closes, [0.0] * len(closes)))


def test_card_expected_cost_sums_its_legs() -> None:
    h_aapl = history(alternating(20, 0.02, 500.0), [4_000_000.0] * 21)
    h_msft = history(alternating(20, 0.01, 30.0), [1_000_000.0] * 21)
    card = StrategyCard(
        card_id="C-1",
        template="pair",
        name="pair",
        legs=(Leg("AAPL", Side.BUY, 400), Leg("MSFT", Side.SELL, 10_000)),
        confidence=0.6,
        expected_return=0.01,
        max_risk=100.0,
        reason="",
        asof=ASOF,
        details={"ref_price:MSFT": 30.0},
    )
    aapl_quote = Quote("AAPL", ASOF, 499.95, 500.05, 500.0, 100, 100, 100, 1_000)
    est = card_expected_cost(card, {"AAPL": aapl_quote}, {"AAPL": h_aapl, "MSFT": h_msft}, schedule=SCHEDULE)

    vol_aapl = 0.02 * math.sqrt(20 / 19)
    vol_msft = 0.01 * math.sqrt(20 / 19)
    aapl = CostEstimate(
        commission=2.0,  # 400 * 0.005
        spread=400 * 0.10 / 2,
        impact=400 * 500.0 * vol_aapl * math.sqrt(400 / 4e6),
        total=0.0,
        total_bps=0.0,
    )
    msft = CostEstimate(
        commission=50.0,  # 10,000 * 0.005
        spread=10_000 * 30.0 * 2e-4 / 2,  # no quote: 2 bps assumed around the card's reference price
        impact=10_000 * 30.0 * vol_msft * math.sqrt(10_000 / 1e6),
        total=0.0,
        total_bps=0.0,
    )
    assert est.commission == pytest.approx(aapl.commission + msft.commission)
    assert est.spread == pytest.approx(aapl.spread + msft.spread)
    assert est.impact == pytest.approx(aapl.impact + msft.impact)
    total = aapl.commission + aapl.spread + aapl.impact + msft.commission + msft.spread + msft.impact
    assert est.total == pytest.approx(total)
    assert est.value == pytest.approx(400 * 500.0 + 10_000 * 30.0)
    assert est.total_bps == pytest.approx(total / 500_000.0 * 1e4)

    with pytest.raises(ValueError, match="no history for MSFT"):
        card_expected_cost(card, {"AAPL": aapl_quote}, {"AAPL": h_aapl}, schedule=SCHEDULE)
    with pytest.raises(ValueError, match="no price for AAPL"):
        card_expected_cost(card, {}, {"AAPL": h_aapl, "MSFT": h_msft}, schedule=SCHEDULE)


def test_combine_weights_bps_by_value() -> None:
    stats = MarketStats(0.01, 1e6)
    a, b = order_cost(100, 10.0, stats, schedule=SCHEDULE), order_cost(1_000, 100.0, stats, schedule=SCHEDULE)
    both = combine([a, b])
    assert both.total == pytest.approx(a.total + b.total)
    assert both.total_bps == pytest.approx((a.total + b.total) / (1_000 + 100_000) * 1e4)
    assert combine([]).total == 0.0 and np.isfinite(combine([]).total_bps)


def test_an_option_leg_is_costed_from_its_quote_per_contract() -> None:
    from engine.execution.costs import card_expected_cost
    from engine.model import Leg, Quote, Side, StrategyCard
    from engine.model.options import OptionContract

    put = OptionContract("AAPL", date(2012, 7, 20), 550.0, "P").symbol
    card = StrategyCard(
        card_id="options-x",
        template="options",
        name="put",
        legs=(Leg(put, Side.BUY, 3.0),),
        confidence=0.5,
        expected_return=0.0,
        max_risk=0.0,
        reason="",
        asof=datetime(2012, 6, 1, tzinfo=UTC),
    )
    ts = datetime(2012, 6, 1, 15, tzinfo=UTC)
    quoted = card_expected_cost(
        card, {put: Quote(put, ts, 11.90, 12.10, 12.0, 10, 10, 0, 0)}, {}, schedule=SCHEDULE
    )
    assert quoted.commission == pytest.approx(max(1.0, 3 * 0.65))
    assert quoted.spread == pytest.approx(3 * 100 * 0.10)
    assert quoted.value == pytest.approx(3 * 100 * 12.0) and quoted.impact == 0.0
    modelled = card_expected_cost(card, {put: 12.0}, {}, schedule=SCHEDULE)
    assert modelled.spread == pytest.approx(3 * 100 * max(0.025, 0.01 * 12.0))


def test_the_cost_model_charges_a_pair_and_a_future_by_their_own_rules() -> None:
    """IDEALPRO's 0.2 bps (2 USD at least) in dollars for a pair, 0.85 a future contract; a
    stock's per-share schedule as before (the shipped ``[broker]``)."""
    schedule = commissions()
    assert symbol_commission(schedule, "EURUSD", 100_000, 1.10) == pytest.approx(2.20)
    assert symbol_commission(schedule, "EURUSD", 10_000, 1.10) == pytest.approx(2.0)
    assert symbol_commission(schedule, "USDJPY", 1_000_000, 150.0) == pytest.approx(20.0)  # dollars
    assert symbol_commission(schedule, "ESZ26", 2, 5_000.0) == pytest.approx(1.70)
    assert symbol_commission(schedule, "AAPL", 1_000, 100.0) == schedule.commission(1_000, 100.0) == 5.0
    assert symbol_commission(schedule, "EURUSD", 0, 1.10) == 0.0
