"""A one-leg FX card end to end (issue 20): the live card pipeline offers a trend card on EURUSD
sized from its stop in pips, `x`'s command (``ExecuteCard``) executes it through the paper
broker, and the fill, IDEALPRO's commission, cash per currency and the P&L in dollars all match
numbers worked by hand.

The market is ``tests.fx_market.build_trend``: a synthetic, seeded EURUSD with a clear uptrend,
made so the trend template has 330 sessions of history and an entry (the real EURUSD fixture has
a year, too short for it). The trend is built in; the test claims nothing about its edge."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.actor import Actor
from engine.api.reports import load_execution_quality
from engine.config import load_settings
from engine.data.market import load_market
from engine.kernel import Engine
from engine.model import CommandSource, Side, StrategyCard
from engine.model.day_boundary import round_the_clock_open
from engine.model.events import ExecuteCard
from tests import fx_market

SINCE = datetime(2000, 1, 1, tzinfo=UTC)
OPERATOR = Actor("alice", CommandSource.HOTKEY)
START_CASH = 1_000_000.0
PIP = 0.0001
MICRO_LOT = 1_000.0
USD_PER_PIP_PER_MICRO_LOT = MICRO_LOT * PIP  # EURUSD's pip moves 1,000 EUR by 0.10 USD


async def _trend_card(engine: Engine, days: int) -> StrategyCard:
    for _ in range(days):
        await engine.step_day()
        await engine.settle()
        if not round_the_clock_open("24/5", engine.parts.clock.now()):
            continue
        for card in engine.parts.cards.cards:
            if card.template == "trend" and [leg.symbol for leg in card.legs] == ["EURUSD"]:
                return card
    raise AssertionError(f"no one-leg EURUSD trend card within {days} sessions")


async def test_a_one_leg_eurusd_card_sized_from_its_stop_in_pips(tmp_path: Path) -> None:
    settings = load_settings(fx_market.build_trend(tmp_path / "market").config, environ={})
    engine = Engine(settings, database=tmp_path / "onetap.db", market=load_market(settings), paced=False)
    await engine.start()
    try:
        card = await _trend_card(engine, 30)
        (leg,) = card.legs
        assert leg.side is Side.BUY and card.stop_price is not None

        # sizing by hand: stop pips from the card's reference price and stop; lots = risk budget
        # / (stop pips x pip value), rounded down to micro lots
        entry = card.details["ref_price:EURUSD"]
        stop_pips = round(abs(entry - card.stop_price) / PIP, 1)
        risk = card.details["fx:risk_budget"]
        micro_lots = math.floor(risk / (stop_pips * USD_PER_PIP_PER_MICRO_LOT))
        assert micro_lots >= 1
        assert leg.quantity == micro_lots * MICRO_LOT
        assert card.details["fx:stop_pips"] == pytest.approx(stop_pips)
        assert card.details["fx:pip_value_per_lot"] == pytest.approx(10.0)  # USD per standard lot
        risk_at_stop = stop_pips * USD_PER_PIP_PER_MICRO_LOT * micro_lots
        assert card.details["fx:risk"] == pytest.approx(risk_at_stop)
        assert risk_at_stop <= risk  # rounded down, never up

        result = await engine.handle(ExecuteCard(card.card_id), OPERATOR)
        assert result.ok, result.message
        await engine.step(10)
        fills = [f for f in engine.store.load_fills() if f.symbol == "EURUSD"]
        assert fills and all(f.currency == "USD" and f.side is Side.BUY for f in fills)
        assert sum(f.quantity for f in fills) == leg.quantity  # base-currency units, as sized

        # IDEALPRO: 0.2 bps of the dollar value, at least 2 USD on the order's first fill
        value = sum(f.quantity * f.price for f in fills)
        assert [f.commission for f in fills] == pytest.approx(fx_market.idealpro_fees(fills), rel=1e-12)
        fee = sum(f.commission for f in fills)
        assert fee >= 2.0 and (len(fills) > 1 or fee == pytest.approx(max(2.0, value * 0.2e-4)))

        ledger, broker = engine.parts.ledger, engine.parts.broker
        want = {"USD": START_CASH - value - fee, "EUR": leg.quantity}
        assert ledger.cash_by_currency() == pytest.approx(want)
        assert broker.cash_balances() == pytest.approx(want)

        # the P&L in dollars: the euros marked at the pair's rate, less what they cost and the fee
        mark = ledger.rate("EUR")
        assert mark is not None
        account = ledger.account()
        assert account.equity == pytest.approx(want["USD"] + leg.quantity * mark.rate)
        assert account.equity - START_CASH == pytest.approx(leg.quantity * mark.rate - value - fee)
        assert ledger.realized("EURUSD") == pytest.approx(-fee)  # the commission, paid in dollars

    finally:
        await engine.stop()

    # the execution-quality report shows the commission charged, and the pre-trade estimate
    # expected IDEALPRO's (not the share schedule's 0.005 a unit: 80 USD on 16,000 euros)
    (quality,) = [
        q for q in load_execution_quality(tmp_path / "onetap.db", SINCE) if q.card_id == card.card_id
    ]
    assert quality.commission == pytest.approx(fee)
    assert quality.expected is not None
    assert quality.expected.commission == pytest.approx(max(2.0, leg.quantity * entry * 0.2e-4))
