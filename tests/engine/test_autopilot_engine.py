"""The autopilot inside the engine, end to end on the paper broker with shipped data.

Engines are stepped by hand (``step_day``) with 78 quote steps a session (one every five
minutes), so a step lands on 15:55 New York, the run time; the store, the broker and the risk
checks are the real ones.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from engine.actor import Actor
from engine.config import Settings, load_settings
from engine.data import calendar
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource, Side
from engine.model.events import (
    ExecuteRebalance,
    Kill,
    PreviewRebalance,
    RebalancePreviewEvent,
    RefusalEvent,
    ResetKill,
)
from engine.model.rebalance import RebalancePlan

OPERATOR = Actor("tester", CommandSource.HOTKEY)
AUTOPILOT_ENV = {
    "ONETAP_REPLAY__STEPS_PER_DAY": "78",
    "ONETAP_AUTOPILOT__ENABLED": "true",
    "ONETAP_AUTOPILOT__FREQUENCY": '"daily"',
    # a generous edge so small daily corrections are worth their commission: more sessions trade
    "ONETAP_AUTOPILOT__EDGE": "1.0",
    "ONETAP_AUTOPILOT__MIN_TRADE_VALUE": "50.0",
}


def _settings(**extra: str) -> Settings:
    return load_settings(environ={**AUTOPILOT_ENV, **extra})


@pytest.fixture
async def pilot(db: Path, shipped: MarketData) -> AsyncIterator[Engine]:
    eng = Engine(_settings(), database=db, market=shipped, paced=False)
    await eng.start()
    yield eng
    if not eng.store.closed:
        await eng.stop()


def _runs(engine: Engine) -> list[dict[str, object]]:
    return [a.payload for a in engine.store.load_audit() if a.action == "autopilot_run"]


def _autopilot_executions_by_day(engine: Engine) -> Counter[date]:
    return Counter(
        x.started_at.astimezone(calendar.NEW_YORK).date()
        for x in engine.store.load_executions()
        if x.card_id.startswith("rebalance-autopilot-")
    )


def assert_one_run_per_session(runs: list[dict[str, object]], sessions: list[date]) -> None:
    days = [date.fromisoformat(str(r["session_day"])) for r in runs]
    assert days == sessions, "one recorded run per session, in order, and none on any other day"
    assert all(calendar.is_session(d) for d in days)


async def test_thirty_sessions_one_run_each_none_on_holidays_none_when_halted(pilot: Engine) -> None:
    sessions: list[date] = []
    halted_day: date | None = None
    for i in range(30):
        if i == 20:
            assert (await pilot.handle(Kill("test: halt before a session"), OPERATOR)).ok
        await pilot.step_day()
        assert pilot.feed.current_day is not None
        sessions.append(pilot.feed.current_day)
        if i == 20:
            halted_day = pilot.feed.current_day
            assert (await pilot.handle(ResetKill("RESUME"), OPERATOR)).ok

    runs = _runs(pilot)
    assert_one_run_per_session(runs, sessions)
    assert date(2012, 1, 16) not in sessions  # Martin Luther King Jr. Day fell inside the window
    outcome = {date.fromisoformat(str(r["session_day"])): r["outcome"] for r in runs}
    assert outcome[sessions[0]] == "rebalanced"
    assert outcome[halted_day] == "skipped_halted"
    rebalanced = {d for d, o in outcome.items() if o == "rebalanced"}
    assert len(rebalanced) >= 3
    # exactly one group execution on each day it rebalanced, none on any other day
    assert _autopilot_executions_by_day(pilot) == Counter({d: 1 for d in rebalanced})
    halted_orders = [
        o
        for o in pilot.store.load_orders()
        if o.card_id.startswith("rebalance-autopilot-")
        and o.created_at.astimezone(calendar.NEW_YORK).date() == halted_day
    ]
    assert halted_orders == []
    state = json.loads(pilot.store.get_state("autopilot") or "{}")
    assert state["last_run_day"] == sessions[-1].isoformat()
    assert state["last_rebalance_day"] == max(rebalanced).isoformat()
    assert pilot.store.verify_audit().ok
    # the autopilot's fills are in the tax lots under its own strategy
    assert {lot.strategy for lot in pilot.lots.open_lots()} == {"autopilot"}
    held = {p.symbol: p.quantity for p in pilot.ledger.positions(include_flat=False)}
    assert {s: pilot.lots.quantity(s) for s in held} == held


async def test_a_restart_does_not_run_a_session_twice(pilot: Engine, db: Path, shipped: MarketData) -> None:
    await pilot.step_day()
    first = pilot.feed.current_day
    await pilot.stop()
    again = Engine(_settings(), database=db, market=shipped, paced=False)
    await again.start()
    try:
        assert again.desk.host.last_run_day() == first
        await again.step_day()
        days = [r["session_day"] for r in _runs(again)]
        assert days == [str(first), str(again.feed.current_day)]
        assert len(again.lots.open_lots()) >= 1  # folded back from the stored fills
    finally:
        await again.stop()


def _without_bar(market: MarketData, symbol: str, day: date) -> MarketData:
    bars = dict(market.bars)
    bars[symbol] = bars[symbol].drop(index=pd.Timestamp(day))
    return replace(market, bars=bars)


async def test_data_failing_validation_holds_the_weights(db: Path, shipped: MarketData) -> None:
    gap = date(2012, 1, 5)
    engine = Engine(_settings(), database=db, market=_without_bar(shipped, "AAPL", gap), paced=False)
    await engine.start()
    try:
        for _ in range(4):
            await engine.step_day()
        outcome = {r["session_day"]: (r["outcome"], str(r["reason"])) for r in _runs(engine)}
        executions = _autopilot_executions_by_day(engine)
    finally:
        await engine.stop()
    assert outcome["2012-01-03"][0] == "rebalanced"
    held, why = outcome[gap.isoformat()]
    assert held == "held" and "AAPL: no quote today" in why
    held, why = outcome["2012-01-06"]  # the history before it misses the 5th
    assert held == "held" and "AAPL: last bar 2012-01-04, expected 2012-01-05" in why
    assert executions[date(2012, 1, 3)] == 1
    assert executions[gap] == 0 and executions[date(2012, 1, 6)] == 0  # current weights held


async def _previewed(engine: Engine) -> RebalancePlan:
    seen: list[RebalancePreviewEvent] = []
    engine.bus.on(RebalancePreviewEvent, seen.append)
    assert (await engine.handle(PreviewRebalance(), OPERATOR)).ok
    assert seen, "the preview was not published"
    return seen[-1].plan


async def test_preview_then_execute_sends_the_plan_shown_once(db: Path, shipped: MarketData) -> None:
    engine = Engine(
        load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "78"}),
        database=db,
        market=shipped,
        paced=False,
    )
    await engine.start()
    try:
        await engine.step_day()
        await engine.step(3)  # the next session is open
        plan = await _previewed(engine)
        assert plan.orders and all(o.side is Side.BUY for o in plan.orders)
        result = await engine.handle(ExecuteRebalance(plan.asof), OPERATOR)
        assert result.ok, result.message
        (execution,) = engine.store.load_executions()
        orders = [o for o in engine.store.load_orders() if o.execution_id == execution.execution_id]
        assert [(o.symbol, o.side, o.quantity) for o in orders] == [
            (o.symbol, o.side, o.quantity) for o in plan.orders
        ]
        refusals: list[RefusalEvent] = []
        engine.bus.on(RefusalEvent, refusals.append)
        again = await engine.handle(ExecuteRebalance(plan.asof), OPERATOR)
        assert not again.ok and again.code == "PREVIEW_STALE"
        assert refusals[-1].code == "PREVIEW_STALE"
        assert len(engine.store.load_executions()) == 1
    finally:
        await engine.stop()


async def test_a_preview_whose_prices_moved_is_refused_and_replanned(db: Path, shipped: MarketData) -> None:
    settings = load_settings(
        environ={"ONETAP_REPLAY__STEPS_PER_DAY": "78", "ONETAP_AUTOPILOT__PREVIEW_TOLERANCE": "0.0"}
    )
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    try:
        await engine.step_day()
        await engine.step(3)
        seen: list[RebalancePreviewEvent] = []
        engine.bus.on(RebalancePreviewEvent, seen.append)
        plan = await _previewed(engine)
        await engine.step(2)
        result = await engine.handle(ExecuteRebalance(plan.asof), OPERATOR)
        assert not result.ok and result.code == "PRICES_MOVED"
        assert "look again" in result.message
        assert seen[-1].plan.asof > plan.asof  # re-planned at the new prices
        assert engine.store.load_executions() == []
    finally:
        await engine.stop()


async def test_execute_plan_is_one_group_execution_sells_first(engine: Engine) -> None:
    await engine.step_day()
    await engine.step(3)
    assert (await engine.rebalance_to({"AAPL": 0.14}, OPERATOR, strategy="manual")).ok
    await engine.step(3)
    plan, _targets = engine.desk.plan_now()
    assert plan.orders[0].side is Side.SELL and plan.orders[0].symbol == "AAPL"
    before = {x.execution_id for x in engine.store.load_executions()}
    result = await engine.execute_plan(plan, OPERATOR, strategy="autopilot")
    assert result.ok, result.message
    (new,) = [x for x in engine.store.load_executions() if x.execution_id not in before]
    orders = [o for o in engine.store.load_orders() if o.execution_id == new.execution_id]
    assert [(o.symbol, o.side, o.quantity) for o in orders] == [
        (o.symbol, o.side, o.quantity) for o in plan.orders
    ]
    card = engine.store.load_card(new.card_id)
    assert card is not None and card.template == "autopilot"
