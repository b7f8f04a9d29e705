"""What the engine needs from a source of market data, whichever it is.

The replay (``engine.data.replay.ReplayFeed``) plays shipped or user bars and moves a simulated
clock; a broker's live feed (``engine.brokers.ibkr.feed.IbkrFeed``) streams quotes and moves the
clock with the broker's time. The engine reads both through this protocol.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

import pandas as pd

from engine.data.replay import DayHook, QuoteSink
from engine.model import Quote


class MarketFeed(Protocol):
    @property
    def finished(self) -> bool: ...

    @property
    def current_day(self) -> date | None: ...

    @property
    def sessions(self) -> list[date]: ...

    def next_day(self) -> date | None: ...

    def history(self, symbol: str, before: date) -> pd.DataFrame: ...

    def latest_quotes(self) -> dict[str, Quote]: ...

    async def run(
        self,
        sink: QuoteSink,
        *,
        seconds_per_day: float,
        on_day_start: DayHook | None = None,
        on_day_end: DayHook | None = None,
    ) -> None: ...

    def play_steps(
        self,
        sink: QuoteSink,
        steps: int,
        *,
        on_day_start: DayHook | None = None,
        on_day_end: DayHook | None = None,
    ) -> int: ...

    def stop(self) -> None: ...
