"""The engine's market on an IBKR connection: IBKR's quotes, IBKR's clock, IBKR's bars.

The engine is written against a market clock that only moves forward (``SimulatedClock``): the
replay sets it from its steps, and this feed sets it from IBKR's time (the heartbeat's
``reqCurrentTime`` plus the time since, and the quotes' stamps). Sessions start and end on the
exchange calendar as that clock crosses the open and the close, exactly as in the replay, so cards,
risk and the day's P&L behave the same on paper and at IBKR. Against the project's TWS simulator
IBKR's time is the simulator's replay time, so the whole path can be tried with no IB account.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import pandas as pd

from engine.brokers.ibkr.broker import IbkrBroker
from engine.clock import SimulatedClock
from engine.data import calendar
from engine.data.loader import MarketData
from engine.data.replay import DayHook, QuoteSink
from engine.model import Quote

TICK_S = 0.5
"""How often the clock follows IBKR's time between quotes (session starts and ends need it)."""


class IbkrFeed:
    def __init__(
        self, broker: IbkrBroker, market: MarketData, clock: SimulatedClock, *, tick_s: float = TICK_S
    ) -> None:
        self._broker = broker
        self._market = market
        self._clock = clock
        self._tick_s = tick_s
        self._latest: dict[str, Quote] = {}
        self._day: date | None = None
        self._ended: date | None = None
        self._sink: QuoteSink | None = None
        self._on_day_start: DayHook | None = None
        self._on_day_end: DayHook | None = None
        self._stopping = asyncio.Event()
        self.quotes_received = 0
        broker.stream_quotes(market.symbols, self._on_quotes)

    # ------------------------------------------------------------------ what the engine reads
    @property
    def finished(self) -> bool:
        return False

    @property
    def current_day(self) -> date | None:
        return self._day

    @property
    def sessions(self) -> list[date]:
        day = self._day or self.next_day()
        return [day] if day is not None else []

    def next_day(self) -> date | None:
        now = self._clock.now()
        today = now.astimezone(calendar.NEW_YORK).date()
        if (
            calendar.is_session(today)
            and now < calendar.session_open_close(today)[1]
            and today != self._ended
        ):
            return today
        return calendar.next_session(today)

    def history(self, symbol: str, before: date) -> pd.DataFrame:
        return self._market.bars_before(symbol, before)

    def latest_quotes(self) -> dict[str, Quote]:
        return dict(self._latest)

    # ------------------------------------------------------------------ time and sessions
    def advance(self, ts: datetime) -> None:
        """Move the market clock to ``ts`` (never back) and start or end sessions it crossed."""
        if ts > self._clock.now():
            self._clock.set(ts)
        now = self._clock.now()
        if self._day is not None and now >= calendar.session_open_close(self._day)[1]:
            ended, self._day = self._day, None
            self._ended = ended
            if self._on_day_end is not None:
                self._on_day_end(ended)
        if self._day is None:
            today = now.astimezone(calendar.NEW_YORK).date()
            if today != self._ended and calendar.is_session(today):
                opens, closes = calendar.session_open_close(today)
                if opens <= now < closes:
                    self._day = today
                    if self._on_day_start is not None:
                        self._on_day_start(today)

    def _on_quotes(self, quotes: tuple[Quote, ...]) -> None:
        self.quotes_received += len(quotes)
        for q in quotes:
            self._latest[q.symbol] = q
        if self._sink is None:
            return
        self.advance(max(q.ts for q in quotes))
        self._sink(quotes)

    # ------------------------------------------------------------------ running
    async def run(
        self,
        sink: QuoteSink,
        *,
        seconds_per_day: float,
        on_day_start: DayHook | None = None,
        on_day_end: DayHook | None = None,
    ) -> None:
        """Deliver IBKR's quotes until ``stop()``; ``seconds_per_day`` means nothing to a live market."""
        del seconds_per_day
        self._sink, self._on_day_start, self._on_day_end = sink, on_day_start, on_day_end
        self._stopping.clear()
        await self._broker.start_quotes()
        try:
            while not self._stopping.is_set():
                server = self._broker.server_now()
                if server is not None:
                    self.advance(server)
                try:
                    await asyncio.wait_for(self._stopping.wait(), self._tick_s)
                except TimeoutError:
                    continue
        finally:
            self._sink = None

    def play_steps(
        self,
        sink: QuoteSink,
        steps: int,
        *,
        on_day_start: DayHook | None = None,
        on_day_end: DayHook | None = None,
    ) -> int:
        raise RuntimeError("a live IBKR feed cannot be stepped; it plays as the market moves")

    def stop(self) -> None:
        self._stopping.set()
