"""A terminal that can go away: the console must notice, stop its engine and exit, never hang.

Why this exists: Textual's Linux driver writes the screen through a ``WriterThread`` fed by a
bounded queue (30 writes). When the terminal is gone (an SSH session dropped, a tmux session
killed) the next write to the tty raises ``OSError: [Errno 5] EIO``; that exception ends the
writer thread, the queue fills within three seconds of screen updates, and the UI thread then
blocks for ever in ``Queue.put``. A blocked UI thread never runs the asyncio loop again, so the
SIGTERM and SIGHUP handlers (which only schedule work on that loop) are never acted on: the
process stays alive, holding its memory, until SIGKILL. The same block hit the orderly exit too:
stopping application mode writes escape codes, and ``WriterThread.stop`` puts into the full queue.

``HangupSafeDriver`` replaces that writer with ``SafeWriterThread``, which survives a failed
write by discarding all later output (there is nobody to show it to) and reports the loss, and
whose queue is never waited on for long; the driver's input thread treats EIO on the tty the
same way instead of panicking. The app hears of the loss as a ``TerminalLost`` message and
quits as it does on SIGHUP (console.app).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from textual.drivers._writer_thread import WriterThread
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

if TYPE_CHECKING:
    from textual.driver import Driver

PUT_TIMEOUT_S = 2.0
"""Longest a screen write waits for room in the writer's queue. A live but slow terminal drains
30 writes far sooner; a stalled one must not freeze the UI loop (and its signal handlers)."""


class TerminalLost(Message):
    """The terminal this console draws on is gone (writes or reads fail with EIO)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SafeWriterThread(WriterThread):
    """Textual's writer thread, except that a dead terminal neither kills it nor blocks callers."""

    def __init__(self, file: IO[str], on_lost: Callable[[str], None]) -> None:
        super().__init__(file)
        self._on_lost = on_lost
        self.lost = threading.Event()

    def write(self, text: str) -> None:
        if self.lost.is_set() or not self.is_alive():
            return  # nobody to show it to
        try:
            self._queue.put(text, timeout=PUT_TIMEOUT_S)
        except queue.Full:
            return  # a stalled terminal: drop this frame rather than freeze the UI loop

    def run(self) -> None:
        """Write and flush as Textual's does; on the first failure, discard until ``stop``."""
        get, qsize = self._queue.get, self._queue.qsize
        try:
            while (text := get()) is not None:
                self._file.write(text)
                if qsize() == 0:
                    self._file.flush()
            self._file.flush()
            return
        except (OSError, ValueError) as exc:  # EIO on a hung-up tty; ValueError: closed file
            self.lost.set()
            self._on_lost(f"the terminal is gone ({exc})")
        while get() is not None:  # keep the queue empty so no writer ever waits on it
            pass

    def stop(self) -> None:
        """Ask the thread to finish and wait a bounded time: a dead tty must not hold the exit."""
        if not self.is_alive():
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=PUT_TIMEOUT_S)
        self.join(PUT_TIMEOUT_S)


class HangupSafeDriver(LinuxDriver):
    """Textual's Linux driver with ``SafeWriterThread``, and EIO on input taken as a hang-up."""

    def start_application_mode(self) -> None:
        super().start_application_mode()  # type: ignore[no-untyped-call]
        stock = self._writer_thread
        if stock is None or isinstance(stock, SafeWriterThread) or self._file is None:
            return
        # The stock writer has queued the set-up escapes; let it write them, then take over.
        stock.stop()
        self._writer_thread = SafeWriterThread(self._file, self._lost)
        self._writer_thread.start()

    def _run_input_thread(self) -> None:
        try:
            self.run_input_thread()
        except OSError as exc:  # reading a hung-up tty: EIO
            self._lost(f"the terminal is gone ({exc})")
        except BaseException:  # anything else: Textual's own handling, a panic with the traceback
            import rich.traceback

            self._app.call_later(self._app.panic, rich.traceback.Traceback())

    def _lost(self, reason: str) -> None:
        """Called on the writer or input thread; ``post_message`` is safe from any thread."""
        self._app.post_message(TerminalLost(reason))


def hangup_safe(driver_class: type[Driver]) -> type[Driver]:
    """The driver to run under: the safe one wherever Textual would use its Linux driver."""
    return HangupSafeDriver if driver_class is LinuxDriver else driver_class


def detach_output() -> None:
    """Point stdout and stderr at /dev/null, so nothing written later (the driver's last escapes,
    a final message, Python's own flush at exit) can fail or block on a terminal that is gone.
    stdin stays: /dev/null there would read as endless end-of-file to Textual's input thread."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):  # the descriptors, not sys.stdout/stderr, which Textual replaces while running
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)
