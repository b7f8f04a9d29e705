"""The portfolio report on request: fills read on the loop, the replay and arithmetic on a worker."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from datetime import date, timedelta

import pandas as pd

from engine.bus import EventBus
from engine.config import Settings
from engine.data.loader import MarketData
from engine.model import RefusalCode
from engine.model.events import CommandResult, PortfolioReportEvent
from engine.portfolio.ledger import Ledger
from engine.runtime.market_view import MarketView
from engine.runtime.outbox import Outbox
from engine.store.repository import Store

log = logging.getLogger(__name__)


class PortfolioReporter:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        market: MarketView,
        data: MarketData,
        ledger: Ledger,
        bus: EventBus,
        outbox: Outbox,
    ) -> None:
        self._settings = settings
        self._store = store
        self._market = market
        self._data = data
        self._ledger = ledger
        self._bus = bus
        self._outbox = outbox

    def start(self, since: date | None) -> CommandResult:
        """Start the report of [since, the session in progress]; it is published as a
        ``PortfolioReportEvent`` (a notice when it fails) when built.

        Today is marked at the current prices (the last trade, else the last close), earlier
        sessions at their closes. ``since`` None: the later of the year's start and the first fill.
        """
        from engine.model.lots import trade_date
        from engine.portfolio.report import build_portfolio_report, closes_from_bars, sectors_of, tag_fills

        day = self._market.feed.current_day
        if day is None:
            return CommandResult(
                ok=False, message="no session has been played yet", code=RefusalCode.NO_SESSION
            )
        fills = self._store.load_fills()
        tagged = tag_fills(fills, self._store.load_orders(), self._store.load_cards())
        first = min((trade_date(f.ts) for f in fills), default=day)
        start = since if since is not None else min(max(date(day.year, 1, 1), first), day)
        closes = closes_from_bars(self._data.bars, day - timedelta(days=1))
        prices = self._market.prices()
        closes.loc[pd.Timestamp(day)] = [prices.get(sym, math.nan) for sym in closes.columns]
        work = functools.partial(
            build_portfolio_report,
            tagged,
            closes,
            start=start,
            end=day,
            starting_cash=self._ledger.starting_cash,
            sectors=sectors_of(self._data.instruments, self._settings.universe.sectors),
            universe=self._settings.universe.symbols,
            benchmark_weights=self._settings.universe.benchmark_weights or None,
        )

        async def build() -> None:
            try:
                report = await asyncio.get_running_loop().run_in_executor(None, work)
            except Exception as exc:  # a gap in the data must not take the engine down
                log.exception("portfolio report failed")
                self._outbox.notice("error", f"portfolio report failed: {exc}")
                return
            self._bus.publish(PortfolioReportEvent(report))

        self._outbox.spawn(build(), "portfolio-report")
        return CommandResult(ok=True)
