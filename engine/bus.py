"""The in-process event bus: typed events, async subscribers with bounded queues.

Publishing never blocks the engine. Handlers registered with ``on`` run inline, in
registration order (the parts that must see every event, e.g. the store). A handler that
persists or audits is registered ``critical``: its exception propagates to the publisher, whose
store batch then rolls back, so nothing is committed half-recorded. Only display handlers
(critical=False) have their errors logged and swallowed. Subscribers get a
bounded queue: a high-rate ``MarketEvent`` replaces the one still waiting (latest wins),
so a slow console sees fresh prices rather than a backlog; any other event that finds the
queue full marks the subscription overflowed and closes it, and the consumer re-attaches
and takes a fresh snapshot instead of silently missing an order update.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from engine.model.events import MarketEvent

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class Subscription:
    """An async iterator over the events a subscriber asked for."""

    def __init__(self, bus: EventBus, types: tuple[type, ...], maxsize: int) -> None:
        self._bus = bus
        self._types = types
        self._maxsize = maxsize
        self._items: deque[Any] = deque()
        self._market_index: int | None = None
        self._wakeup = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def wants(self, event: Any) -> bool:
        return not self._types or isinstance(event, self._types)

    def push(self, event: Any) -> None:
        if self.closed:
            return
        if isinstance(event, MarketEvent):
            if self._market_index is not None:
                self._items[self._market_index] = _merge_market(self._items[self._market_index], event)
                return
            self._market_index = len(self._items)
            self._items.append(event)
        elif len(self._items) >= self._maxsize:
            self.overflowed = True
            self.close()
            return
        else:
            self._items.append(event)
        self._wakeup.set()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()
        self._bus._remove(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        while not self._items:
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._items.popleft()
        if self._market_index is not None:
            self._market_index = None if self._market_index == 0 else self._market_index - 1
        return item

    def drain(self) -> list[Any]:
        """Everything queued now, without waiting (used by tests and by batching senders)."""
        items = list(self._items)
        self._items.clear()
        self._market_index = None
        return items


def _merge_market(old: MarketEvent, new: MarketEvent) -> MarketEvent:
    latest = {q.symbol: q for q in old.quotes}
    latest.update({q.symbol: q for q in new.quotes})
    flow = {f.symbol: f for f in old.flow}
    flow.update({f.symbol: f for f in new.flow})
    return MarketEvent(ts=new.ts, quotes=tuple(latest.values()), flow=tuple(flow.values()))


class EventBus:
    def __init__(self) -> None:
        self._handlers: list[tuple[tuple[type, ...], Handler, bool]] = []
        self._subs: list[Subscription] = []

    def on(self, types: type | tuple[type, ...], handler: Handler, *, critical: bool = False) -> None:
        """Run ``handler`` inline for every published event of these types.

        ``critical``: the handler persists or audits; its errors propagate (see the module docstring).
        """
        self._handlers.append((types if isinstance(types, tuple) else (types,), handler, critical))

    def subscribe(self, *types: type, maxsize: int = 2000) -> Subscription:
        sub = Subscription(self, types, maxsize)
        self._subs.append(sub)
        return sub

    def publish(self, event: Any) -> None:
        for types, handler, critical in self._handlers:
            if not isinstance(event, types):
                continue
            if critical:
                handler(event)
                continue
            try:
                handler(event)
            except Exception:  # a faulty display handler must not stop the engine
                log.exception("event handler %r failed on %s", handler, type(event).__name__)
        for sub in list(self._subs):
            if sub.wants(event):
                sub.push(event)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
