"""Walk-forward and permutation wall time on the shipped universe, with 1 and 2 workers.

Run with ``python -m tests.bench.research``. Figures are printed, not asserted; the ratio is
measured in the same run. The process pool is started once and reused, as the CLI does, and a
first untimed call warms numba's kernels in every process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.config import load_settings
from engine.research.executor import Executor, make_executor
from engine.research.runs import load_panel, run_permutation, run_walkforward

RUNS = 200


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    panel = load_panel(load_settings())
    span = f"{min(b.dates[0] for b in panel.values())} .. {max(b.dates[-1] for b in panel.values())}"
    print(f"research: trend on the shipped universe ({', '.join(sorted(panel))}, {span})")
    pools: dict[int, Executor] = {1: make_executor("serial"), 2: make_executor("process", 2)}
    wf: dict[int, float] = {}
    perm: dict[int, float] = {}
    try:
        for n, pool in pools.items():
            run_permutation("trend", panel, runs=4, seed=1, executor=pool)  # warm every process
            wf[n] = _timed(
                lambda p=pool: run_walkforward("trend", panel, train_days=756, test_days=63, executor=p)
            )
            perm[n] = _timed(lambda p=pool: run_permutation("trend", panel, runs=RUNS, seed=7, executor=p))
    finally:
        for pool in pools.values():
            pool.close()
    for label, t in (("walk-forward (3y/3m windows, grid of 8)", wf), (f"permutation ({RUNS} runs)", perm)):
        print(f"  {label:<40} 1 worker {t[1]:.2f} s, 2 workers {t[2]:.2f} s (x{t[1] / t[2]:.2f})")


if __name__ == "__main__":
    main()
