"""The order-flow features of every symbol, kept live from the quotes that passed the guard.

The features are ``engine.signals.orderflow``'s (``OrderFlowTracker``), kept for all symbols at
once (``engine.signals.orderflow_book``: a row of arrays per symbol, a batch per call): each
quote step updates the symbols it quotes, in arrival order, and the step's ``MarketEvent``
carries their readings (a ``FlowBatch``: columns, objects only for whoever reads them). A quote
the features cannot use (no bid or ask: an index, a one-sided book; a size the tracker refuses)
is skipped for flow only.

Honesty: on the paper replay the bid/ask sizes are invented, so the readings are marked
``sizes_invented`` and the desk says their predictive value is not measurable there.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.brokers.base import DepthSnapshot
from engine.model import Quote
from engine.model.flow import FlowBatch, FlowReading
from engine.model.quote_batch import SlotTable, as_batch
from engine.signals.orderflow import depth_imbalance
from engine.signals.orderflow_book import UPDATED, FlowArrays

WINDOW = 50
"""Quote updates the window sums (OFI, signed volume, realized volatility) run over."""
HORIZON = 5
"""Quote updates after a trade at which its realized spread is taken."""
DEPTH_LEVELS = 5
"""Levels of each side the depth imbalance sums (``OrderFlowTracker``'s default)."""


class OrderFlowBook:
    def __init__(self, *, sizes_invented: bool, window: int = WINDOW, horizon: int = HORIZON) -> None:
        self.sizes_invented = sizes_invented
        self._arrays = FlowArrays(window, horizon)
        self._slots = SlotTable()
        self._early_depth: dict[str, float] = {}
        """Depth that came before the symbol's first good quote, applied when that quote comes."""

    def update(self, quotes: Iterable[Quote]) -> FlowBatch:
        """Feed one step's good quotes; the readings of the symbols they moved (each symbol once,
        where it first moved, with its reading after its last quote of the step)."""
        batch = as_batch(quotes)
        slots = self._slots.of(batch.symbols)
        status = self._arrays.update(slots, batch.values)
        if self._early_depth:
            for symbol in list(self._early_depth):
                slot = self._slots.get(symbol)
                if slot is not None and self._arrays.seen(slot):
                    self._arrays.set_depth(slot, self._early_depth.pop(symbol))
        moved = np.flatnonzero(status == UPDATED)
        if len(moved) == len(slots) and batch.unique:
            symbols, at = batch.symbols, slots
        else:
            first = moved.tolist() if batch.unique else _first_each(batch.symbols, moved.tolist())
            symbols = tuple(batch.symbols[i] for i in first)
            at = slots[np.asarray(first, dtype=np.int64)]
        return FlowBatch(symbols, self._arrays.readings(at), sizes_invented=self.sizes_invented)

    def on_depth(self, symbol: str, bid_sizes: list[float], ask_sizes: list[float]) -> None:
        """Market depth for a symbol (best level first), where a broker serves it."""
        value = depth_imbalance(bid_sizes, ask_sizes, DEPTH_LEVELS)
        slot = self._slots.get(symbol)
        if slot is not None and self._arrays.seen(slot):
            self._arrays.set_depth(slot, value)
        else:
            self._early_depth[symbol] = value

    def on_depth_snapshot(self, snapshot: DepthSnapshot) -> None:
        """A broker's depth (``Broker.set_depth_sink``); the next quote step's reading shows it.
        A book with a size the features refuse (negative, not finite) is dropped, as such a quote is."""
        try:
            self.on_depth(snapshot.symbol, list(snapshot.bid_sizes), list(snapshot.ask_sizes))
        except ValueError:
            return

    def reading(self, symbol: str) -> FlowReading | None:
        slot = self._slots.get(symbol)
        if slot is None or not self._arrays.seen(slot):
            return None
        readings = self._arrays.readings(np.array([slot]))
        return FlowBatch((symbol,), readings, sizes_invented=self.sizes_invented)[0]


def _first_each(symbols: tuple[str, ...], moved: list[int]) -> list[int]:
    """Of the positions that moved, the first of each symbol."""
    seen: dict[str, int] = {}
    for i in moved:
        seen.setdefault(symbols[i], i)
    return list(seen.values())
