"""Schema 6 (issue 20): fills learn their currency. A version-5 file (a real SQLite file, its
fills table without the column) migrates with every stored fill intact, its currency ""
(booked as the instrument is configured, as before); new fills keep the currency they carry."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from engine.model import Fill, Side
from engine.store import SCHEMA_VERSION, Store
from engine.store.db import open_database, schema_version
from tests.engine.store.conftest import T0, make_order


def _make_version_5(path: Path) -> list[Fill]:
    fills = [
        Fill("E1", "OT-1", "USDJPY", Side.BUY, 100_000.0, 110.25, 0.0, T0),
        Fill("E2", "OT-1", "USDJPY", Side.SELL, 100_000.0, 111.0, 2.5, T0 + timedelta(hours=1)),
    ]
    with Store.open(path) as store:
        store.insert_order(make_order("OT-1"))
        for f in fills:
            store.insert_fill(f)
        store.set_state("trading_state", "HALTED", T0)
    conn = sqlite3.connect(path)
    with conn:  # the file a version-5 onetap wrote: no currency column on fills
        conn.execute("ALTER TABLE fills DROP COLUMN currency")
        conn.execute("UPDATE schema_info SET version = 5")
    columns = {row[1] for row in conn.execute("PRAGMA table_info('fills')")}
    conn.close()
    assert "currency" not in columns
    return fills


def test_a_version_5_file_migrates_and_keeps_every_fill(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    before = _make_version_5(path)
    engine = open_database(path)
    try:
        assert schema_version(engine) == SCHEMA_VERSION == 6
    finally:
        engine.dispose()
    with Store.open(path) as store:
        assert store.load_fills() == before  # every field as stored, currency "" (as configured)
        assert all(f.currency == "" for f in store.load_fills())
        assert store.get_state("trading_state") == "HALTED"
        new = Fill("E3", "OT-1", "USDJPY", Side.BUY, 1_000.0, 112.0, 0.0, T0 + timedelta(hours=2), "JPY")
        assert store.insert_fill(new)
        assert store.load_fills()[-1] == new and store.load_fills()[-1].currency == "JPY"
