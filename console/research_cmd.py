"""``onetap backtest | walkforward | permute | montecarlo``: research from the command line.

    onetap backtest trend [--symbols AAPL,MSFT] [--start 2004-01-01] [--end 2013-03-01] [--out DIR]
    onetap walkforward trend [--train-days 756] [--test-days 63] [--workers 2] [--out DIR]
    onetap permute trend --runs 200 [--workers 2] [--seed 7]
    onetap montecarlo trend [--method bootstrap|block|parametric] [--paths 10000] [--horizon 252]

walkforward, permute and montecarlo take ``--scheduler local`` (a Dask LocalCluster of ``--workers``
processes) or ``--scheduler tcp://HOST:PORT`` (a running ``dask scheduler``), else ``[research]
scheduler``; the same seed gives the same result on every backend.

Each prints a summary table; ``--out`` writes a report folder (metrics JSON, CSVs, and charts
when matplotlib is installed). The strategy is always shown next to buy-and-hold of the same
symbols over the same sessions. Nothing here imports Textual; the work is in engine.research.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from engine.api.data_notes import add_verbose, print_data_notes
from engine.config import Settings
from engine.research.verdict import verdict

if TYPE_CHECKING:
    from rich.console import Console

    from engine.research.executor import Executor
    from engine.research.metrics import Metrics
    from engine.research.runs import Panel, StrategyStress

EXIT_USAGE = 2
HELP = {
    "backtest": "backtest a template over a universe and period (vectorized, with costs)",
    "walkforward": "walk-forward: parameters chosen on each training window, traded on the next",
    "permute": "permutation test: the template on the real order of days vs joint shuffles",
    "montecarlo": "Monte Carlo of the template's backtest returns",
}


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, text in HELP.items():
        p = subparsers.add_parser(name, help=text)
        p.add_argument("template", help="momentum, mean_reversion, breakout, trend, rotation, pairs, options")
        p.add_argument("--symbols", help="comma-separated (default: [universe] symbols)")
        p.add_argument("--start", metavar="DATE", help="first session, YYYY-MM-DD")
        p.add_argument("--end", metavar="DATE", help="last session, YYYY-MM-DD")
        p.add_argument("--out", type=Path, metavar="DIR", help="write a report folder here")
        add_verbose(p)
        if name == "walkforward":
            p.add_argument(
                "--train-days",
                type=int,
                default=756,
                help="sessions each training window spans (default 756)",
            )
            p.add_argument(
                "--test-days",
                type=int,
                default=63,
                help="sessions each out-of-sample window trades (default 63)",
            )
        if name in ("walkforward", "permute", "montecarlo"):
            p.add_argument(
                "--workers",
                type=int,
                default=None,
                help="processes to fan the runs out over (with --scheduler local: its workers)",
            )
            p.add_argument(
                "--scheduler",
                metavar="ADDRESS",
                default=None,
                help='Dask: "local" (a LocalCluster) or tcp://HOST:PORT (default: [research] scheduler)',
            )
        if name in ("permute", "montecarlo"):
            p.add_argument(
                "--seed", type=int, default=7, help="random seed: the same seed gives the same result"
            )
        if name == "permute":
            p.add_argument(
                "--runs", type=int, default=200, help="shuffled histories to compare against (default 200)"
            )
        if name == "montecarlo":
            p.add_argument(
                "--method",
                default="bootstrap",
                choices=("bootstrap", "block", "parametric"),
                help="resample days (bootstrap), runs of days (block), or draw from a fitted normal",
            )
            p.add_argument("--paths", type=int, default=10_000, help="simulated paths (default 10000)")
            p.add_argument(
                "--horizon", type=int, default=252, help="sessions per simulated path (default 252)"
            )


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout  # looked up per call: tests and pipes replace sys.stdout
    from engine.research.runs import load_panel, template_named

    try:
        symbols = [s.strip() for s in args.symbols.split(",")] if args.symbols else None
        panel = load_panel(settings, symbols, _date(args.start, "--start"), _date(args.end, "--end"))
        template = template_named(args.template)
        if args.command == "backtest":
            _backtest(template, panel, args, settings, out)
        elif args.command == "walkforward":
            _walkforward(template, panel, args, settings, out)
        elif args.command == "permute":
            _permute(template, panel, args, settings, out)
        else:
            _montecarlo(template, panel, args, settings, out)
    except ValueError as exc:
        print(f"onetap {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConnectionError as exc:  # an unreachable Dask scheduler: the message names it
        print(f"onetap {args.command}: {exc}", file=sys.stderr)
        return 1
    print_data_notes(
        out, verbose=bool(getattr(args, "verbose", False)), held_back=_held_back(template, panel)
    )
    return 0


def _held_back(template: str, panel: Panel) -> str:
    """The template, when it reads volume and a symbol of the run has none: it cannot fire there."""
    from engine.api.data_notes import template_held_back

    return template_held_back(template, panel)


ROWS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "Total return", "{:+.1%}"),
    ("cagr", "CAGR", "{:+.1%}"),
    ("annualized_volatility", "Volatility", "{:.1%}"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("sortino", "Sortino", "{:.2f}"),
    ("calmar", "Calmar", "{:.2f}"),
    ("max_drawdown", "Max drawdown", "{:.1%}"),
    ("max_drawdown_duration", "Max DD duration (days)", "{:.0f}"),
    ("var_95", "VaR 95% (daily)", "{:.2%}"),
    ("cvar_95", "CVaR 95% (daily)", "{:.2%}"),
    ("psr", "Probabilistic Sharpe", "{:.1%}"),
    ("dsr", "Deflated Sharpe", "{:.1%}"),
    ("n_trades", "Trades", "{:.0f}"),
    ("win_rate", "Win rate", "{:.1%}"),
    ("profit_factor", "Profit factor", "{:.2f}"),
    ("turnover", "Turnover (annual)", "{:.1f}x"),
    ("exposure", "Exposure", "{:.0%}"),
)
"""Metric rows as (``Metrics`` attribute, label, format): the command line's tables and the
console's research screen both read them, so the two show the same figures the same way."""


def metric_cell(value: float, fmt: str) -> str:
    """One metric as ``ROWS`` formats it; a dash where it is undefined (NaN or infinite)."""
    return "—" if not math.isfinite(value) else fmt.format(value)


def metric_value(m: Metrics, key: str) -> float:
    """A metric as a number; a trade count without trade records (buy & hold) is unknown, not
    zero: a "0" beside a return reads as a run that lost its trades."""
    if key == "n_trades" and m.n_trades == 0 and not math.isfinite(m.win_rate):
        return math.nan
    return float(getattr(m, key))


def print_metrics(columns: dict[str, Metrics], out: TextIO) -> None:
    """One column per run, one row per metric; a dash where a metric is undefined."""
    print(f"{'':<24}" + "".join(f"{name:>16}" for name in columns), file=out)
    for key, label, fmt in ROWS:
        cells = "".join(f"{metric_cell(metric_value(m, key), fmt):>16}" for m in columns.values())
        print(f"{label:<24}{cells}", file=out)


def _print_stress(stress: StrategyStress, out: TextIO) -> None:
    """The risk engine's scenarios on the strategy's last book and its largest one."""
    print("Stress (the risk engine's scenarios through each holding's beta to the benchmark):", file=out)
    print(
        f"{'scenario':<14}{'last book ' + stress.last_day:>26}{'largest book ' + stress.largest_day:>28}",
        file=out,
    )
    for a, b in zip(stress.last, stress.largest, strict=True):
        print(f"{a.scenario:<14}{a.pnl_pct:>+26.1%}{b.pnl_pct:>+28.1%}", file=out)


def _stderr_console() -> Console:
    """Progress goes to stderr, so the tables on stdout stay clean for a pipe or a file."""
    from rich.console import Console

    return Console(stderr=True)


def _executor(args: argparse.Namespace, settings: Settings) -> Executor:
    """Serial, a process pool (``--workers N``) or Dask (``--scheduler``, else ``[research]
    scheduler``): ``configured_executor``. Dask itself is imported only when a scheduler is chosen."""
    from engine.research.executor import configured_executor

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    try:
        pool, where = configured_executor(settings.research, workers=args.workers, scheduler=args.scheduler)
    except ValueError as exc:
        raise ValueError(f"--scheduler: {exc}") from None
    if where != "this process":
        print(f"fanning out on {where}", file=sys.stderr)
    return pool


def _backtest(template: str, panel: Panel, args: argparse.Namespace, settings: Settings, out: TextIO) -> None:
    from engine.research.runs import benchmark_bars, run_backtest, strategy_stress, write_backtest

    result = run_backtest(template, panel)
    bt = result.backtest
    span = f"{bt.dates[0]} .. {bt.dates[-1]}"
    print(f"Backtest {template} on {', '.join(bt.symbols)}, {span}, fills at the next open", file=out)
    print_metrics({template: result.metrics, "buy & hold": result.benchmark}, out)
    print(f"Costs paid: {bt.costs.sum():,.2f} over {int((bt.traded != 0).sum())} fills", file=out)
    _print_stress(strategy_stress(result, panel, benchmark_bars(settings)), out)
    if args.out is not None:
        written = write_backtest(args.out, result)
        print(f"Report: {', '.join(str(p) for p in written)}", file=out)


def _walkforward(
    template: str, panel: Panel, args: argparse.Namespace, settings: Settings, out: TextIO
) -> None:
    from engine.research.runs import run_walkforward

    pool = _executor(args, settings)
    try:
        wf, metrics, benchmark = run_walkforward(
            template, panel, train_days=args.train_days, test_days=args.test_days, executor=pool
        )
    finally:
        pool.close()
    print(
        f"Walk-forward {template}: {len(wf.windows)} windows, {args.train_days} training / "
        f"{args.test_days} out-of-sample sessions each, grid of {len(wf.grid)}; "
        f"out of sample {wf.dates[0]} .. {wf.dates[-1]}",
        file=out,
    )
    print_metrics({"out of sample": metrics, "buy & hold": benchmark}, out)
    print(f"Verdict: {verdict(None, float(metrics.dsr)).text}", file=out)
    print("Parameter stability (share of windows keeping the previous window's choice):", file=out)
    for name, share in wf.stability().items():
        print(f"  {name:<16}{share:.0%}", file=out)
    if args.out is not None:
        payload = {
            "template": template,
            "metrics": asdict(metrics),
            "windows": [asdict(w) for w in wf.windows],
        }
        _write_json(args.out, "walkforward.json", payload, out)
        curve = args.out / "walkforward_equity.csv"
        lines = ["date,return,equity"] + [
            f"{d},{r:.10g},{e:.10g}" for d, r, e in zip(wf.dates, wf.returns, wf.equity, strict=True)
        ]
        curve.write_text("\n".join(lines) + "\n")
        print(f"Report: {curve}", file=out)


def _write_json(folder: Path, name: str, payload: Mapping[str, object], out: TextIO) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(_finite(dict(payload)), indent=2) + "\n")
    print(f"Report: {path}", file=out)


def _finite(value: object) -> object:
    """JSON has no NaN: undefined figures are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _permute(template: str, panel: Panel, args: argparse.Namespace, settings: Settings, out: TextIO) -> None:
    import numpy as np
    from rich.progress import Progress

    from engine.research.runs import run_permutation

    pool = _executor(args, settings)
    try:
        with Progress(transient=True, console=_stderr_console()) as bar:
            task = bar.add_task(f"permuting {template}", total=args.runs)
            result = run_permutation(
                template,
                panel,
                runs=args.runs,
                seed=args.seed,
                executor=pool,
                progress=lambda done, _total: bar.update(task, completed=done),
            )
    finally:
        pool.close()
    null = result.null[np.isfinite(result.null)]
    print(
        f"Permutation test of {template}: Sharpe on the real order of days vs {args.runs} joint shuffles",
        file=out,
    )
    print(f"  real Sharpe      {result.observed:+.2f}", file=out)
    if len(null):
        q = np.percentile(null, [5, 50, 95])
        print(f"  shuffled Sharpe  5% {q[0]:+.2f}   median {q[1]:+.2f}   95% {q[2]:+.2f}", file=out)
    print(
        f"  p-value          {result.p_value:.3f}  (share of shuffles at least as good, +1 smoothed)",
        file=out,
    )
    print(f"  verdict          {verdict(result.p_value).text}", file=out)
    if args.out is not None:
        payload = {
            "template": template,
            "runs": args.runs,
            "seed": args.seed,
            "observed_sharpe": result.observed,
            "p_value": result.p_value,
            "null_sharpes": [float(x) for x in result.null],
        }
        _write_json(args.out, "permutation.json", payload, out)


def _montecarlo(
    template: str, panel: Panel, args: argparse.Namespace, settings: Settings, out: TextIO
) -> None:
    from engine.research.runs import run_backtest, run_montecarlo

    returns = run_backtest(template, panel).backtest.returns[1:]
    pool = _executor(args, settings)
    try:
        mc = run_montecarlo(
            returns, method=args.method, paths=args.paths, horizon=args.horizon, seed=args.seed, executor=pool
        )
    finally:
        pool.close()
    print(
        f"Monte Carlo of {template}: {args.paths:,} {args.method} paths of {args.horizon} sessions", file=out
    )
    fe, dd = mc.final_equity, mc.max_drawdown
    print(f"{'percentile':<22}{'5%':>9}{'25%':>9}{'50%':>9}{'75%':>9}{'95%':>9}", file=out)
    print(
        f"{'final equity (x)':<22}{fe.p5:>9.3f}{fe.p25:>9.3f}{fe.p50:>9.3f}{fe.p75:>9.3f}{fe.p95:>9.3f}",
        file=out,
    )
    print(
        f"{'max drawdown':<22}{dd.p5:>9.1%}{dd.p25:>9.1%}{dd.p50:>9.1%}{dd.p75:>9.1%}{dd.p95:>9.1%}", file=out
    )
    print(f"probability of a loss: {mc.prob_loss:.1%}", file=out)
    if args.out is not None:
        payload = {"template": template, "method": args.method, "seed": args.seed, **asdict(mc)}
        _write_json(args.out, "montecarlo.json", payload, out)
