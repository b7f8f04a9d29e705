"""A crash between an entry's fill and its protection's send: the restart protects it, once.

The process dies (in process, deterministically, as in ``test_crash_points``) at the commit of the
protection's first INTENT row: the entry's fill is on disk, nothing of the protection is, and the
broker never heard of it. A new engine on the same files must find the unprotected position, flag
it, place its stop and target exactly once, and a further restart must place nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy import Engine as SqlEngine

from engine.brokers.paper import PaperBroker, journal_path_for, read_journal
from engine.config import Settings, load_settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import ExitPolicy, Leg, OrderStatus, OrderType, Side, StopRule
from tests.engine.test_crash_points import OPERATOR, SimulatedCrash, _live

POLICY = ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0)


@dataclass
class ProtectionTrap:
    """Dies at the first write of a protective order (an INSERT carrying an OCA group)."""

    db: Path
    dead: bool = False

    def on_execute(
        self, conn: Connection, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool
    ) -> None:
        if conn.engine.url.database != str(self.db):
            return
        if self.dead and statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise SimulatedCrash("the process is dead")
        values = params if isinstance(params, tuple) else ()
        head = statement.lstrip()[:40].upper()
        if head.startswith("INSERT INTO ORDERS") and any(
            isinstance(v, str) and v.startswith("OCA-") for v in values
        ):
            self.dead = True
            raise SimulatedCrash("died writing the protection's intent")

    @contextmanager
    def listening(self) -> Iterator[ProtectionTrap]:
        event.listen(SqlEngine, "before_cursor_execute", self.on_execute)
        try:
            yield self
        finally:
            event.remove(SqlEngine, "before_cursor_execute", self.on_execute)


def _settings() -> Settings:
    return load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})


def _first_life(settings: Settings, db: Path, shipped: MarketData, trap: ProtectionTrap) -> str:
    """Execute a protected card; die when its protection is about to be written. Returns the entry."""
    engine = Engine(settings, database=db, market=shipped, paced=False)
    entry_id: list[str] = []

    async def life() -> None:
        await engine.start()
        await engine.step(3)
        base = next(c for c in engine.cards if len(c.legs) == 1 and c.legs[0].side is Side.BUY)
        card = replace(
            base, card_id=f"{base.card_id}-crash", legs=(Leg("AAPL", Side.BUY, 10.0),), exit_policy=POLICY
        )
        engine.store.save_cards([card])
        assert (await engine.parts.trading.execute(card, OPERATOR)).ok
        entry_id.append(
            next(o.client_order_id for o in engine.store.load_orders() if o.card_id == card.card_id)
        )
        for _ in range(20):
            await engine.step(1)
            if trap.dead:  # died in the protection's task: the process is gone all the same
                raise SimulatedCrash("died in a background task")
        raise AssertionError("the protection was never written: the trap never fired")

    try:
        _live(life)
    except SimulatedCrash:
        broker = engine.broker
        assert isinstance(broker, PaperBroker)
        broker.close()
        engine.abandon()
    return entry_id[0]


def _journal_sends(db: Path) -> list[dict[str, Any]]:
    return [r for r in read_journal(journal_path_for(db)) if r["e"] in ("accept", "reject", "resubmit")]


def test_a_crash_between_the_fill_and_the_protection_places_it_once_on_restart(
    tmp_path: Path, shipped: MarketData
) -> None:
    db = tmp_path / "data" / "onetap.db"
    settings = _settings()
    trap = ProtectionTrap(db)
    with trap.listening():
        entry = _first_life(settings, db, shipped, trap)
    assert trap.dead, "the crash came"
    sends_before = _journal_sends(db)
    assert len(sends_before) == 1, "the broker saw only the entry before the crash"

    engine = Engine(settings, database=db, market=shipped, paced=False)

    async def second() -> tuple[int, list[str], dict[str, str], int]:
        await engine.start()
        try:
            stored = engine.store.get_order(entry)
            assert stored is not None and stored.status is OrderStatus.FILLED, "the fill was on disk"
            assert engine.store.load_protection(entry) == [], "nothing of the protection was written"
            flagged = dict(engine.parts.protection.unprotected)
            await engine.step(1)
            placed = engine.parts.protection.placed
            await engine.step(5)
            live = [
                o.client_order_id for o in engine.store.load_protection(entry) if not o.status.is_terminal
            ]
            return placed, live, flagged, engine.parts.protection.placed
        finally:
            await engine.stop()

    placed, live, flagged, placed_later = _live(second)
    assert "AAPL" in flagged, "the position was flagged UNPROTECTED before its protection was placed"
    assert placed == 2, "the restart placed the stop and the target"
    assert placed_later == 2, "and nothing more"
    assert len(live) == 2
    sends = _journal_sends(db)
    coids = [r["order"]["client_order_id"] if "order" in r else r["coid"] for r in sends]
    assert len(coids) == len(set(coids)) == 3, f"the entry and one group, each sent once: {coids}"

    third = Engine(settings, database=db, market=shipped, paced=False)

    async def again() -> tuple[int, list[tuple[OrderType, OrderStatus]]]:
        await third.start()
        try:
            await third.step(2)
            legs = [(o.order_type, o.status) for o in third.store.load_protection(entry)]
            return third.parts.protection.placed, legs
        finally:
            await third.stop()

    placed_third, legs = _live(again)
    assert placed_third == 0, "a restart with the protection working places nothing"
    assert sorted(t.value for t, _ in legs) == ["LMT", "STP"], "exactly one group for the entry"
    assert all(not s.is_terminal for _, s in legs)
