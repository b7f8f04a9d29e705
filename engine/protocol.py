"""The engine's command/event protocol, one JSON object per line.

Client -> engine: ``{"id": n, "command": <Command>}``.
Engine -> client: ``{"event": <Event>}`` (a SnapshotEvent first), ``{"id": n, "result": <CommandResult>}``,
or ``{"error": "..."}`` for a line that could not be understood (the session stays open).

The embedded console and an attached one both speak it through ``EngineSession``, so the
two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, get_args

from engine.model.codec import DecodeError, from_jsonable, to_jsonable
from engine.model.events import Command, CommandResult, Event, GetSnapshot

if TYPE_CHECKING:  # the console imports this module before its first frame; the engine loads later
    from engine.actor import Actor
    from engine.kernel import Engine

MAX_LINE = 1 << 20
COMMAND_TYPES = get_args(Command)


def encode(message: dict[str, Any]) -> str:
    return json.dumps(
        {k: to_jsonable(v) if k in ("event", "result", "command") else v for k, v in message.items()},
        separators=(",", ":"),
    )


def decode(line: str | bytes) -> dict[str, Any]:
    """Parse one line; values under event/result/command become model objects."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise DecodeError("expected a JSON object")
    for key in ("event", "result", "command"):
        if key in raw:
            raw[key] = from_jsonable(raw[key])
    return raw


class EngineSession:
    """One console's view of the engine: a stream of encoded events and a command handler."""

    def __init__(self, engine: Engine, actor: Actor) -> None:
        self._engine = engine
        self.actor = actor
        self._sub = engine.subscribe()  # before the snapshot, so nothing falls between the two

    async def outgoing(self) -> AsyncIterator[str]:
        yield encode({"event": self._engine.snapshot()})
        async for event in self._sub:
            yield encode({"event": event})
        if self._sub.overflowed:
            yield encode({"error": "event queue overflowed; reconnect for a fresh snapshot"})

    async def handle_line(self, line: str | bytes) -> str:
        try:
            msg = decode(line)
            command = msg.get("command")
            if not isinstance(command, COMMAND_TYPES):
                raise DecodeError(f"expected a command, got {type(command).__name__}")
        except DecodeError as exc:
            return encode({"error": f"bad command line: {exc}"})
        result: CommandResult = await self._engine.handle(command, self.actor)
        if isinstance(command, GetSnapshot):
            return encode({"id": msg.get("id"), "result": result, "event": self._engine.snapshot()})
        return encode({"id": msg.get("id"), "result": result})

    def close(self) -> None:
        self._sub.close()


def is_event(value: object) -> bool:
    return isinstance(value, get_args(Event))
