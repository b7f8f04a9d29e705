"""The rebalancer: triggers at their boundaries, orders net of positions, costs against benefits, cash."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime

import numpy as np
import pytest

from engine.execution.costs import CommissionSchedule
from engine.model import Side
from engine.model.rebalance import LineAction, RebalancePlan, TriggerKind
from engine.portfolio.rebalance import (
    CostBenefit,
    Frequency,
    RebalanceCosts,
    RebalanceSettings,
    drift_trigger,
    plan_rebalance,
    portfolio_volatility,
    risk_trigger,
    schedule_trigger,
    should_rebalance,
    weights_of,
)
from tests.defaults import commissions

ASOF = datetime(2012, 7, 2, 19, 55, tzinfo=UTC)
FREE = RebalanceCosts(CommissionSchedule(per_share=0.0, minimum=0.0, max_pct=0.0, per_contract=0.0), 0.0, 0.0)
SHIPPED = RebalanceCosts(commissions())
"""The ``[broker]`` schedule as shipped (0.005/share, $1 minimum) and the model's spread and impact."""


def orders_of(plan: RebalancePlan) -> list[tuple[str, Side, float]]:
    return [(o.symbol, o.side, o.quantity) for o in plan.orders]


def action_of(plan: RebalancePlan, symbol: str) -> LineAction:
    return next(line.action for line in plan.lines if line.symbol == symbol)


# ------------------------------------------------------------------------------------------- plans


def test_orders_are_net_of_positions_sells_first_and_unlisted_sold() -> None:
    # equity = 100*50 + 200*25 + 10*100 + 9,000 cash = 20,000
    positions = {"A": 100.0, "B": 200.0, "C": 10.0}
    prices = {"A": 50.0, "B": 25.0, "C": 100.0, "D": 40.0}
    targets = {"A": 0.5, "B": 0.2, "D": 0.25}
    plan = plan_rebalance(positions, prices, 20_000.0, 9_000.0, targets, FREE, asof=ASOF, cash_buffer=0.0)
    # A: 0.5 * 20,000 / 50 = 200 held 100 -> buy 100; B: 160 held 200 -> sell 40;
    # C: not a target -> sell all 10; D: 0.25 * 20,000 / 40 = 125 -> buy 125
    assert orders_of(plan) == [
        ("B", Side.SELL, 40.0),
        ("C", Side.SELL, 10.0),
        ("A", Side.BUY, 100.0),
        ("D", Side.BUY, 125.0),
    ]
    assert plan.turnover == pytest.approx((1_000 + 1_000 + 5_000 + 5_000) / 20_000)
    assert plan.cash_after == pytest.approx(9_000 + 2_000 - 10_000)
    assert plan.expected_cost == 0.0
    line_a = next(line for line in plan.lines if line.symbol == "A")
    assert (line_a.current_weight, line_a.target_weight, line_a.drift) == pytest.approx((0.25, 0.5, -0.25))
    assert action_of(plan, "C") is LineAction.SELL


def test_unlisted_holdings_left_alone_when_asked() -> None:
    positions = {"A": 100.0, "C": 10.0}
    prices = {"A": 50.0, "C": 100.0}
    plan = plan_rebalance(
        positions,
        prices,
        10_000.0,
        4_000.0,
        {"A": 0.6},
        FREE,
        asof=ASOF,
        sell_unlisted=False,
        cash_buffer=0.0,
    )
    assert orders_of(plan) == [("A", Side.BUY, 20.0)]
    assert action_of(plan, "C") is LineAction.HOLD


def test_whole_shares_round_toward_less_and_fractional_keeps_four_decimals() -> None:
    prices = {"A": 30.0}
    whole = plan_rebalance({}, prices, 20_000.0, 20_000.0, {"A": 0.1}, FREE, asof=ASOF)
    assert orders_of(whole) == [("A", Side.BUY, 66.0)]  # 2,000 / 30 = 66.67 shares
    frac = plan_rebalance({}, prices, 20_000.0, 20_000.0, {"A": 0.1}, FREE, asof=ASOF, fractional=True)
    assert orders_of(frac) == [("A", Side.BUY, 66.6666)]
    # a partial sell rounds up (holding less than the target); a full exit sells the fraction held
    sell = plan_rebalance({"A": 100.0}, prices, 3_000.0, 0.0, {"A": 0.5}, FREE, asof=ASOF)
    assert orders_of(sell) == [("A", Side.SELL, 50.0)]
    sell = plan_rebalance({"A": 100.0}, prices, 3_000.0, 0.0, {"A": 0.505}, FREE, asof=ASOF)
    assert orders_of(sell) == [("A", Side.SELL, 50.0)]  # desired 50.5: sell 49.5 rounded up to 50
    exit_all = plan_rebalance({"A": 12.5}, prices, 375.0, 0.0, {}, FREE, asof=ASOF)
    assert orders_of(exit_all) == [("A", Side.SELL, 12.5)]


def test_default_costs_commission_minimum_plus_spread_and_impact() -> None:
    costs = SHIPPED
    # 100 shares at 50: max(1.00 minimum, 0.005 * 100) = 1.00 commission, (1 + 1) bps of 5,000 = 1.00
    assert costs.cost(100, 50.0) == pytest.approx(2.0)
    # 1,000 shares at 50: 5.00 commission + 2 bps of 50,000 = 10.00
    assert costs.cost(1_000, 50.0) == pytest.approx(15.0)
    assert costs.cost(0, 50.0) == 0.0


def test_cost_benefit_skips_a_tiny_trade_and_keeps_a_big_one() -> None:
    # equity 100,000: X 495 x 100, Y 500 x 100, 500 cash; targets X 50%, Y 45%
    positions = {"X": 495.0, "Y": 500.0}
    prices = {"X": 100.0, "Y": 100.0}
    plan = plan_rebalance(
        positions,
        prices,
        100_000.0,
        500.0,
        {"X": 0.5, "Y": 0.45},
        SHIPPED,
        asof=ASOF,
        cost_benefit=CostBenefit(),
    )
    # Y: sell 50 = 5,000: cost 1.00 + 2 bps = 2.00 < benefit 5,000 * 2% * 21/252 = 8.33 -> kept
    assert orders_of(plan) == [("Y", Side.SELL, 50.0)]
    assert plan.orders[0].expected_cost == pytest.approx(2.0)
    # X: buy 5 = 500: cost 1.00 + 0.10 = 1.10 > benefit 0.83 -> skipped, with its numbers
    (skip,) = plan.skipped
    assert (skip.symbol, skip.side, skip.quantity) == ("X", Side.BUY, 5.0)
    assert skip.expected_cost == pytest.approx(1.1)
    assert skip.benefit == pytest.approx(500 * 0.02 * 21 / 252)
    assert "exceeds its benefit" in skip.reason
    assert action_of(plan, "X") is LineAction.SKIP
    assert plan.cash_after == pytest.approx(500 + 5_000 - 2.0)
    # without the check, both trades go
    plan = plan_rebalance(positions, prices, 100_000.0, 500.0, {"X": 0.5, "Y": 0.45}, SHIPPED, asof=ASOF)
    assert [o.symbol for o in plan.orders] == ["Y", "X"]


def test_min_trade_value_skips_small_trades() -> None:
    plan = plan_rebalance(
        {"A": 99.0},
        {"A": 10.0},
        1_000.0,
        10.0,
        {"A": 1.0},
        FREE,
        asof=ASOF,
        min_trade_value=50.0,
        cash_buffer=0.0,
    )
    assert plan.empty
    assert "below the minimum" in plan.skipped[0].reason


def test_buys_scaled_to_cash_after_sells_less_the_buffer() -> None:
    # all cash: 6,000 of A at 10 and 4,000 of B at 20 need 10,000 but only 99.5% may be spent
    plan = plan_rebalance(
        {}, {"A": 10.0, "B": 20.0}, 10_000.0, 10_000.0, {"A": 0.6, "B": 0.4}, FREE, asof=ASOF
    )
    assert orders_of(plan) == [("A", Side.BUY, 597.0), ("B", Side.BUY, 199.0)]
    assert plan.cash_after == pytest.approx(50.0)
    assert "scaled to 99.5% for cash" in next(line.reason for line in plan.lines if line.symbol == "A")


def test_sells_pay_for_buys_and_costs_count_against_cash() -> None:
    # no cash: sell 50 of S (5,000) to buy T; the sell's cost 2.00 and the buy's cost shrink the budget
    plan = plan_rebalance(
        {"S": 100.0},
        {"S": 100.0, "T": 50.0},
        10_000.0,
        0.0,
        {"S": 0.5, "T": 0.5},
        SHIPPED,
        asof=ASOF,
    )
    sells = [o for o in plan.orders if o.side is Side.SELL]
    buys = [o for o in plan.orders if o.side is Side.BUY]
    assert [(o.symbol, o.quantity) for o in sells] == [("S", 50.0)]
    budget = 0.995 * (5_000 - sells[0].expected_cost)  # 4,973.01
    assert sum(o.value + o.expected_cost for o in buys) <= budget
    # scale = (4,973.01 - 2.00) / 5,000 = 0.9942: floor(99.42) = 99 shares
    assert buys[0].quantity == 99.0
    assert plan.cash_after >= 0


def test_no_leverage_on_random_books() -> None:
    rng = random.Random(20120702)
    for _ in range(300):
        symbols = [f"S{i}" for i in range(rng.randint(1, 6))]
        prices = {s: rng.uniform(1, 500) for s in symbols}
        positions = {s: float(rng.randint(0, 200)) for s in symbols if rng.random() < 0.6}
        cash = rng.uniform(0, 50_000)
        equity = cash + sum(q * prices[s] for s, q in positions.items())
        raw = {s: rng.random() for s in symbols if rng.random() < 0.8}
        total = sum(raw.values()) or 1.0
        targets = {s: w / total * rng.uniform(0.5, 1.0) for s, w in raw.items()}
        plan = plan_rebalance(
            positions,
            prices,
            equity,
            cash,
            targets,
            SHIPPED,
            asof=ASOF,
            min_trade_value=rng.choice([0.0, 100.0]),
            cost_benefit=rng.choice([None, CostBenefit()]),
            fractional=rng.random() < 0.5,
        )
        sold = sum(o.value - o.expected_cost for o in plan.orders if o.side is Side.SELL)
        bought = sum(o.value + o.expected_cost for o in plan.orders if o.side is Side.BUY)
        assert bought <= 0.995 * (cash + sold) + 1e-6
        assert plan.cash_after >= -1e-6
        for order in plan.orders:
            assert order.quantity > 0
            if order.side is Side.SELL:
                assert order.quantity <= positions.get(order.symbol, 0.0)


def test_leverage_and_shorts_refused() -> None:
    with pytest.raises(ValueError, match="leverage"):
        plan_rebalance({}, {"A": 1.0, "B": 1.0}, 100.0, 100.0, {"A": 0.6, "B": 0.5}, FREE, asof=ASOF)
    with pytest.raises(ValueError, match="long only"):
        plan_rebalance({}, {"A": 1.0}, 100.0, 100.0, {"A": -0.1}, FREE, asof=ASOF)
    with pytest.raises(ValueError, match="no usable price for B"):
        plan_rebalance({"B": 1.0}, {"A": 1.0}, 100.0, 100.0, {"A": 0.5}, FREE, asof=ASOF)


# ---------------------------------------------------------------------------------------- triggers


def test_drift_absolute_threshold_is_tolerated_up_to_its_boundary() -> None:
    assert drift_trigger({"A": 0.25}, {"A": 0.30}, drift_abs=0.05, drift_rel=None) is None
    assert drift_trigger({"A": 0.35}, {"A": 0.30}, drift_abs=0.05, drift_rel=None) is None
    fired = drift_trigger({"A": 0.2499}, {"A": 0.30}, drift_abs=0.05, drift_rel=None)
    assert fired is not None and fired.kind is TriggerKind.DRIFT and "A at 24.99%" in fired.detail
    assert drift_trigger({"A": 0.3501}, {"A": 0.30}, drift_abs=0.05, drift_rel=None) is not None


def test_drift_relative_threshold_is_a_fraction_of_the_target() -> None:
    assert drift_trigger({"A": 0.30}, {"A": 0.40}, drift_abs=None, drift_rel=0.25) is None
    assert drift_trigger({"A": 0.50}, {"A": 0.40}, drift_abs=None, drift_rel=0.25) is None
    assert drift_trigger({"A": 0.2999}, {"A": 0.40}, drift_abs=None, drift_rel=0.25) is not None
    # 2 points off a 4% target is 50% of it: relative fires, absolute (5 points) does not
    assert drift_trigger({"B": 0.06}, {"B": 0.04}, drift_abs=0.05, drift_rel=None) is None
    assert drift_trigger({"B": 0.06}, {"B": 0.04}, drift_abs=0.05, drift_rel=0.25) is not None


def test_drift_counts_unlisted_holdings_only_when_they_would_be_sold() -> None:
    assert drift_trigger({"Z": 0.06}, {}, drift_abs=0.05, drift_rel=0.25) is not None
    assert drift_trigger({"Z": 0.06}, {}, drift_abs=0.05, drift_rel=0.25, include_unlisted=False) is None
    assert drift_trigger({}, {"A": 0.06}, drift_abs=0.05, drift_rel=None) is not None  # nothing held yet


def test_schedule_trigger_daily_weekly_monthly() -> None:
    fri, mon, tue = date(2012, 6, 29), date(2012, 7, 2), date(2012, 7, 3)
    assert schedule_trigger(mon, Frequency.DAILY, fri) is not None
    assert schedule_trigger(mon, Frequency.DAILY, mon) is None
    assert schedule_trigger(mon, Frequency.WEEKLY, fri) is not None
    assert schedule_trigger(tue, Frequency.WEEKLY, mon) is None
    assert schedule_trigger(tue, Frequency.WEEKLY, date(2012, 6, 25)) is not None  # Monday's was missed
    assert schedule_trigger(mon, Frequency.MONTHLY, fri) is not None
    assert schedule_trigger(date(2012, 7, 31), Frequency.MONTHLY, mon) is None
    assert schedule_trigger(mon, Frequency.MONTHLY, None) is not None
    assert schedule_trigger(mon, Frequency.OFF, None) is None
    weekly = schedule_trigger(mon, Frequency.WEEKLY, fri)
    assert weekly is not None and weekly.kind is TriggerKind.SCHEDULE and "2012-W27" in weekly.detail


def test_portfolio_volatility_matches_the_covariance_by_hand() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 0.01, 100), rng.normal(0, 0.02, 100)
    weights = {"A": 0.6, "B": 0.3}
    vol = portfolio_volatility(weights, {"A": list(a), "B": list(b)}, window=63)
    w = np.array([0.6, 0.3])
    cov = np.cov(np.vstack([a[-63:], b[-63:]]), ddof=1)
    assert vol == pytest.approx(math.sqrt(w @ cov @ w * 252))
    with pytest.raises(ValueError, match="no returns for B"):
        portfolio_volatility(weights, {"A": list(a)}, window=63)


def test_risk_trigger_fires_outside_the_band_only() -> None:
    rng = np.random.default_rng(11)
    returns = {"A": list(rng.normal(0, 0.01, 63))}
    vol = portfolio_volatility({"A": 1.0}, returns, window=63)
    assert risk_trigger({"A": 1.0}, returns, vol_target=vol + 0.02, vol_band=0.02, window=63) is None
    fired = risk_trigger({"A": 1.0}, returns, vol_target=vol + 0.0201, vol_band=0.02, window=63)
    assert fired is not None and fired.kind is TriggerKind.RISK


def test_should_rebalance_checks_schedule_then_drift_then_risk() -> None:
    day, last = date(2012, 7, 3), date(2012, 7, 2)
    rng = np.random.default_rng(3)
    returns = {"A": list(rng.normal(0, 0.01, 63))}
    settings = RebalanceSettings(frequency=Frequency.MONTHLY, vol_target=0.50, vol_band=0.02, costs=SHIPPED)
    on_target = {"A": 0.5}
    fired = should_rebalance(day, on_target, on_target, settings, last_rebalance_day=None, returns=returns)
    assert fired is not None and fired.kind is TriggerKind.SCHEDULE
    fired = should_rebalance(day, {"A": 0.7}, on_target, settings, last_rebalance_day=last, returns=returns)
    assert fired is not None and fired.kind is TriggerKind.DRIFT
    fired = should_rebalance(day, on_target, on_target, settings, last_rebalance_day=last, returns=returns)
    assert fired is not None and fired.kind is TriggerKind.RISK
    assert should_rebalance(day, on_target, on_target, settings, last_rebalance_day=last) is None


def test_weights_of_values_positions_at_their_prices() -> None:
    assert weights_of({"A": 10.0, "B": 0.0}, {"A": 20.0}, 1_000.0) == {"A": 0.2}
