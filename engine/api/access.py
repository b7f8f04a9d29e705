"""Who may use the engine's network doors (the HTTP door and ``onetap web``): the token file and
the loopback rule, in one place and with the standard library and platformdirs alone.

Why a module of its own: ``onetap web`` applies the same rule as the HTTP door but runs no engine
itself, so it must not import the kernel (about ten seconds on a busy machine) to read a file.
"""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import platformdirs


class TokenFileError(ValueError):
    """The token file exists but cannot be trusted (readable by others, not a file, empty)."""


def default_token_file() -> Path:
    return platformdirs.user_config_path("onetap") / "http.token"


def read_token(path: Path) -> str | None:
    """The bearer token in ``path``; None when the file does not exist.

    Raises TokenFileError when it exists but is not a 0600 regular file or is empty: a token
    others can read is not a secret, and an empty one would let anyone in.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise TokenFileError(f"{path}: the HTTP token file is not a regular file")
    if info.st_mode & 0o077:
        raise TokenFileError(
            f"{path}: the HTTP token file is readable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
            "chmod 600 it"
        )
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise TokenFileError(f"{path}: the HTTP token file is empty")
    return token


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses: only this machine can reach them."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
