"""The trading state and the kill switch, persisted so a halt survives restarts.

A small value object stored as JSON in the engine state table: ACTIVE / REDUCING / HALTED,
why and since when, who did it, the kill level (1: halted and cancelled; 2: also flattening
every position) and the strategies paused by a breaker. The engine owns the acts (cancelling,
flattening); this module owns what the state is and how a halt is lifted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
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
    kill_level: int = 0
    paused: tuple[str, ...] = ()

    @property
    def halted(self) -> bool:
        return self.state is TradingState.HALTED

    def pause(self, strategy: str) -> HaltState:
        return self if strategy in self.paused else replace(self, paused=(*self.paused, strategy))

    def unpause(self, strategy: str) -> HaltState:
        return replace(self, paused=tuple(s for s in self.paused if s != strategy))

    def to_json(self) -> str:
        return json.dumps(
            {
                "state": self.state.value,
                "reason": self.reason,
                "since": self.since.isoformat() if self.since else None,
                "by": self.by,
                "kill_level": self.kill_level,
                "paused": list(self.paused),
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> HaltState:
        """A stored state that cannot be read is treated as a halt: failing safe, not open."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            since = datetime.fromisoformat(data["since"]) if data.get("since") else None
            paused = data.get("paused", [])
            if not isinstance(paused, list):
                raise TypeError("paused must be a list")
            return cls(
                TradingState(data["state"]),
                str(data.get("reason", "")),
                since,
                str(data.get("by", "")),
                int(data.get("kill_level", 1 if data["state"] == TradingState.HALTED.value else 0)),
                tuple(str(s) for s in paused),
            )
        except (ValueError, KeyError, TypeError):
            return cls(TradingState.HALTED, "stored trading state unreadable; halted to be safe", None, "", 1)


def resume_allowed(confirmation: str) -> bool:
    """Only the exact word lifts a halt: a stray keystroke must never resume trading."""
    return confirmation.strip() == RESUME_WORD
