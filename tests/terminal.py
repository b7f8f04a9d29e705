"""``onetap`` in a real pseudo-terminal, as a trader's SSH session runs it (benchmarks and tests)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONETAP = [sys.executable, "-m", "console.cli"]


def spawn_console(
    tmp: Path,
    extra_env: dict[str, str],
    *,
    args: tuple[str, ...] = (),
    size: tuple[int, int] = (160, 48),
    controlling: bool = False,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the console on a pty of ``size`` (columns, rows) with its XDG dirs under ``tmp``.

    Returns the process and the pty's master end; the screen output is drained on a thread.
    ``controlling``: the console leads a new session whose controlling terminal is the pty, as
    under sshd or tmux, so closing the master end hangs it up (the kernel sends SIGHUP).
    Bytecode caching is left on, as on a user's machine (some sandboxes switch it off, which
    would make every start recompile the project).
    """
    master, slave = pty.openpty()
    columns, rows = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "TERM": "xterm-256color",
        "XDG_DATA_HOME": str(tmp / "xdg"),
        "XDG_RUNTIME_DIR": str(tmp / "run"),
        **extra_env,
    }
    proc = subprocess.Popen(
        [*ONETAP, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=ROOT,
        close_fds=True,
        preexec_fn=_take_terminal if controlling else None,
    )
    os.close(slave)
    threading.Thread(target=_drain, args=(master,), daemon=True).start()
    return proc, master


def _take_terminal() -> None:
    """In the child, before exec: a new session, with stdin's pty as its controlling terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        return


def quit_console(proc: subprocess.Popen[bytes], master: int) -> int:
    """Press ``q``; kill the process if it does not end within 15 s. Returns its exit code."""
    os.write(master, b"q")
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    os.close(master)
    return code
