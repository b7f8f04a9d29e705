"""Optional notifiers for risk alerts: a webhook, an email, a local command.

Every ``RiskAlert`` already reaches the console and the log; these notifiers exist so that an
operator who is away from the desk still hears about a halt or a tripped breaker. Three rules
shape the module:

- Delivery must never hurt the engine. ``AlertDispatcher.dispatch`` is synchronous and only
  schedules tasks; every send is bounded by ``timeout_s``; a failure becomes one line for
  ``on_failure`` (the engine turns it into a notice) and never an exception in the caller.
- No new runtime dependency: HTTP is a minimal HTTP/1.1 POST over asyncio streams, email is the
  standard library's ``smtplib`` in a worker thread, the command is an asyncio subprocess.
- Secrets stay secret: the SMTP password is read from the environment variable *named* in the
  settings at send time; a webhook URL is shown as scheme, host and port only (Slack-style hooks
  keep their token in the path, others in the query or user info). Every failure line passes
  through one ``Redactor`` (engine/model/redact.py) that knows each notifier's secrets and reduces
  any URL, so neither our own text nor an exception's can carry a secret to the notice, the log,
  the audit or an attached console.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import SplitResult, unquote, urlsplit

from engine.config import AlertSettings
from engine.model.codec import dumps
from engine.model.events import RiskAlert
from engine.model.redact import Redactor, redact_url, url_secrets

log = logging.getLogger(__name__)

LEVELS: tuple[str, ...] = ("info", "warning", "error")
"""Alert levels, lowest first; ``min_level`` keeps this level and everything after it."""

_RANK = {level: rank for rank, level in enumerate(LEVELS)}
_MAX_LINE = 300  # a failure line is shown on the desk: keep it to one readable line
_MAX_BODY = 64 * 1024  # most of a webhook's answer we bother to read


class AlertDeliveryError(RuntimeError):
    """A notifier could not deliver; the text is already the one line the operator reads."""


class Notifier(Protocol):
    """Something that delivers one alert somewhere, raising on failure.

    ``name`` is a property in the protocol (rather than a plain attribute) so that any class
    with a ``name`` attribute, a class constant or a read-only property qualifies. ``send``
    must raise when the alert was not delivered: the dispatcher turns the exception into the
    failure line, so a notifier never has to know how failures are reported.
    """

    @property
    def name(self) -> str: ...

    async def send(self, alert: RiskAlert) -> None: ...


def alert_json(alert: RiskAlert) -> bytes:
    """The alert as the JSON every machine-facing notifier sends (the socket protocol's encoding)."""
    return dumps(alert).encode("utf-8")


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


def _describe(exc: BaseException) -> str:
    """Our own errors read as written; anything else keeps its type, which is often the clue."""
    if isinstance(exc, AlertDeliveryError):
        return _one_line(str(exc))
    text = str(exc)
    return _one_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


# --- webhook -------------------------------------------------------------------------------------


def _check_http_url(url: str, key: str) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{key} must start with http:// or https:// (got scheme {parts.scheme!r})")
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise ValueError(f"{key} has an invalid port") from None
    if not parts.hostname:
        raise ValueError(f"{key} has no host")
    return parts


class WebhookNotifier:
    """POSTs the alert as JSON and expects a 2xx answer.

    A hand-written HTTP/1.1 request on asyncio streams rather than ``urllib`` in a thread:
    a timed-out send is then really abandoned (the connection is aborted on cancellation)
    instead of holding a worker thread while a dead endpoint hangs, and a burst of alerts to a
    hung endpoint cannot starve the default executor the engine uses for other work.
    """

    name = "webhook"

    def __init__(self, url: str) -> None:
        parts = _check_http_url(url, "alerts.webhook_url")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._tls else 80)
        authority = parts.netloc.rpartition("@")[2]
        self._authority = authority
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._auth = ""
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self._auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        self.url = url
        self.display_url = redact_url(url)
        """The URL as failure messages show it: scheme, host and port (tokens live in the rest)."""
        self.secrets = tuple(url_secrets(url))
        """What the dispatcher masks in any failure line about this notifier."""

    def _request(self, body: bytes) -> bytes:
        headers = [
            f"POST {self._target} HTTP/1.1",
            f"Host: {self._authority}",
            "User-Agent: onetap-alerts",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        if self._auth:
            headers.append(f"Authorization: {self._auth}")
        return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body

    async def send(self, alert: RiskAlert) -> None:
        body = alert_json(alert)
        tls = ssl.create_default_context() if self._tls else None
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port, ssl=tls)
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake (SSLError is an OSError)
            raise AlertDeliveryError(f"cannot reach {self.display_url}: {_describe(exc)}") from exc
        try:
            writer.write(self._request(body))
            await writer.drain()
            status = await self._read_answer(reader)
        except BaseException as exc:
            # Cancelled (timeout) or broken: drop the connection now. A graceful TLS close
            # could wait on a dead peer, and ``wait_for`` waits for us to finish.
            writer.transport.abort()
            if isinstance(exc, OSError | ValueError):  # ValueError: an over-long answer line
                raise AlertDeliveryError(f"{_describe(exc)} from {self.display_url}") from exc
            raise
        writer.close()
        if not 200 <= status < 300:
            raise AlertDeliveryError(f"HTTP {status} from {self.display_url}")

    async def _read_answer(self, reader: asyncio.StreamReader) -> int:
        """The final status code; the body (if short and sized) is read so the server can finish."""
        while True:
            line = await reader.readline()
            if not line:
                raise AlertDeliveryError(f"connection closed without an answer from {self.display_url}")
            fields = line.decode("latin-1").split(None, 2)
            if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
                raise AlertDeliveryError(f"not an HTTP answer from {self.display_url}")
            status = int(fields[1])
            length = 0
            while True:  # headers
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                key, _, value = header.decode("latin-1").partition(":")
                if key.strip().lower() == "content-length" and value.strip().isdigit():
                    length = int(value.strip())
            if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
                continue
            if 0 < length <= _MAX_BODY:
                with suppress(asyncio.IncompleteReadError):
                    await reader.readexactly(length)
            return status


# --- email ---------------------------------------------------------------------------------------


def email_subject(alert: RiskAlert) -> str:
    """``onetap [ERROR] HALTED: first line of the message``: sortable, readable in a phone's list."""
    first = alert.message.strip().splitlines()[0] if alert.message.strip() else ""
    summary = first if len(first) <= 120 else first[:117] + "..."
    head = f"onetap [{alert.level.upper()}] {alert.code}"
    return f"{head}: {summary}" if summary else head


def email_body(alert: RiskAlert) -> str:
    """Every field, plain text: the mail must stand on its own when read away from the desk."""
    return (
        "onetap risk alert\n\n"
        f"time:    {alert.ts.isoformat()}\n"
        f"level:   {alert.level}\n"
        f"code:    {alert.code}\n"
        f"subject: {alert.subject or '-'}\n"
        f"message: {alert.message}\n"
    )


class EmailNotifier:
    """Sends the alert through an SMTP server with ``smtplib`` in a worker thread.

    ``smtplib`` is blocking, so it runs in ``asyncio.to_thread``; every socket operation is
    given ``timeout_s`` so that a send abandoned by the dispatcher also ends in its thread
    soon after, instead of holding a worker forever.
    """

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        starttls: bool = False,
        username: str = "",
        password_env: str = "",
        timeout_s: float,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = tuple(recipients)
        self.starttls = starttls
        self.username = username
        self.password_env = password_env
        self.timeout_s = timeout_s
        self.secrets: tuple[str, ...] = ()
        """Known secrets; the password joins them once read (it is read at send time)."""

    def _password(self) -> str:
        """Read at send time so a rotated secret is picked up; the error names the variable only."""
        if not self.username:
            return ""
        value = os.environ.get(self.password_env, "")
        if not value:
            raise AlertDeliveryError(
                f"SMTP password variable {self.password_env} (alerts.smtp_password_env) is not set"
            )
        return value

    def message(self, alert: RiskAlert) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Subject"] = email_subject(alert)
        # The sending time, not ``alert.ts``: in replay the alert carries market time, which
        # would sort the mail years back in an inbox. ``ts`` is in the body.
        msg["Date"] = formatdate(usegmt=True)
        msg.set_content(email_body(alert))
        return msg

    async def send(self, alert: RiskAlert) -> None:
        password = self._password()
        if password and password not in self.secrets:
            self.secrets = (*self.secrets, password)
        await asyncio.to_thread(self._send_blocking, self.message(alert), password)

    def _send_blocking(self, msg: EmailMessage, password: str) -> None:
        where = f"SMTP {self.host}:{self.port}"
        try:
            # ``local_hostname``: smtplib's default is ``socket.getfqdn()``, a reverse DNS
            # lookup that can stall for seconds on a badly configured host.
            with smtplib.SMTP(
                self.host, self.port, local_hostname=socket.gethostname(), timeout=self.timeout_s
            ) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, password)
                refused = smtp.send_message(
                    msg,
                    from_addr=parseaddr(self.sender)[1],
                    to_addrs=[parseaddr(r)[1] for r in self.recipients],
                )
        except (smtplib.SMTPException, OSError) as exc:  # a server may echo the login: mask it here too
            raise AlertDeliveryError(Redactor([password])(f"{where}: {_describe(exc)}")) from exc
        if refused:
            raise AlertDeliveryError(f"{where} refused {', '.join(sorted(refused))}")


# --- command -------------------------------------------------------------------------------------


class CommandNotifier:
    """Runs a local program (``notify-send``, a pager script, ...) with the alert JSON on stdin.

    The program is started directly from an argv list, never through a shell, so nothing in
    an alert's text can be interpreted as shell syntax. A send abandoned by the dispatcher
    kills the program rather than leaving it running.
    """

    name = "command"

    def __init__(self, argv: Sequence[str]) -> None:
        if not argv or not argv[0]:
            raise ValueError("alerts.command must name a program as its first element")
        self.argv = tuple(argv)
        self.secrets = tuple(secret for arg in self.argv[1:] if "://" in arg for secret in url_secrets(arg))
        """A URL among the arguments (``curl https://hooks...``) is as secret as a webhook's."""

    async def send(self, alert: RiskAlert) -> None:
        proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await proc.communicate(alert_json(alert))
        except BaseException:
            if proc.returncode is None:
                with suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            raise
        if proc.returncode != 0:
            lines = err.decode("utf-8", errors="replace").strip().splitlines()
            detail = f": {lines[0].strip()}" if lines else ""
            raise AlertDeliveryError(f"exit code {proc.returncode} from {Path(self.argv[0]).name}{detail}")


# --- building from settings ----------------------------------------------------------------------


def _check_address(address: str, key: str) -> None:
    """``ops@example.com`` or ``Ops Desk <ops@example.com>``; the envelope takes the bare address."""
    bare = parseaddr(address)[1]
    local, at, domain = bare.partition("@")
    if not (local and at and domain) or any(c.isspace() for c in bare):
        raise ValueError(f"{key}: {address!r} is not an email address")


def _email_from_settings(settings: AlertSettings) -> EmailNotifier:
    if not settings.smtp_to:
        raise ValueError("alerts.smtp_to is empty but alerts.smtp_host is set: name at least one recipient")
    if not settings.smtp_from:
        raise ValueError("alerts.smtp_from is empty but alerts.smtp_host is set")
    _check_address(settings.smtp_from, "alerts.smtp_from")
    for address in settings.smtp_to:
        _check_address(address, "alerts.smtp_to")
    if settings.smtp_username and not settings.smtp_password_env:
        raise ValueError(
            "alerts.smtp_username is set but alerts.smtp_password_env is empty: "
            "name the environment variable that holds the password"
        )
    if settings.smtp_password_env and not settings.smtp_username:
        raise ValueError("alerts.smtp_password_env is set but alerts.smtp_username is empty")
    return EmailNotifier(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        recipients=settings.smtp_to,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password_env=settings.smtp_password_env,
        timeout_s=settings.timeout_s,
    )


def notifiers_from_settings(settings: AlertSettings) -> list[Notifier]:
    """The notifiers the ``[alerts]`` section switches on, in a fixed order; none: an empty list.

    Mistakes that would silently lose alerts (a host with no recipient, a URL that is not
    HTTP) fail here, at start-up, with the key named, rather than at the first breach.
    """
    out: list[Notifier] = []
    if settings.webhook_url:
        out.append(WebhookNotifier(settings.webhook_url))
    if settings.smtp_host:
        out.append(_email_from_settings(settings))
    if settings.command:
        out.append(CommandNotifier(settings.command))
    return out


# --- dispatch ------------------------------------------------------------------------------------


class AlertDispatcher:
    """Fans each alert out to the notifiers without ever blocking or raising into the engine.

    ``dispatch`` runs on the engine's loop (from event handlers), so it only filters and
    schedules: one task per notifier, each bounded by ``timeout_s``, so a slow email server
    delays neither the webhook nor the engine. Tasks are held in a set until done (the loop
    itself keeps only weak references). At most ``max_in_flight`` sends are pending at once:
    a flapping breaker against a hung endpoint must not grow without bound; a dropped send
    is reported like any other failure.
    """

    def __init__(
        self,
        notifiers: Iterable[Notifier],
        *,
        min_level: str,
        timeout_s: float,
        on_failure: Callable[[str], None],
        max_in_flight: int = 100,
    ) -> None:
        if min_level not in _RANK:
            raise ValueError(f"alerts.min_level must be one of {', '.join(LEVELS)} (got {min_level!r})")
        if timeout_s <= 0:
            raise ValueError("alerts.timeout_s must be positive")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._notifiers = tuple(notifiers)
        self._redact = Redactor()
        self._min_rank = _RANK[min_level]
        self._timeout_s = timeout_s
        self._on_failure = on_failure
        self._max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: AlertSettings, *, on_failure: Callable[[str], None]) -> AlertDispatcher:
        """The dispatcher ``[alerts]`` describes (its notifiers, level and timeout): the one door
        from the settings to it. Raises ``ValueError`` naming the key of a notifier set up wrong."""
        return cls(
            notifiers_from_settings(settings),
            min_level=settings.min_level,
            timeout_s=settings.timeout_s,
            on_failure=on_failure,
        )

    @property
    def notifiers(self) -> tuple[Notifier, ...]:
        return self._notifiers

    @property
    def in_flight(self) -> int:
        """Sends scheduled and not finished yet."""
        return len(self._tasks)

    def wants(self, alert: RiskAlert) -> bool:
        """Whether the alert's level reaches ``min_level``.

        An unknown level is treated as above ``error``: a typo in a level must not silence
        an alert.
        """
        return _RANK.get(alert.level.lower(), len(LEVELS)) >= self._min_rank

    def dispatch(self, alert: RiskAlert) -> None:
        """Schedule the alert on every notifier and return at once; never raises."""
        if not self._notifiers or not self.wants(alert):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._report(f"alert {alert.code} not sent: no running event loop")
            return
        for notifier in self._notifiers:
            if len(self._tasks) >= self._max_in_flight:
                self._report(
                    f"alert {notifier.name} failed: {self._max_in_flight} sends already pending, "
                    f"{alert.code} dropped"
                )
                continue
            task = loop.create_task(self._deliver(notifier, alert), name=f"alert-{notifier.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every scheduled send has finished (delivered, failed or timed out).

        ``asyncio.wait`` rather than ``gather``: cancelling a drain (a hurried shutdown) must
        not cancel the sends themselves. Sends scheduled while draining are waited for too.
        """
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _deliver(self, notifier: Notifier, alert: RiskAlert) -> None:
        try:
            await asyncio.wait_for(notifier.send(alert), self._timeout_s)
        except TimeoutError:
            self._report(f"alert {notifier.name} failed: no answer within {self._timeout_s:g} s")
        except Exception as exc:
            self._report(f"alert {notifier.name} failed: {_describe(exc)}")

    def _secrets(self) -> Redactor:
        """Every notifier's secrets, read at each report: the SMTP password is known only once sent.

        ``secrets`` is optional on a notifier (the protocol asks only for ``name`` and ``send``);
        URLs are reduced whether a notifier declares secrets or not.
        """
        return self._redact.with_secrets(s for n in self._notifiers for s in getattr(n, "secrets", ()))

    def _report(self, line: str) -> None:
        """Hand one redacted line to ``on_failure``; a broken callback is logged, never propagated."""
        line = self._secrets()(line)
        try:
            self._on_failure(line)
        except Exception:
            log.exception("alert failure callback raised while reporting: %s", line)
