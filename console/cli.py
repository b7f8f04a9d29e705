"""The ``onetap`` command.

    onetap                      the console on an embedded engine (paper broker, replayed data)
    onetap --engine-only        the engine headless, serving its socket
    onetap --attach [SOCKET]    the console attached to a headless engine
    onetap kill                 the kill switch, from any shell
    onetap status [--json]      is the engine healthy? (exit 0 healthy, 1 degraded, 2 halted/unreachable)
    onetap web [--host H] [--port P] [--attach [SOCKET]]
                                the console in a browser, attached to the engine (started if none runs)
    onetap audit verify|export  prove the audit record intact, or export it as JSON lines
    onetap replay --recording D replay a recorded session exactly (--list: the recordings kept)
    onetap --broker ibkr [--port 7497] [--live --account U...] [--read-only]
                                the console on Interactive Brokers (TWS / IB Gateway)
    onetap tws-sim --port 7497  a TWS API simulator to try the IBKR path with no IB account
    onetap var-backtest         roll a VaR model over daily series and test its exceedances

Heavy modules are imported only by the path that needs them: ``--engine-only`` never
imports Textual, nothing here imports torch or ib_insync, and ``onetap kill`` against a running
engine imports neither the engine nor the config schema (``console.kill_cmd``). So this module's
own imports stay light: everything else is imported inside the function that needs it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import Settings

EXIT_USAGE = 2


def _port(text: str) -> int:
    """An argparse type: a TCP port 1-65535, or a one-line error naming what was wrong."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 1-65535")
    return port


def build_parser() -> argparse.ArgumentParser:
    from console import audit_cmd, cards_cmd, replay_cmd, report_cmd, research_cmd, rl_cmd, var_cmd, web_cmd

    parser = argparse.ArgumentParser(
        prog="onetap", description="Terminal operator console for automated trading."
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="a TOML file overriding config/default.toml"
    )
    parser.add_argument(
        "--database", type=Path, metavar="PATH", help="the SQLite database (overrides [store] database)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--engine-only", action="store_true", help="run the engine headless, serving its socket"
    )
    mode.add_argument(
        "--attach", nargs="?", const="", metavar="SOCKET", help="attach the console to a headless engine"
    )
    parser.add_argument(
        "--socket", type=Path, metavar="PATH", help="the engine's socket (overrides [engine] socket)"
    )
    ibkr = parser.add_argument_group("Interactive Brokers (overrides [broker] kind and [ibkr])")
    ibkr.add_argument("--broker", choices=("paper", "ibkr"), help="paper (embedded, default) or ibkr")
    ibkr.add_argument("--host", metavar="HOST", help="TWS / IB Gateway host")
    ibkr.add_argument("--port", type=_port, metavar="PORT", help="TWS / IB Gateway API port (paper: 7497)")
    ibkr.add_argument("--client-id", type=int, metavar="N", help="the API client id")
    ibkr.add_argument("--account", metavar="ID", help="the account to trade (several managed accounts)")
    ibkr.add_argument(
        "--live",
        action="store_true",
        help="trade a LIVE account: needs --account, a live port, and the account id typed once",
    )
    ibkr.add_argument("--read-only", action="store_true", help="show everything, send no order")
    ibkr.add_argument("--delayed", action="store_true", help="delayed market data (no subscription needed)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser(
        "tws-sim",
        help="run the TWS API simulator (try the IBKR path with no IB account); --help for options",
        add_help=False,
    )
    kill = sub.add_parser(
        "kill", help="engage the kill switch of the running engine (or of the database if none runs)"
    )
    kill.add_argument(
        "--reason",
        default="kill switch from the command line",
        help="why, in words: recorded in the audit log with the halt",
    )
    kill.add_argument(
        "--flatten",
        action="store_true",
        help="second level: also close every position with reduce-only market orders",
    )
    status = sub.add_parser(
        "status",
        help="is the running engine healthy? exit 0 healthy, 1 degraded, 2 halted or unreachable",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    audit_cmd.add_parser(sub)
    replay_cmd.add_parser(sub)
    report_cmd.add_parser(sub)
    cards_cmd.add_parser(sub)
    research_cmd.add_parsers(sub)
    web_cmd.add_parser(sub)
    var_cmd.add_parser(sub)
    rl_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None, *, fast_kill: bool = True) -> int:
    """``fast_kill=False`` forces ``onetap kill`` the long way (the benchmark's "before")."""
    argv = sys.argv[1:] if argv is None else argv
    if fast_kill:
        code = _fast_path(argv)
        if code is not None:
            return code
    if argv[:1] == ["tws-sim"]:
        from engine.api.simulators import tws_sim_main

        return tws_sim_main(argv[1:])
    from engine.config import ConfigError, load_settings

    args = build_parser().parse_args(argv)
    try:
        settings = with_broker_flags(load_settings(args.config), args)
    except ConfigError as exc:
        print(f"onetap: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _dispatch(settings, args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`onetap cards --asof D | head`): stop quietly, as Unix tools do;
        # stdout is pointed at /dev/null so Python's own flush at exit does not complain again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _fast_path(argv: list[str]) -> int | None:
    """``onetap kill`` and ``onetap status`` straight to the socket, before anything heavy loads."""
    from console.kill_cmd import run_fast as kill_fast
    from console.status_cmd import run_fast as status_fast

    code = kill_fast(argv)
    return code if code is not None else status_fast(argv)


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    from console import audit_cmd, cards_cmd, report_cmd, research_cmd

    if args.command == "kill":
        return _kill(settings, args)
    if args.command == "status":
        from console.status_cmd import report

        return report(_socket_path(settings, args), as_json=args.json)
    if args.command == "web":
        from console import web_cmd

        return web_cmd.run(args, settings)
    if args.command == "audit":
        return audit_cmd.run(args, settings)
    if args.command == "replay":
        from console import replay_cmd

        return replay_cmd.run(args, settings, args.database)
    if args.command == "report":
        return report_cmd.run(args, settings)
    if args.command == "cards":
        return cards_cmd.run(args, settings)
    if args.command == "calibration":
        return cards_cmd.run_calibration(args, settings)
    runner = getattr(args, "runner", None)  # a subcommand that names its own runner
    if runner is not None:
        return int(runner(args, settings))
    if args.command in research_cmd.HELP:
        return research_cmd.run(args, settings)
    if args.engine_only:
        return _engine_only(settings, args)
    return _console(settings, args)


def with_broker_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    from engine.config import ConfigError

    """The command line's broker flags over the settings (flags win, as they are the latest word)."""
    ibkr: dict[str, object] = {}
    for flag, key in (("host", "host"), ("port", "port"), ("client_id", "client_id"), ("account", "account")):
        value = getattr(args, flag, None)
        if value is not None:
            ibkr[key] = value
    if getattr(args, "live", False):
        ibkr["live"] = True
    if getattr(args, "read_only", False):
        ibkr["read_only"] = True
    if getattr(args, "delayed", False):
        ibkr["market_data"] = "delayed"
    update: dict[str, object] = {}
    kind = getattr(args, "broker", None)
    if kind is None and (ibkr.keys() & {"live", "port", "host", "account"}):
        kind = "ibkr"  # `onetap --port 7497` means IBKR: the paper broker has no port
    if kind is not None:
        update["broker"] = settings.broker.model_copy(update={"kind": kind})
    if ibkr:
        try:
            update["ibkr"] = type(settings.ibkr).model_validate({**settings.ibkr.model_dump(), **ibkr})
        except ValueError as exc:  # pydantic's ValidationError
            first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": ("?",), "msg": str(exc)}
            flag = "--" + str(first["loc"][0]).replace("_", "-")
            raise ConfigError(f"{flag}: {first['msg']}") from None
    return settings.model_copy(update=update) if update else settings


def _socket_path(settings: Settings, args: argparse.Namespace) -> Path:
    from engine.paths import socket_path

    if args.attach:
        return Path(args.attach).expanduser()
    if args.socket:
        return Path(args.socket).expanduser()
    return socket_path(settings.engine.socket)


def _start_error(exc: Exception) -> int:
    print(f"onetap: cannot start: {exc}", file=sys.stderr)
    return EXIT_USAGE


def _engine_only(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from engine.api.headless import run_headless
    from engine.api.offline import STARTUP_ERRORS

    try:
        return asyncio.run(
            run_headless(settings, database=args.database, socket_path=args.socket, out=sys.stdout)
        )
    except STARTUP_ERRORS as exc:
        return _start_error(exc)


def _console(settings: Settings, args: argparse.Namespace) -> int:
    from console.client import EmbeddedClient, EngineClient, SocketClient

    client: EngineClient
    embedded: EmbeddedClient | None = None
    if args.attach is not None:
        client = SocketClient(_socket_path(settings, args), settings=settings, database=args.database)
    else:
        # The engine imports and starts on its own thread while Textual imports and draws here.
        client = embedded = EmbeddedClient(settings, database=args.database)
        embedded.start()
    from console.app import OneTapApp

    app = OneTapApp(
        client,
        hotkeys=settings.hotkeys,
        settings=settings,
        on_first_frame=_first_frame_marker(),
        on_first_cards=_time_marker("ONETAP_FIRST_CARDS_FILE"),
        exit_on_connect_error=embedded is not None,
        exit_on_signals=True,
    )
    app.run()
    error = embedded.start_error if embedded is not None else None
    if error is not None:
        from engine.api.offline import STARTUP_ERRORS

        if isinstance(error, STARTUP_ERRORS):
            return _start_error(error)
        raise error
    return app.return_code or 0


def _first_frame_marker() -> Callable[[], None] | None:
    """For ``make bench``: ``ONETAP_FIRST_FRAME_FILE`` receives the wall time of the first full
    frame and the heavy modules loaded by then (they must be none: imports stay lazy)."""
    path = os.environ.get("ONETAP_FIRST_FRAME_FILE")
    if not path:
        return None

    def mark() -> None:
        heavy = [m for m in HEAVY_MODULES if m in sys.modules]
        Path(path).write_text(f"{time.time()}\n{','.join(heavy)}\n")

    return mark


def _time_marker(variable: str) -> Callable[[], None] | None:
    """For ``make bench``: the file named by ``variable`` receives the wall time of the moment."""
    path = os.environ.get(variable)
    if not path:
        return None

    def mark() -> None:
        Path(path).write_text(f"{time.time()}\n")

    return mark


HEAVY_MODULES = ("torch", "ib_insync", "scipy.optimize")
"""Modules the first frame must not wait for (ARCHITECTURE rule 6)."""


def _kill(settings: Settings, args: argparse.Namespace) -> int:
    """The long way: settings validated, then the same exchange as the fast path, or the offline halt."""
    from console.kill_cmd import run_over_socket

    path = _socket_path(settings, args)
    code = run_over_socket(path, args.reason, flatten=args.flatten)
    if code is not None:
        return code
    from engine.actor import current_user
    from engine.api.offline import halt_offline

    level = 2 if args.flatten else 1
    db = halt_offline(settings, args.reason, current_user(), database=args.database, level=level)
    then = " and flattens every position" if args.flatten else ""
    print(f"onetap: no engine is serving {path}; HALTED recorded in {db}: the next start stays halted{then}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
