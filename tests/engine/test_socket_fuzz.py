"""Hostile frames on the engine's socket: each gets one answer and the connection stays usable.

Real parts only: a real engine (shipped data, paper broker, SQLite under tmp_path) serving a real
Unix socket on its own thread and loop, and a plain blocking socket on the test's side sending
raw bytes, the way a broken or malicious peer would. Hypothesis draws the frames (derandomized,
so a run is repeatable); a corpus holds the frames seen to kill the session before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.api.protocol import COMMAND_TYPES, MAX_LINE
from engine.api.socket_server import EngineServer, serve
from engine.config import load_settings
from engine.data.shipped import load_shipped
from engine.kernel import Engine

TIMEOUT_S = 30.0


@dataclass
class Served:
    engine: Engine
    server: EngineServer
    loop: asyncio.AbstractEventLoop
    path: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One engine and its socket server on a thread of their own, for the whole module."""
    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / "run" / "engine.sock"
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: list[Served | BaseException] = []

    async def start() -> None:
        cfg = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})
        engine = Engine(cfg, database=tmp / "data" / "onetap.db", market=load_shipped(), paced=False)
        await engine.start()
        await engine.step(3)
        box.append(Served(engine, await serve(engine, path), loop, path))

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:
            box.append(exc)
        started.set()
        if isinstance(box[0], Served):
            loop.run_forever()

    thread = threading.Thread(target=run, name="fuzz-engine", daemon=True)
    thread.start()
    assert started.wait(120.0), "the engine did not start"
    first = box[0]
    if isinstance(first, BaseException):
        raise first
    yield first

    async def stop() -> None:
        first.server.close()
        await first.server.wait_closed()
        await first.engine.stop()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(60.0)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30.0)
    loop.close()


class Peer:
    """A raw client: bytes out, one JSON line at a time back."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_S)
        self.sock.connect(str(path))
        self._buffer = b""
        self._next_id = 1000
        first = self.line()
        assert first["event"]["type"] == "SnapshotEvent"

    def line(self) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("the engine closed the connection")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\n")
        out: dict[str, Any] = json.loads(raw)
        return out

    def answer(self, frame: bytes) -> dict[str, Any]:
        """Send one frame and return the line that answers it (events in between are skipped)."""
        self.sock.sendall(frame + b"\n")
        while True:
            msg = self.line()
            if "error" in msg or "result" in msg:
                return msg

    def snapshot_round_trip(self) -> None:
        self._next_id += 1
        ident = self._next_id
        msg = self.answer(json.dumps({"id": ident, "command": {"type": "GetSnapshot"}}).encode())
        assert msg.get("id") == ident, msg
        assert msg["result"]["ok"] is True
        assert msg["event"]["type"] == "SnapshotEvent"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peer(served: Served) -> Iterator[Peer]:
    p = Peer(served.path)
    yield p
    p.close()


def _command(kind: str, **fields: Any) -> bytes:
    return json.dumps({"id": 1, "command": {"type": kind, **fields}}).encode()


CORPUS: list[tuple[bytes, str]] = [
    (b"\xff\xfe\xfd garbage", "not UTF-8 text"),
    (b'{"id":1,"command":{"type":"Kill","reason":"\xc3\x28"}}', "not UTF-8 text"),
    (b"[" * 100_000, "JSON nested too deeply"),
    (b'{"a":' * 50_000, "JSON nested too deeply"),
    (b'{"id":1,"command":' + b'{"type":"Kill","reason":' * 3_000 + b'"x"' + b"}" * 3_001, "deeply"),
    (_command("SetLimit", name="max_orders_per_day", value=float("nan")), "NaN is not a number"),
    (_command("SetLimit", name="max_orders_per_day", value=float("inf")), "Infinity is not a number"),
    (_command("SetLimit", name="max_order_value", value=float("-inf")), "-Infinity is not a number"),
    (
        b'{"id":1,"command":{"type":"SetLimit","name":"max_order_value","value":1e400}}',
        "1e400 is out of range",
    ),
    (
        b'{"id":1,"command":{"type":"SetLimit","name":"max_order_value","value":1' + b"0" * 400 + b"}}",
        "SetLimit.value: a number out of range",
    ),
    (
        b'{"id":1,"command":{"type":"SetLimit","name":"x","value":1' + b"0" * 5_000 + b"}}",
        "not a usable number",
    ),
    (_command("SetLimit", name="max_order_value", value="big"), "SetLimit.value: expected a number"),
    (_command("SetLimit", name=7, value=1.0), "SetLimit.name: expected a string"),
    (_command("SetLimit", name="max_order_value", value=True), "SetLimit.value: expected a number"),
    (_command("CancelOrder", client_order_id=5), "CancelOrder.client_order_id: expected a string"),
    (_command("Kill", source="martian"), "Kill.source: 'martian' is not a valid CommandSource"),
    (_command("Kill", source=[1, 2]), "Kill.source"),
    (_command("NoSuchCommand"), "unknown message type 'NoSuchCommand'"),
    (_command("CommandResult", ok=True), "expected a command, got CommandResult"),
    (_command("SetLimit"), "SetLimit: missing field 'name'"),
    (b'{"id":1,"command":{"type":"Kill","reason":"\\ud800"}}', "lone surrogate"),
    (b'{"id":{"deep":[1]},"command":{"type":"GetSnapshot"}}', "id: expected an integer or a string"),
    (b'{"id":1}', "missing field 'command'"),
    (b'{"id":1,"command":[]}', "expected an object with a 'type' field"),
    (b'"a string"', "expected a JSON object, got a string"),
    (b"NaN", "NaN is not a number"),
    (b"", "not JSON"),
    (b"\x00\x00\x00\x00", "not"),
    (b'{"id":1,"command":{"type":"GetSnapshot"}', "not JSON"),
]


@pytest.mark.parametrize(("frame", "words"), CORPUS, ids=[f"corpus-{i}" for i in range(len(CORPUS))])
def test_each_known_bad_frame_gets_one_error_naming_it_and_the_session_lives(
    peer: Peer, frame: bytes, words: str
) -> None:
    msg = peer.answer(frame)
    assert "error" in msg, msg
    assert words in msg["error"], msg["error"]
    peer.snapshot_round_trip()


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
COMMANDS = {t.__name__: t for t in COMMAND_TYPES}
FUZZED_COMMANDS = sorted(set(COMMANDS) - {"PreviewRebalance", "ExecuteRebalance", "Flatten"})
"""Every command but the slow rebalance pair and the flatten (its market orders would trade the book)."""


@st.composite
def hostile_frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "command", "nested"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200)).replace(b"\n", b" ")
    if kind == "nested":
        opener = draw(st.sampled_from([b"[", b'{"a":', b'{"command":']))
        depth = draw(st.integers(min_value=500, max_value=MAX_LINE // len(opener) - 1))  # under the limit
        return opener * depth
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    name = draw(st.sampled_from(FUZZED_COMMANDS))
    fields = draw(st.dictionaries(st.sampled_from(_field_names(name)), JSON_VALUES, max_size=4))
    ident = draw(st.integers(min_value=0, max_value=999) | JSON_VALUES)
    return json.dumps({"id": ident, "command": {"type": name, **fields}}).encode()


def _field_names(command: str) -> list[str]:
    return [f.name for f in dataclasses.fields(COMMANDS[command])] + ["type", "extra"]


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=hostile_frames())
def test_any_hostile_frame_gets_one_answer_and_the_session_lives(peer: Peer, frame: bytes) -> None:
    msg = peer.answer(frame)
    assert "error" in msg or ("result" in msg and "id" in msg), msg
    if "error" in msg:
        assert msg["error"].startswith("bad command line: "), msg
    peer.snapshot_round_trip()


def test_a_frame_over_the_limit_is_answered_then_the_connection_closes(peer: Peer) -> None:
    msg = peer.answer(b"x" * (MAX_LINE + 10))
    assert msg == {"error": f"line longer than {MAX_LINE} bytes"}
    with pytest.raises(ConnectionError):
        peer.line()


def test_an_engine_failure_on_a_command_is_answered_and_the_session_lives(
    served: Served, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command the engine fails on (here its write layer out of space) is answered, not dropped."""

    def disk_full(*_args: object, **_kwargs: object) -> object:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(served.engine, "handle", disk_full)
    msg = peer.answer(_command("ResumeStrategy", template="momentum"))
    assert msg["id"] == 1
    assert msg["result"] == {
        "type": "CommandResult",
        "ok": False,
        "message": "the engine failed on ResumeStrategy: [Errno 28] No space left on device",
        "code": "ENGINE_ERROR",
    }
    monkeypatch.undo()
    peer.snapshot_round_trip()
