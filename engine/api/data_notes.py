"""What the data checks dropped or repaired, as the headless commands print it.

One summary line after every command that reads the configured data (``onetap cards``,
``calibration``, ``backtest``, ``walkforward``, ``permute``, ``montecarlo``), the templates held back
for want of data, and with ``--verbose`` every issue with its file and line. Nothing is dropped
silently: a row on a day its instrument's calendar has no session is counted here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import TextIO

from engine.config import Settings

# The data and the templates are imported where used: the CLI imports this module at start, and
# ``onetap --help`` must not pay for the strategy package.

__all__ = [
    "add_verbose",
    "describe",
    "held_back_pairs",
    "print_data_notes",
    "settings_held_back",
    "template_held_back",
]


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


def settings_held_back(settings: Settings) -> str:
    """Which enabled templates the loaded data cannot feed (volume), as one line ("" if none)."""
    from engine.data.market import last_loaded
    from engine.strategies.held_back import describe, held_back
    from engine.strategies.policy import enabled_templates

    market = last_loaded()
    if market is None:
        return ""
    frames = {s: f for s, f in market.bars.items() if s in settings.universe.symbols}
    return describe(held_back(enabled_templates(settings), frames))


def template_held_back(template: str, symbols: Iterable[str]) -> str:
    """``template`` on ``symbols``, when it reads volume and a symbol has none: it cannot fire there."""
    from engine.data.market import last_loaded
    from engine.strategies.held_back import describe, held_back
    from engine.strategies.templates import TEMPLATES

    market = last_loaded()
    if market is None:
        return ""
    wanted = set(symbols)
    frames = {s: f for s, f in market.bars.items() if s in wanted}
    return describe(held_back([TEMPLATES[template]], frames))


def describe(found: Mapping[str, tuple[str, ...]]) -> str:
    """One line naming the held-back templates and the symbols that lack what they read."""
    from engine.strategies.held_back import describe as line

    return line(found)


def held_back_pairs(found: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
    """The held-back templates as reason-code counts, beside the generator's own rejections."""
    from engine.strategies.held_back import held_back_codes

    return dict(held_back_codes(found))
