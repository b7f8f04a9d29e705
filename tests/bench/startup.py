"""Console start-up and idle cost, measured on a real terminal (a pty), as a trader would run it.

- first frame: from spawning ``onetap`` to the first frame the desk draws with the engine's
  snapshot applied (the app writes that moment to ``ONETAP_FIRST_FRAME_FILE``);
- first cards: from spawning ``onetap`` to the first strategy cards on the desk (the day's first
  scan runs for seconds; ``ONETAP_FIRST_CARDS_FILE`` receives the moment);
- idle CPU: the console's CPU time (embedded engine included: one process) over a 20 s window
  while the default replay runs, after the first cards are in (the day's scan is not idle), as a
  share of one core (``/proc/PID/stat``, all threads). Target: under 15%;
- lazy imports: whether torch, ib_insync or scipy.optimize were loaded when that frame was drawn.

Run with ``make bench`` (or ``python -m tests.bench.startup``). Figures are printed, not asserted.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from statistics import median

from tests.terminal import quit_console, spawn_console


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def first_frame() -> tuple[float, list[str]]:
    """Seconds from spawn to the first full frame, and the heavy modules loaded by then."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        marker = tmp / "first-frame"
        t0 = time.time()
        proc, master = spawn_console(tmp, {"ONETAP_FIRST_FRAME_FILE": str(marker)})
        deadline = t0 + 60
        while not (marker.exists() and marker.read_text().endswith("\n")) and time.time() < deadline:
            time.sleep(0.005)
        quit_console(proc, master)
        if not marker.exists():
            return float("nan"), []
        stamp, heavy = marker.read_text().splitlines()[:2]
        return float(stamp) - t0, [m for m in heavy.split(",") if m]


def _wait_for(path: Path, deadline: float) -> bool:
    while not (path.exists() and path.read_text().endswith("\n")):
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def idle_cpu(window: float = 20.0, settle: float = 2.0) -> tuple[float, float]:
    """Share of one core over ``window`` once the first cards are in; and seconds to those cards."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cards = tmp / "first-cards"
        t_spawn = time.time()
        proc, master = spawn_console(tmp, {"ONETAP_FIRST_CARDS_FILE": str(cards)})
        if _wait_for(cards, t_spawn + 180):
            to_cards = float(cards.read_text().split()[0]) - t_spawn
        else:
            to_cards = float("nan")
        time.sleep(settle)
        c0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(window)
        c1, t1 = _cpu_seconds(proc.pid), time.monotonic()
        quit_console(proc, master)
        return (c1 - c0) / (t1 - t0), to_cards


def main(runs: int = 5) -> None:
    first_frame()  # warm-up: the first start after an install writes bytecode and the calendar cache
    results = [first_frame() for _ in range(runs)]
    frames = [seconds for seconds, _ in results]
    print(
        f"startup: first full frame  median {median(frames) * 1000:.0f} ms  "
        f"min {min(frames) * 1000:.0f} ms  max {max(frames) * 1000:.0f} ms  ({runs} runs, 160x48 pty)  "
        f"target 1500 ms  ratio {median(frames) / 1.5:.2f}"
    )
    cpu, to_cards = idle_cpu()
    print(f"startup: first cards on the desk  {to_cards:.1f} s after spawn (default replay, 160x48 pty)")
    print(
        f"startup: console + embedded engine CPU with the feed running  {cpu:.1%} of one core "
        f"(20 s window after the first cards)  target 15%  ratio {cpu / 0.15:.2f}"
    )
    heavy = sorted({m for _, loaded in results for m in loaded})
    listed = ", ".join(heavy) if heavy else "none (torch, ib_insync lazy)"
    print(f"startup: heavy modules imported at start-up: {listed}")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--idle"]:  # the idle figure alone: `python -m tests.bench.startup --idle`
        cpu, to_cards = idle_cpu()
        print(f"idle CPU {cpu:.1%} of one core (20 s window); first cards {to_cards:.1f} s after spawn")
    else:
        main()
