"""Tick messages for one quote, live or delayed (TWS_PROTOCOL_NOTES.md §4 tick types)."""

from __future__ import annotations

from engine.brokers.tws_sim import outgoing
from engine.brokers.tws_sim.events import Quote
from engine.brokers.tws_sim.outgoing import Fields

LIVE = {"bid": 1, "ask": 2, "last": 4, "bid_size": 0, "ask_size": 3, "last_size": 5, "volume": 8}
DELAYED = {"bid": 66, "ask": 67, "last": 68, "bid_size": 69, "ask_size": 70, "last_size": 71, "volume": 74}


def quote_ticks(req_id: int, quote: Quote, delayed: bool) -> list[Fields]:
    """tickPrice for bid/ask/last (each with its size, as ib_insync reads it) then the tickSizes."""
    t = DELAYED if delayed else LIVE
    out: list[Fields] = []
    for name, size in (("bid", quote.bid_size), ("ask", quote.ask_size), ("last", quote.last_size)):
        price = getattr(quote, name)
        if price > 0:
            out.append(outgoing.tick_price(req_id, t[name], price, size))
    out.append(outgoing.tick_size(req_id, t["bid_size"], quote.bid_size))
    out.append(outgoing.tick_size(req_id, t["ask_size"], quote.ask_size))
    if quote.last > 0:
        out.append(outgoing.tick_size(req_id, t["last_size"], quote.last_size))
    if quote.volume > 0:
        out.append(outgoing.tick_size(req_id, t["volume"], quote.volume))
    return out
