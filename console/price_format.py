"""A price to its instrument's tick, the one rule every place on the desk spells prices by.

Its own module, apart from ``console.widgets.fmt`` (which re-exports it): ``console.state`` needs
it for the message line, and importing anything under ``console.widgets`` from the state runs the
widgets package, whose panes import the state back.
"""

from __future__ import annotations

from functools import lru_cache

from engine.model.instruments import spec_for_symbol


@lru_cache(maxsize=4096)
def price_places(symbol: str) -> int:
    """Decimal places of a symbol's tick, at least 2: cents for a stock, 5 for EURUSD (its pip is
    the 4th place), 3 for USDJPY. A pair shown in cents hides every pip a trader reads."""
    tick = spec_for_symbol(symbol).tick_size
    places = 2
    while places < 8 and abs(round(tick, places) - tick) > 1e-12:
        places += 1
    return places


def price(value: float, symbol: str) -> str:
    """A price of ``symbol`` to its tick's places (``price_places``)."""
    return f"{value:,.{price_places(symbol)}f}"
