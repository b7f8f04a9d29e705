"""Opening the file: location, permissions, pragmas, schema versions and refusals."""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Connection

from engine.model import Leg, Side, StrategyCard
from engine.store import SCHEMA_VERSION, Store, StoreError, default_database_path, open_database
from engine.store.db import MIGRATIONS, integrity_check, schema_version
from tests.engine.store.conftest import T0, make_order


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_path_honours_xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_database_path() == tmp_path / "xdg" / "onetap" / "onetap.db"


def test_default_path_is_never_in_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    checkout = Path(__file__).resolve().parents[3]
    assert not default_database_path().is_relative_to(checkout)


def test_pragmas_are_set_on_every_connection(db_path: Path) -> None:
    engine = open_database(db_path)
    try:
        with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_file_is_0600_and_created_folders_are_0700(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "onetap.db"
    with Store.open(path) as store:
        store.set_state("k", "v", T0)  # a write, so the -wal and -shm files exist
        assert _mode(path) == 0o600
        assert _mode(tmp_path / "a") == 0o700
        assert _mode(tmp_path / "a" / "b") == 0o700
        for companion in ("onetap.db-wal", "onetap.db-shm"):
            assert _mode(path.parent / companion) == 0o600


def test_private_modes_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "open" / "onetap.db"
        Store.open(path).close()
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700


def test_existing_folder_is_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    Store.open(folder / "onetap.db").close()
    assert _mode(folder) == 0o755
    assert _mode(folder / "onetap.db") == 0o600


def test_fresh_file_is_stamped_with_the_current_version(db_path: Path) -> None:
    engine = open_database(db_path)
    try:
        assert schema_version(engine) == SCHEMA_VERSION == 6
        with engine.connect() as conn:
            tables = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'").scalars())
        assert {
            "schema_info",
            "orders",
            "fills",
            "positions",
            "strategy_cards",
            "strategy_executions",
            "audit_events",
            "risk_events",
            "engine_state",
            "id_sequences",
        } <= tables
    finally:
        engine.dispose()


def _indexed_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    names = [row[1] for row in conn.execute(f"PRAGMA index_list('{table}')")]
    return {row[2] for name in names for row in conn.execute(f"PRAGMA index_info('{name}')")}


def test_indexes_exist_for_the_hot_queries(store: Store, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        assert {"status", "client_order_id"} <= _indexed_columns(conn, "orders")
        assert {"client_order_id", "exec_id"} <= _indexed_columns(conn, "fills")
    finally:
        conn.close()


def test_reopening_keeps_the_version_and_the_data(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.set_state("trading_state", "HALTED", T0)
    engine = open_database(db_path)
    try:
        assert schema_version(engine) == SCHEMA_VERSION
    finally:
        engine.dispose()
    with Store.open(db_path) as store:
        assert store.get_state("trading_state") == "HALTED"


def _stamp(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE schema_info SET version = ?", (version,))
    conn.close()


def test_newer_schema_is_refused_with_the_exact_message(db_path: Path) -> None:
    Store.open(db_path).close()
    _stamp(db_path, 7)
    with pytest.raises(StoreError) as caught:
        Store.open(db_path)
    assert str(caught.value) == (
        f"{db_path}: database schema version 7 is newer than this onetap understands ({SCHEMA_VERSION}); "
        "upgrade onetap or point [store] database at another file"
    )
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT version FROM schema_info").fetchone() == (7,)  # refused, not rewritten
    conn.close()


def test_garbage_file_is_refused_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is a shopping list, not a database\n" * 200)
    with pytest.raises(StoreError) as caught:
        Store.open(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes().startswith(b"this is a shopping list")  # nothing was written to it


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.execute("INSERT INTO recipes VALUES ('bread')")
    conn.close()
    with pytest.raises(StoreError, match="did not create") as caught:
        Store.open(path)
    assert str(path) in str(caught.value)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name FROM recipes").fetchall() == [("bread",)]
    conn.close()


def test_empty_file_is_treated_as_new(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with Store.open(path) as store:
        assert store.next_client_order_id() == "OT-00000001"


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        Store.open(tmp_path)


def _fake_version_zero(path: Path) -> None:
    """A file as an imagined version 0 left it: engine_state without its updated_at column."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "CREATE TABLE schema_info (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
        )
        conn.execute("INSERT INTO schema_info (id, version) VALUES (1, 0)")
        conn.execute("CREATE TABLE engine_state (key VARCHAR NOT NULL PRIMARY KEY, value VARCHAR NOT NULL)")
        conn.execute("INSERT INTO engine_state VALUES ('trading_state', 'HALTED')")
    conn.close()


def _add_updated_at(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE engine_state ADD COLUMN updated_at VARCHAR(32)")


def test_version_zero_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _fake_version_zero(path)
    engine = open_database(
        path, migrations={0: _add_updated_at, **{v: step for v, step in MIGRATIONS.items() if v >= 1}}
    )
    try:
        assert schema_version(engine) == SCHEMA_VERSION
    finally:
        engine.dispose()
    with Store.open(path) as store:
        assert store.get_state("trading_state") == "HALTED"  # nothing stored is lost
        store.set_state("trading_state", "ACTIVE", T0)  # the migrated column works
        assert store.get_state("trading_state") == "ACTIVE"
        assert store.next_client_order_id() == "OT-00000001"  # tables new in v1 were created


def test_version_zero_without_a_migration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _fake_version_zero(path)
    with pytest.raises(StoreError, match="no migration from database schema version 0 to 1"):
        Store.open(path)


def test_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _fake_version_zero(path)

    def half_done(conn: Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE engine_state ADD COLUMN updated_at VARCHAR(32)")
        conn.exec_driver_sql("UPDATE no_such_table SET x = 1")

    with pytest.raises(StoreError, match="left at version 0"):
        open_database(path, migrations={0: half_done})
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_info").fetchone() == (0,)
    columns = [row[1] for row in conn.execute("PRAGMA table_info('engine_state')")]
    assert columns == ["key", "value"]  # the ALTER was rolled back with the rest
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"schema_info", "engine_state"}
    conn.close()


def test_integrity_check_is_empty_when_sound(store: Store) -> None:
    assert store.integrity_check() == []


def test_integrity_check_function_on_an_engine(db_path: Path) -> None:
    engine = open_database(db_path)
    try:
        assert integrity_check(engine) == []
    finally:
        engine.dispose()


def test_a_version_1_file_gains_the_algo_columns_and_keeps_its_orders(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with Store.open(path) as store:
        store.insert_order(make_order("OT-00000001"))
    conn = sqlite3.connect(path)
    with conn:  # make it the file a version-1 onetap wrote
        conn.execute("DROP INDEX ix_orders_parent_id")
        for column in ("parent_id", "algo", "arrival_price"):
            conn.execute(f"ALTER TABLE orders DROP COLUMN {column}")
        conn.execute("UPDATE schema_info SET version = 1")
    conn.close()
    with Store.open(path) as store:
        (order,) = store.load_orders()
        assert (order.client_order_id, order.parent_id, order.algo, order.arrival_price) == (
            "OT-00000001",
            None,
            "",
            None,
        )
        store.insert_order(make_order("OT-00000002", parent_id="OT-00000001", algo="", arrival_price=10.5))
        assert store.get_order("OT-00000002") is not None
    engine = open_database(path)
    try:
        assert schema_version(engine) == SCHEMA_VERSION
    finally:
        engine.dispose()


def test_a_version_2_file_gains_card_plans_and_keeps_its_cards(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    card = StrategyCard(
        card_id="momentum-AAPL-20120103",
        template="momentum",
        name="Momentum AAPL",
        legs=(Leg("AAPL", Side.BUY, 10.0),),
        confidence=0.55,
        expected_return=0.01,
        max_risk=100.0,
        reason="why",
        asof=T0,
    )
    with Store.open(path) as store:
        store.save_cards([card])
    conn = sqlite3.connect(path)
    with conn:  # make it the file a version-2 onetap wrote
        for column in ("plan_json", "notes_json"):
            conn.execute(f"ALTER TABLE strategy_cards DROP COLUMN {column}")
        conn.execute("UPDATE schema_info SET version = 2")
    conn.close()
    with Store.open(path) as store:
        (loaded,) = store.load_cards()
        assert loaded == card
        planned = replace(card, card_id="momentum-AAPL-20120104", plan=("1. buy",), notes=("note",))
        store.save_cards([planned])
        assert store.load_card(planned.card_id) == planned
