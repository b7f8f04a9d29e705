"""Console start-up and idle cost, measured on a real terminal (a pty), as a trader would run it.

- first frame: from spawning ``onetap`` to the first frame the desk draws with the engine's
  snapshot applied (the app writes that moment to ``ONETAP_FIRST_FRAME_FILE``);
- idle CPU: the console's CPU time over a window while the replay feed runs, as a share of one core;
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


def idle_cpu(window: float = 10.0, settle: float = 3.0) -> float:
    with tempfile.TemporaryDirectory() as d:
        proc, master = spawn_console(Path(d), {})
        time.sleep(settle)
        c0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(window)
        c1, t1 = _cpu_seconds(proc.pid), time.monotonic()
        quit_console(proc, master)
        return (c1 - c0) / (t1 - t0)


def main(runs: int = 5) -> None:
    first_frame()  # warm-up: the first start after an install writes bytecode and the calendar cache
    results = [first_frame() for _ in range(runs)]
    frames = [seconds for seconds, _ in results]
    print(
        f"startup: first full frame  median {median(frames) * 1000:.0f} ms  "
        f"min {min(frames) * 1000:.0f} ms  max {max(frames) * 1000:.0f} ms  ({runs} runs, 160x48 pty)  "
        f"target 1500 ms  ratio {median(frames) / 1.5:.2f}"
    )
    cpu = idle_cpu()
    print(f"startup: console CPU with the feed running  {cpu:.1%} of one core (10 s window)")
    heavy = sorted({m for _, loaded in results for m in loaded})
    listed = ", ".join(heavy) if heavy else "none (torch, ib_insync lazy)"
    print(f"startup: heavy modules imported at start-up: {listed}")


if __name__ == "__main__":
    main()
