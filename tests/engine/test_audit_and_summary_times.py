"""The audit's ``ts`` is wall-clock time, monotone per database file across restarts (the replay's
market time runs backwards at a restart and is kept beside it as ``market_ts``); the autopilot's
summary goes out when its orders are sent and its fills follow in a second message.

Real parts: the engine on the shipped data, the paper broker, SQLite under tmp_path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.actor import Actor
from engine.bus import EventBus
from engine.clock import SimulatedClock
from engine.config import Settings, load_settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource
from engine.model.events import NoticeEvent, SetLimit
from engine.runtime.outbox import Outbox
from engine.store.repository import Store

OPERATOR = Actor("alice", CommandSource.HOTKEY)
WALL = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)


def test_audit_entries_carry_wall_time_monotone_and_market_time_beside_it(tmp_path: Path) -> None:
    db = tmp_path / "onetap.db"
    market = SimulatedClock(datetime(2012, 1, 3, 15, 0, tzinfo=UTC))
    walls = iter([WALL, WALL + timedelta(seconds=1)])
    store = Store.open(db)
    try:
        outbox = Outbox(EventBus(), market, store, wall=lambda: next(walls))
        outbox.audit("alice", CommandSource.HOTKEY, "first", {"n": 1})
        market.set(datetime(2012, 1, 3, 20, 0, tzinfo=UTC))
        outbox.audit("alice", CommandSource.HOTKEY, "second", {"n": 2})
    finally:
        store.close()
    store = Store.open(db)  # a restart: the replay resumes at the day's open, the wall clock went back
    try:
        reopened = SimulatedClock(datetime(2012, 1, 3, 14, 30, tzinfo=UTC))
        outbox = Outbox(EventBus(), reopened, store, wall=lambda: WALL - timedelta(hours=1))
        outbox.audit("alice", CommandSource.HOTKEY, "third", {"n": 3})
        entries = store.load_audit()
        assert [e.action for e in entries] == ["first", "second", "third"]
        stamps = [e.ts for e in entries]
        assert stamps == [WALL, WALL + timedelta(seconds=1), WALL + timedelta(seconds=1)]  # never back
        assert [e.payload["market_ts"] for e in entries] == [
            "2012-01-03T15:00:00+00:00",
            "2012-01-03T20:00:00+00:00",
            "2012-01-03T14:30:00+00:00",
        ]
        assert entries[2].payload["n"] == 3
        assert store.verify_audit().ok
    finally:
        store.close()


async def test_an_engines_audit_ts_is_wall_time_and_runs_forward_across_a_restart(
    settings: Settings, db: Path, shipped: MarketData
) -> None:
    before = datetime.now(UTC)
    for _ in range(2):
        engine = Engine(settings, database=db, market=shipped, paced=False)
        await engine.start()
        try:
            await engine.step(2)
            assert (
                await engine.handle(SetLimit("max_order_value", 20_000.0, session_only=True), OPERATOR)
            ).ok
        finally:
            await engine.stop()
    store = Store.open(db)
    try:
        entries = store.load_audit()
        assert entries and all(e.ts >= before for e in entries if "market_ts" in e.payload)
        stamps = [e.ts for e in entries]
        assert stamps == sorted(stamps)
        assert store.verify_audit().ok
    finally:
        store.close()


async def test_the_autopilot_summary_says_fills_follow_and_a_second_message_brings_them(
    db: Path, shipped: MarketData
) -> None:
    settings = load_settings(
        environ={
            "ONETAP_REPLAY__STEPS_PER_DAY": "78",
            "ONETAP_AUTOPILOT__ENABLED": "true",
            "ONETAP_AUTOPILOT__FREQUENCY": '"daily"',
        }
    )
    engine = Engine(settings, database=db, market=shipped, paced=False)
    notices: list[NoticeEvent] = []
    engine.bus.on(NoticeEvent, notices.append)
    await engine.start()
    try:
        await engine.step_day()
        await engine.step_day()
    finally:
        await engine.stop()
    summary = next(n.message for n in notices if ": rebalanced:" in n.message)
    assert "fills: reported when the orders have filled" in summary and "fills: 0" not in summary
    fills = [n.message for n in notices if n.message.startswith("Autopilot 2012-01-03: fills:")]
    assert fills, [n.message for n in notices if "Autopilot" in n.message]
    assert "orders filled (COMPLETED)" in fills[0]
