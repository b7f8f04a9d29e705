"""Protection on IBKR across an engine restart: a card's entry fills at the TWS simulator, its
stop and target go to IBKR as one GTC OCA group (through the real ib_insync client), the engine
stops while they work, and the next engine finds them at the broker and places nothing twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd

from engine.brokers.tws_sim import TwsSimulator
from engine.kernel import Engine
from engine.model import ExitPolicy, Leg, OrderStatus, Side, StopRule, TimeExit
from engine.model.events import ApproveRecovery
from tests.engine.brokers.ibkr.test_engine_ibkr import ACTOR, engine, engine_settings, quote_day, until

__all__ = ["engine"]  # the whole-engine IBKR fixture


def _protective(eng: Engine) -> list[str]:
    return sorted(o.client_order_id for o in eng.store.load_orders() if o.protects)


async def test_protection_lives_at_ibkr_across_a_restart_and_is_not_placed_twice(
    engine: Engine, sim: TwsSimulator, port: int, tmp_path: Path, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    await until(lambda: bool(engine.cards), timeout=60)
    base = engine.cards[0]
    card = replace(  # a single-stock entry with a stop and a target (today's cards may be baskets)
        base,
        card_id=f"{base.card_id}-protected",
        legs=(Leg("AAPL", Side.BUY, 10.0),),
        exit_policy=ExitPolicy(StopRule.PERCENT, 5.0, 2.0, TimeExit.CLOSE),
        stop_price=None,
        target_price=None,
        horizon_days=5,
    )
    engine.store.save_cards([card])
    assert (await engine.parts.trading.execute(card, ACTOR)).ok
    await until(lambda: len(_protective(engine)) == 2, timeout=30)
    placed = _protective(engine)
    working_at_ibkr = sim.call(lambda: [o for o in sim.exchange.open_orders() if o.oca_group])
    assert len(working_at_ibkr) == 2, "the stop and the target rest at the broker as one OCA group"
    assert len({o.oca_group for o in working_at_ibkr}) == 1
    await engine.stop()  # onetap goes away; the protection stays at IBKR

    again = Engine(engine_settings(port, tmp_path / "bars"), database=tmp_path / "onetap.db")
    await again.start()
    try:
        quote_day(sim, shipped_bars, "2012-06-01")
        if again.reconciliation is not None and not again.reconciliation.approved:
            await again.handle(ApproveRecovery(), ACTOR)
        await until(lambda: bool(again.feed.latest_quotes()), timeout=30)
        await again.settle()
        assert _protective(again) == placed, "nothing placed twice after the restart"
        statuses = {o.status for o in again.store.load_orders() if o.protects}
        assert statuses <= {OrderStatus.ACKNOWLEDGED, OrderStatus.SENT}, statuses
        assert sim.call(lambda: len([o for o in sim.exchange.open_orders() if o.oca_group])) == 2
        assert card.legs[0].symbol not in again.parts.protection.unprotected
    finally:
        await again.stop()
