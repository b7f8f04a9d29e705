"""Secrets out of text: every URL reduced to scheme, host and port; known secret strings masked.

A webhook URL is a credential in itself: Slack-style hooks keep their token in the path
(``/services/T0/B0/XXXX``), others in the query or the user info. Any of those in a failure notice
reaches the log, the audit and every attached console, so every line that may hold one passes
through here first. Standard library only, so any layer (alerts, brokers, the console) may use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
"""What stands in for a secret string."""

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "smtp": 25, "smtps": 465}
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_TRAILING = ".,:;!?)]}"
"""Punctuation that ends a sentence rather than a URL ("cannot reach URL: refused")."""
_MIN_TOKEN = 12
"""A path segment or query value this long is treated as a token (too long to be a plain word)."""


def redact_url(url: str) -> str:
    """``https://user:pw@hooks.example.com/services/T/B/SECRET?x=1`` -> ``https://hooks.example.com:443``."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return f"<a URL ({MASK})>"
    host = parts.hostname
    if not parts.scheme or not host:
        return f"<a URL ({MASK})>"
    shown = f"[{host}]" if ":" in host else host
    port = port or _DEFAULT_PORTS.get(parts.scheme.lower())
    return f"{parts.scheme}://{shown}:{port}" if port else f"{parts.scheme}://{shown}"


def redact_urls(text: str) -> str:
    """Every URL in ``text`` reduced to its scheme, host and port (punctuation after it kept)."""

    def one(match: re.Match[str]) -> str:
        url = match.group(0)
        core = url.rstrip(_TRAILING)
        return redact_url(core) + url[len(core) :]

    return _URL.sub(one, text)


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be secret, as they could appear in text on their own.

    The whole URL, its password, path and query (raw and unquoted), and every path segment or
    query value long enough to be a token: an HTTP library may quote any of them in an error.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return [url] if url else []
    found = [url.strip()]
    # the user name alone is no secret (and a short one would mask letters everywhere); the password is
    if parts.password:
        found += [parts.password, unquote(parts.password)]
    if parts.path not in ("", "/"):
        found += [parts.path, unquote(parts.path)]
        found += [seg for seg in parts.path.split("/") if len(seg) >= _MIN_TOKEN]
    if parts.query:
        found.append(parts.query)
        found += [value for _key, value in parse_qsl(parts.query) if len(value) >= _MIN_TOKEN]
    if parts.fragment:
        found.append(parts.fragment)
    return found


class Redactor:
    """Masks a fixed set of secret strings and reduces every URL, in any text handed to it.

    Longer secrets are masked first, so a path is masked whole before its segments are.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # a one- or two-character "secret" would mask letters all over the text and hide nothing
        unique = {s for s in secrets if len(s.strip()) >= 3}
        self._secrets = sorted(unique, key=len, reverse=True)

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        return Redactor([*self._secrets, *secrets])

    def __call__(self, text: str) -> str:
        text = redact_urls(text)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every URL reduced and each of ``secrets`` masked (one-off use of a Redactor)."""
    return Redactor(secrets)(text)
