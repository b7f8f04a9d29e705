"""Secrets never leave in text: a failing webhook, SMTP login and alert command, then every output is scanned.

Real parts: an engine on the shipped data with SQLite under tmp_path, a real HTTP server answering
500, a closed SMTP port, a real child process that prints its URL argument to stderr, the real
socket server with a raw peer reading every line it is sent. The secrets are configured exactly
as a user would (the settings file's sections, the password in a named environment variable).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.actor import Actor
from engine.api.socket_server import serve
from engine.config import Settings, load_settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource
from engine.model.events import Kill
from engine.model.redact import Redactor, redact, redact_url, url_secrets

HOOK_TOKEN = "XoXbHookPathSecret42"
QUERY_TOKEN = "QuerySecretToken77"
USER_PASSWORD = "UrlPassw0rdSecret"
SMTP_PASSWORD = "SmtpPassw0rdSecret"
COMMAND_TOKEN = "CommandArgSecret99"


class Failing(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the engine's log, not the server's."""


@pytest.fixture
def http_500() -> Iterator[int]:
    import threading

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as s:  # bound, never listening: a connection is refused
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def _settings(tmp_path: Path, hook_port: int, smtp_port: int) -> Settings:
    cfg = tmp_path / "secrets.toml"
    echo = "import sys; print(sys.argv[1], file=sys.stderr); sys.exit(3)"
    cfg.write_text(
        "[replay]\nsteps_per_day = 30\n"
        "[alerts]\n"
        f'webhook_url = "http://hook:{USER_PASSWORD}@127.0.0.1:{hook_port}/services/T0001/B0002/{HOOK_TOKEN}'
        f'?token={QUERY_TOKEN}"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\n'
        'smtp_from = "onetap@example.com"\nsmtp_to = ["ops@example.com"]\n'
        'smtp_username = "ops"\nsmtp_password_env = "ONETAP_TEST_SMTP_PASSWORD"\n'
        f'command = ["{sys.executable}", "-c", "{echo}", "https://hooks.example.com/services/T9/B9/{COMMAND_TOKEN}"]\n'
    )
    return load_settings(cfg, environ={})


async def test_failed_alert_deliveries_leak_no_secret_to_notices_log_audit_or_socket(
    tmp_path: Path,
    shipped: MarketData,
    http_500: int,
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ONETAP_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    settings = _settings(tmp_path, http_500, closed_port)
    data = tmp_path / "data"
    engine = Engine(settings, database=data / "onetap.db", market=shipped, paced=False)
    await engine.start()
    path = tmp_path / "run" / "engine.sock"
    server = await serve(engine, path)
    reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 22)
    lines: list[str] = []
    notices: list[str] = []
    try:
        lines.append((await reader.readline()).decode())  # the snapshot: the session is up
        writer.write(json.dumps({"id": 1, "command": {"type": "GetSnapshot"}}).encode() + b"\n")
        await writer.drain()
        result = await engine.handle(Kill(reason="secrets test"), Actor("alice", CommandSource.HOTKEY))
        assert result.ok, result.message
        await engine.alerts.drain()
        while len(notices) < 3:  # the three failure notices reach the attached peer
            line = (await asyncio.wait_for(reader.readline(), 30.0)).decode()
            assert line, "the engine closed the connection"
            lines.append(line)
            event = json.loads(line).get("event") or {}
            if event.get("type") == "NoticeEvent" and "alert" in event.get("message", ""):
                notices.append(event["message"])
        audit = "\n".join(json.dumps(record.payload) + record.action for record in engine.store.load_audit())
    finally:
        writer.close()
        server.close()
        await server.wait_closed()
        await engine.stop()

    # the failures were reported, naming where, so the operator can act on them
    assert sorted(notices) == [
        f"alert command failed: exit code 3 from {Path(sys.executable).name}: https://hooks.example.com:443",
        f"alert email failed: SMTP 127.0.0.1:{closed_port}: ConnectionRefusedError: "
        "[Errno 111] Connection refused",
        f"alert webhook failed: HTTP 500 from http://127.0.0.1:{http_500}",
    ]
    stored = b"".join(f.read_bytes() for f in sorted(data.iterdir()) if f.is_file())
    assert "secrets test" in audit  # the kill was audited: the scan below reads real entries
    outputs = {
        "log": caplog.text,
        "socket": "".join(lines),
        "audit": audit,
        "database": stored.decode("latin-1"),
    }
    for secret in (HOOK_TOKEN, QUERY_TOKEN, USER_PASSWORD, SMTP_PASSWORD, COMMAND_TOKEN, "/services/"):
        for where, text in outputs.items():
            assert secret not in text, f"{secret} leaked into the {where}"


# --- the helper on its own ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", "https://hooks.slack.com:443"),
        ("http://user:pw@127.0.0.1:8080/hook?token=abc#frag", "http://127.0.0.1:8080"),
        ("https://[::1]:9443/x", "https://[::1]:9443"),
        ("http://host:99999/x", "<a URL (***)>"),
        ("not a url", "<a URL (***)>"),
    ],
)
def test_a_url_shows_scheme_host_and_port_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_text_with_a_url_and_a_known_secret_keeps_neither() -> None:
    url = "https://u:p4ss@hooks.example.com/services/T0/B0/ABCDEFGHIJKLMNOP?k=1"
    text = f"cannot reach {url}: the server said /services/T0/B0/ABCDEFGHIJKLMNOP, token ABCDEFGHIJKLMNOP"
    out = Redactor(url_secrets(url))(text)
    assert out == "cannot reach https://hooks.example.com:443: the server said ***, token ***"
    assert redact("login hunter22 refused", ["hunter22"]) == "login *** refused"


def test_a_config_error_on_the_webhook_shows_no_token(tmp_path: Path) -> None:
    from engine.config import ConfigError

    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'[alerts]\nwebhook_url = ["https://hooks.example.com/services/T0/B0/{HOOK_TOKEN}"]\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value) == (
        f"{cfg}: [alerts] webhook_url: Input should be a valid string (got ['https://hooks.example.com:443'])"
    )
