"""A full disk for the database, simulated at SQLite's door: every write statement fails as
SQLite fails on a full filesystem ("database or disk is full"), reads still work.

It hooks SQLAlchemy's public ``before_cursor_execute`` event for every engine in the process,
so the code under test runs unchanged; the journal of the paper broker (a plain file) is not
affected, as on a real machine where only the database's filesystem filled up.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import OperationalError

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class FullDisk:
    def __init__(self) -> None:
        self.refused = 0

    def before_cursor_execute(
        self, _conn: Any, _cursor: Any, statement: str, params: Any, *_args: Any
    ) -> None:
        if statement.lstrip().upper().startswith(WRITES):
            self.refused += 1
            raise OperationalError(statement, params, sqlite3.OperationalError("database or disk is full"))


@contextmanager
def full_disk() -> Iterator[FullDisk]:
    disk = FullDisk()
    event.listen(SqlEngine, "before_cursor_execute", disk.before_cursor_execute)
    try:
        yield disk
    finally:
        event.remove(SqlEngine, "before_cursor_execute", disk.before_cursor_execute)
