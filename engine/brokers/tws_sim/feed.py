"""Standalone mode's market: the project's replay of the shipped daily bars, driving ``set_quote``.

``ReplayFeed`` turns each real session into intraday quotes (deterministic, seeded); this module
only forwards them to the simulator at the chosen pace and closes the day (DAY orders expire).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date

from engine.brokers.tws_sim.server import TwsSimulator
from engine.data.replay import ReplayFeed
from engine.model import Quote


class ReplayDriver:
    """Feeds one ``ReplayFeed`` into one ``TwsSimulator`` (on the simulator's loop)."""

    def __init__(self, sim: TwsSimulator, feed: ReplayFeed) -> None:
        self.sim = sim
        self.feed = feed
        self.quotes_sent = 0
        self.days_closed: list[date] = []

    def push(self, quotes: Sequence[Quote]) -> None:
        """One replay step: every quote of a listed symbol becomes the simulator's top of book."""
        for q in quotes:
            if self.sim.universe.by_key(q.symbol) is None:
                continue
            self.sim.set_quote(
                q.symbol,
                q.bid,
                q.ask,
                q.last,
                bid_size=q.bid_size,
                ask_size=q.ask_size,
                last_size=q.last_size,
                volume=q.volume,
            )
            self.quotes_sent += 1

    def close_day(self, day: date) -> None:
        self.days_closed.append(day)
        self.sim.end_session()

    async def run(
        self, seconds_per_day: float, sleep: Callable[[float], Awaitable[None]] | None = None
    ) -> None:
        """Play sessions until the data ends (or ``feed.stop()``), one per ``seconds_per_day``."""
        if sleep is None:
            await self.feed.run(self.push, seconds_per_day=seconds_per_day, on_day_end=self.close_day)
        else:
            await self.feed.run(
                self.push, seconds_per_day=seconds_per_day, sleep=sleep, on_day_end=self.close_day
            )
