"""``onetap status``: is the engine healthy? For a person, a cron job or systemd.

Exit codes (documented in the README): 0 healthy, 1 degraded (the broker link down, stale
quotes, a reconciliation awaiting review, the database not writable), 2 halted or unreachable.
Like ``onetap kill`` it imports only the standard library and ``engine.paths`` when it can
reach the socket directly, so it answers in well under the 300 ms a monitor allows it; the
long way (``console.cli``) is taken for options it does not know.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from console.kill_cmd import AnswerReader, NoAnswer, scan_options
from engine.paths import configured_socket

EXIT_UNREACHABLE = 2
"""Also the HALTED verdict's value: a monitor treats "stopped" and "not there" alike."""
ANSWER_TIMEOUT_S = 5.0
_VERDICTS = {0: "HEALTHY", 1: "DEGRADED", 2: "HALTED"}
_GLOBAL_OPTIONS = ("--config", "--socket", "--database")


def plain_request(argv: Sequence[str]) -> tuple[bool, Path | None, Path | None] | None:
    """``[--config F] [--socket S] [--database D] status [--json]`` as (json, config, socket)."""
    if "status" not in argv:
        return None
    at = list(argv).index("status")
    found: dict[str, str] = {}
    if not scan_options(argv[:at], _GLOBAL_OPTIONS, found):
        return None
    rest = list(argv[at + 1 :])
    as_json = "--json" in rest
    if [a for a in rest if a != "--json"]:
        return None
    config = Path(found["--config"]) if "--config" in found else None
    sock = Path(found["--socket"]).expanduser() if "--socket" in found else None
    return as_json, config, sock


def fetch_vitals(path: Path, *, timeout_s: float = ANSWER_TIMEOUT_S) -> dict[str, Any]:
    """The engine's ``Vitals`` as JSON data. Raises ConnectionError when nothing serves ``path``,
    NoAnswer when the engine does not answer properly."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ConnectionError(str(exc)) from None
        frame = json.dumps({"id": 1, "command": {"type": "GetVitals"}}).encode() + b"\n"
        try:
            sock.sendall(frame)
            answer = AnswerReader(sock).answer(1)
        except TimeoutError:
            raise NoAnswer(f"no answer from the engine within {timeout_s:g} s") from None
        except OSError as exc:
            raise NoAnswer(f"the engine connection failed: {exc}") from None
    vitals = answer.get("event")
    if not answer.get("result", {}).get("ok") or not isinstance(vitals, dict):
        message = answer.get("result", {}).get("message", "")
        raise NoAnswer(f"the engine did not send its vitals ({message or 'an engine too old for status?'})")
    return vitals


def render(vitals: Mapping[str, Any]) -> str:
    """The vitals for a person: the verdict first, then one line per fact."""
    verdict = _VERDICTS.get(int(vitals.get("health", 2)), "HALTED")
    lines = [f"onetap status: {verdict}"]
    for reason in vitals.get("reasons") or ():
        lines.append(f"  - {reason}")
    link = vitals.get("link") or "none (embedded paper broker)"
    age = vitals.get("link_age_s")
    if age is not None:
        link += f", heartbeat {age:.0f} s ago"
    quotes = ", ".join(
        f"{group} {age:.0f} s" for group, age in sorted((vitals.get("quote_age_s") or {}).items())
    )
    rows = [
        ("trading", f"{vitals.get('trading_state')} (kill level {vitals.get('kill_level', 0)})"),
        ("broker", f"{vitals.get('broker')} [{vitals.get('mode')}], feed {vitals.get('feed')}"),
        ("session", vitals.get("session_day") or "-"),
        ("link", link),
        ("quote age", quotes or "no quotes yet"),
        ("orders", f"{vitals.get('open_orders', 0)} open"),
        ("positions", str(vitals.get("positions", 0))),
        ("equity", f"{float(vitals.get('equity', 0.0)):,.2f}"),
        ("day P&L", f"{float(vitals.get('day_pnl', 0.0)):+,.2f}"),
        ("VaR use", f"{100.0 * float(vitals.get('var_use', 0.0)):.0f}% of the limit"),
        ("autopilot", f"last run {vitals.get('last_autopilot_run') or 'never'}"),
        ("as of", str(vitals.get("ts", ""))),
    ]
    lines.extend(f"  {name:<10} {value}" for name, value in rows)
    return "\n".join(lines)


def report(path: Path, *, as_json: bool) -> int:
    """Print the status of the engine serving ``path``; the exit code is its verdict."""
    try:
        vitals = fetch_vitals(path)
    except (ConnectionError, NoAnswer) as exc:
        why = f"no engine is serving {path}" if isinstance(exc, ConnectionError) else str(exc)
        if as_json:
            print(json.dumps({"health": "UNREACHABLE", "exit_code": EXIT_UNREACHABLE, "reasons": [why]}))
        else:
            print(f"onetap status: UNREACHABLE: {why}")
        return EXIT_UNREACHABLE
    code = int(vitals.get("health", EXIT_UNREACHABLE))
    if as_json:
        out = {k: v for k, v in vitals.items() if k != "type"}
        out["health"] = _VERDICTS.get(code, "HALTED")
        out["exit_code"] = code
        print(json.dumps(out, sort_keys=True))
    else:
        print(render(vitals))
    return code


def run_fast(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int | None:
    """``onetap status`` without importing the engine; None when the long way must answer."""
    request = plain_request(argv)
    if request is None:
        return None
    as_json, config, sock = request
    env = os.environ if environ is None else environ
    path = sock or configured_socket(config, env)
    if path is None:
        return None
    return report(path, as_json=as_json)


if __name__ == "__main__":
    sys.exit(run_fast(sys.argv[1:]) or 0)
