"""The browser's door to the console: textual-serve's server with onetap's access rule.

textual-serve runs one console process per browser tab (the command it is given, here the
console attached to the engine) and relays the terminal over a WebSocket to xterm.js. This
module adds what a trading console needs on top of it:

- the token rule of the engine's HTTP door (``engine.api.access``): with a token, every request
  must carry it, as ``?token=`` on the first load (answered with a session cookie and a redirect
  that drops the token from the address bar), the cookie, or ``Authorization: Bearer``;
- without a token (loopback only), the request must name a loopback host, so a web page the
  user visits cannot reach the console by pointing its own domain at 127.0.0.1 (DNS rebinding);
- the WebSocket that drives the console must come from the console's own page (its ``Origin``):
  browsers let any site open a WebSocket to localhost, and a keystroke here can send an order;
- the page's WebSocket and static URLs follow the address the browser used (an SSH tunnel on
  another local port, a name instead of ``0.0.0.0``), and the page loads nothing from elsewhere
  (textual-serve's page asks Google Fonts for a font; the console has its own fallback fonts).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Middleware
from textual_serve.server import Server, to_int
from yarl import URL

from engine.api.access import is_loopback

COOKIE = "onetap_web"
TITLE = "onetap"
WATCH_S = 1.0
_EXTERNAL_FONTS = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>", re.S)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Access:
    """Who may open the console: anyone who has ``token``, or (``token`` None) this machine only."""

    token: str | None

    @property
    def session(self) -> str:
        """The cookie's value: derived from the token, so the cookie jar never holds the token."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"onetap web session", hashlib.sha256).hexdigest()

    def refusal(self, request: web.Request) -> web.StreamResponse | None:
        """None when ``request`` may go on; else the answer that says why not (or, for a good
        ``?token=``, the redirect that sets the cookie)."""
        origin = request.headers.get("Origin")
        if request.path == "/ws" and origin is not None and URL(origin).raw_authority != request.host:
            return _refused(403, f"the console's WebSocket is for its own page, not for {origin}")
        if self.token is None:
            if not is_loopback(_hostname(request.host)):
                return _refused(
                    403,
                    f"this console serves this machine only; open it as http://127.0.0.1:{_port(request)}/ "
                    f"(the request named {request.host!r}; behind a proxy, create the token file)",
                )
            return None
        given = request.query.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return _refused(403, "the token is wrong")
            rest = [(key, value) for key, value in request.query.items() if key != "token"]
            target = request.rel_url.with_query(rest or None)
            redirect = web.Response(status=302, headers={"Location": str(target)})
            redirect.set_cookie(COOKIE, self.session, httponly=True, samesite="Strict", path="/")
            return redirect
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self.session.encode()):
            return None
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer ") and hmac.compare_digest(
            bearer.removeprefix("Bearer ").strip().encode(), self.token.encode()
        ):
            return None
        return _refused(
            401,
            "this console needs its token: open /?token=<the token> once "
            "(the token is the content of the token file named when `onetap web` started)",
        )


def _hostname(host: str) -> str:
    """``[::1]:8788`` -> ``::1``; ``localhost:8788`` -> ``localhost``."""
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _port(request: web.Request) -> str:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return str(sockname[1]) if sockname else "PORT"


def _refused(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=f"onetap web: {message}\n", content_type="text/plain")


def guard(access: Access) -> Middleware:
    """The aiohttp middleware that applies ``access`` to every route (page, WebSocket, static files)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = access.refusal(request)
        if refusal is not None:
            return refusal
        return await handler(request)

    return check


class ConsoleServer(Server):
    """textual-serve's server, guarded by ``access``; ``announce`` is called once it listens."""

    def __init__(
        self,
        command: str,
        *,
        host: str,
        port: int,
        access: Access,
        announce: Callable[[], None] | None = None,
        stop_when: Callable[[], bool] | None = None,
    ) -> None:
        """``stop_when`` is asked every second; True stops the server (``onetap web``: the engine
        it started has exited, and every tab's console would only say so)."""
        super().__init__(command, host=host, port=port, title=TITLE)
        self._access = access
        self._announce = announce
        self._stop_when = stop_when
        self._watch: asyncio.Task[None] | None = None

    def initialize_logging(self) -> None:
        """Warnings and errors only: textual-serve's banner and one line per request are noise
        in a server's log (``announce`` says what the operator needs)."""
        logging.basicConfig(level=logging.WARNING, format="onetap web: %(name)s: %(message)s")

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(guard(self._access))
        return app

    async def on_startup(self, app: web.Application) -> None:
        # a dropped SSH session (SIGHUP) stops the server as ctrl+c and SIGTERM do (textual-serve's
        # own handlers), so an engine `onetap web` started is stopped rather than left running
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.request_exit)
        if self._announce is not None:
            self._announce()
        if self._stop_when is not None:
            self._watch = asyncio.create_task(self._watch_loop(self._stop_when))

    async def on_shutdown(self, app: web.Application) -> None:
        if self._watch is not None:
            self._watch.cancel()

    async def _watch_loop(self, stop_when: Callable[[], bool]) -> None:
        while not stop_when():
            await asyncio.sleep(WATCH_S)
        # GracefulExit is a SystemExit: raised from a loop callback it ends run_app in order
        asyncio.get_running_loop().call_soon(self.request_exit)

    async def handle_index(self, request: web.Request) -> web.Response:
        """textual-serve's page, with its URLs taken from the address the browser used (behind a
        TLS proxy that says ``X-Forwarded-Proto: https``, a ``wss:`` WebSocket: a page served over
        https may not open a plain one)."""
        here = request.url.with_query(None).with_fragment(None)
        secure = request.url.scheme == "https" or request.headers.get("X-Forwarded-Proto") == "https"
        socket_url = here.with_path("/ws").with_scheme("wss" if secure else "ws")
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": str(socket_url),
            "config": {"static": {"url": "/static/"}},
            "application": {"name": TITLE},
        }
        page = aiohttp_jinja2.render_string("app_index.html", request, context)
        return web.Response(text=_EXTERNAL_FONTS.sub("", page), content_type="text/html")
