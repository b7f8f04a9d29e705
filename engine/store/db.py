"""Opening the SQLite file: where it lives, who may read it, how it is tuned, which schema it holds.

The database is the engine's memory (orders are written here before a broker sees them), so
opening it is deliberately strict: the file is private to the user, every connection gets the
same durability pragmas, and a file this build does not understand is refused with a message
rather than written to. Nothing here knows the domain model; ``repository`` does the mapping.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from engine.store.tables import ALL_TABLES, METADATA

SCHEMA_VERSION = 6
"""The schema this build writes. Bump it together with a new entry in ``MIGRATIONS``."""

Migration = Callable[[Connection], None]
"""One schema step: runs inside the opening transaction, so a failed step leaves the file untouched."""


def _v1_to_v2(conn: Connection) -> None:
    """Orders learn their algo parent, the algo of a parent order and the arrival price."""
    tables = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars())
    if "orders" not in tables:
        return  # an older file without orders: create_all makes the table with these columns
    conn.exec_driver_sql("ALTER TABLE orders ADD COLUMN parent_id VARCHAR")
    conn.exec_driver_sql("ALTER TABLE orders ADD COLUMN algo VARCHAR NOT NULL DEFAULT ''")
    conn.exec_driver_sql("ALTER TABLE orders ADD COLUMN arrival_price FLOAT")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_orders_parent_id ON orders (parent_id)")


def _v2_to_v3(conn: Connection) -> None:
    """Strategy cards carry their execution plan and their assumptions in words."""
    tables = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars())
    if "strategy_cards" not in tables:
        return
    columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info('strategy_cards')")}
    for column in ("plan_json", "notes_json"):
        if column not in columns:
            conn.exec_driver_sql(
                f"ALTER TABLE strategy_cards ADD COLUMN {column} VARCHAR NOT NULL DEFAULT '[]'"
            )


def _v3_to_v4(conn: Connection) -> None:
    """Orders learn trailing distances, their one-cancels-all group and the entry they protect;
    cards learn their exit policy."""
    tables = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars())
    if "orders" not in tables:
        return
    columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info('orders')")}
    for column, kind in (
        ("trail_amount", "FLOAT"),
        ("trail_percent", "FLOAT"),
        ("oca_group", "VARCHAR"),
        ("protects", "VARCHAR"),
    ):
        if column not in columns:
            conn.exec_driver_sql(f"ALTER TABLE orders ADD COLUMN {column} {kind}")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_orders_protects ON orders (protects)")
    if "strategy_cards" in tables:
        card_columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info('strategy_cards')")}
        if "exit_json" not in card_columns:
            conn.exec_driver_sql(
                "ALTER TABLE strategy_cards ADD COLUMN exit_json VARCHAR NOT NULL DEFAULT ''"
            )


def _v4_to_v5(conn: Connection) -> None:
    """Executed cards' forecasts beside their outcomes (``forecast_outcomes``): a new table, which
    ``create_all`` makes after the steps; the engine fills it from the stored fills at its next
    start (``engine.runtime.forecasts``), so trades closed before the upgrade are scored too."""
    del conn


def _v5_to_v6(conn: Connection) -> None:
    """Fills learn their currency (issue 20: cash per currency). Rows already stored keep ""
    ("as the instrument is configured"): the ledger books them as it always did, in the
    instrument's currency, so nothing stored changes meaning."""
    tables = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars())
    if "fills" not in tables:
        return
    columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info('fills')")}
    if "currency" not in columns:
        conn.exec_driver_sql("ALTER TABLE fills ADD COLUMN currency VARCHAR NOT NULL DEFAULT ''")


MIGRATIONS: Mapping[int, Migration] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
    5: _v5_to_v6,
}
"""``MIGRATIONS[v]`` upgrades a version-``v`` file to ``v + 1``.

Steps only change tables that already exist; tables new in a version are created afterwards by
the metadata (``create_all`` skips tables that are there), so a step never repeats the models.
"""

IMMEDIATE = "onetap_begin_immediate"
"""Execution option: start the transaction with ``BEGIN IMMEDIATE``.

Writers take the write lock up front. A deferred transaction that reads and then writes can fail
with SQLITE_BUSY in WAL mode without waiting out ``busy_timeout``; taking the lock first turns
contention (a second process on the same file) into a wait instead of an error.
"""

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)

_DIR_MODE = 0o700
_FILE_MODE = 0o600


class StoreError(Exception):
    """The store cannot do what was asked; the message names the file or the record and what to do."""


def default_database_path(broker: str = "paper", account: str = "") -> Path:
    """The per-user data directory (``$XDG_DATA_HOME/onetap`` on Linux): never inside a checkout.

    One database per broker and account: the paper desk's ``onetap.db``; an IBKR account's
    ``onetap-ibkr-<account>.db`` (``onetap-ibkr.db`` when the account is not configured), so
    trying IBKR after paper, and coming back, never mixes two books in one file.
    """
    base = platformdirs.user_data_path("onetap")
    if broker == "paper":
        return base / "onetap.db"
    safe = "".join(c for c in account if c.isalnum() or c in "-_")
    return base / (f"onetap-{broker}-{safe}.db" if safe else f"onetap-{broker}.db")


def open_database(path: Path, *, migrations: Mapping[int, Migration] = MIGRATIONS) -> Engine:
    """Open (creating if needed) the database at ``path`` with its schema at ``SCHEMA_VERSION``.

    Raises ``StoreError`` naming the path when the file cannot be used: not SQLite, not onetap's,
    written by a newer onetap, or a migration failed (in which case the file is left as it was).
    """
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path}: is a directory; point [store] database at a file")
    _make_private_dir(path.parent)
    _create_private_file(path)
    engine = create_engine(
        URL.create("sqlite", database=str(path)),
        connect_args={"check_same_thread": False},
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    try:
        with engine.execution_options(**{IMMEDIATE: True}).begin() as conn:
            _prepare_schema(conn, path, migrations)
    except StoreError:
        engine.dispose()
        raise
    except (DBAPIError, sqlite3.Error) as exc:
        engine.dispose()
        raise StoreError(f"{path}: cannot be used as the onetap database: {_reason(exc)}") from exc
    return engine


def integrity_check(engine: Engine) -> list[str]:
    """SQLite's own consistency check; an empty list means the file is sound."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    problems = [str(row) for row in rows]
    return [] if problems == ["ok"] else problems


def schema_version(engine: Engine) -> int:
    """The version stamped in the file (what ``open_database`` left there)."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT version FROM schema_info WHERE id = 1")).scalar_one())


# --------------------------------------------------------------------------- files
def _make_private_dir(folder: Path) -> None:
    """Create missing folders 0700; folders that already exist are the user's and left alone."""
    missing: list[Path] = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=_DIR_MODE)
        except FileExistsError:
            continue
        except OSError as exc:
            raise StoreError(f"{created}: cannot create the database folder: {exc.strerror}") from exc
        # mkdir's mode is filtered by the umask; the folder must be private whatever the umask.
        created.chmod(_DIR_MODE)


def _create_private_file(path: Path) -> None:
    """Create the file 0600 before SQLite does, so it is never readable by others, not even briefly.

    SQLite gives its -wal and -shm files the permissions of the database file, so they follow.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    except FileExistsError:
        if not stat.S_ISREG(path.stat().st_mode):
            raise StoreError(f"{path}: is not a regular file; point [store] database at a file") from None
        return
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the database file: {exc.strerror}") from exc
    os.close(fd)
    path.chmod(_FILE_MODE)


# --------------------------------------------------------------------------- connections
def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself: the driver's implicit transactions do
    # not cover DDL, which would let a half-done migration commit piecemeal.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    immediate = bool(conn.get_execution_options().get(IMMEDIATE, False))
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# --------------------------------------------------------------------------- schema
def _prepare_schema(conn: Connection, path: Path, migrations: Mapping[int, Migration]) -> None:
    tables = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars().all())
    if not tables - {"sqlite_sequence"}:
        _create_schema(conn)
        conn.exec_driver_sql(
            "CREATE TABLE schema_info (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
        )
        conn.exec_driver_sql("INSERT INTO schema_info (id, version) VALUES (1, ?)", (SCHEMA_VERSION,))
        return
    if "schema_info" not in tables:
        raise StoreError(
            f"{path}: a SQLite database onetap did not create (no schema_info table); "
            "point [store] database at another file"
        )
    found = conn.exec_driver_sql("SELECT version FROM schema_info WHERE id = 1").scalar()
    if not isinstance(found, int):
        raise StoreError(f"{path}: schema_info holds no version; the file is damaged or not onetap's")
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: database schema version {found} is newer than this onetap understands "
            f"({SCHEMA_VERSION}); upgrade onetap or point [store] database at another file"
        )
    if found == SCHEMA_VERSION:
        return
    for version in range(found, SCHEMA_VERSION):
        step = migrations.get(version)
        if step is None:
            raise StoreError(
                f"{path}: no migration from database schema version {version} to {version + 1}; "
                "point [store] database at another file"
            )
        try:
            step(conn)
        except Exception as exc:  # any failure: the transaction rolls back and the file keeps its version
            raise StoreError(
                f"{path}: migrating the schema from version {version} to {version + 1} failed "
                f"({_reason(exc)}); the file was left at version {found}"
            ) from exc
    _create_schema(conn)
    conn.exec_driver_sql("UPDATE schema_info SET version = ? WHERE id = 1", (SCHEMA_VERSION,))


def _create_schema(conn: Connection) -> None:
    METADATA.create_all(conn, tables=list(ALL_TABLES), checkfirst=True)


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None)
    return str(original if original is not None else exc)
