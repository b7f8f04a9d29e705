"""The kill switch's state, persisted so a halt survives restarts.

It is a tiny value object stored as JSON in the engine state table; the engine owns the
act of halting (cancelling orders), this module owns what a halt is and how it is lifted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from engine.model import TradingState

RESUME_WORD = "RESUME"
STATE_KEY = "trading_state"


@dataclass(frozen=True, slots=True)
class HaltState:
    state: TradingState = TradingState.ACTIVE
    reason: str = ""
    since: datetime | None = None
    by: str = ""

    @property
    def halted(self) -> bool:
        return self.state is TradingState.HALTED

    def to_json(self) -> str:
        return json.dumps(
            {
                "state": self.state.value,
                "reason": self.reason,
                "since": self.since.isoformat() if self.since else None,
                "by": self.by,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> HaltState:
        """A stored halt that cannot be read is treated as a halt: failing safe, not open."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            since = datetime.fromisoformat(data["since"]) if data.get("since") else None
            return cls(
                TradingState(data["state"]), str(data.get("reason", "")), since, str(data.get("by", ""))
            )
        except (ValueError, KeyError, TypeError):
            return cls(TradingState.HALTED, "stored trading state unreadable; halted to be safe", None, "")


def resume_allowed(confirmation: str) -> bool:
    """Only the exact word lifts a halt: a stray keystroke must never resume trading."""
    return confirmation.strip() == RESUME_WORD
