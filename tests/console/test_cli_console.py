"""The console as a process on a real pty: how it ends when the terminal or the system ends it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from engine.store.repository import Store
from tests.terminal import quit_console, spawn_console


def wait_for_file(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().endswith("\n")):
        if time.monotonic() > deadline:
            raise AssertionError(f"the console drew no first frame within {timeout:.0f} s")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_quits_cleanly_and_the_engine_stops_persisted(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGHUP is what a dropped SSH session sends: the engine must stop as cleanly as on ``q``."""
    marker = tmp_path / "first-frame"
    db = tmp_path / "onetap.db"
    proc, master = spawn_console(
        tmp_path, {"ONETAP_FIRST_FRAME_FILE": str(marker)}, args=("--database", str(db)), size=(80, 24)
    )
    try:
        wait_for_file(marker)
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            quit_console(proc, master)
    assert code == 0
    store = Store.open(db)
    try:
        actions = [record.action for record in store.load_audit()]
        assert store.verify_audit().ok
    finally:
        store.close()
    assert actions[0] == "engine_start" and actions[-1] == "engine_stop"
