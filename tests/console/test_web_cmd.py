"""``onetap web``'s door without a browser: who may open the page and drive the console (the HTTP
door's token rule, the loopback Host rule, the WebSocket's Origin), and the command's refusals.

The real server (textual-serve's app with onetap's guard) answers real HTTP on a loopback port;
the console process a WebSocket starts is ``true`` here (the browser test runs the real one).
A slow test starts ``onetap web`` with no engine: it starts one, a second ``onetap web`` shares
it, and stopping the first stops the engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from argparse import Namespace
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from console.cli import build_parser, main, with_broker_flags
from console.web_cmd import console_command
from console.web_server import COOKIE, Access, ConsoleServer
from engine.config import load_settings
from tests.terminal import ROOT

TOKEN = "s3cret-token-for-tests"


async def _client(
    token: str | None,
) -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    server = ConsoleServer("true", host="127.0.0.1", port=0, access=Access(token))
    client = TestClient(TestServer(await server._make_app()))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def open_door() -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    async for client in _client(None):
        yield client


@pytest.fixture
async def token_door() -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    async for client in _client(TOKEN):
        yield client


async def test_the_page_follows_the_address_used_and_loads_nothing_from_elsewhere(
    open_door: TestClient[aiohttp.web.Request, aiohttp.web.Application],
) -> None:
    answer = await open_door.get("/", headers={"Host": "localhost:9999"})  # e.g. an SSH tunnel's port
    page = await answer.text()
    assert answer.status == 200
    assert 'data-session-websocket-url="ws://localhost:9999/ws"' in page
    assert '<script src="/static/js/textual.js">' in page
    assert not re.findall(r'(?:href|src)="https?://', page), "the page must load nothing from elsewhere"
    assert "<div>onetap</div>" in page
    assert (await open_door.get("/static/js/textual.js")).status == 200
    proxied = await open_door.get("/", headers={"Host": "localhost:443", "X-Forwarded-Proto": "https"})
    assert 'data-session-websocket-url="wss://localhost/ws"' in await proxied.text()


async def test_without_a_token_only_a_loopback_host_name_is_served(
    open_door: TestClient[aiohttp.web.Request, aiohttp.web.Application],
) -> None:
    assert (await open_door.get("/", headers={"Host": "[::1]:8788"})).status == 200
    rebound = await open_door.get("/", headers={"Host": "attacker.example:8788"})
    assert rebound.status == 403
    assert "this machine only" in await rebound.text()
    assert "attacker.example:8788" in await rebound.text()


async def test_a_page_from_another_site_cannot_open_the_consoles_websocket(
    open_door: TestClient[aiohttp.web.Request, aiohttp.web.Application],
) -> None:
    port = open_door.port
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_door.ws_connect("/ws", headers={"Origin": "http://attacker.example"})
    assert refused.value.status == 403
    ws = await open_door.ws_connect("/ws", headers={"Origin": f"http://127.0.0.1:{port}"})
    assert not ws.closed  # the console's own page is let through (its console is `true` here)
    await ws.close()


async def test_with_a_token_the_browser_presents_it_once_and_keeps_a_cookie(
    token_door: TestClient[aiohttp.web.Request, aiohttp.web.Application],
) -> None:
    bare = await token_door.get("/")
    assert bare.status == 401
    assert "needs its token" in await bare.text()
    wrong = await token_door.get("/", params={"token": "guess"}, allow_redirects=False)
    assert wrong.status == 403 and "the token is wrong" in await wrong.text()

    first = await token_door.get("/", params={"token": TOKEN, "fontsize": "20"}, allow_redirects=False)
    assert first.status == 302
    assert first.headers["Location"] == "/?fontsize=20"  # the token leaves the address bar
    cookie = first.cookies[COOKIE]
    assert cookie.value and TOKEN not in cookie.value
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    token_door.session.cookie_jar.clear()  # each request below says itself what it carries
    jar = {"Cookie": f"{COOKIE}={cookie.value}"}
    assert (await token_door.get("/", headers=jar)).status == 200
    assert (await token_door.get("/static/js/textual.js", headers=jar)).status == 200
    assert (await token_door.get("/static/js/textual.js")).status == 401
    forged = {"Cookie": f"{COOKIE}={'0' * len(cookie.value)}"}
    assert (await token_door.get("/", headers=forged)).status == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert (await token_door.get("/", headers=bearer)).status == 200

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await token_door.ws_connect("/ws", headers={"Origin": f"http://127.0.0.1:{token_door.port}"})
    assert refused.value.status == 401
    ws = await token_door.ws_connect("/ws", headers={**jar, "Origin": f"http://127.0.0.1:{token_door.port}"})
    await ws.close()


def test_a_non_loopback_host_needs_the_token_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no.token"
    code = main(["web", "--host", "0.0.0.0", "--token-file", str(missing)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"--host 0.0.0.0 is not loopback: create the token file {missing}" in err


def test_a_token_file_others_can_read_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "http.token"
    token.write_text(TOKEN)
    token.chmod(0o644)
    assert main(["web", "--token-file", str(token)]) == 2
    assert "readable by others (mode 0644); chmod 600 it" in capsys.readouterr().err


def test_attach_with_no_engine_says_so_and_starts_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = tmp_path / "engine.sock"
    assert main(["web", "--port", str(_free_port()), "--attach", str(sock)]) == 2
    err = capsys.readouterr().err
    assert f"no engine serves {sock}" in err and "leave out --attach" in err
    assert not sock.exists()


def test_a_busy_port_is_refused_before_any_engine_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--socket", str(tmp_path / "e.sock"), "web", "--port", str(port)]) == 2
    out = capsys.readouterr()
    assert f"cannot listen on 127.0.0.1:{port}" in out.err
    assert "starting one" not in out.out


def test_web_host_and_port_are_not_the_ibkr_flags() -> None:
    args = build_parser().parse_args(["web", "--host", "::1", "--port", "9000"])
    assert (args.web_host, args.web_port, args.host, args.port) == ("::1", 9000, None, None)
    assert with_broker_flags(load_settings(None), args).broker.kind == "paper"


def test_each_tab_runs_the_console_attached_to_the_socket_whatever_its_path() -> None:
    sock = Path("/tmp/a dir/it's.sock")
    command = console_command(Namespace(config=Path("/etc/my onetap.toml")), sock)
    argv = shlex.split(command)
    assert argv[:3] == [sys.executable, "-m", "console.cli"]
    assert argv[3:] == ["--config", "/etc/my onetap.toml", "--attach", str(sock)]


@pytest.mark.slow
def test_web_starts_an_engine_that_a_second_web_shares_and_stops_it_on_exit(tmp_path: Path) -> None:
    """The decision in console/web_cmd.py: no engine -> start a headless one; another ``onetap web``
    attaches to it (one database lock, one book); the one that started it stops it, also when its
    terminal hangs up."""
    cfg = tmp_path / "onetap.toml"
    sock = tmp_path / "run" / "engine.sock"
    cfg.write_text(f'[store]\ndatabase = "{tmp_path / "db" / "onetap.db"}"\n[engine]\nsocket = "{sock}"\n')
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data")}
    onetap = [sys.executable, "-m", "console.cli", "--config", str(cfg)]
    first_log, second_log = tmp_path / "web1.log", tmp_path / "web2.log"
    first = _spawn([*onetap, "web", "--port", str(_free_port())], env, first_log)
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(lambda: "the console on" in first_log.read_text(), first, first_log, 180)
        status = subprocess.run(
            [*onetap, "status", "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert json.loads(status.stdout)["trading_state"] == "ACTIVE", status.stdout
        assert "starting one" in first_log.read_text()

        second = _spawn([*onetap, "web", "--port", str(_free_port())], env, second_log)
        _wait_for(lambda: "the console on" in second_log.read_text(), second, second_log, 60)
        assert f"attached to {sock}" in second_log.read_text()
        assert "starting one" not in second_log.read_text()
    finally:
        first.send_signal(signal.SIGHUP)  # its SSH session dropped
        code = first.wait(timeout=60)
        if second is not None:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=60)
        _leave_no_engine(first_log, sock)
    log = first_log.read_text()
    assert code == 0, log[-3000:]
    assert '"event":"EngineStopped"' in log
    assert not sock.exists()


@pytest.mark.slow
def test_web_stops_with_exit_1_when_the_engine_it_started_dies(tmp_path: Path) -> None:
    """A supervisor (systemd) sees the fault and can restart both, instead of a server whose every
    tab shows a console with no engine."""
    cfg = tmp_path / "onetap.toml"
    sock = tmp_path / "run" / "engine.sock"
    cfg.write_text(f'[store]\ndatabase = "{tmp_path / "db" / "onetap.db"}"\n[engine]\nsocket = "{sock}"\n')
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data")}
    log = tmp_path / "web.log"
    web = _spawn(
        [sys.executable, "-m", "console.cli", "--config", str(cfg), "web", "--port", str(_free_port())],
        env,
        log,
    )
    try:
        _wait_for(lambda: "the console on" in log.read_text(), web, log, 180)
        started = next(line for line in log.read_text().splitlines() if '"event":"EngineStarted"' in line)
        os.kill(int(json.loads(started)["pid"]), signal.SIGKILL)
        code = web.wait(timeout=30)
    finally:
        if web.poll() is None:
            web.kill()
            web.wait()
    assert code == 1
    assert "the engine it started stopped (exit -9); stopping" in log.read_text()


def _leave_no_engine(log: Path, sock: Path) -> None:
    """If the engine ``onetap web`` started still serves (the test failed), stop it by its pid."""
    if not sock.exists():
        return
    for line in log.read_text(errors="replace").splitlines():
        if '"event":"EngineStarted"' in line:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(json.loads(line)["pid"]), signal.SIGTERM)


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def _wait_for(done: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(log.read_text(errors="replace")[-4000:])
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
