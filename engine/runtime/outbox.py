"""``Outbox``: what every collaborator says to the world: notices, refusals, audit entries, tasks.

It sits below everything else so that no collaborator has to call up into the command router
or the kernel to refuse, tell the operator, audit, or start background work. Background work is
held here (never fire-and-forget) so that ``settle`` and ``drain`` can wait for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from engine.bus import EventBus
from engine.clock import Clock
from engine.model import Action, CommandSource, RefusalCode
from engine.model.events import CommandResult, NoticeEvent, RefusalEvent
from engine.risk.pretrade import Refusal

RECENT_NOTICES = 100
"""Notices kept for a console's snapshot: enough for a start's data problems, bounded for a bad file."""


class AuditLog(Protocol):
    def append_audit(
        self, ts: datetime, actor: str, source: str, action: str, payload: Mapping[str, object]
    ) -> object: ...

    def load_audit(self, *, limit: int | None = None) -> Sequence[_Stamped]: ...


class _Stamped(Protocol):
    @property
    def ts(self) -> datetime: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """``wall``: the wall clock the audit entries are stamped with (injected by tests)."""

    def __init__(
        self, bus: EventBus, clock: Clock, audit_log: AuditLog, *, wall: Callable[[], datetime] = _utc_now
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._audit_log = audit_log
        self._wall = wall
        self._last_ts: datetime | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._recent: deque[NoticeEvent] = deque(maxlen=RECENT_NOTICES)

    def notice(self, level: str, message: str, topic: str = "") -> None:
        """Publish a notice and keep it: what is said before a console subscribes (the data problems
        found at start) reaches it through the snapshot's ``notices``."""
        event = NoticeEvent(self._clock.now(), level, message, topic)
        self._recent.append(event)
        self._bus.publish(event)

    def recent_notices(self) -> tuple[NoticeEvent, ...]:
        return tuple(self._recent)

    def audit(self, actor: str, source: CommandSource, action: str, payload: dict[str, Any]) -> None:
        """An audit entry stamped with wall-clock time, and the market time beside it.

        The market clock of a replay jumps back at every restart (the replay resumes at the last
        day's open) and runs at many times real speed, so an audit trail stamped with it reads out
        of order. ``ts`` is the wall clock, never earlier than the file's last entry (a clock
        stepped back by NTP, or entries an older version stamped with market time); the market
        time is kept in the payload as ``market_ts``. Both are covered by the chain's hash like
        every field; entries written before this change verify as they were written.
        """
        market = self._clock.now()
        stamped = {**payload, "market_ts": market.isoformat()}
        self._audit_log.append_audit(self._wall_ts(), actor, source.value, action, stamped)

    def _wall_ts(self) -> datetime:
        """The wall clock, kept monotone per database file."""
        if self._last_ts is None:
            last = self._audit_log.load_audit(limit=1)
            self._last_ts = last[-1].ts if last else datetime.min.replace(tzinfo=UTC)
        now = max(self._wall(), self._last_ts)
        self._last_ts = now
        return now

    def refuse(self, action: Action, code: RefusalCode, message: str, subject: str) -> CommandResult:
        """A refusal is a result and an event (the desk shows it) and an audit entry, never an exception."""
        self._bus.publish(RefusalEvent(self._clock.now(), action, code, message, subject))
        self.audit(
            "engine", CommandSource.ENGINE, "refused", {"action": action, "code": code, "message": message}
        )
        return CommandResult(ok=False, message=message, code=code)

    def answer(self, action: Action, refusal: Refusal | None, subject: str) -> CommandResult:
        if refusal is not None:
            return self.refuse(action, refusal.code, refusal.message, subject)
        return CommandResult(ok=True, message=f"{action.replace('_', ' ')}: {subject} done")

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run engine work as a task the engine holds (and awaits at stop), never fire-and-forget."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self) -> None:
        """Let the work already started run to its end (stepped engines: tests and research)."""
        await asyncio.sleep(0)
        while self._background:
            await asyncio.wait(set(self._background))
