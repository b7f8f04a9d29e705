"""The execution plan on real shipped history: small legs go at once, big ones are worked."""

from __future__ import annotations

from datetime import UTC, date, datetime

from engine.data.loader import MarketData
from engine.execution.costs import MarketStats
from engine.execution.plan import WORK_SHARE_OF_ADV, plan_card
from engine.model import Algo, Leg, Side, StrategyCard
from tests.defaults import commissions


def card(qty: float) -> StrategyCard:
    return StrategyCard(
        card_id="c",
        template="t",
        name="n",
        legs=(Leg("AAPL", Side.BUY, qty),),
        confidence=0.5,
        expected_return=0.0,
        max_risk=0.0,
        reason="",
        asof=datetime(2012, 1, 3, tzinfo=UTC),
    )


def test_a_leg_above_its_share_of_adv_is_worked_and_every_card_carries_its_cost(shipped: MarketData) -> None:
    history = {"AAPL": shipped.bars["AAPL"].loc[: str(date(2011, 12, 30))]}
    adv = MarketStats.from_history(history["AAPL"]).adv
    price = float(history["AAPL"]["close"].iloc[-1])
    small = plan_card(card(100), {"AAPL": price}, history, commissions())
    big = plan_card(card(round(adv * WORK_SHARE_OF_ADV * 2)), {"AAPL": price}, history, commissions())
    assert small.legs[0].algo is Algo.IMMEDIATE and big.legs[0].algo is Algo.VWAP
    assert 0 < small.details["expected_cost_bps"] < big.details["expected_cost_bps"]
    assert small.details["expected_cost"] > 1.0 - 1e-9  # at least the minimum commission
