"""An attached console across an engine restart, against a real ``onetap --engine-only`` process.

The engine goes away under the console (SIGTERM, its orderly stop): the header must say
DISCONNECTED with the age of the data and the panes must look stale; ctrl+k must still halt,
through the database as ``onetap kill`` does; and when an engine serves the socket again the
console re-attaches by itself, re-syncs from the new snapshot and shows the live desk (HALTED,
as the database now says).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from console.app import OneTapApp
from console.client import SocketClient
from console.widgets import StatusLine
from engine.config import load_settings
from engine.model import TradingState
from engine.risk.killswitch import STATE_KEY
from engine.store.repository import Store
from tests.engine.test_headless import _config, _wait_for_line


def _start_engine(cfg: Path, tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg"), "XDG_RUNTIME_DIR": str(tmp_path / "xdgrun")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(cfg), "--engine-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    _wait_for_line(proc, "EngineStarted")
    # keep reading: a full stdout pipe would block the engine's writes
    threading.Thread(target=lambda: proc.stdout.read() if proc.stdout else None, daemon=True).start()
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _until(pilot: object, what: Callable[[], bool], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"{why}: not within {timeout:.0f} s")
        await pilot.pause(0.1)  # type: ignore[attr-defined]


def _header(app: OneTapApp) -> str:
    return str(app.screen_stack[0].query_one(StatusLine).render())


async def test_attached_console_survives_an_engine_restart_and_halts_while_it_is_down(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    db = tmp_path / "db" / "onetap.db"
    sock = tmp_path / "run" / "engine.sock"
    engine = _start_engine(cfg, tmp_path)
    restarted: subprocess.Popen[str] | None = None
    client = SocketClient(sock, settings=load_settings(cfg))
    app = OneTapApp(client)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await _until(pilot, lambda: app.state.risk is not None, 30, "first snapshot")
            assert app.state.risk is not None and app.state.risk.trading_state is TradingState.ACTIVE
            assert "connected to the engine at" in (app.state.line.text if app.state.line else "")
            assert "DISCONNECTED" not in _header(app)

            _stop(engine)  # the engine goes away (an upgrade, a crash, a reboot)
            await _until(pilot, lambda: app.link.down, 10, "noticed the engine gone")
            await pilot.pause(1.2)  # the header's age ticks each second
            header = _header(app)
            assert "DISCONNECTED" in header and "s old" in header, header
            assert app.screen_stack[0].has_class("-stale")

            await pilot.press("ctrl+k")
            await _until(
                pilot, lambda: "HALT" in (app.state.line.text if app.state.line else ""), 20, "offline kill"
            )
            assert app.state.line is not None
            assert app.state.line.text.startswith("engine unreachable: HALT written to the database"), (
                app.state.line
            )
            store = Store.open(db)
            try:
                assert json.loads(store.get_state(STATE_KEY) or "{}")["state"] == "HALTED"
            finally:
                store.close()

            restarted = _start_engine(cfg, tmp_path)
            await _until(pilot, lambda: not app.link.down, 30, "reconnected")
            await _until(pilot, lambda: app.state.halted, 10, "the new engine's snapshot")
            await pilot.pause(0.3)
            assert "DISCONNECTED" not in _header(app)
            assert not app.screen_stack[0].has_class("-stale")
            assert "feed ?" not in _header(app)  # the engine's own feed state again
    finally:
        _stop(engine)
        if restarted is not None:
            _stop(restarted)
