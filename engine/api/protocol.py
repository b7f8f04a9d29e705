"""The engine's command/event protocol, one JSON object per line.

Client -> engine: ``{"id": n, "command": <Command>}``.
Engine -> client: ``{"event": <Event>}`` (a SnapshotEvent first), ``{"id": n, "result": <CommandResult>}``,
or ``{"error": "..."}`` for a line that could not be understood (the session stays open).

The embedded console and an attached one both speak it through ``EngineSession``, so the
two cannot drift apart.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, get_args

from engine.model import RefusalCode
from engine.model.codec import DecodeError, from_jsonable, to_jsonable
from engine.model.events import Command, CommandResult, GetSnapshot, GetVitals

if TYPE_CHECKING:  # the console imports this module before its first frame; the engine loads later
    from engine.actor import Actor
    from engine.kernel import Engine

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20
COMMAND_TYPES = get_args(Command)


def encode(message: dict[str, Any]) -> str:
    return json.dumps(
        {k: to_jsonable(v) if k in ("event", "result", "command") else v for k, v in message.items()},
        separators=(",", ":"),
    )


def decode(line: str | bytes) -> dict[str, Any]:
    """Parse one line; values under event/result/command become model objects.

    Events may carry NaN (a gauge with no data yet), so this reader accepts it; commands from a
    peer go through ``decode_command``, which does not.
    """
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc.msg}") from None
    except UnicodeDecodeError:
        raise DecodeError("not UTF-8 text") from None
    except RecursionError:
        raise DecodeError("JSON nested too deeply") from None
    if not isinstance(raw, dict):
        raise DecodeError("expected a JSON object")
    for key in ("event", "result", "command"):
        if key in raw:
            raw[key] = from_jsonable(raw[key])
    return raw


def _refuse_constant(name: str) -> float:
    raise DecodeError(f"{name} is not a number a command may carry")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as infinity: an infinite limit is a limit switched off
        raise DecodeError(f"{text} is out of range (not a finite number)")
    return value


def decode_command(line: str | bytes) -> tuple[int | str | None, Command]:
    """One peer's command line -> its id and command, or a DecodeError that says what was wrong.

    A socket peer is untrusted: its bytes may not be UTF-8, its JSON may nest until the parser's
    recursion gives out, its numbers may be NaN, Infinity or thousands of digits, its fields may
    have the wrong types. Every one of those is a DecodeError naming it, never another exception,
    so the server answers the line and the session lives on.
    """
    try:  # the protocol is UTF-8; json.loads would guess UTF-16 or -32 from the first bytes
        text = line.decode("utf-8") if isinstance(line, bytes) else line
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        raw = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except DecodeError:
        raise
    except json.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise DecodeError("JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise DecodeError(f"not a usable number: {exc}") from None
    if not isinstance(raw, dict):
        raise DecodeError(f"expected a JSON object, got {_json_kind(raw)}")
    try:  # "\ud800" is valid JSON but not text: SQLite (the audit) could not store it
        json.dumps(raw, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise DecodeError("a string holds a lone surrogate escape (\\ud800-\\udfff), not text") from None
    ident = raw.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, int | str)):
        raise DecodeError(f"id: expected an integer or a string, got {_json_kind(ident)}")
    if "command" not in raw:
        raise DecodeError("missing field 'command'")
    try:
        command = from_jsonable(raw["command"])
    except DecodeError as exc:
        raise DecodeError(f"command: {exc}") from None
    except RecursionError:
        raise DecodeError("command: nested too deeply") from None
    except (TypeError, ValueError, ArithmeticError) as exc:  # a model's own check on a decoded value
        raise DecodeError(f"command: {exc}") from None
    if not isinstance(command, COMMAND_TYPES):
        raise DecodeError(f"expected a command, got {type(command).__name__}")
    return ident, command


def _json_kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


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
        """Answer one line: a result for a command, else one ``{"error": ...}`` naming what was wrong."""
        try:
            ident, command = decode_command(line)
        except DecodeError as exc:
            return encode({"error": f"bad command line: {exc}"})
        try:
            result: CommandResult = await self._engine.handle(command, self.actor)
        except Exception as exc:
            # the peer is owed an answer and the other consoles their session; the traceback goes to the log
            log.exception("the engine failed on %s", type(command).__name__)
            failed = CommandResult(
                ok=False,
                message=f"the engine failed on {type(command).__name__}: {exc}",
                code=RefusalCode.ENGINE_ERROR,
            )
            return encode({"id": ident, "result": failed})
        if isinstance(command, GetSnapshot):
            return encode({"id": ident, "result": result, "event": self._engine.snapshot()})
        if isinstance(command, GetVitals):
            return encode({"id": ident, "result": result, "event": self._engine.vitals()})
        return encode({"id": ident, "result": result})

    def close(self) -> None:
        self._sub.close()
