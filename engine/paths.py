"""Where the engine's files are, known without importing the engine.

``onetap kill`` must reach a running engine within a few hundred milliseconds of being typed, so
it cannot wait for pydantic, pandas or the engine to import just to learn where the socket is.
This module holds the one copy of those rules with the standard library alone (platformdirs is
imported only when ``XDG_RUNTIME_DIR`` is unset): the default config file, the reading of an
``ONETAP_*`` value, and the socket's path. ``engine.config`` and the socket server use it too.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "default.toml"
ENV_PREFIX = "ONETAP_"


def env_value(raw: str) -> Any:
    """Environment values are TOML literals when they parse (numbers, booleans, lists), else strings."""
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
    # TOML reads 2012-01-17 as a date, but every date setting is a "YYYY-MM-DD" string
    return raw if isinstance(value, date | time) else value


def env_key(name: str) -> tuple[str, str] | None:
    """``ONETAP_SECTION__KEY`` -> (section, key) in lower case; None for any other variable."""
    if not name.startswith(ENV_PREFIX) or "__" not in name:
        return None
    section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
    return section, key


def default_socket_path() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "onetap" / "engine.sock"
    import platformdirs  # only here: the runtime directory is the common case

    return platformdirs.user_data_path("onetap") / "engine.sock"


def socket_path(setting: str) -> Path:
    """The socket for an ``[engine] socket`` setting ("" is the default place)."""
    return Path(setting).expanduser() if setting else default_socket_path()


def configured_socket(
    config_file: Path | None, environ: Mapping[str, str], *, base_file: Path = DEFAULT_CONFIG
) -> Path | None:
    """The ``[engine] socket`` the full settings would give, read without validating them.

    The layers win in ``engine.config``'s order (default file, ``--config`` file, environment).
    None when a file cannot be read or the value is not a string: the caller then takes the
    long way, which validates everything and says what is wrong.
    """
    value: Any = ""
    for path in (base_file, config_file):
        if path is None:
            continue
        try:
            with path.open("rb") as fh:
                section = tomllib.load(fh).get("engine", {})
        except (OSError, tomllib.TOMLDecodeError):
            return None
        if not isinstance(section, dict):
            return None
        value = section.get("socket", value)
    for name in sorted(environ):
        if env_key(name) == ("engine", "socket"):
            value = env_value(environ[name])
    return socket_path(value) if isinstance(value, str) else None
