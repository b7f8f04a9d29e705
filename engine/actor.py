"""Who issued a command: every operator action in the audit trail names a user and a source.

Kept apart from the engine so that a console can name its operator without importing the
engine (and pandas, and SQLAlchemy) before its first frame.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from engine.model import CommandSource


@dataclass(frozen=True, slots=True)
class Actor:
    """A user and the way their command arrived (hotkey, socket, cli, schedule, engine)."""

    user: str
    source: CommandSource

    @property
    def label(self) -> str:
        """How the operator reads who did it: ``alice (hotkey)``."""
        return f"{self.user} ({self.source})"


ENGINE = Actor("engine", CommandSource.ENGINE)
"""The engine itself: breakers, throttles, reconciliation."""


def current_user() -> str:
    """The login name of this process's user; "unknown" where the system cannot say."""
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"
