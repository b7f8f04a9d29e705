"""The shipped market, loaded once per test process and shared read-only.

``load_shipped()`` reads and validates six CSV series (about a second on the CI machine); the
suite used to do it some 25 times. Tests take the ``shipped`` / ``shipped_bars`` fixtures of
``tests/conftest.py``; helpers that are not fixtures (module caches, ``asyncio.run`` helpers) call
``shipped_market()``, the same object. Nothing may change it: a test that needs to alter bars takes
a copy, and the session fixture checks at teardown that the frames are what was loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

import pandas as pd

from engine.data.loader import MarketData
from engine.data.shipped import load_shipped


@cache
def shipped_market() -> MarketData:
    """Every shipped symbol, validated: the one copy every test shares."""
    return load_shipped()


def shipped_subset(symbols: Sequence[str]) -> MarketData:
    """The shared market restricted to ``symbols`` (in that order), as ``load_shipped(symbols)`` gives.

    The frames are the shared ones, not copies (each symbol is validated on its own, so they are
    the frames a load of only these symbols would give); the validation report is not carried.
    """
    market = shipped_market()
    missing = [s for s in symbols if s not in market.bars]
    if missing:
        raise KeyError(f"not shipped: {', '.join(missing)} (shipped: {', '.join(market.bars)})")
    return MarketData(
        bars={s: market.bars[s] for s in symbols}, instruments={s: market.instruments[s] for s in symbols}
    )


def fingerprint(bars: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """One number per symbol that changes when any value, date or column of its bars does."""
    return {
        s: int(pd.util.hash_pandas_object(f, index=True).sum()) ^ hash(tuple(f.columns))
        for s, f in bars.items()
    }
