"""Card generation at scale: 5 / 50 / 500 / 5,000 symbols x 10 years, cold and warm, peak RSS.

Each size runs in a fresh child process (``python -m tests.bench.cards_scale --child N``) so its
peak resident memory (``ru_maxrss``) is its own; the figure includes the synthetic panel itself
(the bars a scan reads: about 100 MB per 1,000 symbols). "Cold" is the first scan in the process
(numba kernels loaded from numba's disk cache, compiled once per checkout), "warm" the median of
the next ones ("warm cpu": their CPU time, steadier on a shared machine), which reuse the
meta-label models fitted on the same trades (a re-scan of the same day); "refit" is one more
scan with those models fitted afresh, as a new day's trades make them (with meta-labels only).
``--meta on`` is the default configuration (``[cards] meta_label = true``), ``off`` the score
calibrator alone; ``both`` runs each. The scan is the once-a-session part of card generation
(setups, track records, calibration, today's candidates); sizing and ranking run on every
refresh and are cheap beside it.

``--before PATH`` runs the same children on another checkout's code (``PYTHONPATH=PATH``: the
main checkout, for a before/after in one run); ``--compare`` checks on the way that both
checkouts give the same candidates (same keys, scores within float32 tolerance, same ranking).

Targets (issue 18): 500 symbols under 0.5 s warm; 5,000 under 5 s in under 4 GB peak.

Run with ``python -m tests.bench.cards_scale [--sizes 5,50,500,5000] [--before /work/main]``.
Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from statistics import median

YEARS_BARS = 2520
TARGETS = {500: (0.5, None), 5000: (5.0, 4096.0)}


def _run_child(root: Path, n: int, runs: int, dump: Path | None, meta: bool) -> dict[str, float] | None:
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-c", _BOOT, str(root), str(n), str(runs), str(dump or ""), str(int(meta))]
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        print(f"    {root}: {n} symbols failed (rc {done.returncode}): {done.stderr.strip()[-300:]}")
        return None
    out: dict[str, float] = json.loads(lines[-1])
    return out


# What each child runs, on the checkout under test (both have tests/bench/generation.py and its
# seeded synthetic panel).
_BOOT = """
import sys, json, time, resource
root, n, runs, dump = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] or None
meta = sys.argv[5] == "1"
sys.path.insert(0, root)
from engine.strategies import meta_label
from engine.strategies.scan import scan
from engine.strategies.templates import TEMPLATES
from tests.bench.generation import synthetic_panel
panel = synthetic_panel(n, 2520)
templates = list(TEMPLATES.values())
times, cpu = [], []
found = None
for run in range(runs + 1):
    found = None
    if run == runs:  # the last: its meta-label models fitted afresh, as a new day's trades make them
        meta_label._CACHE.clear()
    t, c = time.perf_counter(), time.process_time()
    found = scan(panel, templates, meta=meta)
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
if dump:
    rows = [{"key": f"{c.record.template.name}:{c.setup.key}", "score": c.score,
             "confidence": c.confidence} for c in found.candidates]
    open(dump, "w").write(json.dumps(rows))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"n": n, "times": times, "cpu": cpu, "peak_mb": peak, "candidates": len(found.candidates)}))
"""


def _compare(a: Path, b: Path) -> str:
    """Same candidates (keys), scores within float32 tolerance, same ranking by score."""
    old, new = json.loads(a.read_text()), json.loads(b.read_text())
    ko, kn = [r["key"] for r in old], [r["key"] for r in new]
    if sorted(ko) != sorted(kn):
        return f"DIFFERENT candidates: {len(set(ko) ^ set(kn))} keys differ"
    so = {r["key"]: r["score"] for r in old}
    sn = {r["key"]: r["score"] for r in new}
    co = {r["key"]: r["confidence"] for r in old}
    cn = {r["key"]: r["confidence"] for r in new}
    worst = max((abs(so[k] - sn[k]) for k in so), default=0.0)
    worst_c = max((abs(co[k] - cn[k]) for k in co), default=0.0)
    rank_o = sorted(so, key=lambda k: (-so[k], k))
    rank_n = sorted(sn, key=lambda k: (-sn[k], k))
    same_rank = rank_o == rank_n
    ok = worst <= 1e-5 and worst_c <= 1e-5 and same_rank
    verdict = "same" if ok else "DIFFERENT"
    return (
        f"{verdict}: {len(ko)} candidates, max |score diff| {worst:.1e}, "
        f"max |confidence diff| {worst_c:.1e}, ranking {'identical' if same_rank else 'differs'}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,50,500,5000")
    parser.add_argument("--runs", type=int, default=4, help="scans per child: 1 cold, the rest warm")
    parser.add_argument("--before", default="", help="another checkout to measure beside this one")
    parser.add_argument("--before-max", type=int, default=2000, help="largest size run on --before")
    parser.add_argument("--compare", action="store_true", help="check both give the same candidates")
    parser.add_argument(
        "--meta", choices=("on", "off", "both"), default="both", help="meta-labelled confidence (default: on)"
    )
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parents[2]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    roots = [("after", here)]
    if args.before:
        roots.insert(0, ("before", Path(args.before).resolve()))
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.meta]
    print("card generation at scale: every template (7) over N synthetic symbols x 10 years")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"  {'code':6} {'meta':>4} {'symbols':>7} {'cold s':>8} {'warm s':>8} {'warm cpu':>8} {'refit s':>8} "
        f"{'peak MB':>9} {'cands':>6}  target"
    )
    for n in sizes:
        for meta in modes:
            _size(n, meta, roots, args)


def _size(n: int, meta: bool, roots: list[tuple[str, Path]], args: argparse.Namespace) -> None:
    """Every checkout's child for one size and meta-label setting, and their comparison."""
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    flag = "on" if meta else "off"
    dumps: dict[str, Path] = {}
    for label, root in roots:
        if label == "before" and n > args.before_max:
            print(f"  {label:6} {flag:>4} {n:>7}  not run (over --before-max {args.before_max})")
            continue
        dump = tmp / f"cards_scale_{label}_{flag}_{n}_{os.getpid()}.json" if args.compare else None
        got = _run_child(root, n, max(args.runs, 2), dump, meta)
        if got is None:
            continue
        if dump is not None:
            dumps[label] = dump
        times = list(got["times"])  # type: ignore[call-overload]
        warm = median(times[1:-1])
        warm_cpu = median(list(got["cpu"])[1:-1])  # type: ignore[call-overload]
        refit = times[-1] if meta else math.nan
        target = TARGETS.get(n)
        goal = ""
        if target is not None and label == "after":
            secs, mb = target
            met = warm < secs and (mb is None or got["peak_mb"] < mb)
            goal = f"< {secs} s" + (f", < {mb / 1024:.0f} GB" if mb else "") + (" met" if met else " MISSED")
        print(
            f"  {label:6} {flag:>4} {n:>7} {times[0]:8.2f} {warm:8.2f} {warm_cpu:8.2f} {refit:8.2f} "
            f"{got['peak_mb']:9.0f} {int(got['candidates']):>6}  {goal}"
        )
    if len(dumps) == 2:
        print(f"              {n:>7} candidates before vs after: {_compare(dumps['before'], dumps['after'])}")
    for d in dumps.values():
        d.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
