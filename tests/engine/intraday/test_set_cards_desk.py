"""The live intraday set cards on the desk (issue 20, item 3): a set card whose template enters
now is sized, checked, ranked and saved by the daily card pipeline, so the cards pane shows it and
``x`` (``ExecuteCard``) executes it. Replayed on the shipped EURUSD hourly slice (real bars,
``data/intraday``): the trend template enters on 2017-12-26 and stops entering at 10:00 that day;
and on the shipped BTC-USD 15-minute slice, where mean reversion enters at 21:15 on 2021-10-03.
Real store (tmp_path), real paper broker, the engine stepped by hand (its clock is the replay's)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.data.loader import MarketData
from engine.data.market import load_market
from engine.kernel import Engine
from engine.model import RefusalCode, Side, StrategyCard
from engine.model.events import ExecuteCard, MarketEvent
from engine.model.exits import StopRule
from engine.runtime.set_cards import LiveSetCards
from tests import fx_market
from tests.engine.intraday.test_paper_replay import OPERATOR, intraday_settings, running, utc

MICRO_LOT = 1_000.0


@pytest.fixture(scope="module")
def market() -> MarketData:
    return load_market(intraday_settings("2017-12-22", ""))


def set_cards(eng: Engine) -> LiveSetCards:
    live = eng.parts.set_cards
    assert live is not None
    return live


def offered(eng: Engine, symbol: str = "EURUSD") -> list[StrategyCard]:
    """The desk's cards on ``symbol`` that come from a replayed set's entering template."""
    entering = {template for (_set, template) in set_cards(eng).entering}
    return [
        c
        for c in eng.parts.cards.cards
        if c.template in entering and [leg.symbol for leg in c.legs] == [symbol]
    ]


async def step_while(eng: Engine, keep_going: Callable[[], bool], limit: int) -> None:
    for _ in range(limit):
        if not keep_going():
            return
        await eng.step(1)
        await eng.settle()
    raise AssertionError(f"still waiting after {limit} steps (at {eng.clock.now()})")


def crypto_fee(eng: Engine, value: float) -> float:
    """A coin's paper commission by hand: ``commission_crypto_pct`` of the value, at least
    ``commission_crypto_min`` (a first fill)."""
    b = eng.settings.broker
    return max(b.commission_crypto_min, value * b.commission_crypto_pct)


@pytest.mark.parametrize(
    ("symbol", "bar", "day", "lot"),
    [("EURUSD", "1h", "2017-12-26", MICRO_LOT), ("BTCUSD", "15min", "2021-10-03", 1e-4)],
)
async def test_a_set_card_is_offered_sized_in_lots_and_fills_at_the_bars_quote(
    tmp_path: Path, market: MarketData, symbol: str, bar: str, day: str, lot: float
) -> None:
    settings = intraday_settings(day, day)
    async with running(settings, tmp_path / "a.db", market) as eng:
        await step_while(eng, lambda: not offered(eng, symbol), 400)
        card = offered(eng, symbol)[0]
        live = set_cards(eng)
        key = next(k for k in live.entering if k[1] == card.template and k[0].startswith(symbol))
        candidate, research = live.entering[key], live.cards[key]

        # the set's candidate at the last closed bar, carried with its research verdict
        assert research.entry_now and research.symbol == symbol and research.bar == bar
        last_bar = candidate.setup.dates[-1]
        assert last_bar < eng.clock.now().replace(tzinfo=None)  # a closed bar, not the forming one
        assert research.verdict.text in card.notes
        assert card.details["meta:edge"] == (1.0 if research.verdict.edge else 0.0)

        # stop from the template's exit policy at the intraday bar's ATR; sized in micro lots
        atr = float(candidate.setup.atr[candidate.t]) if candidate.setup.atr is not None else math.nan
        assert card.details["exit:atr"] == pytest.approx(atr)
        assert card.exit_policy is not None and card.exit_policy.stop in (StopRule.ATR, StopRule.TRAIL_ATR)
        ref = card.details[f"ref_price:{symbol}"]
        assert card.stop_price is not None
        tick = 1e-4 if symbol == "EURUSD" else 0.01
        assert abs(ref - card.stop_price) == pytest.approx(card.exit_policy.stop_value * atr, abs=tick)
        (leg,) = card.legs
        assert leg.symbol == symbol and leg.quantity >= lot
        steps = leg.quantity / lot
        assert steps == pytest.approx(round(steps), abs=1e-6)  # a whole number of lot steps
        if symbol == "EURUSD":
            stop_pips = abs(ref - card.stop_price) / 1e-4
            assert card.details["fx:stop_pips"] == pytest.approx(stop_pips, abs=0.1)
            assert card.details["fx:risk"] <= card.details["fx:risk_budget"]

        # saved where the cards pane reads them
        stored = eng.store.load_card(card.card_id)
        assert stored is not None and stored.legs == card.legs and stored.template == card.template

        # `x`: executed through the trading path, filled at the current bar's quote
        events: list[MarketEvent] = []
        result = await eng.handle(ExecuteCard(card.card_id), OPERATOR)
        assert result.ok, result.message
        eng.bus.on(MarketEvent, events.append)
        await eng.step(1)
        await eng.settle()
        fills = [f for f in eng.store.load_fills() if f.symbol == symbol]
        assert len(fills) == 1
        (fill,) = fills
        quote = next(q for q in events[0].quotes if q.symbol == symbol)
        assert fill.ts == quote.ts and fill.quantity == leg.quantity and fill.side is leg.side
        touch = (
            quote.ask * (1 + eng.broker.slippage)
            if leg.side is Side.BUY
            else quote.bid * (1 - eng.broker.slippage)
        )
        assert fill.price == pytest.approx(touch, abs=tick)  # at the quote, to its tick
        if symbol == "EURUSD":  # IDEALPRO's: 0.2 bps of the dollar value, at least 2 USD
            assert fill.commission == pytest.approx(fx_market.idealpro_fees([fill])[0], rel=1e-12)
            assert fill.commission == pytest.approx(max(2.0, fill.quantity * fill.price * 0.2e-4))
        else:  # a coin's percentage, not the share schedule's 0.005 a unit
            assert fill.commission == pytest.approx(crypto_fee(eng, fill.quantity * fill.price), rel=1e-9)


async def test_a_card_its_template_no_longer_signals_leaves_the_desk_at_the_next_refresh(
    tmp_path: Path, market: MarketData
) -> None:
    settings = intraday_settings("2017-12-26", "2017-12-27")
    async with running(settings, tmp_path / "a.db", market) as eng:
        await step_while(eng, lambda: not offered(eng), 200)
        card = offered(eng)[0]
        live = set_cards(eng)
        shown_at = live.refreshed_at
        # each bar close's refresh replaces it (re-sized, re-saved) while the template enters
        await step_while(eng, lambda: live.refreshed_at == shown_at, 20)
        if offered(eng):
            again = next(c for c in eng.parts.cards.cards if c.card_id == card.card_id)
            assert again.asof > card.asof
        # the template stops entering at a later bar close: the card is gone from the desk
        await step_while(eng, lambda: any(c.card_id == card.card_id for c in eng.parts.cards.cards), 200)
        assert eng.clock.now() <= utc(2017, 12, 26, 12)
        assert not any(k[1] == card.template for k in live.entering)
        assert not live.cards[("EURUSD-1h", card.template)].entry_now
        result = await eng.handle(ExecuteCard(card.card_id), OPERATOR)
        assert not result.ok and result.code is RefusalCode.CARD_STALE
        assert not eng.store.load_fills()


async def test_a_sets_entries_leave_the_desk_when_its_bars_end(tmp_path: Path, market: MarketData) -> None:
    """EURUSD's shipped bars end on Friday 2017-12-29 while trend still enters; the replay then
    moves on to BTC-USD's bars in 2021: a 2017 entry is not offered beside them."""
    settings = intraday_settings("2017-12-29", "2021-09-27")
    async with running(settings, tmp_path / "a.db", market) as eng:
        live = set_cards(eng)
        await step_while(eng, lambda: not offered(eng), 400)
        assert any(name == "EURUSD-1h" for name, _t in live.entering)
        await step_while(eng, lambda: eng.clock.now().year < 2021, 400)
        await eng.settle()
        assert live.cards[("EURUSD-1h", "trend")].entry_now  # the research card's last bar still enters
        assert not any(name == "EURUSD-1h" for name, _t in live.entering)
        assert not offered(eng)
