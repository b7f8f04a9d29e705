"""The IBKR adapter's market depth: ``reqMktDepth`` for ``[ibkr] depth_symbols``, as snapshots.

ib_insync keeps each subscribed contract's rows in its ticker (``domBids``/``domAsks``, applied
from IB's insert/update/delete messages) and marks the ticker pending when a row changes; this
hands the engine the sizes of the rows, best first, for the depth imbalance
(``engine.runtime.order_flow``). The ticker is the same one the quote stream uses (ib_insync keys
tickers by contract), so a batch that moves both the quote and the book carries both: the broker
delivers the depth first, so the quote step that follows reads the new imbalance.

A (re)connection starts with no subscription at TWS and none in ib_insync (it forgets every ticker
when the socket closes): ``subscribe`` asks again for every symbol. ``cancel`` ends them
(``cancelMktDepth``), on stop and before TWS's 1101 resubscription. IB allows 3 depth requests
at a time by default; the settings refuse more (``engine.config.IbkrSettings``), and an
error 309 from TWS is told to the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from ib_insync import IB, Contract, Ticker

from engine.brokers.base import BrokerError, DepthSink, DepthSnapshot

log = logging.getLogger(__name__)

ROWS = 5
"""Rows per side asked for (ib_insync's documented maximum; the depth imbalance weighs 5)."""


class IbkrDepth:
    def __init__(
        self,
        ib: IB,
        symbols: Iterable[str],
        *,
        qualify: Callable[[str], Awaitable[Contract]],
        notice: Callable[[str, str], None],
        rows: int = ROWS,
    ) -> None:
        self._ib = ib
        self.symbols = tuple(dict.fromkeys(symbols))
        self._qualify = qualify
        self._notice = notice
        self._rows = rows
        self._sink: DepthSink | None = None
        self._tickers: dict[int, str] = {}
        """id(ticker) -> our symbol, for the depth subscribed on this connection."""
        self._contracts: dict[str, Contract] = {}
        """symbol -> the contract its depth was asked with (cancelMktDepth needs the same one)."""

    @property
    def subscribed(self) -> tuple[str, ...]:
        """The symbols whose depth is subscribed on the current connection."""
        return tuple(self._contracts)

    def set_sink(self, sink: DepthSink | None) -> None:
        self._sink = sink

    def requests(self) -> set[int]:
        """The request ids of the depth subscriptions (errors about them are depth errors)."""
        return set(self._ib.wrapper.ticker2ReqId["mktDepth"].values())

    async def subscribe(self) -> None:
        """Ask for the depth of every symbol (what this connection still has is cancelled first)."""
        self.cancel()
        if self._sink is None:
            return
        for symbol in self.symbols:
            try:
                contract = await self._qualify(symbol)
            except BrokerError as exc:
                self._notice("error", f"no market depth for {symbol}: {exc}")
                continue
            except ConnectionError:
                log.info("the link dropped while subscribing to depth; it follows the reconnection")
                return
            if not self._ib.isConnected():
                return
            ticker = self._ib.reqMktDepth(contract, numRows=self._rows)
            self._tickers[id(ticker)] = symbol
            self._contracts[symbol] = contract

    def cancel(self) -> None:
        """End every depth subscription of this connection (``cancelMktDepth``)."""
        if self._ib.isConnected():
            live = self._ib.wrapper.ticker2ReqId["mktDepth"]
            for contract in self._contracts.values():
                ticker = self._ib.ticker(contract)
                if ticker is not None and ticker in live:  # a new connection has none to cancel
                    self._ib.cancelMktDepth(contract)
        self._tickers.clear()
        self._contracts.clear()

    def on_tickers(self, tickers: set[Ticker]) -> None:
        """A batch from ib_insync: a snapshot of each subscribed book that changed in it."""
        sink = self._sink
        if sink is None or not self._tickers:
            return
        for ticker in tickers:
            symbol = self._tickers.get(id(ticker))
            if symbol is None or not ticker.domTicks:
                continue
            sink(
                DepthSnapshot(
                    symbol,
                    tuple(float(level.size) for level in ticker.domBids),
                    tuple(float(level.size) for level in ticker.domAsks),
                )
            )
