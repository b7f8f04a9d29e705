"""Keep every test away from the user's own XDG directories (database, socket, cache).

Tests pass their own paths where they care; this catches whatever falls back to a default.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_XDG = ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME")
_saved: dict[str, str | None] = {}
_root: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    root = tempfile.mkdtemp(prefix="onetap-tests-xdg-")
    _root.append(root)
    for name in _XDG:
        _saved[name] = os.environ.get(name)
        os.environ[name] = os.path.join(root, name.lower())


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for root in _root:
        shutil.rmtree(root, ignore_errors=True)
