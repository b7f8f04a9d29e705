"""The console as a process on a real pty: how it ends when the terminal or the system ends it.

The hang-up cases are the ones an SSH server produces: the pty's master end closed under a
console that has the pty as its controlling terminal (the kernel then sends SIGHUP and every
later read or write of the tty fails with EIO). Before console.tty, that left the process alive
for ever: Textual's writer thread died on EIO, its bounded queue filled and the UI thread blocked
in it, so even SIGTERM was never acted on.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from engine.store.repository import Store
from tests.terminal import spawn_console

EXIT_WITHIN_S = 5.0


def wait_for_file(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().endswith("\n")):
        if time.monotonic() > deadline:
            raise AssertionError(f"the console drew no first frame within {timeout:.0f} s")
        time.sleep(0.05)


def _hang_up(proc: subprocess.Popen[bytes], master: int, how: str) -> None:
    if how == "terminal-closed":
        os.close(master)  # what sshd does when the connection drops
    else:
        proc.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGHUP)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "terminal-closed"])
def test_the_console_exits_within_5_s_and_the_engine_stops_persisted(tmp_path: Path, how: str) -> None:
    """SIGTERM (systemd, kill), SIGHUP and a closed terminal (a dropped SSH session) all stop the
    embedded engine as ``q`` does and end the process within 5 s, leaving a sound database."""
    marker = tmp_path / "first-frame"
    db = tmp_path / "onetap.db"
    proc, master = spawn_console(
        tmp_path,
        {"ONETAP_FIRST_FRAME_FILE": str(marker)},
        args=("--database", str(db)),
        size=(80, 24),
        controlling=True,
    )
    closed = False
    try:
        wait_for_file(marker)
        time.sleep(1.0)  # a few frames with the feed running, as a trader's session would have
        started = time.monotonic()
        _hang_up(proc, master, how)
        closed = how == "terminal-closed"
        try:
            code = proc.wait(timeout=EXIT_WITHIN_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {EXIT_WITHIN_S:.0f} s after {how}") from None
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not closed:
            os.close(master)
    assert code == 0, f"exit code {code} after {how}"
    assert took < EXIT_WITHIN_S
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = Store.open(db)
    try:
        actions = [record.action for record in store.load_audit()]
        assert store.verify_audit().ok
    finally:
        store.close()
    assert actions[0] == "engine_start" and actions[-1] == "engine_stop"
