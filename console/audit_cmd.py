"""``onetap audit verify|export``: prove the audit record intact, or hand it over as JSON lines.

    onetap audit verify [--database PATH]              exit 0 when intact, 1 naming the first bad entry
    onetap audit export [--database PATH] [--out FILE] one JSON object per entry (stdout by default)

The work is done by ``engine.api.auditing`` (the console may not touch the store directly); this
module only parses, prints and chooses the exit code. It never imports Textual.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from engine.config import Settings

EXIT_BAD = 1
EXIT_USAGE = 2
_EXPORT_MODE = 0o600


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``audit`` with its two actions on the ``onetap`` subcommand parsers.

    ``--database`` gets its own dest: a subcommand option sharing the top-level dest would reset
    ``onetap --database X audit verify`` to None (argparse copies sub-parser defaults over).
    """
    audit = subparsers.add_parser("audit", help="verify or export the hash-chained audit log")
    actions = audit.add_subparsers(dest="audit_action", metavar="{verify,export}")
    actions.required = True
    verify = actions.add_parser(
        "verify", help="check the chain and its anchor; exit 1 naming the first bad entry"
    )
    export = actions.add_parser("export", help="write every entry as one JSON line (stdout by default)")
    for sub in (verify, export):
        sub.add_argument(
            "--database",
            dest="audit_database",
            type=Path,
            metavar="PATH",
            help="the SQLite database (overrides [store] database)",
        )
    export.add_argument("--out", type=Path, metavar="FILE", help="write here (0600) instead of stdout")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out ``onetap audit ...``; returns the process exit code."""
    from engine.api.auditing import AuditToolError, audit_protection, database_path, verify_database

    path = database_path(settings, getattr(args, "audit_database", None) or getattr(args, "database", None))
    try:
        if args.audit_action == "verify":
            check = verify_database(path, audit_protection(settings))
            print(f"audit: {check.line}")
            return 0 if check.ok else EXIT_BAD
        return _export(path, args.out)
    except AuditToolError as exc:
        print(f"onetap: audit: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _export(path: Path, out: Path | None) -> int:
    from engine.api.auditing import export_database

    if out is None:
        try:
            export_database(path, sys.stdout)
        except BrokenPipeError:
            # `onetap audit export | head`: the reader left; say nothing more, write nothing more.
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _EXPORT_MODE)
    except OSError as exc:
        print(f"onetap: audit: {out}: cannot write the export: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(fd, _EXPORT_MODE)  # an existing file keeps its mode through O_CREAT: make it private
            count = export_database(path, handle)
    except BaseException:
        out.unlink(missing_ok=True)  # no half-written export left looking like a whole one
        raise
    print(f"audit: {count} entries written to {out}", file=sys.stderr)
    return 0
