"""One quote step as columns: ``QuoteBatch``, and ``LatestQuotes``, each symbol's newest quote.

Why columns: a step of 500 symbols arrives many times a second, and the parts that read every
quote (the guard, the order-flow book, the marks, the broker's market) can work on arrays at
once, where a ``Quote`` object per quote per step cost more than everything they do with it.
A batch is still a ``Sequence[Quote]``: whoever iterates it (the console, a recording, a test)
gets the same ``Quote`` objects, made on first reading and kept, so every reader sees one object
per quote and a step nobody iterates makes none.

Arrival order is the batch's order; a symbol may appear more than once (a live feed's ticker
batch), in which case ``unique`` is false and the last one is its newest.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import overload

import numpy as np
import numpy.typing as npt

from engine.model.market import Quote

FloatArray = npt.NDArray[np.float64]

FIELDS = ("bid", "ask", "last", "bid_size", "ask_size", "last_size", "volume")
"""The numeric columns, in ``Quote``'s field order after the symbol and the time."""


class QuoteBatch(Sequence[Quote]):
    """A step's quotes: ``symbols`` (a tuple a feed may hand again step after step, so readers
    can key their slot tables on it), one time per quote (``stamp`` when they share one) and the
    numeric columns as rows of ``values`` (``FIELDS``)."""

    __slots__ = ("_index", "_made", "stamp", "stamps", "symbols", "values")

    def __init__(
        self,
        symbols: tuple[str, ...],
        stamps: datetime | tuple[datetime, ...],
        values: FloatArray,
        made: tuple[Quote, ...] | None = None,
        positions: dict[str, int] | None = None,
    ) -> None:
        """``positions``: ``symbols``' ``positions``, when the caller has them already (a feed
        whose steps share one tuple shares one dict: it is never changed)."""
        if values.shape != (len(FIELDS), len(symbols)):
            raise ValueError(
                f"a quote batch of {len(symbols)} symbols needs values of shape "
                f"{(len(FIELDS), len(symbols))}, got {values.shape}"
            )
        if isinstance(stamps, tuple) and len(stamps) != len(symbols):
            raise ValueError(f"{len(stamps)} times for {len(symbols)} quotes")
        self.symbols = symbols
        self.stamp: datetime | None = stamps if isinstance(stamps, datetime) else None
        """The one time every quote of the batch carries (None: they differ, see ``stamps``)."""
        self.stamps: tuple[datetime, ...] | None = stamps if isinstance(stamps, tuple) else None
        self.values = values
        self._made: list[Quote | None] | tuple[Quote, ...] | None = made
        self._index = positions

    @classmethod
    def of(cls, quotes: Iterable[Quote]) -> QuoteBatch:
        """A batch of ready ``Quote`` objects (a live feed's, a test's): they are its quotes."""
        if isinstance(quotes, QuoteBatch):
            return quotes
        made = tuple(quotes)
        values = np.array(
            [[q.bid, q.ask, q.last, q.bid_size, q.ask_size, q.last_size, q.volume] for q in made],
            dtype=np.float64,
        ).reshape(len(made), len(FIELDS))
        stamps = tuple(q.ts for q in made)
        first = stamps[0] if stamps else None
        shared: datetime | tuple[datetime, ...] = (
            first if first is not None and all(t is first for t in stamps) else stamps
        )
        return cls(tuple(q.symbol for q in made), shared, np.ascontiguousarray(values.T), made)

    # ------------------------------------------------------------------ columns
    @property
    def bid(self) -> FloatArray:
        column: FloatArray = self.values[0]
        return column

    @property
    def ask(self) -> FloatArray:
        column: FloatArray = self.values[1]
        return column

    @property
    def last(self) -> FloatArray:
        column: FloatArray = self.values[2]
        return column

    @property
    def bid_size(self) -> FloatArray:
        column: FloatArray = self.values[3]
        return column

    @property
    def ask_size(self) -> FloatArray:
        column: FloatArray = self.values[4]
        return column

    @property
    def last_size(self) -> FloatArray:
        column: FloatArray = self.values[5]
        return column

    @property
    def volume(self) -> FloatArray:
        column: FloatArray = self.values[6]
        return column

    def ts(self, i: int) -> datetime:
        if self.stamp is not None:
            return self.stamp
        assert self.stamps is not None
        return self.stamps[i]

    @property
    def positions(self) -> dict[str, int]:
        """symbol -> the position of its newest quote in the batch."""
        if self._index is None:
            self._index = {s: i for i, s in enumerate(self.symbols)}
        return self._index

    @property
    def unique(self) -> bool:
        """Each symbol at most once (the replay's steps; a live batch may repeat one)."""
        return len(self.positions) == len(self.symbols)

    def take(self, keep: npt.NDArray[np.bool_]) -> QuoteBatch:
        """The quotes where ``keep`` is true, in order (the batch itself when all are kept)."""
        if bool(keep.all()):
            return self
        at = np.flatnonzero(keep).tolist()
        stamps = self.stamp if self.stamp is not None else tuple(self.ts(i) for i in at)
        made = self._made
        kept = None
        if made is not None and all(made[i] is not None for i in at):
            kept = tuple(q for q in (made[i] for i in at) if q is not None)
        return QuoteBatch(tuple(self.symbols[i] for i in at), stamps, self.values[:, at], kept)

    def in_order(self, wanted: Collection[str]) -> list[int]:
        """Positions of the quotes of ``wanted`` symbols, in arrival order (cheap when few are
        wanted: the marks of a book that holds a handful of the 500 symbols quoted)."""
        if len(wanted) * 4 < len(self.symbols) and self.unique:
            index = self.positions
            return sorted(index[s] for s in wanted if s in index)
        return [i for i, s in enumerate(self.symbols) if s in wanted]

    # ------------------------------------------------------------------ Sequence[Quote]
    def __len__(self) -> int:
        return len(self.symbols)

    @overload
    def __getitem__(self, i: int) -> Quote: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[Quote, ...]: ...

    def __getitem__(self, i: int | slice) -> Quote | tuple[Quote, ...]:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        made = self._made
        if made is None:
            made = self._made = [None] * len(self.symbols)
        quote = made[i]
        if quote is None:
            n = len(self.symbols)
            k = i + n if i < 0 else i
            if not 0 <= k < n:
                raise IndexError(f"quote {i} of a batch of {n}")
            quote = Quote(self.symbols[k], self.ts(k), *self.values[:, k].tolist())
            made[k] = quote  # type: ignore[index]
        return quote

    def quotes(self) -> tuple[Quote, ...]:
        """Every quote as an object (made once, all at a time)."""
        made = self._made
        if isinstance(made, tuple):
            return made
        rows = self.values.T.tolist()
        out = tuple(
            (made[k] if made is not None else None) or Quote(self.symbols[k], self.ts(k), *rows[k])
            for k in range(len(self.symbols))
        )
        self._made = out
        return out

    def __iter__(self) -> Iterator[Quote]:
        return iter(self.quotes())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"QuoteBatch({len(self)} quotes at {self.stamp or 'several times'})"


def as_batch(quotes: Iterable[Quote]) -> QuoteBatch:
    """The step as a batch: itself when it is one already, else its quotes gathered (once)."""
    return quotes if isinstance(quotes, QuoteBatch) else QuoteBatch.of(quotes)


class LatestQuotes(Mapping[str, Quote]):
    """symbol -> its newest quote, kept from whole batches without making their quotes.

    Layers, newest last: a batch, or a dict of single quotes set one by one. A new batch drops
    the layers it supersedes (every symbol of theirs quoted again, the replay's every step), so
    a feed of the same symbols keeps one layer; layers past ``keep`` are folded into the oldest
    (making that batch's quotes: only when the symbols quoted change from step to step).
    """

    def __init__(self, keep: int = 6) -> None:
        self._layers: list[QuoteBatch | dict[str, Quote]] = []
        self._keep = keep

    def add(self, batch: QuoteBatch) -> None:
        layers = self._layers
        while layers and _covers(batch, layers[-1]):
            layers.pop()
        if len(batch):
            layers.append(batch)
        self._fold()

    def _fold(self) -> None:
        layers = self._layers
        if len(layers) > self._keep:
            layers[0:2] = [_as_dict(layers[0]) | _as_dict(layers[1])]

    def __setitem__(self, symbol: str, quote: Quote) -> None:
        layers = self._layers
        if layers and isinstance(layers[-1], dict):
            layers[-1][symbol] = quote
        else:
            layers.append({symbol: quote})
            self._fold()

    def get(self, symbol: str, default: Quote | None = None) -> Quote | None:  # type: ignore[override]
        for layer in reversed(self._layers):
            if isinstance(layer, dict):
                quote = layer.get(symbol)
                if quote is not None:
                    return quote
            else:
                at = layer.positions.get(symbol)
                if at is not None:
                    return layer[at]
        return default

    def __getitem__(self, symbol: str) -> Quote:
        quote = self.get(symbol)
        if quote is None:
            raise KeyError(symbol)
        return quote

    def __contains__(self, symbol: object) -> bool:
        if not isinstance(symbol, str):
            return False
        return any(
            symbol in (layer if isinstance(layer, dict) else layer.positions) for layer in self._layers
        )

    def _keys(self) -> dict[str, None]:
        keys: dict[str, None] = {}
        for layer in self._layers:
            keys.update(dict.fromkeys(layer if isinstance(layer, dict) else layer.positions))
        return keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def as_dict(self) -> dict[str, Quote]:
        out: dict[str, Quote] = {}
        for layer in self._layers:
            out.update(_as_dict(layer))
        return out

    def clear(self) -> None:
        self._layers.clear()


def _covers(batch: QuoteBatch, layer: QuoteBatch | dict[str, Quote]) -> bool:
    """Every symbol of ``layer`` is quoted in ``batch`` (so ``batch`` supersedes it)."""
    if isinstance(layer, QuoteBatch):
        if layer.symbols is batch.symbols:
            return True
        names: Iterable[str] = layer.positions
    else:
        names = layer
    index = batch.positions
    return all(s in index for s in names)


def _as_dict(layer: QuoteBatch | dict[str, Quote]) -> dict[str, Quote]:
    if isinstance(layer, dict):
        return layer
    quotes = layer.quotes()
    return {layer.symbols[i]: quotes[i] for i in layer.positions.values()}


class SlotTable:
    """symbol -> a row of someone's state arrays (the quote guard's, the order-flow book's),
    given out in first-seen order. ``slots`` of a batch is looked up once per ``symbols`` tuple:
    a feed that hands the same tuple step after step pays for it once."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._slot: dict[str, int] = {}
        self._key: tuple[str, ...] | None = None
        self._slots: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.names)

    def get(self, symbol: str) -> int | None:
        return self._slot.get(symbol)

    def slot(self, symbol: str) -> int:
        at = self._slot.get(symbol)
        if at is None:
            at = self._slot[symbol] = len(self.names)
            self.names.append(symbol)
        return at

    def of(self, symbols: tuple[str, ...]) -> npt.NDArray[np.int64]:
        if symbols is not self._key:
            slot = self.slot
            self._slots = np.fromiter((slot(s) for s in symbols), dtype=np.int64, count=len(symbols))
            self._key = symbols
        return self._slots
