"""``onetap status`` latency against a running headless engine (the issue's aim: under 300 ms),
from spawning the command to its exit, median and p99, beside a bare interpreter start (the floor).

The engine is the one ``tests.bench.kill_cli`` starts (a real ``--engine-only`` process on the
shipped replay). Run with ``make bench`` or ``python -m tests.bench.status_cli``.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.kill_cli import AFTER, REPO, _engine, _percentile, _time_interpreter


def _time_status(cfg: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", AFTER, "--config", str(cfg), "status"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 1) or not done.stdout.startswith("onetap status: "):
        raise RuntimeError(f"status failed ({done.returncode}): {done.stdout} {done.stderr}")
    return elapsed


def measure(runs: int = 30) -> dict[str, tuple[float, float]]:
    floor = [_time_interpreter() for _ in range(runs)]
    with tempfile.TemporaryDirectory() as d:
        proc, cfg = _engine(Path(d))
        try:
            _time_status(cfg)  # warm-up: bytecode, page cache
            status = [_time_status(cfg) for _ in range(runs)]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return {
        "python -c pass, the floor": (statistics.median(floor), _percentile(floor, 0.99)),
        "onetap status": (statistics.median(status), _percentile(status, 0.99)),
    }


def main() -> None:
    runs = int(os.environ.get("ONETAP_BENCH_STATUS_RUNS", "30"))
    for name, (med, p99) in measure(runs).items():
        print(f"status_cli: {name}  median {med * 1000:.0f} ms  p99 {p99 * 1000:.0f} ms  target 300 ms")


if __name__ == "__main__":
    main()
