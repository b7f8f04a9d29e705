"""The portfolio desk in the engine: tax lots from fills, harvest cards, wash sales, target rules.

Real engine, real paper broker, shipped data, a real SQLite store in tmp_path.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from engine.actor import Actor
from engine.config import load_settings
from engine.data.loader import MarketData
from engine.desk.lots import harvest_card_id, harvest_lot
from engine.desk.targets import TargetRules
from engine.kernel import Engine
from engine.model import CommandSource, Side, StrategyCard
from engine.model.events import ExecuteCard, NoticeEvent

OPERATOR = Actor("tester", CommandSource.HOTKEY)
TAX_ENV = {
    "ONETAP_REPLAY__STEPS_PER_DAY": "30",
    "ONETAP_TAX_LOSS__ENABLED": "true",
    "ONETAP_TAX_LOSS__MIN_LOSS": "1.0",
    "ONETAP_TAX_LOSS__MIN_LOSS_PCT": "0.0",
}
BASKET = {"AAPL": 0.05, "MSFT": 0.05, "GOOG": 0.05, "IBM": 0.05, "AMZN": 0.05}


def test_a_harvest_card_id_names_its_lot() -> None:
    card_id = harvest_card_id("OT-00000003.1", date(2012, 1, 4))
    assert card_id == "tax_loss-OT-00000003.1-20120104"
    assert harvest_lot(card_id) == "OT-00000003.1"
    assert harvest_lot("momentum-AAPL-20120104") is None


def test_targets_never_exceed_the_risk_limits_and_say_when_cash_is_kept() -> None:
    rules = TargetRules.from_settings(load_settings())
    # the [risk] limits (15%, 30%) less [autopilot] limit_margin (0.5 points)
    assert abs(rules.max_weight - 0.145) < 1e-12 and abs(rules.sector_cap - 0.295) < 1e-12
    # four technology stocks under a 29.5% cap and AMZN under 14.5%: 44% at most
    assert abs(rules.capacity() - 0.44) < 1e-12
    cash, note = rules.effective_cash_buffer()
    assert abs(cash - 0.56) < 1e-5 and "kept in cash" in note
    loose = TargetRules.from_settings(
        load_settings(
            environ={
                "ONETAP_RISK__MAX_POSITION_PCT": "0.5",
                "ONETAP_RISK__MAX_SECTOR_PCT": "1.0",
                "ONETAP_AUTOPILOT__MAX_WEIGHT": "0.5",
                "ONETAP_AUTOPILOT__SECTOR_CAP": "1.0",
            }
        )
    )
    assert loose.effective_cash_buffer() == (0.05, "")


async def _first_harvest(engine: Engine, days: int = 20) -> StrategyCard:
    """Play on until a session (open, two steps in) offers a tax-loss card."""
    for _ in range(days):
        await engine.step_day()
        await engine.step(2)
        cards = [c for c in engine.cards if c.template == "tax_loss"]
        if cards:
            return cards[0]
    raise AssertionError(f"no tax-loss card in {days} sessions")


async def test_a_losing_lot_gets_a_harvest_card_and_executing_it_closes_that_lot(
    db: Path, shipped: MarketData
) -> None:
    engine = Engine(load_settings(environ=TAX_ENV), database=db, market=shipped, paced=False)
    await engine.start()
    notices: list[NoticeEvent] = []
    engine.bus.on(NoticeEvent, notices.append)
    try:
        await engine.step_day()
        await engine.step(2)
        assert (await engine.rebalance_to(BASKET, OPERATOR, strategy="manual")).ok
        card = await _first_harvest(engine)
        lot_id = harvest_lot(card.card_id)
        assert lot_id is not None
        lot = engine.lots.lot(lot_id)
        sell, buy = card.legs
        assert (sell.symbol, sell.side, sell.quantity) == (lot.symbol, Side.SELL, lot.quantity)
        assert buy.side is Side.BUY and buy.symbol != lot.symbol
        # about the same value: within one share's price
        assert (
            abs(
                buy.quantity * card.details[f"ref_price:{buy.symbol}"]
                - lot.quantity * card.details[f"ref_price:{lot.symbol}"]
            )
            <= card.details[f"ref_price:{buy.symbol}"]
        )
        assert "tax loss" in card.reason and "may be bought back from" in card.reason
        assert "correlation" in card.reason

        assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
        await engine.step(3)
        assert lot_id not in {x.lot_id for x in engine.lots.open_lots()}
        (closed,) = [r for r in engine.lots.realized_lots if r.lot_id == lot_id]
        assert closed.gain < 0 and closed.strategy == "manual"
        assert {x.strategy for x in engine.lots.open_lots(buy.symbol)} >= {"tax_loss"}

        # buying the original back inside the window is a wash sale: flagged, basis adjusted
        held = engine.ledger.market_value(lot.symbol) / engine.ledger.equity
        assert (await engine.rebalance_to({lot.symbol: held + 0.03}, OPERATOR, strategy="manual")).ok
        await engine.step(3)
        assert any("wash sale" in n.message and lot.symbol in n.message for n in notices)
        (replacement,) = engine.lots.open_lots(lot.symbol)
        assert replacement.wash_sale_disallowed > 0
        (closed,) = [r for r in engine.lots.realized_lots if r.lot_id == lot_id]
        assert closed.wash_sale_disallowed > 0
        open_before = sorted((x.lot_id, round(x.quantity, 6)) for x in engine.lots.open_lots())
    finally:
        await engine.stop()

    again = Engine(load_settings(environ=TAX_ENV), database=db, market=shipped, paced=False)
    await again.start()
    try:  # folded back from the stored fills: the harvest's sell closed the same lot again
        assert sorted((x.lot_id, round(x.quantity, 6)) for x in again.lots.open_lots()) == open_before
        assert any(r.lot_id == lot_id for r in again.lots.realized_lots)
    finally:
        await again.stop()
