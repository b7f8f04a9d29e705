"""The engine on a user's own market (issue 18): it says what the data checks left out (one line
among the data notices), replays an XTKS index, XLON closes and a 24/7 coin each on its own
sessions (weekends included for the coin), and the desk's cards pane hears which templates are
held back for want of volume."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from engine.config import Settings, load_settings
from engine.data.market import load_market
from engine.kernel import Engine
from engine.model.events import CardsEvent, MarketEvent
from tests import own_market


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    files = own_market.build(tmp_path_factory.mktemp("own"))
    base = load_settings(files.config, environ={"ONETAP_REPLAY__START": "2020-01-01"})
    universe = base.universe.model_copy(update={"symbols": ["N225", "GOLD", "BTCUSD"]})
    return base.model_copy(update={"universe": universe})


@pytest.fixture
async def engine(settings: Settings, tmp_path: Path) -> AsyncIterator[Engine]:
    eng = Engine(settings, database=tmp_path / "onetap.db", market=load_market(settings), paced=False)
    await eng.start()
    yield eng
    if not eng.store.closed:
        await eng.stop()


async def test_the_engine_replays_each_calendar_and_says_what_it_dropped(engine: Engine) -> None:
    notices = engine.parts.outbox.recent_notices()
    summary = [n for n in notices if n.topic == "data" and n.level == "info"]
    assert len(summary) == 1 and summary[0].message.startswith("data: 4 symbols (24/5, 24/7, XLON, XTKS)")
    assert any("N225 2020-01-02: not a trading session" in n.message for n in notices if n.topic == "data")

    quoted: dict[date, set[str]] = {}
    cards: list[CardsEvent] = []
    engine.bus.on(
        MarketEvent,
        lambda e: quoted.setdefault(e.ts.date(), set()).update(q.symbol for q in e.quotes),
    )
    engine.bus.on(CardsEvent, cards.append)
    for _ in range(8):  # 2020-01-01 (Wednesday) .. 2020-01-08
        await engine.step_day()
    assert engine.parts.feed.current_day == date(2020, 1, 8)
    assert quoted[date(2020, 1, 4)] == {"BTCUSD"}  # Saturday: only the coin trades
    assert quoted[date(2020, 1, 6)] == {"N225", "GOLD", "BTCUSD"}
    assert "N225" not in quoted[date(2020, 1, 3)]  # Tokyo's new-year holiday
    assert not [n for n in engine.parts.outbox.recent_notices() if "quote held out" in n.message]
    held = dict(next(e for e in reversed(cards) if e.rejected).rejected)
    assert held["momentum_needs_volume"] == 2 and held["breakout_needs_volume"] == 2
