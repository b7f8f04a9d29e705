"""The IBKR adapter's market data: streamed quotes (subscribed again after every reconnect),
one-off snapshots and daily history, through the connection the broker owns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import pandas as pd
from ib_insync import IB, Contract, Ticker

from engine.brokers.base import BrokerError
from engine.brokers.ibkr import parse
from engine.brokers.ibkr.errors import describe
from engine.model import Quote

log = logging.getLogger(__name__)

QuoteSink = Callable[[tuple[Quote, ...]], None]


def what_to_show(contract: Contract) -> str:
    """IB has no trades for forex (IDEALPRO quotes only): its bars are of the midpoint."""
    return "MIDPOINT" if contract.secType == "CASH" else "TRADES"


class IbkrQuotes:
    """``now``: IBKR's clock as the broker estimates it (ticks carry no time of their own)."""

    def __init__(
        self,
        ib: IB,
        *,
        qualify: Callable[[str], Awaitable[Contract]],
        now: Callable[[], datetime],
        notice: Callable[[str, str], None],
    ) -> None:
        self._ib = ib
        self._qualify = qualify
        self._now = now
        self._notice = notice
        self._tickers: dict[int, str] = {}
        """id(ticker) -> our symbol, for the quotes being streamed."""
        self.symbols: list[str] = []
        self._sink: QuoteSink | None = None
        self._last_stamp: datetime | None = None
        """The time the last quote batch was stamped with (stamps never go back)."""

    def stream(self, symbols: Iterable[str], sink: QuoteSink) -> None:
        """Stream quotes for ``symbols`` into ``sink`` (batched as IB delivers them)."""
        self.symbols = list(dict.fromkeys(symbols))
        self._sink = sink

    def requests(self) -> set[int]:
        """The request ids of the streamed tickers (errors about them are quote errors)."""
        return set(self._ib.wrapper.reqId2Ticker)

    async def subscribe_safely(self, *, again: bool = False) -> None:
        """Subscribe, unless the link goes down meanwhile: the next connection subscribes again."""
        if not self.symbols:
            return
        try:
            await self._subscribe(again=again)
        except ConnectionError:
            log.info("the link dropped while subscribing to quotes; they follow the reconnection")

    async def _subscribe(self, *, again: bool) -> None:
        if again:
            for ticker in list(self._ib.tickers()):
                if ticker.contract is not None:
                    self._ib.cancelMktData(ticker.contract)
            self._tickers.clear()
        subscribed = set(self._tickers.values())
        for symbol in self.symbols:
            if symbol in subscribed:
                continue
            try:
                contract = await self._qualify(symbol)
            except BrokerError as exc:
                self._notice("error", f"no quotes for {symbol}: {exc}")
                continue
            ticker = self._ib.reqMktData(contract, "", False, False)
            self._tickers[id(ticker)] = symbol

    def on_tickers(self, tickers: set[Ticker]) -> None:
        if self._sink is None:
            return
        # Stamped with IBKR's clock as this side estimates it, which a new heartbeat can set back
        # by a little: never stamp a batch earlier than the last one, or the quote guard would
        # hold real quotes out as out of order.
        now = max(self._now(), self._last_stamp or datetime.min.replace(tzinfo=UTC))
        self._last_stamp = now
        quotes = []
        for ticker in tickers:
            symbol = self._tickers.get(id(ticker))
            if symbol is None:
                continue
            quote = parse.quote_from(symbol, ticker, now)
            if quote is not None:
                quotes.append(quote)
        if quotes:
            self._sink(tuple(quotes))

    async def snapshot(self, symbol: str, timeout: float) -> Quote | None:
        contract = await self._qualify(symbol)
        tickers = await asyncio.wait_for(self._ib.reqTickersAsync(contract), timeout)
        if not tickers:
            return None
        return parse.quote_from(symbol, tickers[0], self._now())

    async def history(self, symbol: str, duration: str, *, end: datetime | None) -> pd.DataFrame:
        contract = await self._qualify(symbol)
        end_text = "" if end is None else end.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")
        bars = await self._ib.reqHistoricalDataAsync(
            contract,
            endDateTime=end_text,
            durationStr=duration,
            barSizeSetting="1 day",
            whatToShow=what_to_show(contract),
            useRTH=True,
            formatDate=1,
        )
        if not bars:
            raise BrokerError(describe(162, f"no daily bars for {symbol}"))
        return parse.bars_frame(list(bars))
