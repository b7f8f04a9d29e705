"""``StoreHealth``: what the engine does when its database cannot be written (disk full,
read-only, corrupt): it keeps the market and the kill switch running, refuses new orders, and
says why, loudly, once. The halt state it could not store goes to a small fallback file beside
the database, read back at the next start, so a kill pressed on a full disk still survives.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.risk.killswitch import HaltState
from engine.store.db import StoreError

log = logging.getLogger(__name__)

WRITE_ERRORS: tuple[type[BaseException], ...] = (StoreError, OSError)
"""What a failed write looks like: the store's own error, or the OS's (a journal on a full disk)."""


def fallback_path(database: Path) -> Path:
    return database.with_name(database.name + ".halt.json")


class StoreHealth:
    def __init__(self, database: Path, notice: Callable[[str, str], None]) -> None:
        self._fallback = fallback_path(database)
        self._notice = notice
        self.degraded = ""
        """Why the database cannot be written ("" while it can): new orders are refused meanwhile."""
        self.had_fallback = self._fallback.exists()
        """A previous run kept its halt in the fallback file: cleared once the database has it."""

    def failed(self, what: str, exc: BaseException) -> None:
        """A write failed: go degraded (refuse new orders) and tell the operator, once per reason."""
        reason = f"{what}: {exc}"
        log.error("database write failed: %s", reason)
        if not self.degraded:
            self._notice(
                "error",
                f"DEGRADED: the database cannot be written ({reason}); new orders are refused, "
                "the market and the kill switch keep running; free the disk, then restart",
            )
        self.degraded = reason

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Run ``what``; a failed write is recorded as degraded instead of stopping the caller."""
        try:
            yield
        except WRITE_ERRORS as exc:
            self.failed(what, exc)

    def write_fallback(self, state: HaltState) -> bool:
        """Keep the halt beside the database when the database refuses it; False if even that fails."""
        tmp = self._fallback.with_name(self._fallback.name + ".tmp")
        try:
            tmp.write_text(state.to_json())
            tmp.replace(self._fallback)
        except OSError as exc:
            log.error("halt fallback file %s not written: %s", self._fallback, exc)
            return False
        self.had_fallback = True
        return True

    def read_fallback(self) -> HaltState | None:
        """The halt a previous run could only keep in the fallback file, if any."""
        try:
            text = self._fallback.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("halt fallback file %s unreadable: %s", self._fallback, exc)
            return HaltState.from_json("{")  # unreadable: fail safe (halted)
        return HaltState.from_json(text)

    def clear_fallback(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._fallback.unlink()
        self.had_fallback = False


def stricter(a: HaltState, b: HaltState | None) -> HaltState:
    """Of the stored and the fallback state, the one that halts (the fallback is never older news
    than a halt: it exists only when a halt could not be stored)."""
    if b is None:
        return a
    if b.halted and (not a.halted or b.kill_level > a.kill_level):
        return b
    return a


__all__ = ["WRITE_ERRORS", "StoreHealth", "fallback_path", "stricter"]
