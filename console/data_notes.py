"""What the data checks dropped or repaired, as the headless commands print it.

One summary line after every command that reads the configured data (``onetap cards``,
``calibration``, ``backtest``, ``walkforward``, ``permute``, ``montecarlo``), the templates held back
for want of data, and with ``--verbose`` every issue with its file and line. Nothing is dropped
silently: a row on a day its instrument's calendar has no session is counted here.
"""

from __future__ import annotations

import argparse
from typing import TextIO


def add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="list every row the data checks left out or flagged (file, line, why)",
    )


def print_data_notes(out: TextIO, *, verbose: bool, held_back: str = "") -> None:
    """The data's summary line (and its details with ``verbose``), then what was held back."""
    from engine.data.market import last_loaded

    market = last_loaded()
    if market is not None:
        issues = market.report.issues
        hint = " (details: --verbose)" if issues and not verbose else ""
        print(market.summary() + hint, file=out)
        if verbose:
            for issue in issues:
                print(f"  {issue}", file=out)
    if held_back:
        print(held_back, file=out)
