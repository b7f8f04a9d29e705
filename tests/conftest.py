"""Keep every test away from the user's own XDG directories (database, socket, cache).

Tests pass their own paths where they care; this catches whatever falls back to a default.
Also the one shared copy of the shipped market (``shipped``, ``shipped_bars``): see tests/shipped.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the engine is imported by the fixtures, after pytest_configure set the XDG paths
    import pandas as pd

    from engine.data.loader import MarketData

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


@pytest.fixture(scope="session")
def shipped() -> Iterator[MarketData]:
    """The shipped market, loaded once per run and shared by every test (read-only).

    At the end of the session the bars are checked against their fingerprint at load: a test that
    changed the shared frames in place fails the run here instead of silently skewing later tests.
    """
    from tests.shipped import fingerprint, shipped_market

    market = shipped_market()
    before = fingerprint(market.bars)
    yield market
    assert fingerprint(market.bars) == before, "a test changed the shared shipped market in place"


@pytest.fixture(scope="session")
def shipped_bars(shipped: MarketData) -> Mapping[str, pd.DataFrame]:
    """Daily bars of every shipped symbol (the shared market's; read-only)."""
    return shipped.bars
