"""``onetap cards --asof DATE [--json]``: the ranked strategy cards for a session, headless.

    onetap cards --asof 2012-06-01
    onetap cards --asof 2012-06-01 --json

Prints the cards the engine would offer on that session (bars before it only), best first, then
how many candidates validation held back and why. ``--json`` prints one JSON object per card
and a last ``{"rejected": {...}}`` line, for scripts. Nothing here imports Textual.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import TextIO

from engine.config import Settings

EXIT_USAGE = 2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cards = subparsers.add_parser("cards", help="the ranked strategy cards for a session (headless)")
    cards.add_argument("--asof", required=True, metavar="DATE", help="the session, YYYY-MM-DD")
    cards.add_argument("--json", action="store_true", help="one JSON object per line")


def run(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    try:
        asof = date.fromisoformat(args.asof)
    except ValueError:
        print(f"onetap cards: --asof {args.asof!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return EXIT_USAGE
    from engine.card_report import card_rows, cards_asof

    try:
        result = cards_asof(settings, asof)
    except ValueError as exc:
        print(f"onetap cards: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows = card_rows(result)
    rejected = dict(sorted(result.proposal.rejected.items()))
    if args.json:
        for row in rows:
            print(json.dumps(row), file=out)
        print(json.dumps({"rejected": rejected}), file=out)
        return 0
    print(f"Strategy cards for {asof} (bars before it only), best first", file=out)
    header = (
        f"{'#':>2}  {'template':<15}{'legs':<34}{'conf':>6}{'exp ret':>9}{'max risk $':>12}{'R:R':>6}  reason"
    )
    print(header, file=out)
    for row in rows:
        legs = ", ".join(row["legs"])  # type: ignore[arg-type]
        legs = legs if len(legs) <= 32 else legs[:31] + "…"
        rr = row["reward_risk"]
        print(
            f"{row['rank']:>2}  {row['template']:<15}{legs:<34}{row['confidence']:>6.0%}"
            f"{row['expected_return']:>+9.2%}{row['max_risk']:>12,.0f}"
            f"{rr if rr == rr else float('nan'):>6.2f}  {row['reason']}",
            file=out,
        )
    if not rows:
        print("  (no card passes validation on this session)", file=out)
    if rejected:
        print("Held back: " + ", ".join(f"{code} {n}" for code, n in rejected.items()), file=out)
    return 0
