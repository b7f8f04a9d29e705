"""``onetap cards --asof DATE [--json]``: the ranked strategy cards for a session, headless.

    onetap cards                       # the latest session in the data
    onetap cards --asof 2012-06-01
    onetap cards --asof 2012-06-01 --json
    onetap cards --verbose             # and every row the data checks left out, with why

Prints the cards the engine would offer on that session (bars before it only), best first, then
how many candidates validation held back and why. ``--json`` prints one JSON object per card
and a last ``{"rejected": {...}}`` line, for scripts. Nothing here imports Textual.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import TYPE_CHECKING, TextIO

from engine.api.data_notes import add_verbose, print_data_notes
from engine.config import Settings

if TYPE_CHECKING:
    from engine.api.card_report import SkillReport, TemplateMeta

EXIT_USAGE = 2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cards = subparsers.add_parser("cards", help="the ranked strategy cards for a session (headless)")
    cards.add_argument(
        "--asof", metavar="DATE", help="the session, YYYY-MM-DD (default: the latest session in the data)"
    )
    cards.add_argument("--json", action="store_true", help="one JSON object per line")
    add_verbose(cards)
    cal = subparsers.add_parser(
        "calibration",
        help="out-of-sample check of card confidence per template, and diversity of the top cards",
    )
    cal.add_argument("--fit-end", required=True, metavar="DATE", help="fit on trades ended before this day")
    cal.add_argument("--end", metavar="DATE", help="last day of the test period (default: end of data)")
    cal.add_argument("--json", action="store_true", help="one JSON object")
    add_verbose(cal)


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None


def run_calibration(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """Print the out-of-sample calibration table, the reliability of each template and diversity."""
    out = out or sys.stdout
    from engine.api.card_report import meta_study, study

    try:
        fit_end = _date(args.fit_end, "--fit-end")
        assert fit_end is not None
        result = study(settings, fit_end, _date(args.end, "--end"))
        metas = meta_study(settings, fit_end, _date(args.end, "--end"))
    except ValueError as exc:
        print(f"onetap calibration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    verbose = bool(getattr(args, "verbose", False))
    held = _held_back_line(settings)
    if args.json:
        print_data_notes(sys.stderr, verbose=verbose, held_back=held)
        payload = {
            "fit_end": result.fit_end.isoformat(),
            "test_end": result.test_end.isoformat(),
            "templates": [
                {
                    "template": c.template,
                    "method": c.method,
                    "n_train": c.n_train,
                    "n_test": c.n_test,
                    "brier": c.brier,
                    "brier_base": c.brier_base,
                    "skill": c.skill,
                    "hit_rate": c.hit_rate,
                    "mean_confidence": c.mean_confidence,
                    "reliability": [
                        {
                            "lo": b.lo,
                            "hi": b.hi,
                            "n": b.n,
                            "predicted": b.mean_predicted,
                            "observed": b.observed_rate,
                        }
                        for b in c.reliability
                    ],
                }
                for c in result.calibration
            ],
            "top": list(result.top),
            "mean_pairwise_correlation": result.mean_pairwise_correlation,
            "meta_label": [
                {
                    "template": m.template,
                    "before": _skill_json(m.before),
                    "after": _skill_json(m.after),
                    "cv_skill": dict(m.cv_skill),
                }
                for m in metas
            ],
        }
        print(json.dumps(payload), file=out)
        return 0
    print(
        f"Confidence out of sample: fitted on trades ended before {result.fit_end}, "
        f"tested on trades entered {result.fit_end} .. {result.test_end}",
        file=out,
    )
    print(
        f"{'template':<15}{'train':>7}{'test':>6}{'Brier':>8}{'base':>8}{'skill':>8}"
        f"{'hit rate':>10}{'mean conf':>11}",
        file=out,
    )
    for c in result.calibration:
        print(
            f"{c.template:<15}{c.n_train:>7}{c.n_test:>6}{c.brier:>8.4f}{c.brier_base:>8.4f}"
            f"{c.skill:>+8.3f}{c.hit_rate:>10.1%}{c.mean_confidence:>11.1%}",
            file=out,
        )
    print("skill = 1 - Brier / base-rate Brier: above 0, confidence knows more than the win rate", file=out)
    print("\nReliability (test period): predicted -> observed (n)", file=out)
    for c in result.calibration:
        bins = "  ".join(f"{b.mean_predicted:.0%}->{b.observed_rate:.0%} ({b.n})" for b in c.reliability)
        print(f"  {c.template:<15}{bins}", file=out)
    print(
        f"\nDiversity: top {len(result.top)} setups at {result.fit_end}, mean pairwise correlation of "
        f"their daily strategy returns in the test period: {result.mean_pairwise_correlation:+.2f}",
        file=out,
    )
    print("  " + ", ".join(result.top), file=out)
    _print_meta(metas, out)
    print_data_notes(out, verbose=verbose, held_back=held)
    return 0


def _skill_json(r: SkillReport) -> dict[str, object]:
    return {
        "model": r.model,
        "n_train": r.n_train,
        "n_test": r.n_test,
        "brier": r.brier,
        "brier_base": r.brier_base,
        "skill": r.skill,
        "skill_lo": r.lo,
        "skill_hi": r.hi,
        "level": r.level,
        "edge": r.edge,
        "reliability": [
            {"lo": b.lo, "hi": b.hi, "n": b.n, "predicted": b.mean_predicted, "observed": b.observed_rate}
            for b in r.reliability
        ],
    }


def _interval(r: SkillReport) -> str:
    return f"{r.skill:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}]" + (" edge" if r.edge else "")


def _print_meta(metas: tuple[TemplateMeta, ...], out: TextIO) -> None:
    """Before (the score calibrator) and after (the meta-label model) on the same test trades."""
    if not metas:
        return
    level = metas[0].after.level
    print(
        f"\nBrier skill before and after meta-labelling, same test trades, {level:.0%} block-bootstrap "
        "interval (edge: its lower end above 0)",
        file=out,
    )
    print(
        f"{'template':<15}{'test':>6}  {'before (score calibrator)':<33}{'after (meta-label)':<33}model",
        file=out,
    )
    for m in metas:
        verdict = "edge" if m.after.edge else "no measured edge"
        cv = ", ".join(f"{k} {v:+.3f}" for k, v in m.cv_skill)
        print(
            f"{m.template:<15}{m.after.n_test:>6}  {_interval(m.before):<33}{_interval(m.after):<33}"
            f"{m.after.model} ({verdict}){f'; purged CV: {cv}' if cv else ''}",
            file=out,
        )
    print("\nReliability after meta-labelling (test period): predicted -> observed (n)", file=out)
    for m in metas:
        bins = "  ".join(
            f"{b.mean_predicted:.0%}->{b.observed_rate:.0%} ({b.n})" for b in m.after.reliability
        )
        print(f"  {m.template:<15}{bins}", file=out)


def _held_back_line(settings: Settings) -> str:
    """Which enabled templates the data cannot feed (volume), for the line under the results."""
    from engine.api.data_notes import settings_held_back

    return settings_held_back(settings)


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout  # looked up per call: tests and pipes replace sys.stdout after import
    asof: date | None = None
    if args.asof is not None:
        try:
            asof = date.fromisoformat(args.asof)
        except ValueError:
            print(f"onetap cards: --asof {args.asof!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
            return EXIT_USAGE
    from engine.api.card_report import card_rows, cards_asof
    from engine.api.data_notes import describe, held_back_pairs

    try:
        result = cards_asof(settings, asof)
    except ValueError as exc:
        print(f"onetap cards: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows = card_rows(result)
    from engine.api.intraday_cards import intraday_report

    try:  # FX and crypto cards of [data] intraday (none unless it is set)
        intraday_rows, intraday_lines = intraday_report(settings)
    except ValueError as exc:
        print(f"onetap cards: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rejected = dict(sorted(result.proposal.rejected.items()))
    rejected |= held_back_pairs(result.held_back)
    verbose = bool(getattr(args, "verbose", False))
    if args.json:
        for row in rows:
            print(json.dumps(row), file=out)
        for row in intraday_rows:
            print(json.dumps(row), file=out)
        print(json.dumps({"rejected": rejected}), file=out)
        # the data notes go to stderr: stdout stays one JSON object per line for scripts
        print_data_notes(sys.stderr, verbose=verbose, held_back=describe(result.held_back))
        return 0
    latest = " (the latest session in the data)" if asof is None else ""
    print(f"Strategy cards for {result.asof}{latest} (bars before it only), best first", file=out)
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
    for line in intraday_lines:
        print(line, file=out)
    print_data_notes(out, verbose=verbose, held_back=describe(result.held_back))
    return 0
