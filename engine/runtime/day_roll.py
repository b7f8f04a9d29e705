"""The daily-loss day of a round-the-clock book, and the conversion rates the risk engine reads.

``DayRoller``: with a stated day boundary (``[risk] day_boundary``, or the default of a universe
holding FX (17:00 New York) or crypto (00:00 UTC); ``engine.model.day_boundary``), the ledger's
start-of-day equity, which the daily-loss breaker measures from, rolls when market time crosses
the boundary, on the first quote step after it, and not at the feed's session starts. Without
one (a stock universe) nothing changes: the exchange session's start is the day's start.

``MarketRates``: the ``engine.model.fx`` mark source over the market view's latest good quotes:
a pair's mark is its last good quote's mid (its last when it has no two-sided book), with the
quote's own timestamp, so the rate's age is the age of the quote it came from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime

from engine.model import Quote
from engine.model.day_boundary import DayBoundary, boundary_for
from engine.model.fx import Mark
from engine.model.instruments import DEFAULT_CALENDAR, fx_pair
from engine.model.market import Instrument

log = logging.getLogger(__name__)

DAY_ROLL_KEY = "risk_day"
"""The store key of the daily-loss day last adopted or rolled to at a stated boundary."""


def universe_calendars(instruments: Mapping[str, Instrument]) -> frozenset[str]:
    """The round-the-clock calendars the universe's asset classes trade on (FX 24/5, crypto 24/7)."""
    return frozenset(
        DEFAULT_CALENDAR[i.asset_class] for i in instruments.values() if i.asset_class in DEFAULT_CALENDAR
    )


class DayRoller:
    """Rolls the daily-loss day at a stated boundary (see the module docstring)."""

    def __init__(
        self,
        boundary: DayBoundary | None,
        start_day: Callable[[date], None],
        last_day: date | None = None,
        *,
        remember: Callable[[date], None] | None = None,
    ) -> None:
        self.boundary = boundary
        self._start_day = start_day
        self._remember = remember
        """Persists the day adopted or rolled to, so a restart knows it."""
        self._day: date | None = last_day
        """The day last rolled to (persisted by the caller): a restart after a boundary rolls at
        once instead of measuring today's loss from yesterday's start."""

    @classmethod
    def for_universe(
        cls,
        configured: str,
        instruments: Mapping[str, Instrument],
        start_day: Callable[[date], None],
        last_day: date | None = None,
        *,
        remember: Callable[[date], None] | None = None,
    ) -> DayRoller:
        boundary = boundary_for(configured, universe_calendars(instruments))
        return cls(boundary, start_day, last_day, remember=remember)

    @property
    def active(self) -> bool:
        """A boundary is stated: the feed's session starts do not roll the daily-loss day."""
        return self.boundary is not None

    @property
    def day(self) -> date | None:
        return self._day

    def check(self, now: datetime) -> date | None:
        """The trading day just started at ``now`` (the ledger's day rolled), else None. With no
        day known (a first start), the first call adopts ``now``'s day without rolling: the
        engine's start set the day's baseline."""
        if self.boundary is None:
            return None
        day = self.boundary.day_of(now)
        if self._day is None:
            self._day = day
            if self._remember is not None:
                self._remember(day)
            return None
        if day <= self._day:
            return None
        self._day = day
        log.info("daily-loss day %s starts (boundary %s)", day, self.boundary.describe())
        self._start_day(day)
        if self._remember is not None:
            self._remember(day)
        return day


class MarketRates:
    """Marks of currency pairs for ``engine.model.fx.convert``, from the latest good quotes."""

    def __init__(self, latest: Callable[[], Mapping[str, Quote]], source: str = "market view") -> None:
        self._latest = latest
        self._source = source

    def __call__(self, pair: str) -> Mark | None:
        if fx_pair(pair) is None:
            return None
        quote = self._latest().get(pair)
        if quote is None:
            return None
        price = (quote.bid + quote.ask) / 2.0 if quote.bid > 0 and quote.ask > 0 else quote.last
        return Mark(price, quote.ts, f"{self._source} {pair} mid")
