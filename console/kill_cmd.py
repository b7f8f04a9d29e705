"""``onetap kill``: the kill switch from any shell, acting within a few hundred milliseconds.

The kill switch is pressed when something is going wrong, so this path imports nothing it does
not need to reach the socket: argument scanning, json, socket and ``engine.paths`` (standard
library only). Importing the engine (pandas, numba, pydantic, SQLAlchemy) took seconds before a
byte was sent. The long way (``console.cli``) is taken only when the fast one cannot answer: an
option it does not know (it then validates everything and says what is wrong), or no engine
serving the socket (the halt is then recorded in the database, for the next start).

It exits 0 only when the engine confirmed HALTED: the Kill's result is ok and a snapshot taken
after it reads HALTED (at kill level 2 for ``--flatten``). A refusal, an engine failure, a
connection closed before the answer or no answer in time exit 1 and say so.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from engine.paths import configured_socket

EXIT_CONFIRMED = 0
EXIT_NOT_CONFIRMED = 1
ANSWER_TIMEOUT_S = 30.0
"""Longest wait for the engine's answer: a kill cancelling hundreds of orders still answers well
within it; a hung engine must not leave the operator staring at a silent shell."""
DEFAULT_REASON = "kill switch from the command line"
_SOURCE_CLI = "cli"
"""``CommandSource.CLI``'s value on the wire (a test holds the two equal)."""
_GLOBAL_OPTIONS = ("--config", "--socket", "--database")


class KillRequest(NamedTuple):  # a NamedTuple: dataclasses costs milliseconds to import
    reason: str
    flatten: bool
    config: Path | None
    socket: Path | None


class NoAnswer(Exception):
    """The engine went away, or sent something that is not an answer; the text says how."""


class KillNotConfirmed(NoAnswer):
    """The engine answered, or went away, without confirming HALTED; the text says how."""


def plain_request(argv: Sequence[str]) -> KillRequest | None:
    """``[--config F] [--socket S] [--database D] kill [--reason R] [--flatten]``, else None.

    Anything else (``--help``, a broker flag, a typo) goes the long way, whose parser knows
    every option and explains a mistake.
    """
    if "kill" not in argv:
        return None
    at = list(argv).index("kill")
    found: dict[str, str] = {}
    if not scan_options(argv[:at], _GLOBAL_OPTIONS, found):
        return None
    rest = list(argv[at + 1 :])
    flatten = "--flatten" in rest
    rest = [a for a in rest if a != "--flatten"]
    if not scan_options(rest, ("--reason",), found):
        return None
    return KillRequest(
        reason=found.get("--reason", DEFAULT_REASON),
        flatten=flatten,
        config=Path(found["--config"]) if "--config" in found else None,
        socket=Path(found["--socket"]).expanduser() if "--socket" in found else None,
    )


def scan_options(tokens: Sequence[str], allowed: Sequence[str], found: dict[str, str]) -> bool:
    """``--name VALUE`` / ``--name=VALUE`` pairs of allowed names only; False on anything else."""
    i = 0
    while i < len(tokens):
        name, eq, value = tokens[i].partition("=")
        if name not in allowed:
            return False
        if not eq:
            if i + 1 >= len(tokens):
                return False
            value = tokens[i + 1]
            i += 1
        found[name] = value
        i += 1
    return True


def kill_frame(request_id: int, reason: str, *, flatten: bool) -> bytes:
    """The Kill (or Flatten) command line, as ``engine.api.protocol.encode`` would write it."""
    command = {"type": "Flatten" if flatten else "Kill", "reason": reason, "source": _SOURCE_CLI}
    return json.dumps({"id": request_id, "command": command}, separators=(",", ":")).encode() + b"\n"


def snapshot_frame(request_id: int) -> bytes:
    return json.dumps({"id": request_id, "command": {"type": "GetSnapshot"}}).encode() + b"\n"


class AnswerReader:
    """Newline-framed JSON from a blocking socket; events the engine streams are skipped by callers."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def answer(self, request_id: int) -> dict[str, Any]:
        while True:
            while b"\n" not in self._buffer:
                chunk = self._sock.recv(1 << 16)
                if not chunk:
                    raise KillNotConfirmed("the engine connection closed before it answered")
                self._buffer += chunk
            line, _, self._buffer = self._buffer.partition(b"\n")
            try:
                msg = json.loads(line)
            except ValueError:
                raise KillNotConfirmed(f"not a protocol line from the engine: {line[:80]!r}") from None
            if msg.get("id") == request_id and "result" in msg:
                return dict(msg)
            if "error" in msg and "event" not in msg:
                raise KillNotConfirmed(f"the engine refused the line: {msg['error']}")


def send_kill(path: Path, reason: str, *, flatten: bool, timeout_s: float = ANSWER_TIMEOUT_S) -> str:
    """Kill over the socket and confirm HALTED; the engine's own message on success.

    Raises ConnectionError (FileNotFoundError, ConnectionRefusedError) when nothing serves
    ``path``, KillNotConfirmed when the engine did not confirm the halt.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
        except FileNotFoundError as exc:
            raise ConnectionError(str(exc)) from None
        lines = AnswerReader(sock)
        try:
            sock.sendall(kill_frame(1, reason, flatten=flatten))
            result = lines.answer(1)["result"]
            if not result.get("ok"):
                code = f" [{result.get('code')}]" if result.get("code") else ""
                raise KillNotConfirmed(f"the engine refused the kill{code}: {result.get('message', '')}")
            sock.sendall(snapshot_frame(2))
            risk = (lines.answer(2).get("event") or {}).get("risk") or {}
        except TimeoutError:
            raise KillNotConfirmed(f"no answer from the engine within {timeout_s:g} s") from None
        except OSError as exc:  # reset or broken pipe mid-exchange: the kill may not have landed
            raise KillNotConfirmed(f"the engine connection failed: {exc}") from None
    state, level = risk.get("trading_state"), int(risk.get("kill_level") or 0)
    if state != "HALTED" or (flatten and level < 2):
        raise KillNotConfirmed(f"the engine answered but reads {state} (kill level {level}), not HALTED")
    return str(result.get("message", "HALTED"))


def run_fast(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int | None:
    """Kill a running engine the fast way; None when the long way must answer instead."""
    request = plain_request(argv)
    if request is None:
        return None
    env = os.environ if environ is None else environ
    path = request.socket or configured_socket(request.config, env)
    if path is None:
        return None
    return run_over_socket(path, request.reason, flatten=request.flatten)


def run_over_socket(path: Path, reason: str, *, flatten: bool) -> int | None:
    """Print the outcome and return the exit code; None when no engine serves ``path``."""
    try:
        message = send_kill(path, reason, flatten=flatten)
    except ConnectionError:
        return None
    except KillNotConfirmed as exc:
        print(f"onetap: kill NOT confirmed: {exc}", file=sys.stderr)
        return EXIT_NOT_CONFIRMED
    print(f"onetap: {message}")
    return EXIT_CONFIRMED
