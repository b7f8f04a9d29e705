"""The manual rebalance (``w`` then ``x``) goes through as previewed: targets sit below the risk
limits by ``[autopilot] limit_margin``, and a price move re-plans once and that plan can be sent.

Real parts: the engine on the shipped data, the paper broker, SQLite under tmp_path.
"""

from __future__ import annotations

from pathlib import Path

from engine.actor import Actor
from engine.config import load_settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource
from engine.model.events import ExecuteRebalance, PreviewRebalance, RebalancePreviewEvent, RefusalEvent

OPERATOR = Actor("alice", CommandSource.HOTKEY)


async def test_a_plan_at_the_caps_executes_as_previewed_under_the_default_limits(
    db: Path, shipped: MarketData
) -> None:
    settings = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "78"})
    assert settings.autopilot.max_weight == settings.risk.max_position_pct  # the setup
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    try:
        await engine.step_day()
        await engine.step(3)
        seen: list[RebalancePreviewEvent] = []
        engine.bus.on(RebalancePreviewEvent, seen.append)
        assert (await engine.handle(PreviewRebalance(), OPERATOR)).ok
        (preview,) = seen
        cap = settings.risk.max_position_pct - settings.autopilot.limit_margin
        assert preview.targets and max(preview.targets.values()) <= cap + 1e-9
        assert max(preview.targets.values()) > cap - 0.01  # the optimizer does use the cap
        result = await engine.handle(ExecuteRebalance(preview.plan.asof), OPERATOR)
        assert result.ok, result.message
        (execution,) = engine.store.load_executions()
        card = engine.store.load_card(execution.card_id)
        assert card is not None and card.name == "Rebalance"  # the operator's, not "Rebalance autopilot"
        orders = [o for o in engine.store.load_orders() if o.execution_id == execution.execution_id]
        assert [(o.symbol, o.side, o.quantity) for o in orders] == [
            (o.symbol, o.side, o.quantity) for o in preview.plan.orders
        ]
        assert all(o.quantity == int(o.quantity) for o in orders)  # whole shares
    finally:
        await engine.stop()


async def test_a_moved_price_re_plans_once_and_the_new_plan_can_be_sent(
    db: Path, shipped: MarketData
) -> None:
    settings = load_settings(
        environ={"ONETAP_REPLAY__STEPS_PER_DAY": "78", "ONETAP_AUTOPILOT__PREVIEW_TOLERANCE": "0.0"}
    )
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    try:
        await engine.step_day()
        await engine.step(3)
        seen: list[RebalancePreviewEvent] = []
        refusals: list[RefusalEvent] = []
        engine.bus.on(RebalancePreviewEvent, seen.append)
        engine.bus.on(RefusalEvent, refusals.append)
        assert (await engine.handle(PreviewRebalance(), OPERATOR)).ok
        first = seen[-1].plan
        await engine.step(2)  # prices move past a zero tolerance
        moved = await engine.handle(ExecuteRebalance(first.asof), OPERATOR)
        assert not moved.ok and moved.code == "PRICES_MOVED"
        assert refusals[-1].action == "execute_rebalance"
        assert len(seen) == 2  # planned again exactly once, at the new prices
        second = seen[-1].plan
        assert second.asof > first.asof
        assert engine.store.load_executions() == []
        sent = await engine.handle(ExecuteRebalance(second.asof), OPERATOR)
        assert sent.ok, sent.message
        assert len(engine.store.load_executions()) == 1
    finally:
        await engine.stop()
