"""``onetap web``: the same console in a browser, one console process per tab, all attached to
one engine.

    onetap web [--host H] [--port P] [--attach [SOCKET]] [--token-file FILE]

Which engine: the one serving the socket (``--attach SOCKET``, else ``--socket``/``[engine]
socket``). When none serves it and ``--attach`` was not given, ``onetap web`` starts a headless
engine (``onetap --engine-only``, with the same config, database and broker flags), waits until
it answers, and stops it when the web server stops. Why not an engine embedded in each tab: the
database takes one engine, so two tabs would refuse each other; one headless engine lets every
tab (and a terminal ``onetap --attach``) share one book, one risk state and one kill switch.

Who may open it: the HTTP door's rule (``engine.api.access``). Loopback by default; a
non-loopback ``--host`` needs the token file (``--token-file``, else ``[http] token_file``, else
the default), and whenever a token file exists the browser must present its token.

This module is imported by ``onetap --help``, so it imports nothing heavy at the top.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.config import Settings

EXIT_USAGE = 2
EXIT_ENGINE_STOPPED = 1
"""The engine ``onetap web`` started exited under it (a supervisor should restart both)."""
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8788
"""Next to the HTTP door's 8787."""
ENGINE_START_TIMEOUT_S = 180.0
"""A cold first start loads the market data and compiles the scanners."""
ENGINE_STOP_TIMEOUT_S = 30.0
_FORWARDED = (
    ("config", "--config"),
    ("database", "--database"),
    ("broker", "--broker"),
    ("host", "--host"),
    ("port", "--port"),
    ("client_id", "--client-id"),
    ("account", "--account"),
    ("live", "--live"),
    ("read_only", "--read-only"),
    ("delayed", "--delayed"),
)
"""The top-level options a started engine is given as they were typed (``onetap --broker ibkr web``)."""


def add_parser(sub: Any) -> None:
    """``sub`` is the ``onetap`` parser's subcommands. The options keep their own names in the
    namespace (``web_host``...): the top-level ``--host``/``--port`` belong to IBKR."""
    web = sub.add_parser(
        "web",
        help="the console in a browser, attached to the running engine (or one it starts)",
        description=(
            "Serve the console to web browsers, one console per tab, all attached to one engine: "
            "the running one, or a headless engine started here (and stopped with the server)."
        ),
    )
    web.add_argument(
        "--host",
        dest="web_host",
        default=DEFAULT_HOST,
        metavar="HOST",
        help=f"address to listen on (default {DEFAULT_HOST}); a non-loopback one needs the token file",
    )
    web.add_argument(
        "--port",
        dest="web_port",
        type=int,
        default=DEFAULT_PORT,
        metavar="PORT",
        help=f"port to listen on (default {DEFAULT_PORT})",
    )
    web.add_argument(
        "--attach",
        dest="web_attach",
        nargs="?",
        const="",
        metavar="SOCKET",
        help="only attach to a running engine (default socket if none named); never start one",
    )
    web.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="the 0600 file holding the browser's token (default: [http] token_file, as the HTTP door)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from engine.api.access import TokenFileError, default_token_file, is_loopback, read_token

    host, port = args.web_host, args.web_port
    token_file = Path(args.token_file or settings.http.token_file or default_token_file()).expanduser()
    try:
        token = read_token(token_file)
    except TokenFileError as exc:
        return _fail(str(exc))
    if not is_loopback(host) and token is None:
        return _fail(
            f"--host {host} is not loopback: create the token file {token_file} (one line, chmod 600) "
            "so browsers must present it, or reach a loopback console through an SSH tunnel"
        )
    refusal = _port_refusal(host, port)
    if refusal is not None:
        return _fail(refusal)
    sock = _socket(args, settings)
    engine: subprocess.Popen[bytes] | None = None
    try:
        if not _serving(sock):
            if args.web_attach is not None:
                return _fail(
                    f"no engine serves {sock}: start one (`onetap --engine-only`), "
                    "or leave out --attach and `onetap web` starts one"
                )
            engine = _start_engine(args, sock)
        return _serve(args, sock, host, port, token, token_file, engine)
    except EngineDidNotStart as exc:
        return _fail(str(exc))
    finally:
        if engine is not None:
            _stop_engine(engine)


class EngineDidNotStart(Exception):
    """The headless engine ``onetap web`` started exited or did not answer in time."""


def console_command(args: argparse.Namespace, sock: Path) -> str:
    """The shell command textual-serve runs for each tab: the console attached to ``sock``."""
    argv = [sys.executable, "-m", "console.cli"]
    if args.config is not None:
        argv += ["--config", str(args.config)]
    return shlex.join([*argv, "--attach", str(sock)])


def _serve(
    args: argparse.Namespace,
    sock: Path,
    host: str,
    port: int,
    token: str | None,
    token_file: Path,
    engine: subprocess.Popen[bytes] | None,
) -> int:
    from console.web_server import Access, ConsoleServer

    shown = f"[{host}]" if ":" in host else host

    def announce() -> None:
        url = f"http://{'127.0.0.1' if host == '0.0.0.0' else shown}:{port}/"
        lines = [f"onetap web: the console on {url} (attached to {sock}); ctrl+c stops"]
        if token is not None:
            lines.append(f"onetap web: open {url}?token=<the token in {token_file}> once per browser")
        else:
            lines.append(
                f"onetap web: open to anyone on this machine; "
                f"create {token_file} (chmod 600) to require a token"
            )
        print("\n".join(lines), flush=True)

    server = ConsoleServer(
        console_command(args, sock),
        host=host,
        port=port,
        access=Access(token),
        announce=announce,
        stop_when=None if engine is None else lambda: engine.poll() is not None,
    )
    try:
        server.serve()
    except OSError as exc:
        return _fail(f"cannot listen on {shown}:{port}: {exc.strerror or exc}")
    if engine is not None and engine.poll() is not None:
        print(
            f"onetap web: the engine it started stopped (exit {engine.returncode}); stopping", file=sys.stderr
        )
        return EXIT_ENGINE_STOPPED
    return 0


def _port_refusal(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, found before an engine is started for nothing
    (the server binds it again a moment later, with the same address reuse as this probe)."""
    shown = f"[{host}]" if ":" in host else host
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return f"cannot listen on {shown}:{port}: {exc.strerror or exc}"
    return None


def _socket(args: argparse.Namespace, settings: Settings) -> Path:
    from engine.paths import socket_path

    for given in (args.web_attach, args.attach, args.socket):
        if given:
            return Path(given).expanduser()
    return socket_path(settings.engine.socket)


def _serving(sock: Path) -> bool:
    """True when an engine answers on ``sock``; False when nothing listens there."""
    from console.kill_cmd import NoAnswer
    from console.status_cmd import fetch_vitals

    try:
        fetch_vitals(sock, timeout_s=5.0)
    except ConnectionError:
        return False
    except NoAnswer as exc:
        raise EngineDidNotStart(f"something holds {sock} but does not answer as an engine: {exc}") from None
    return True


def _answers(sock: Path) -> bool:
    """``_serving`` for a starting engine: one that does not answer yet is not up yet."""
    try:
        return _serving(sock)
    except EngineDidNotStart:
        return False


def _start_engine(args: argparse.Namespace, sock: Path) -> subprocess.Popen[bytes]:
    """``onetap --engine-only`` in its own session (ctrl+c reaches the web server, which then
    stops the engine in order); its log goes where this command's output goes."""
    argv = [sys.executable, "-m", "console.cli"]
    for dest, flag in _FORWARDED:
        value = getattr(args, dest, None)
        if value is True:
            argv.append(flag)
        elif value not in (None, False):
            argv += [flag, str(value)]
    argv += ["--socket", str(sock), "--engine-only"]
    print(f"onetap web: no engine serves {sock}; starting one", flush=True)
    proc = subprocess.Popen(argv, start_new_session=True)
    deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
    try:
        while not _answers(sock):
            code = proc.poll()
            if code is not None:
                raise EngineDidNotStart(f"the engine did not start (exit {code}; its reason is above)")
            if time.monotonic() > deadline:
                raise EngineDidNotStart(
                    f"the engine did not answer on {sock} within {ENGINE_START_TIMEOUT_S:g} s"
                )
            time.sleep(0.2)
    except BaseException:
        _stop_engine(proc)
        raise
    return proc


def _stop_engine(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the engine stops with everything persisted), then SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=ENGINE_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _fail(message: str) -> int:
    print(f"onetap web: {message}", file=sys.stderr)
    return EXIT_USAGE
