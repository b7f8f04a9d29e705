"""Where an engine's database is: one rule for the engine, the reports and the audit commands."""

from __future__ import annotations

from pathlib import Path

from engine.config import Settings
from engine.store.db import default_database_path


def database_path(settings: Settings, override: Path | None = None) -> Path:
    """``--database``, else ``[store] database``, else the user's data directory, one file per
    broker and account (see ``default_database_path``)."""
    if override is not None:
        return Path(override).expanduser()
    if settings.store.database:
        return Path(settings.store.database).expanduser()
    kind = settings.broker.kind
    return default_database_path(kind, settings.ibkr.account if kind == "ibkr" else "")
