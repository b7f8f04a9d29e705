"""``onetap var-backtest``: roll a VaR model over daily series and say whether its tail was right.

    onetap var-backtest [--symbols SPX,AAPL] [--method evt_gjr] [--level 0.99] [--window 1000]
                        [--refit-every 20] [--data FILE] [--json]

For each symbol: the days tested, exceedances against the number the level expects, Kupiec's
proportion-of-failures p-value, Christoffersen's independence p-value, conditional coverage,
and McNeil-Frey's expected-shortfall p-value (with the Acerbi-Szekely Z2 statistic). Every
forecast uses only the days before it. The series are the shipped data, the ``[data]`` file the
config names, or ``--data FILE`` (the same CSV/Parquet format). ``--json`` prints one object.
Nothing here imports Textual; the work is in engine.api.var_report.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from engine.config import Settings

EXIT_USAGE = 2
HELP = "backtest a VaR model over daily series: exceedances, Kupiec, Christoffersen, ES test"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("var-backtest", help=HELP)
    p.add_argument("--symbols", help="comma-separated (default: the [universe] benchmark)")
    p.add_argument("--method", help="the VaR model (default: [risk] var_method); see README 'VaR models'")
    p.add_argument("--level", type=float, default=0.99, help="confidence level in [0.5, 1) (default 0.99)")
    p.add_argument("--window", type=int, help="look-back days (default: 250 classic, 1000 filtered models)")
    p.add_argument("--refit-every", type=int, help="days between GARCH/tail refits (default 20)")
    p.add_argument("--data", type=Path, metavar="FILE", help="your own CSV/Parquet daily bars")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(runner=run)


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """Print the backtest; 0 on success, 2 with one line on stderr when it cannot run."""
    from engine.api.var_report import VarBacktestError, run_var_backtest

    out = out or sys.stdout
    symbols = args.symbols.split(",") if args.symbols else None
    try:
        method, window, lines = run_var_backtest(
            settings,
            symbols=symbols,
            method=args.method,
            level=args.level,
            window=args.window,
            refit_every=args.refit_every,
            data_file=args.data,
        )
    except VarBacktestError as exc:
        print(f"onetap var-backtest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        record = {
            "method": method,
            "level": args.level,
            "window": window,
            "results": [line.as_dict() for line in lines],
        }
        out.write(json.dumps(record) + "\n")
        return 0
    out.write(f"VaR backtest: {method} at {args.level:.1%}, {window}-day window, one-day forecasts\n")
    header = (
        f"{'symbol':<7}{'days':>6}{'exceed':>8}{'expected':>10}{'Kupiec p':>10}"
        f"{'Christ. p':>11}{'cond. p':>9}{'ES p':>8}  verdict"
    )
    out.write(header + "\n")
    for line in lines:
        es = "n/a" if line.es_p is None else f"{line.es_p:.3f}"
        verdict = "passes" if line.passes else "fails"
        out.write(
            f"{line.symbol:<7}{line.observations:>6}{line.exceedances:>8}{line.expected:>10.1f}"
            f"{line.kupiec_p:>10.3f}{line.christoffersen_p:>11.3f}{line.conditional_coverage_p:>9.3f}"
            f"{es:>8}  {verdict} ({line.first} to {line.last})\n"
        )
    return 0
