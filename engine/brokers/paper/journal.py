"""The paper broker's memory: an append-only journal of JSON lines, each fsynced before it counts.

Every change of the broker's state is one line here, written *before* its report leaves, and
the state changes only by applying that line (``PaperState.apply``); a broker built over an
existing journal replays it (see ``engine.brokers.paper``). This module owns the file: its
format, its lock (one engine per journal), torn last lines, and the read-only reader for tools.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.brokers.base import BrokerError
from engine.durable import fsync_dir
from engine.model.codec import DecodeError, from_jsonable

log = logging.getLogger(__name__)

JOURNAL_VERSION = 1
"""Written in the opening line; a journal from a newer onetap is refused rather than misread."""
_JOURNAL_MODE = 0o600
_DIR_MODE = 0o700


class JournalError(BrokerError):
    """The journal cannot be read back or written; the message names the file (and the line)."""


def journal_path_for(database: Path) -> Path:
    """Where the engine keeps the paper broker's journal: beside the database, one per database."""
    return Path(database).with_suffix(".paper.jsonl")


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a journal, read-only (for tools and tests; the broker replays its own).

    A torn last line (a crash mid-write) is left out, as the broker leaves it out; any other
    line that is not a JSON object raises ``JournalError`` naming the file and line.
    """
    records, _torn = parse_records(path, Path(path).read_bytes())
    return [record for _line, record in records]


def parse_records(path: Path, data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], tuple[int, int] | None]:
    """(line number, record) for every complete line, and (line number, offset) of a torn last line."""
    records: list[tuple[int, dict[str, Any]]] = []
    offset = 0
    lineno = 0
    while offset < len(data):
        lineno += 1
        end = data.find(b"\n", offset)
        last = end == -1
        raw = data[offset:] if last else data[offset:end]
        try:
            record = json.loads(raw)
        except ValueError:  # JSONDecodeError, and UnicodeDecodeError from a cut multi-byte character
            if last:
                return records, (lineno, offset)
            raise JournalError(
                f"{path}:{lineno}: not a JSON line; the paper broker's journal is damaged "
                "(move it aside to start the paper account afresh)"
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("e"), str):
            raise JournalError(f"{path}:{lineno}: not a journal record (expected an object with 'e')")
        records.append((lineno, record))
        offset = len(data) if last else end + 1
    return records, None


class Journal:
    """An append-only file of JSON lines, each on disk (fsynced) before ``append`` returns.

    The file is created 0600 in a 0700 folder (it holds the account), and locked while open so
    that a second engine on the same database cannot interleave its own history into it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._size = 0

    def open(self) -> list[tuple[int, dict[str, Any]]]:
        """Lock the file (creating it) and return its records; a torn last line is cut off."""
        fd = self._lock()
        data = _read_all(fd)
        records, torn = parse_records(self.path, data)
        if torn is not None:
            lineno, offset = torn
            log.warning(
                "%s:%d: a torn last line (the process stopped mid-write) was ignored and cut off; "
                "the broker never reported what it would have recorded",
                self.path,
                lineno,
            )
            os.ftruncate(fd, offset)
            os.fsync(fd)
            data = data[:offset]
        elif data and not data.endswith(b"\n"):
            # A whole record whose newline was lost: keep it, and end it so the next one starts clean.
            os.write(fd, b"\n")
            os.fsync(fd)
            data += b"\n"
        self._size = len(data)
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and fsync it; on failure cut back what was written and raise JournalError."""
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        fd = self._fd if self._fd is not None else self._reopen()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._size)  # a half line would read as damage in the middle later
            raise JournalError(
                f"{self.path}: cannot write the paper broker's journal ({exc.strerror}); "
                "nothing was done and nothing was reported"
            ) from exc
        self._size += len(data)

    @property
    def size(self) -> int:
        return self._size

    def close(self) -> None:
        """Release the file and its lock; the next ``append`` opens it again."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __del__(self) -> None:
        # A broker dropped without close() must not keep the lock for the life of the process.
        with contextlib.suppress(OSError):
            self.close()

    def _reopen(self) -> int:
        fd = self._lock()
        self._size = os.fstat(fd).st_size
        return fd

    def _lock(self) -> int:
        _make_private_dir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, _JOURNAL_MODE)
            created = True
        except FileExistsError:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            created = False
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot create the paper broker's journal: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise JournalError(
                f"{self.path}: the paper broker's journal is in use by another process "
                "(is another onetap engine running on this database?)"
            ) from None
        os.fchmod(fd, _JOURNAL_MODE)  # umask-proof, and an older file is made private too
        if created:
            fsync_dir(self.path.parent)
        self._fd = fd
        return fd


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks: list[bytes] = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _make_private_dir(folder: Path) -> None:
    if not folder.exists():
        folder.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)


def decode(data: Any, cls: type[Any]) -> Any:
    value = from_jsonable(data)
    if not isinstance(value, cls):
        raise DecodeError(f"expected {cls.__name__}, found {type(value).__name__}")
    return value


def parse_ts(text: Any) -> datetime:
    ts = datetime.fromisoformat(str(text))
    if ts.tzinfo is None:
        raise ValueError(f"time {text!r} carries no zone")
    return ts
