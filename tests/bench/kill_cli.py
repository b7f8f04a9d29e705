"""``onetap kill`` latency against a running headless engine: from spawning the command to its exit
with the engine's HALTED confirmed (the command exits 0 only then), median and p99.

- after: ``onetap kill`` as typed (the fast path: json, socket and engine.paths only);
- before: the long way (``main(..., fast_kill=False)``: the full parser, the validated settings,
  the engine imported for the offline fallback) as every kill went before the fast path.

Each kill re-halts the same engine (a kill on a halted engine answers HALTED again), so the
engine's own work is the same on every run; the difference is what the command does before it
sends. Run with ``make bench`` or ``python -m tests.bench.kill_cli``. Figures are printed.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BEFORE = (
    "import sys\n"
    "import engine.kernel\n"  # what the old path imported before it connected (halt_offline's module)
    "from console.cli import main\n"
    "sys.exit(main(sys.argv[1:], fast_kill=False))\n"
)
AFTER = "import sys\nfrom console.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank]


def _engine(tmp: Path) -> tuple[subprocess.Popen[str], Path]:
    cfg = tmp / "onetap.toml"
    cfg.write_text(
        f'[store]\ndatabase = "{tmp / "db" / "onetap.db"}"\n'
        f'[engine]\nsocket = "{tmp / "run" / "engine.sock"}"\nlog_level = "error"\n'
        "[replay]\nsteps_per_day = 60\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(cfg), "--engine-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line).get("event") == "EngineStarted":
            break
    # keep reading: a full stdout pipe would block the engine's log writes (and its stop)
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, cfg


def _time_kill(script: str, cfg: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, "--config", str(cfg), "kill", "--reason", "bench"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    elapsed = time.perf_counter() - t0
    if done.returncode != 0 or "HALTED" not in done.stdout:
        raise RuntimeError(f"kill not confirmed: {done.stdout} {done.stderr}")
    return elapsed


def _time_interpreter() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, cwd=REPO)
    return time.perf_counter() - t0


def measure(runs: int = 30, before_runs: int = 10) -> dict[str, tuple[float, float]]:
    """Median and p99 seconds of each path, and of a bare interpreter start (the floor)."""
    floor = [_time_interpreter() for _ in range(runs)]
    with tempfile.TemporaryDirectory() as d:
        proc, cfg = _engine(Path(d))
        try:
            _time_kill(AFTER, cfg)  # warm-up: bytecode, page cache
            after = [_time_kill(AFTER, cfg) for _ in range(runs)]
            before = [_time_kill(BEFORE, cfg) for _ in range(before_runs)]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return {
        "python -c pass, the floor": (statistics.median(floor), _percentile(floor, 0.99)),
        "before": (statistics.median(before), _percentile(before, 0.99)),
        "after": (statistics.median(after), _percentile(after, 0.99)),
    }


def main() -> None:
    runs = int(os.environ.get("ONETAP_BENCH_KILL_RUNS", "30"))
    figures = measure(runs, max(3, runs // 3))
    for name, (med, p99) in figures.items():
        print(
            f"kill_cli: onetap kill ({name})  median {med * 1000:.0f} ms  p99 {p99 * 1000:.0f} ms  "
            f"target 300 ms"
        )
    print(f"kill_cli: speed-up of the median {figures['before'][0] / figures['after'][0]:.1f}x")


if __name__ == "__main__":
    main()
