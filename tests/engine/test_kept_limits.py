"""A limit changed at run time outlives a restart on the same database unless it was for this
session only; both kinds are audited.

Real parts: the engine on the shipped data, the paper broker, SQLite under tmp_path.
"""

from __future__ import annotations

from pathlib import Path

from engine.actor import Actor
from engine.config import Settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource
from engine.model.events import NoticeEvent, SetLimit
from engine.runtime.kept_limits import LIMITS_KEY

OPERATOR = Actor("alice", CommandSource.HOTKEY)


async def _restart(settings: Settings, db: Path, shipped: MarketData, notices: list[NoticeEvent]) -> Engine:
    engine = Engine(settings, database=db, market=shipped, paced=False)
    engine.bus.on(NoticeEvent, notices.append)
    await engine.start()
    return engine


async def test_a_kept_change_survives_a_restart_and_a_session_only_one_does_not(
    settings: Settings, db: Path, shipped: MarketData
) -> None:
    config_value = settings.risk.max_order_value
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    try:
        kept = await engine.handle(SetLimit("max_order_value", 5_000.0), OPERATOR)
        assert kept.ok, kept.message
        once = await engine.handle(SetLimit("max_orders_per_day", 7, session_only=True), OPERATOR)
        assert once.ok, once.message
        assert engine.risk.limit_values()["max_orders_per_day"] == 7
        commands = [e for e in engine.store.load_audit() if e.action == "command"]
        set_limits = [e.payload for e in commands if e.payload.get("command") == "SetLimit"]
        assert [(p["name"], p["session_only"]) for p in set_limits] == [
            ("max_order_value", False),
            ("max_orders_per_day", True),
        ]
        risk = [e.payload["message"] for e in engine.store.load_audit() if e.action == "risk"]
        assert any("max_order_value" in m and "kept across restarts" in m for m in risk)
        assert any("max_orders_per_day" in m and "until restart" in m for m in risk)
    finally:
        await engine.stop()

    notices: list[NoticeEvent] = []
    again = await _restart(settings, db, shipped, notices)
    try:
        limits = again.risk.limit_values()
        assert limits["max_order_value"] == 5_000.0 != config_value
        assert limits["max_orders_per_day"] == settings.risk.max_orders_per_day  # the config's again
        assert any("max_order_value = 5000" in n.message and "alice" in n.message for n in notices)
        assert any(e.action == "limits_restored" for e in again.store.load_audit())
        assert again.store.verify_audit().ok
    finally:
        await again.stop()


async def test_a_kept_value_the_config_no_longer_accepts_is_dropped_with_a_warning(
    settings: Settings, db: Path, shipped: MarketData
) -> None:
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    try:
        engine.store.set_state(
            LIMITS_KEY, '{"max_order_value": {"value": -1, "by": "x", "at": "t"}}', engine.clock.now()
        )
    finally:
        await engine.stop()
    notices: list[NoticeEvent] = []
    again = await _restart(settings, db, shipped, notices)
    try:
        assert again.risk.limit_values()["max_order_value"] == settings.risk.max_order_value
        assert any("no longer fits the config" in n.message for n in notices)
    finally:
        await again.stop()
