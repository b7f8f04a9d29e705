"""Alert notifiers, each against a real server on loopback: HTTP, SMTP (aiosmtpd), a real process.

Nothing is mocked: the webhook talks to a ``ThreadingHTTPServer``, the email to an aiosmtpd
``Controller``, the command is a real Python child. Timeouts are small so the suite stays quick.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from engine.config import AlertSettings
from engine.model.codec import from_jsonable, to_jsonable
from engine.model.events import RiskAlert
from engine.risk.alerts import (
    AlertDispatcher,
    CommandNotifier,
    EmailNotifier,
    Notifier,
    WebhookNotifier,
    email_subject,
    notifiers_from_settings,
)

ALERT = RiskAlert(
    ts=datetime(2024, 3, 1, 15, 30, tzinfo=UTC),
    code="HALTED",
    level="error",
    message="daily loss limit breached: -2.1% of equity",
    subject="desk",
)


def alert(level: str = "error", code: str = "HALTED") -> RiskAlert:
    return RiskAlert(ALERT.ts, code, level, ALERT.message, ALERT.subject)


def dispatcher(
    notifiers: list[Notifier], failures: list[str], *, min_level: str = "info", timeout_s: float = 2.0
) -> AlertDispatcher:
    return AlertDispatcher(notifiers, min_level=min_level, timeout_s=timeout_s, on_failure=failures.append)


# --- a webhook server --------------------------------------------------------------------------


class HookServer:
    """A real HTTP server on 127.0.0.1: records each POST, answers ``status`` (or never, if hung)."""

    def __init__(self, status: int = 204, *, hang: bool = False) -> None:
        self.status = status
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append(body)
                outer.headers.append(dict(self.headers))
                if hang:
                    outer.release.wait(10)
                    return
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook() -> Iterator[HookServer]:
    server = HookServer()
    yield server
    server.close()


async def test_webhook_posts_the_alert_as_json(hook: HookServer) -> None:
    failures: list[str] = []
    d = dispatcher([WebhookNotifier(hook.url)], failures)
    d.dispatch(ALERT)
    await d.drain()
    assert failures == []
    assert len(hook.bodies) == 1
    received = json.loads(hook.bodies[0])
    assert received == to_jsonable(ALERT)
    assert from_jsonable(received) == ALERT
    assert hook.headers[0]["Content-Type"] == "application/json"


async def test_webhook_non_2xx_is_one_failure_line() -> None:
    server = HookServer(500)
    try:
        failures: list[str] = []
        d = dispatcher([WebhookNotifier(server.url)], failures)
        d.dispatch(ALERT)
        await d.drain()
        assert failures == [f"alert webhook failed: HTTP 500 from {server.url.removesuffix('/hook')}"]
    finally:
        server.close()


async def test_webhook_that_never_answers_times_out() -> None:
    server = HookServer(hang=True)
    try:
        failures: list[str] = []
        d = dispatcher([WebhookNotifier(server.url)], failures, timeout_s=0.3)
        d.dispatch(ALERT)
        await d.drain()
        assert failures == ["alert webhook failed: no answer within 0.3 s"]
        assert len(server.bodies) == 1  # it was delivered, just never answered
    finally:
        server.close()


async def test_webhook_refused_connection_names_scheme_host_and_port_only() -> None:
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        notifier = WebhookNotifier(f"http://127.0.0.1:{port}/services/T0/B0/pathsecret?token=secret")
        with pytest.raises(Exception, match=f"cannot reach http://127.0.0.1:{port}: ") as info:
            await notifier.send(ALERT)
    assert "secret" not in str(info.value) and "/services" not in str(info.value)


# --- an SMTP server ----------------------------------------------------------------------------


class Inbox:
    """aiosmtpd handler recording every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"desk", b"s3cret-pw")
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=check_login,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, port
    controller.stop()


def mailer(port: int, **kw: Any) -> EmailNotifier:
    return EmailNotifier(
        host="127.0.0.1",
        port=port,
        sender="onetap desk <onetap@example.com>",
        recipients=["ops@example.com"],
        timeout_s=2.0,
        **kw,
    )


async def test_email_reaches_the_recipient_with_subject_and_body(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    failures: list[str] = []
    d = dispatcher([mailer(port)], failures)
    d.dispatch(ALERT)
    await d.drain()
    assert failures == []
    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["ops@example.com"]
    assert envelope.mail_from == "onetap@example.com"
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert msg["Subject"] == "onetap [ERROR] HALTED: daily loss limit breached: -2.1% of equity"
    assert msg["Subject"] == email_subject(ALERT)
    assert msg["From"] == "onetap desk <onetap@example.com>"
    body = msg.get_body().get_content()  # type: ignore[union-attr]
    assert "HALTED" in body
    assert ALERT.message in body
    assert "2024-03-01T15:30:00+00:00" in body
    assert "desk" in body


async def test_email_logs_in_with_the_password_from_the_named_variable(
    smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = smtp
    monkeypatch.setenv("ONETAP_TEST_SMTP_PW", "s3cret-pw")
    await mailer(port, username="desk", password_env="ONETAP_TEST_SMTP_PW").send(ALERT)
    assert len(inbox.envelopes) == 1

    monkeypatch.setenv("ONETAP_TEST_SMTP_PW", "wrong-pw")
    failures: list[str] = []
    d = dispatcher([mailer(port, username="desk", password_env="ONETAP_TEST_SMTP_PW")], failures)
    d.dispatch(ALERT)
    await d.drain()
    assert len(failures) == 1
    assert failures[0].startswith(f"alert email failed: SMTP 127.0.0.1:{port}: SMTPAuthenticationError")
    assert "wrong-pw" not in failures[0]
    assert len(inbox.envelopes) == 1


async def test_email_missing_password_variable_is_a_clear_failure(
    smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = smtp
    monkeypatch.delenv("ONETAP_TEST_SMTP_PW_UNSET", raising=False)
    failures: list[str] = []
    d = dispatcher([mailer(port, username="desk", password_env="ONETAP_TEST_SMTP_PW_UNSET")], failures)
    d.dispatch(ALERT)
    await d.drain()
    assert failures == [
        "alert email failed: SMTP password variable ONETAP_TEST_SMTP_PW_UNSET "
        "(alerts.smtp_password_env) is not set"
    ]
    assert inbox.envelopes == []


# --- a command ---------------------------------------------------------------------------------

WRITE_STDIN = "import sys,pathlib; pathlib.Path(sys.argv[1]).write_bytes(sys.stdin.buffer.read())"


async def test_command_gets_the_alert_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "alert.json"
    failures: list[str] = []
    d = dispatcher([CommandNotifier([sys.executable, "-c", WRITE_STDIN, str(out)])], failures)
    d.dispatch(ALERT)
    await d.drain()
    assert failures == []
    assert json.loads(out.read_bytes()) == to_jsonable(ALERT)


async def test_failing_command_names_exit_code_and_first_stderr_line() -> None:
    script = "import sys; sys.stderr.write('pager unreachable\\nsecond line\\n'); sys.exit(3)"
    failures: list[str] = []
    d = dispatcher([CommandNotifier([sys.executable, "-c", script])], failures)
    d.dispatch(ALERT)
    await d.drain()
    name = Path(sys.executable).name
    assert failures == [f"alert command failed: exit code 3 from {name}: pager unreachable"]


async def test_command_that_hangs_is_killed_at_the_timeout() -> None:
    failures: list[str] = []
    sleeper = CommandNotifier([sys.executable, "-c", "import time; time.sleep(30)"])
    d = dispatcher([sleeper], failures, timeout_s=0.3)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    d.dispatch(ALERT)
    await d.drain()
    assert failures == ["alert command failed: no answer within 0.3 s"]
    assert loop.time() - t0 < 3.0


# --- the dispatcher ----------------------------------------------------------------------------


class Recorder:
    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.sent: list[RiskAlert] = []

    async def send(self, alert: RiskAlert) -> None:
        self.sent.append(alert)


class Boom:
    name = "boom"

    async def send(self, alert: RiskAlert) -> None:
        raise RuntimeError("nope")


class Gate:
    """A notifier whose send waits until the test opens the gate."""

    name = "gate"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.open = asyncio.Event()
        self.sent: list[RiskAlert] = []

    async def send(self, alert: RiskAlert) -> None:
        self.started.set()
        await self.open.wait()
        self.sent.append(alert)


async def test_levels_below_min_level_are_not_sent() -> None:
    rec = Recorder()
    d = dispatcher([rec], [], min_level="warning")
    for level in ("info", "warning", "error", "critical"):
        d.dispatch(alert(level))
    await d.drain()
    # an unknown level is sent: a typo must not silence an alert
    assert [a.level for a in rec.sent] == ["warning", "error", "critical"]

    only_errors = Recorder()
    d = dispatcher([only_errors], [], min_level="error")
    d.dispatch(alert("warning"))
    d.dispatch(alert("error"))
    await d.drain()
    assert [a.level for a in only_errors.sent] == ["error"]


async def test_a_failing_notifier_does_not_stop_the_others() -> None:
    before, after = Recorder("before"), Recorder("after")
    failures: list[str] = []
    d = dispatcher([before, Boom(), after], failures)
    d.dispatch(ALERT)
    await d.drain()
    assert before.sent == [ALERT]
    assert after.sent == [ALERT]
    assert failures == ["alert boom failed: RuntimeError: nope"]


async def test_dispatch_returns_at_once_and_never_awaits_the_send() -> None:
    gate = Gate()
    d = dispatcher([gate], [])
    d.dispatch(ALERT)  # synchronous: had it awaited the send, it could not return with the gate shut
    assert not gate.started.is_set()
    assert d.in_flight == 1
    await asyncio.wait_for(gate.started.wait(), 1.0)  # the send runs once the caller yields
    assert gate.sent == []
    assert d.in_flight == 1
    gate.open.set()
    await d.drain()
    assert gate.sent == [ALERT]
    assert d.in_flight == 0


async def test_a_raising_failure_callback_never_reaches_the_caller() -> None:
    def broken(line: str) -> None:
        raise RuntimeError("callback broken")

    d = AlertDispatcher([Boom()], min_level="info", timeout_s=1.0, on_failure=broken)
    d.dispatch(ALERT)
    await d.drain()  # no exception, no "never retrieved" task
    assert d.in_flight == 0


def test_dispatch_without_a_running_loop_reports_instead_of_raising() -> None:
    failures: list[str] = []
    dispatcher([Recorder()], failures).dispatch(ALERT)
    assert failures == ["alert HALTED not sent: no running event loop"]


async def test_pending_sends_are_bounded() -> None:
    gate = Gate()
    failures: list[str] = []
    d = AlertDispatcher([gate], min_level="info", timeout_s=1.0, on_failure=failures.append, max_in_flight=2)
    for _ in range(3):
        d.dispatch(ALERT)
    assert d.in_flight == 2
    assert failures == ["alert gate failed: 2 sends already pending, HALTED dropped"]
    gate.open.set()
    await d.drain()
    assert len(gate.sent) == 2


# --- settings ----------------------------------------------------------------------------------


def test_no_notifier_configured_means_an_empty_list() -> None:
    assert notifiers_from_settings(AlertSettings()) == []


def test_every_configured_notifier_is_built() -> None:
    settings = AlertSettings(
        webhook_url="https://hooks.example.com/x",
        smtp_host="mail.example.com",
        smtp_from="onetap@example.com",
        smtp_to=["ops@example.com"],
        smtp_username="desk",
        smtp_password_env="ONETAP_SMTP_PASSWORD",
        command=["notify-send", "onetap"],
    )
    assert [n.name for n in notifiers_from_settings(settings)] == ["webhook", "email", "command"]


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"webhook_url": "ftp://example.com/hook"}, "alerts.webhook_url"),
        ({"webhook_url": "hooks.example.com/x"}, "alerts.webhook_url"),
        ({"webhook_url": "http://:8080/x"}, "alerts.webhook_url"),
        ({"smtp_host": "mail", "smtp_from": "a@b.c"}, "alerts.smtp_to"),
        ({"smtp_host": "mail", "smtp_to": ["a@b.c"]}, "alerts.smtp_from"),
        ({"smtp_host": "mail", "smtp_from": "a@b.c", "smtp_to": ["ops"]}, "alerts.smtp_to"),
        (
            {"smtp_host": "mail", "smtp_from": "a@b.c", "smtp_to": ["d@e.f"], "smtp_username": "u"},
            "alerts.smtp_password_env",
        ),
        ({"command": [""]}, "alerts.command"),
    ],
)
def test_obvious_mistakes_name_the_key(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        notifiers_from_settings(AlertSettings(**settings))


async def test_the_dispatcher_is_built_from_the_alerts_settings_alone() -> None:
    """``from_settings``: the notifiers, the lowest level and the timeout all come from ``[alerts]``."""
    server = HookServer(hang=True)
    try:
        failures: list[str] = []
        settings = AlertSettings(webhook_url=server.url, min_level="error", timeout_s=0.3)
        d = AlertDispatcher.from_settings(settings, on_failure=failures.append)
        assert [n.name for n in d.notifiers] == ["webhook"]
        d.dispatch(alert("warning"))  # below min_level: never sent
        await d.drain()
        assert server.bodies == [] and failures == []
        d.dispatch(alert("error"))
        await d.drain()
        assert failures == ["alert webhook failed: no answer within 0.3 s"]
    finally:
        server.close()
    with pytest.raises(ValueError, match=r"alerts\.smtp_to"):
        AlertDispatcher.from_settings(AlertSettings(smtp_host="mail", smtp_from="a@b.c"), on_failure=print)


def test_dispatcher_rejects_an_unknown_min_level() -> None:
    with pytest.raises(ValueError, match="min_level"):
        AlertDispatcher([], min_level="debug", timeout_s=1.0, on_failure=print)
