"""``onetap kill``: the fast path against a real engine, its light imports, and its exit codes.

Real parts: an engine on the shipped data (SQLite under tmp_path) serving its real socket in this
test's loop while ``onetap kill`` runs as a child process; a listener that hangs up unanswered
stands for an engine that dies mid-kill.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from console.cli import main
from console.kill_cmd import (
    KillNotConfirmed,
    KillRequest,
    kill_frame,
    plain_request,
    run_over_socket,
    send_kill,
)
from engine.api.protocol import decode_command
from engine.api.socket_server import serve
from engine.config import load_settings
from engine.data.shipped import load_shipped
from engine.kernel import Engine
from engine.model import CommandSource, TradingState
from engine.model.events import Flatten, Kill
from engine.paths import configured_socket, socket_path
from engine.store.repository import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    settings = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})
    eng = Engine(settings, database=tmp_path / "data" / "onetap.db", market=load_shipped(), paced=False)
    await eng.start()
    yield eng
    if not eng.store.closed:
        await eng.stop()


HEAVY = ("pandas", "numpy", "engine.kernel", "engine.config", "pydantic", "sqlalchemy", "textual")
PROBE = (
    "import sys\n"
    "from console.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])\n"
    "sys.exit(code)\n"
)


async def test_kill_over_the_fast_path_halts_the_engine_without_importing_it(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "run" / "engine.sock"
    server = await serve(engine, path)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PROBE,
            "--socket",
            str(path),
            "kill",
            "--reason",
            "fast path test",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120.0)
    finally:
        server.close()
        await server.wait_closed()
    assert proc.returncode == 0, err.decode()
    assert engine.snapshot().risk.trading_state is TradingState.HALTED
    lines = out.decode().splitlines()
    assert lines[0].startswith("onetap: HALTED; cancel sent for "), lines
    assert lines[1] == "HEAVY []"
    assert any(a.payload.get("reason") == "fast path test" for a in engine.store.load_audit())


@pytest.fixture
def hangs_up(tmp_path: Path) -> Iterator[Path]:
    """A socket whose 'engine' reads the kill and closes the connection without an answer."""
    path = tmp_path / "dead.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    received: list[bytes] = []

    def serve_once() -> None:
        conn, _ = listener.accept()
        with conn:
            received.append(conn.recv(1 << 16))

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    yield path
    thread.join(10.0)
    listener.close()
    assert received and b'"type":"Kill"' in received[0]


def test_a_connection_closed_before_the_answer_exits_non_zero(
    hangs_up: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_over_socket(hangs_up, "test", flatten=False) == 1
    err = capsys.readouterr().err
    assert err == "onetap: kill NOT confirmed: the engine connection closed before it answered\n"


def test_nothing_serving_means_the_long_way_records_the_halt_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "db" / "onetap.db"
    none = tmp_path / "none.sock"
    with pytest.raises(ConnectionError):
        send_kill(none, "x", flatten=False)
    assert main(["--database", str(db), "--socket", str(none), "kill", "--reason", "offline"]) == 0
    assert "HALTED recorded in" in capsys.readouterr().out
    store = Store.open(db)
    try:
        assert any(a.payload.get("reason") == "offline" for a in store.load_audit())
    finally:
        store.close()


def test_the_frames_decode_to_the_commands_the_engine_expects() -> None:
    assert decode_command(kill_frame(1, "why", flatten=False)) == (1, Kill("why", CommandSource.CLI))
    assert decode_command(kill_frame(7, "why", flatten=True)) == (7, Flatten("why", CommandSource.CLI))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["kill"], KillRequest("kill switch from the command line", False, None, None)),
        (
            ["--config", "c.toml", "--socket=/s", "kill", "--reason", "r", "--flatten"],
            KillRequest("r", True, Path("c.toml"), Path("/s")),
        ),
        (["--database", "d.db", "kill", "--reason=r r"], KillRequest("r r", False, None, None)),
        (["--broker", "ibkr", "kill"], None),  # a flag the fast path does not know: the long way
        (["kill", "--help"], None),
        (["kill", "--reason"], None),
        (["audit", "verify"], None),
    ],
)
def test_only_a_plain_kill_takes_the_fast_path(argv: list[str], expected: KillRequest | None) -> None:
    assert plain_request(argv) == expected


@pytest.mark.parametrize(
    ("file_text", "environ"),
    [
        ("", {}),
        ('[engine]\nsocket = "/tmp/from-file.sock"\n', {}),
        ('[engine]\nsocket = "/tmp/from-file.sock"\n', {"ONETAP_ENGINE__SOCKET": "/tmp/from-env.sock"}),
        ("", {"ONETAP_ENGINE__SOCKET": '"~/quoted.sock"'}),
        ("[replay]\nseed = 3\n", {"XDG_RUNTIME_DIR": "/run/user/1"}),
    ],
)
def test_the_fast_path_finds_the_socket_the_full_settings_name(
    tmp_path: Path, file_text: str, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(file_text)
    monkeypatch.setenv("XDG_RUNTIME_DIR", environ.get("XDG_RUNTIME_DIR", str(tmp_path / "rt")))
    expected = socket_path(load_settings(cfg, environ=environ).engine.socket)
    assert configured_socket(cfg, environ) == expected


async def test_a_kill_the_engine_fails_on_is_not_confirmed(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's write layer out of space (injected): the answer is ENGINE_ERROR, the exit 1."""

    def disk_full(*_args: object, **_kwargs: object) -> object:
        raise OSError(errno.ENOSPC, "No space left on device")

    path = tmp_path / "run" / "engine.sock"
    server = await serve(engine, path)
    monkeypatch.setattr(engine, "handle", disk_full)
    try:
        with pytest.raises(KillNotConfirmed) as info:
            await asyncio.to_thread(send_kill, path, "disk full test", flatten=False)
    finally:
        server.close()
        await server.wait_closed()
    assert str(info.value) == (
        "the engine refused the kill [ENGINE_ERROR]: "
        "the engine failed on Kill: [Errno 28] No space left on device"
    )
