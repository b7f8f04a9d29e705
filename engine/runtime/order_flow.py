"""The order-flow features of every symbol, kept live from the quotes that passed the guard.

One ``OrderFlowTracker`` (``engine.signals.orderflow``) per symbol; each quote step updates the
symbols it quotes and the step's ``MarketEvent`` carries their readings to the console. A quote
the tracker cannot use (no bid or ask: an index, a one-sided book) is skipped for flow only.

Honesty: on the paper replay the bid/ask sizes are invented, so the readings are marked
``sizes_invented`` and the desk says their predictive value is not measurable there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from engine.brokers.base import DepthSnapshot
from engine.model import Quote
from engine.model.flow import FlowReading
from engine.signals.orderflow import OrderFlowTracker

WINDOW = 50
"""Quote updates the window sums (OFI, signed volume, realized volatility) run over."""
HORIZON = 5
"""Quote updates after a trade at which its realized spread is taken."""


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


class OrderFlowBook:
    def __init__(self, *, sizes_invented: bool, window: int = WINDOW, horizon: int = HORIZON) -> None:
        self.sizes_invented = sizes_invented
        self._window = window
        self._horizon = horizon
        self._trackers: dict[str, OrderFlowTracker] = {}
        self._early_depth: dict[str, tuple[list[float], list[float]]] = {}
        """Depth that came before the symbol's first good quote, applied when that quote comes."""

    def update(self, quotes: Iterable[Quote]) -> tuple[FlowReading, ...]:
        """Feed one step's good quotes; the readings of the symbols they moved."""
        out: dict[str, FlowReading] = {}
        for q in quotes:
            if not (q.bid > 0 and q.ask > 0 and q.bid <= q.ask):
                continue
            tracker = self._trackers.get(q.symbol)
            if tracker is None:
                tracker = self._trackers[q.symbol] = OrderFlowTracker(self._window, self._horizon)
                early = self._early_depth.pop(q.symbol, None)
                if early is not None:
                    tracker.on_depth(*early)
            try:
                tracker.on_quote(q.bid, q.ask, q.bid_size, q.ask_size, q.last, q.last_size, q.volume)
            except ValueError:  # a size the guard lets through (negative, infinite): no flow from it
                continue
            out[q.symbol] = self._reading(q.symbol, tracker)
        return tuple(out.values())

    def on_depth(self, symbol: str, bid_sizes: list[float], ask_sizes: list[float]) -> None:
        """Market depth for a symbol (best level first), where a broker serves it."""
        tracker = self._trackers.get(symbol)
        if tracker is not None:
            tracker.on_depth(bid_sizes, ask_sizes)
        else:
            self._early_depth[symbol] = (list(bid_sizes), list(ask_sizes))

    def on_depth_snapshot(self, snapshot: DepthSnapshot) -> None:
        """A broker's depth (``Broker.set_depth_sink``); the next quote step's reading shows it.
        A book with a size the features refuse (negative, not finite) is dropped, as such a quote is."""
        try:
            self.on_depth(snapshot.symbol, list(snapshot.bid_sizes), list(snapshot.ask_sizes))
        except ValueError:
            return

    def reading(self, symbol: str) -> FlowReading | None:
        tracker = self._trackers.get(symbol)
        return None if tracker is None else self._reading(symbol, tracker)

    def _reading(self, symbol: str, tracker: OrderFlowTracker) -> FlowReading:
        f = tracker.figures()
        return FlowReading(
            symbol=symbol,
            updates=f.updates,
            ofi=f.ofi,
            quote_imbalance=_or_none(f.quote_imbalance),
            last_sign=f.last_sign,
            signed_volume=f.signed_volume,
            realized_spread=_or_none(f.realized_spread),
            realized_vol=_or_none(f.realized_vol),
            depth_imbalance=_or_none(f.depth_imbalance),
            sizes_invented=self.sizes_invented,
        )
