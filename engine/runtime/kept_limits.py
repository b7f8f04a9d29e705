"""Risk limits changed at run time that outlive a restart.

``SetLimit`` changes a ``[risk]`` limit in the running engine. Unless the operator asks for "this
session only", the change is kept in the store's engine state (``risk_limits``: name -> value, who
and when) and put back by the next start on the same database, with a notice and an audit entry
naming the config value it overrides: a limit the operator tightened in the middle of a bad day
must not loosen silently because the engine restarted. The config file is never rewritten (it may
be read-only, shared or under version control); a kept change is undone by setting the limit back.

A stored value that today's config schema refuses (a range narrowed by an upgrade) is dropped with
a warning and the config's value stays.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from engine.actor import Actor
from engine.model import CommandSource
from engine.risk.controller import RiskController
from engine.runtime.outbox import Outbox
from engine.store.repository import Store

log = logging.getLogger(__name__)

LIMITS_KEY = "risk_limits"


def kept_limits(store: Store) -> dict[str, dict[str, Any]]:
    """name -> {"value", "by", "at"} as stored; {} when nothing was kept (or the record is unreadable)."""
    raw = store.get_state(LIMITS_KEY)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("stored risk limit changes are unreadable; the config's limits apply")
        return {}
    return (
        {str(k): v for k, v in data.items() if isinstance(v, dict) and "value" in v}
        if isinstance(data, dict)
        else {}
    )


def keep_limit(store: Store, name: str, value: float, by: Actor, now: datetime) -> None:
    """Store one change so the next start puts it back."""
    kept = kept_limits(store)
    kept[name] = {"value": value, "by": by.label, "at": now.isoformat()}
    store.set_state(LIMITS_KEY, json.dumps(kept, sort_keys=True), now)


def restore_limits(
    controller: RiskController, store: Store, outbox: Outbox, config: dict[str, Any]
) -> list[str]:
    """Put back every kept change; returns the lines the notice shows (one per limit)."""
    lines: list[str] = []
    dropped: list[str] = []
    for name, record in sorted(kept_limits(store).items()):
        value = record["value"]
        refusal = controller.restore_limit(name, float(value))
        if refusal is not None:
            dropped.append(f"{name} = {value} ({refusal.message})")
            continue
        who, when = record.get("by", "?"), record.get("at", "?")
        lines.append(f"{name} = {value:g} (set by {who} at {when}; config says {config.get(name)})")
    if lines:
        outbox.notice("warning", "risk limits kept from earlier changes: " + "; ".join(lines))
        outbox.audit("engine", CommandSource.ENGINE, "limits_restored", {"limits": lines})
    for line in dropped:
        outbox.notice(
            "warning", f"a kept risk limit change no longer fits the config and was dropped: {line}"
        )
    if dropped:
        outbox.audit("engine", CommandSource.ENGINE, "limits_dropped", {"limits": dropped})
    return lines
