"""Market depth (reqMktDepth): a small limit order book per contract, built around the top of book.

**The levels are synthetic.** The replay (and ``set_quote``) gives the simulator one bid and one
ask with their sizes; the deeper levels are made up from them: level ``k`` (0 = the touch) is
``k`` ticks (the contract's minTick) away from the touch and holds ``(k + 1)`` times the touch's
size. A side whose touch is missing (price or size 0) has no levels. Order-flow research on this
book measures the construction, not a market: it is here so that clients (and onetap's depth
imbalance) can be exercised through the real protocol.

Each subscription keeps the rows it last sent; a new quote is sent as the difference, with the
operations IB uses (``updateMktDepth``: 0 insert, 1 update, 2 delete at a position; side 0 ask,
1 bid), so a client that applies them in order (ib_insync's ``domBids``/``domAsks``) holds
exactly the simulator's book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from engine.brokers.tws_sim.events import Quote

MAX_ROWS = 10
"""Rows per side served at most (TWS serves up to 10 for most venues; ib_insync's docs say 5)."""
MAX_SUBSCRIPTIONS = 3
"""Simultaneous depth requests per client: more get error 309, as at TWS's default allowance."""

INSERT, UPDATE, DELETE = 0, 1, 2
ASK, BID = 0, 1

Level = tuple[float, float]
"""(price, size) of one row of the book."""


def decimals_of(tick: float) -> int:
    """Decimal places of a tick size (0.25 -> 2, 5e-05 -> 5), for rounding prices onto its grid."""
    exponent = Decimal(repr(tick)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def synthetic_levels(
    quote: Quote, tick: float, rows: int, places: int | None = None
) -> tuple[list[Level], list[Level]]:
    """(bids, asks), best first: ``rows`` levels a tick apart, sizes growing with the distance
    (``places``: the tick's decimals, when the caller has them already)."""
    if tick <= 0:
        raise ValueError(f"a depth book needs a positive tick size, got {tick!r}")
    places = decimals_of(tick) if places is None else places
    bids: list[Level] = []
    asks: list[Level] = []
    for k in range(rows):
        if quote.bid > 0 and quote.bid_size > 0:
            price = round(quote.bid - k * tick, places)
            if price > 0:
                bids.append((price, quote.bid_size * (k + 1)))
        if quote.ask > 0 and quote.ask_size > 0:
            asks.append((round(quote.ask + k * tick, places), quote.ask_size * (k + 1)))
    return bids, asks


@dataclass(frozen=True, slots=True)
class DepthOp:
    """One ``updateMktDepth``: apply ``operation`` at ``position`` on ``side``."""

    position: int
    operation: int
    side: int
    price: float
    size: float


def diff(old: list[Level], new: list[Level], side: int) -> list[DepthOp]:
    """The operations that turn the rows a client holds (``old``) into ``new``.

    Rows present in both are updated where they changed; extra new rows are inserted at the end;
    rows no longer there are deleted, the last one first (so every position still names the row
    the client holds there).
    """
    ops: list[DepthOp] = []
    for position, (was, now) in enumerate(zip(old, new, strict=False)):
        if was != now:
            ops.append(DepthOp(position, UPDATE, side, now[0], now[1]))
    for position in range(len(old), len(new)):
        ops.append(DepthOp(position, INSERT, side, new[position][0], new[position][1]))
    for position in range(len(old) - 1, len(new) - 1, -1):
        ops.append(DepthOp(position, DELETE, side, old[position][0], 0.0))
    return ops


@dataclass(slots=True)
class DepthSubscription:
    """One client's depth request: the contract, its tick, the rows asked for and the rows sent."""

    key: str
    tick: float
    rows: int
    bids: list[Level] = field(default_factory=list)
    asks: list[Level] = field(default_factory=list)
    places: int = field(init=False)

    def __post_init__(self) -> None:
        self.places = decimals_of(self.tick)

    def update(self, quote: Quote | None) -> list[DepthOp]:
        """The operations that bring the client to the book of ``quote`` (None: an empty book)."""
        if quote is None:
            bids: list[Level] = []
            asks: list[Level] = []
        else:
            bids, asks = synthetic_levels(quote, self.tick, self.rows, self.places)
        ops = diff(self.bids, bids, BID) + diff(self.asks, asks, ASK)
        self.bids, self.asks = bids, asks
        return ops
