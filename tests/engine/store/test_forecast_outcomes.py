"""The forecast_outcomes table: schema 5, the 4 -> 5 migration on a real file, written once."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.model.forecast import ForecastOutcome, OutcomeStatus
from engine.store import SCHEMA_VERSION, Store
from engine.store.db import open_database, schema_version

T0 = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
OUTCOME = ForecastOutcome(
    execution_id="X-OT-00000001",
    card_id="momentum-AAPL-20240102",
    template="momentum",
    symbols=("AAPL",),
    status=OutcomeStatus.CLOSED,
    opened_at=T0,
    closed_at=T0 + timedelta(days=3),
    confidence=0.61,
    expected_return=0.012,
    max_risk=55.0,
    expected_cost=1.25,
    capital=1001.4,
    gross_pnl=25.0,
    entry_commission=1.0,
    exit_commission=1.0,
    entry_slippage=1.4,
    exit_slippage=0.6,
)


def test_an_outcome_round_trips_and_is_written_once(tmp_path: Path) -> None:
    with Store.open(tmp_path / "onetap.db") as store:
        assert store.save_outcomes([OUTCOME]) == 1
        assert store.save_outcomes([replace(OUTCOME, gross_pnl=-1.0)]) == 0  # a second write is ignored
        assert store.load_outcomes() == [OUTCOME]
        assert store.load_outcomes(since=T0 + timedelta(days=4)) == []


def test_a_version_4_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    with Store.open(path) as store:
        store.set_state("trading_state", "HALTED", T0)
    conn = sqlite3.connect(path)
    with conn:  # make it the file a version-4 onetap wrote
        conn.execute("DROP TABLE forecast_outcomes")
        conn.execute("UPDATE schema_info SET version = 4")
    conn.close()
    engine = open_database(path)
    try:
        assert schema_version(engine) == SCHEMA_VERSION == 6
    finally:
        engine.dispose()
    with Store.open(path) as store:
        assert store.get_state("trading_state") == "HALTED"
        assert store.load_outcomes() == []
        assert store.save_outcomes([OUTCOME]) == 1
        assert store.load_outcomes() == [OUTCOME]
