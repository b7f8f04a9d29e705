"""``UnitOfWork``: the store's transactions: one IMMEDIATE transaction per write (committed and
fsynced before the call returns), read sessions, and ``batch``, which makes many writes one
commit. Hooks let the audit log move its anchor after a batch commits and forget what a rolled
back batch appended."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session

from engine.store import rows
from engine.store.db import IMMEDIATE, StoreError


@dataclass(slots=True)
class WriteStats:
    """Committed write transactions and their time (open to commit, fsync included): the store's
    write latency as ``/metrics`` reports it."""

    count: int = 0
    seconds: float = 0.0
    max_seconds: float = 0.0

    def add(self, elapsed: float) -> None:
        self.count += 1
        self.seconds += elapsed
        self.max_seconds = max(self.max_seconds, elapsed)


class UnitOfWork:
    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{IMMEDIATE: True})
        self.path = path
        self.closed = False
        self._batch: Session | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._after_rollback: list[Callable[[], None]] = []
        self.stats = WriteStats()

    def on_batch_end(self, *, committed: Callable[[], None], rolled_back: Callable[[], None]) -> None:
        """``committed`` runs after a batch committed (unless it asked not to), ``rolled_back``
        after one failed."""
        self._after_commit.append(committed)
        self._after_rollback.append(rolled_back)

    @property
    def in_batch(self) -> bool:
        return self._batch is not None

    def close(self) -> None:
        """Release the connections; the last one out checkpoints the WAL into the main file."""
        if not self.closed:
            self.closed = True
            self.engine.dispose()

    def check_open(self) -> None:
        if self.closed:
            raise StoreError(f"{self.path}: the store is closed")

    @contextmanager
    def batch(self, what: str, *, anchor: bool = True) -> Iterator[None]:
        """Make every write inside one transaction: one commit, one fsync, all or nothing.

        For bursts that must be fast, such as the kill switch's hundred cancels (each one an
        order update and an audit entry): 400 fsyncs become one. Nested batches join the outer
        one. The audit anchor moves once, after the commit; with ``anchor=False`` it moves at the
        next ``flush_anchor`` (or the next write outside a batch) instead, for a caller with
        something more urgent to do first, such as sending the order it just recorded. A crash
        in between leaves the anchor one step behind the chain, which verification accepts (it
        refuses only a chain shorter than its anchor).
        """
        if self._batch is not None:
            yield
            return
        try:
            with self.write(what) as session:
                self._batch = session
                try:
                    yield
                finally:
                    self._batch = None
        except BaseException:
            for forget in self._after_rollback:
                forget()
            raise
        if anchor:
            for done in self._after_commit:
                done()

    @contextmanager
    def write(self, what: str) -> Iterator[Session]:
        """One transaction, begun IMMEDIATE and committed on leaving; rolled back on any error.

        Inside ``batch`` the batch's transaction is used and nothing is committed here.
        """
        self.check_open()
        if self._batch is not None:
            yield self._batch
            return
        with Session(self._writer) as session:
            try:
                started = time.perf_counter()
                yield session
                session.commit()
                self.stats.add(time.perf_counter() - started)
            except StoreError:
                session.rollback()
                raise
            except IntegrityError as exc:
                session.rollback()
                raise StoreError(f"{what}: refused by the database ({exc.orig})") from exc
            except SQLAlchemyError as exc:
                session.rollback()
                raise StoreError(f"{self.path}: {what} failed ({rows.reason(exc)})") from exc

    @contextmanager
    def read(self, what: str) -> Iterator[Session]:
        """A read session; inside ``batch``, the batch's own, so reads see the batch's writes."""
        self.check_open()
        if self._batch is not None:
            yield self._batch
            return
        with Session(self.engine) as session:
            try:
                yield session
            except StoreError:
                raise
            except SQLAlchemyError as exc:
                raise StoreError(f"{self.path}: {what} failed ({rows.reason(exc)})") from exc
            except ValueError as exc:
                raise StoreError(f"{self.path}: {what}: a stored value is damaged ({exc})") from exc
