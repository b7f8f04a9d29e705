"""Automatic exits inside the engine: a card's entry fill protects itself with one OCO group.

Real parts only: the shipped data, the paper broker with its journal, SQLite in ``tmp_path``. The
cards are the engine's own proposals with an exit policy attached (templates declare theirs in
config/strategies.toml once that lands; the engine reads whatever the stored card carries).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from engine.actor import Actor
from engine.config import Settings, load_settings
from engine.data import calendar
from engine.data.calendar import NEW_YORK
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import (
    AlertCode,
    CommandSource,
    ExitPolicy,
    Leg,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    StopRule,
    StrategyCard,
    TimeExit,
    TimeInForce,
)
from engine.model.events import Flatten, Kill, ModifyOrder, RiskAlert, SetLimit
from engine.runtime.protection import oca_name

OPERATOR = Actor("alice", CommandSource.HOTKEY)
EPS = 1e-6


def _settings(**env: str) -> Settings:
    return load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30", **env})


async def _start(settings: Settings, db: Path, shipped: MarketData) -> Engine:
    eng = Engine(settings, database=db, market=shipped, paced=False)
    await eng.start()
    return eng


@pytest.fixture
async def eng(db: Path, shipped: MarketData) -> AsyncIterator[Engine]:
    e = await _start(_settings(), db, shipped)
    yield e
    if not e.store.closed:
        await e.stop()


def _card(engine: Engine, policy: ExitPolicy, quantity: float = 10.0, symbol: str = "AAPL") -> StrategyCard:
    """One of the engine's buy cards, on one leg of ``quantity`` ``symbol``, with ``policy``; stored
    (the manager reads a fill's card from the store, as after a restart)."""
    base = next(c for c in engine.cards if len(c.legs) == 1 and c.legs[0].side is Side.BUY)
    card = replace(
        base,
        card_id=f"{base.card_id}-exit-{symbol}-{quantity:g}",
        legs=(Leg(symbol, Side.BUY, quantity),),
        exit_policy=policy,
        stop_price=None,
        target_price=None,
        deadline_minutes=240.0,  # a slow entry (tiny participation) is not rolled back
    )
    engine.store.save_cards([card])
    return card


async def _enter(engine: Engine, policy: ExitPolicy, quantity: float = 10.0, symbol: str = "AAPL") -> Order:
    card = _card(engine, policy, quantity, symbol)
    result = await engine.parts.trading.execute(card, OPERATOR)
    assert result.ok, result.message
    entry = next(o for o in engine.store.load_orders() if o.card_id == card.card_id)
    return entry


def _protection(engine: Engine, entry: str) -> list[Order]:
    return engine.store.load_protection(entry)


def _live(engine: Engine, entry: str) -> list[Order]:
    return [o for o in _protection(engine, entry) if not o.status.is_terminal]


async def _until(engine: Engine, done: object, steps: int = 300) -> None:
    for _ in range(steps):
        if callable(done) and done():
            return
        await engine.step(1)
    assert callable(done) and done(), "the condition never came"


def _qty(engine: Engine, symbol: str) -> float:
    return engine.ledger.quantity(symbol)


async def test_an_entry_fill_places_one_oco_group_at_the_right_prices_and_quantity(eng: Engine) -> None:
    await eng.step(3)
    policy = ExitPolicy(stop=StopRule.PERCENT, stop_value=2.0, target_r=3.0, time_exit=TimeExit.NONE)
    entry = await _enter(eng, policy)
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    filled = eng.store.get_order(entry.client_order_id)
    assert filled is not None and filled.status is OrderStatus.FILLED and filled.avg_fill_price
    price = filled.avg_fill_price
    stop, target = sorted(_live(eng, entry.client_order_id), key=lambda o: o.order_type != OrderType.STP)
    assert stop.order_type is OrderType.STP and target.order_type is OrderType.LMT
    for leg in (stop, target):
        assert leg.side is Side.SELL and leg.quantity == pytest.approx(10.0)
        assert leg.tif is TimeInForce.GTC and leg.protects == entry.client_order_id
        assert leg.oca_group == oca_name(entry.client_order_id)
        assert leg.status is OrderStatus.ACKNOWLEDGED  # at the broker: the paper broker took both
    assert stop.stop_price == pytest.approx(price * 0.98, abs=0.011)
    assert target.limit_price == pytest.approx(price + 3.0 * price * 0.02, abs=0.011)
    working = {o.client_order_id for o in await eng.broker.open_orders()}
    assert working == {stop.client_order_id, target.client_order_id}
    # audited as any order: the intent and the acknowledgement of each leg
    audited = [e for e in eng.store.audit_entries() if e.action == "order"]
    assert {json.loads(e.payload_json)["coid"] for e in audited} >= working
    assert eng.parts.protection.unprotected == {}


async def test_an_atr_stop_is_measured_on_the_last_daily_bars(eng: Engine) -> None:
    await eng.step(3)
    entry = await _enter(eng, ExitPolicy(stop=StopRule.ATR, stop_value=2.0, target_r=None))
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 1)
    (stop,) = _live(eng, entry.client_order_id)
    (protected,) = [e for e, _ in eng.parts.protection.views()]
    assert protected.atr is not None and protected.atr > 0
    filled = eng.store.get_order(entry.client_order_id)
    assert filled is not None and filled.avg_fill_price is not None
    assert stop.stop_price == pytest.approx(filled.avg_fill_price - 2.0 * protected.atr, abs=0.011)


async def test_the_stop_fires_and_the_target_is_cancelled(eng: Engine) -> None:
    await eng.step(3)
    # a stop a hair under the entry, a target far away: the stop goes first
    entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=0.05, target_r=200.0))
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    await _until(eng, lambda: abs(_qty(eng, "AAPL")) < EPS and not _live(eng, entry.client_order_id))
    legs = {o.order_type: o for o in _protection(eng, entry.client_order_id)}
    assert legs[OrderType.STP].status is OrderStatus.FILLED
    assert legs[OrderType.LMT].status is OrderStatus.CANCELLED
    assert await eng.broker.open_orders() == []
    assert abs({p.symbol: p.quantity for p in await eng.broker.positions()}.get("AAPL", 0.0)) < EPS


async def test_the_target_fills_and_the_stop_is_cancelled(eng: Engine) -> None:
    await eng.step(3)
    entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=40.0, target_r=0.0005))
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    await _until(eng, lambda: abs(_qty(eng, "AAPL")) < EPS and not _live(eng, entry.client_order_id))
    legs = {o.order_type: o for o in _protection(eng, entry.client_order_id)}
    assert legs[OrderType.LMT].status is OrderStatus.FILLED
    assert legs[OrderType.STP].status is OrderStatus.CANCELLED
    assert await eng.broker.open_orders() == []


async def test_partial_entry_fills_grow_the_protection_and_a_partial_exit_shrinks_it(
    db: Path, shipped: MarketData
) -> None:
    # a tiny participation: the market entry fills a few shares per quote
    eng = await _start(_settings(ONETAP_BROKER__MAX_PARTICIPATION="0.00002"), db, shipped)
    try:
        await eng.step(3)
        entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0), 30.0)
        coid = entry.client_order_id

        def partly() -> bool:
            o = eng.store.get_order(coid)
            return o is not None and 0 < o.filled_quantity < 30.0 and len(_live(eng, coid)) == 2

        await _until(eng, partly)
        seen: list[float] = []
        for _ in range(200):
            o = eng.store.get_order(coid)
            assert o is not None
            legs = _live(eng, coid)
            assert len(legs) == 2, "never two groups, never a missing leg"
            assert {leg.oca_group for leg in legs} == {oca_name(coid)}
            for leg in legs:  # the protection follows the filled quantity (after each sync)
                assert leg.remaining == pytest.approx(o.filled_quantity)
            seen.append(o.filled_quantity)
            if o.status is OrderStatus.FILLED:
                break
            await eng.step(1)
        assert len(set(seen)) >= 2 and seen[-1] == pytest.approx(30.0), seen
        assert len(_protection(eng, coid)) == 2, "grown in place, not replaced"
        # a manual partial sale: the protection shrinks before it leaves
        sold = await eng.parts.dispatcher.send(OrderRequest("AAPL", Side.SELL, 10.0))
        legs = _live(eng, coid)
        assert [leg.remaining for leg in legs] == [pytest.approx(20.0)] * 2
        await _until(
            eng, lambda: (o := eng.store.get_order(sold.client_order_id)) is not None and o.status.is_terminal
        )
        await eng.settle()
        assert [leg.remaining for leg in _live(eng, coid)] == [pytest.approx(_qty(eng, "AAPL"))] * 2
    finally:
        await eng.stop()


async def test_a_manual_close_cancels_the_protection(eng: Engine) -> None:
    await eng.step(3)
    entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0))
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    await eng.parts.dispatcher.send(OrderRequest("AAPL", Side.SELL, 10.0, reduce_only=True))
    assert _live(eng, entry.client_order_id) == [], "cancelled before the sale left"
    await _until(eng, lambda: abs(_qty(eng, "AAPL")) < EPS)
    await eng.settle()
    assert all(o.status is OrderStatus.CANCELLED for o in _protection(eng, entry.client_order_id))
    assert await eng.broker.open_orders() == []


async def test_the_horizon_ends_with_an_exit_at_the_close(eng: Engine) -> None:
    await eng.step(3)
    alerts: list[RiskAlert] = []
    eng.bus.on(RiskAlert, alerts.append)
    policy = ExitPolicy(stop=StopRule.PERCENT, stop_value=30.0, target_r=5.0, time_exit=TimeExit.CLOSE)
    card = replace(_card(eng, policy), horizon_days=2)
    eng.store.save_cards([card])
    assert (await eng.parts.trading.execute(card, OPERATOR)).ok
    entry = next(o for o in eng.store.load_orders() if o.card_id == card.card_id)
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    entry_day = eng.feed.current_day
    await _until(eng, lambda: abs(_qty(eng, "AAPL")) < EPS, steps=120)
    assert eng.feed.current_day is not None and entry_day is not None
    assert eng.feed.current_day > entry_day, "not before the horizon's last session"
    legs = _protection(eng, entry.client_order_id)
    kinds = {o.order_type: o.status for o in legs}
    assert kinds[OrderType.STP] is OrderStatus.CANCELLED and kinds[OrderType.LMT] is OrderStatus.CANCELLED
    (exit_order,) = [o for o in legs if o.order_type is OrderType.MKT]
    assert exit_order.status is OrderStatus.FILLED and exit_order.oca_group is None
    assert exit_order.created_at is not None and entry_day is not None
    # horizon 2: the entry's session counts as the first (as in engine.strategies.exits)
    last_session = calendar.next_session(entry_day)
    sent = exit_order.created_at.astimezone(NEW_YORK)
    close = calendar.session_open_close(last_session)[1]
    assert sent.date() == last_session and close - timedelta(minutes=30) <= exit_order.created_at < close
    assert any(a.code is AlertCode.TIME_EXIT for a in alerts)


async def test_kill_level_1_keeps_the_stops_working(eng: Engine) -> None:
    await eng.step(3)
    entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0))
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    bid = eng.feed.latest_quotes()["MSFT"].bid
    other = await eng.orders.submit(
        OrderRequest("MSFT", Side.BUY, 1.0, OrderType.LMT, limit_price=round(bid * 0.97, 2))
    )
    assert (await eng.handle(Kill("test"), OPERATOR)).ok
    assert eng.risk.state.halted
    stored = eng.store.get_order(other.client_order_id)
    assert stored is not None and stored.status is OrderStatus.CANCELLED, "the other order was cancelled"
    assert len(_live(eng, entry.client_order_id)) == 2, "the protection keeps working"
    assert {o.client_order_id for o in await eng.broker.open_orders()} == {
        o.client_order_id for o in _live(eng, entry.client_order_id)
    }


async def test_kill_level_1_cancels_the_protection_when_chosen(db: Path, shipped: MarketData) -> None:
    eng = await _start(_settings(ONETAP_KILL__LEVEL1_CANCELS_PROTECTION="true"), db, shipped)
    try:
        alerts: list[RiskAlert] = []
        eng.bus.on(RiskAlert, alerts.append)
        await eng.step(3)
        entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0))
        await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
        assert (await eng.handle(Kill("test"), OPERATOR)).ok
        await eng.step(2)
        assert _live(eng, entry.client_order_id) == []
        assert await eng.broker.open_orders() == []
        assert "AAPL" in eng.parts.protection.unprotected
        assert any(a.code is AlertCode.UNPROTECTED and a.subject == "AAPL" for a in alerts)
        assert len(_protection(eng, entry.client_order_id)) == 2, "nothing re-placed while halted"
    finally:
        await eng.stop()


async def test_flatten_cancels_the_protection_first_then_flattens(eng: Engine) -> None:
    await eng.step(3)
    entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0))
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    first_flatten_seq = len(eng.store.load_orders())
    assert (await eng.handle(Flatten("test"), OPERATOR)).ok
    legs = _protection(eng, entry.client_order_id)
    assert legs and all(o.status is OrderStatus.CANCELLED for o in legs)
    flatten = [o for o in eng.store.load_orders()[first_flatten_seq:] if o.protects is None]
    assert [(o.symbol, o.side) for o in flatten] == [("AAPL", Side.SELL)]
    cancelled_at = max(o.updated_at for o in legs if o.updated_at is not None)
    assert flatten[0].created_at is not None and cancelled_at <= flatten[0].created_at
    await _until(eng, lambda: abs(_qty(eng, "AAPL")) < EPS)
    await eng.step(2)
    assert len(_protection(eng, entry.client_order_id)) == 2, "never re-placed"


async def test_the_daily_loss_breaker_flattens_when_chosen(db: Path, shipped: MarketData) -> None:
    eng = await _start(_settings(ONETAP_RISK__DAILY_LOSS_FLATTEN="true"), db, shipped)
    try:
        await eng.step(3)
        entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0))
        await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
        assert (await eng.handle(SetLimit("daily_loss_limit_pct", 0.000001), OPERATOR)).ok
        await _until(eng, lambda: eng.risk.state.halted, steps=20)
        assert eng.risk.state.kill_level == 2
        await _until(eng, lambda: abs(_qty(eng, "AAPL")) < EPS, steps=20)
        assert all(o.status is OrderStatus.CANCELLED for o in _protection(eng, entry.client_order_id))
        events = [e for e in eng.store.load_risk_events() if e.code == "DAILY_LOSS"]
        assert events and "flattening" in events[-1].message
    finally:
        await eng.stop()


async def test_the_daily_loss_breaker_only_halts_by_default_and_keeps_the_stops(eng: Engine) -> None:
    await eng.step(3)
    entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0))
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    assert (await eng.handle(SetLimit("daily_loss_limit_pct", 0.000001), OPERATOR)).ok
    await _until(eng, lambda: eng.risk.state.halted, steps=20)
    await eng.step(2)
    assert eng.risk.state.kill_level == 1
    assert _qty(eng, "AAPL") == pytest.approx(10.0)
    assert len(_live(eng, entry.client_order_id)) == 2


async def test_m_moves_the_stop_through_the_checks(eng: Engine) -> None:
    await eng.step(3)
    entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0))
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    (stop,) = [o for o in _live(eng, entry.client_order_id) if o.order_type is OrderType.STP]
    last = eng.feed.latest_quotes()["AAPL"].last
    wrong = await eng.handle(ModifyOrder(stop.client_order_id, stop_price=round(last * 1.01, 2)), OPERATOR)
    assert not wrong.ok and wrong.code == "STOP_WRONG_SIDE" and "below the market" in wrong.message
    size = await eng.handle(ModifyOrder(stop.client_order_id, quantity=3.0), OPERATOR)
    assert not size.ok and "follows the position" in size.message
    moved = await eng.handle(ModifyOrder(stop.client_order_id, stop_price=round(last * 0.97, 2)), OPERATOR)
    assert moved.ok, moved.message
    live = _live(eng, entry.client_order_id)
    assert len(live) == 2 and {o.oca_group for o in live} == {oca_name(entry.client_order_id)}
    (new_stop,) = [o for o in live if o.order_type is OrderType.STP]
    assert new_stop.stop_price == pytest.approx(round(last * 0.97, 2)) and new_stop.quantity == pytest.approx(
        10.0
    )
    (target,) = [o for o in live if o.order_type is OrderType.LMT]
    assert target.limit_price is not None
    higher = round(target.limit_price * 1.01, 2)
    assert (await eng.handle(ModifyOrder(target.client_order_id, limit_price=higher), OPERATOR)).ok
    stored = eng.store.get_order(target.client_order_id)
    assert stored is not None and stored.limit_price == pytest.approx(higher)


async def test_a_restart_with_the_protection_working_places_nothing_twice(
    db: Path, shipped: MarketData
) -> None:
    settings = _settings()
    eng = await _start(settings, db, shipped)
    await eng.step(3)
    entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0))
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    before = {o.client_order_id for o in _protection(eng, entry.client_order_id)}
    await eng.stop()
    again = await _start(settings, db, shipped)
    try:
        assert again.parts.protection.placed == 0
        assert {o.client_order_id for o in _protection(again, entry.client_order_id)} == before
        assert {o.client_order_id for o in await again.broker.open_orders()} == before
        assert again.parts.protection.unprotected == {}
        (protected,) = [e for e, _ in again.parts.protection.views()]
        assert protected.coid == entry.client_order_id, "the restarted engine knows the entry"
        await again.step(2)
        assert len(_protection(again, entry.client_order_id)) == 2
    finally:
        await again.stop()


async def test_an_unprotected_position_is_protected_on_restart_and_flagged_until_then(
    db: Path, shipped: MarketData
) -> None:
    """The protection was cancelled at the broker behind the engine's back (typed into TWS): the
    position is flagged UNPROTECTED, and a restart places the missing group once."""
    settings = _settings()
    eng = await _start(settings, db, shipped)
    await eng.step(3)
    entry = await _enter(eng, ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0))
    await _until(eng, lambda: len(_live(eng, entry.client_order_id)) == 2)
    for leg in _live(eng, entry.client_order_id):
        await eng.orders.cancel(leg.client_order_id)
    await eng.settle()
    assert "AAPL" in eng.parts.protection.unprotected
    assert len(_protection(eng, entry.client_order_id)) == 2, "not re-placed behind the operator's back"
    await eng.stop()
    again = await _start(settings, db, shipped)
    try:
        assert "AAPL" in again.parts.protection.unprotected, "flagged from the start"
        assert again.parts.protection.placed == 0, "placed once the broker has the symbol's price"
        await again.step(1)
        assert again.parts.protection.placed == 2
        assert len(_live(again, entry.client_order_id)) == 2
        assert again.parts.protection.unprotected == {}
    finally:
        await again.stop()
