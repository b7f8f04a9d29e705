"""Engines for tests: real store on a tmp file, real paper broker, real shipped data, stepped by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.config import Settings, load_settings
from engine.data.loader import MarketData
from engine.kernel import Engine


@pytest.fixture
def settings() -> Settings:
    return load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "onetap.db"


@pytest.fixture
async def engine(settings: Settings, db: Path, shipped: MarketData) -> AsyncIterator[Engine]:
    eng = Engine(settings, database=db, market=shipped, paced=False)
    await eng.start()
    yield eng
    if not eng.store.closed:
        await eng.stop()
