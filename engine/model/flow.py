"""Order-flow readings as they cross to the console: one per symbol, with each quote step.

Computed by ``engine.signals.orderflow`` from the quotes that passed the quote guard (see that
module for the definitions). ``None`` where there is not enough data yet. On the shipped replay
the sizes are invented, so these describe the replay's construction and their predictive value
is not measurable there; only a recorded live session or real tick data can measure it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

NOT_MEASURABLE = "order flow: sizes are invented in the replay, predictive value not measurable"
"""What the desk says beside the figures when they come from the replay (or the simulator)."""


@dataclass(frozen=True, slots=True)
class FlowReading:
    symbol: str
    updates: int
    ofi: float
    """Order-flow imbalance (Cont-Kukanov-Stoikov) summed over the last window of updates."""
    quote_imbalance: float | None
    """(bid size - ask size) / (bid size + ask size) of the latest quote."""
    last_sign: int
    """+1 buy, -1 sell (Lee-Ready) of the last trade; 0 none or unknown."""
    signed_volume: float
    realized_spread: float | None
    realized_vol: float | None
    """sqrt of the sum of squared mid log returns over the window (not annualised)."""
    depth_imbalance: float | None = None
    sizes_invented: bool = True
    """The quotes' sizes come from a simulation (the paper replay): the figures describe it, not
    a market, and their predictive value is not measurable on them."""


class FlowBatch(Sequence[FlowReading]):
    """A step's readings as columns (``COLUMNS``, one column per symbol), read as ``FlowReading``
    objects only by whoever iterates them (the console): the engine makes none per step."""

    COLUMNS = (
        "updates",
        "ofi",
        "quote_imbalance",
        "last_sign",
        "signed_volume",
        "realized_spread",
        "realized_vol",
        "depth_imbalance",
    )

    __slots__ = ("_made", "columns", "sizes_invented", "symbols")

    def __init__(self, symbols: tuple[str, ...], columns: FloatArray, *, sizes_invented: bool) -> None:
        if columns.shape != (len(self.COLUMNS), len(symbols)):
            raise ValueError(f"flow columns of shape {columns.shape} for {len(symbols)} symbols")
        self.symbols = symbols
        self.columns = columns
        self.sizes_invented = sizes_invented
        self._made: tuple[FlowReading, ...] | None = None

    def readings(self) -> tuple[FlowReading, ...]:
        if self._made is None:
            invented = self.sizes_invented
            self._made = tuple(
                FlowReading(
                    symbol=sym,
                    updates=int(updates),
                    ofi=ofi,
                    quote_imbalance=_or_none(qi),
                    last_sign=int(sign),
                    signed_volume=signed,
                    realized_spread=_or_none(spread),
                    realized_vol=_or_none(vol),
                    depth_imbalance=_or_none(depth),
                    sizes_invented=invented,
                )
                for sym, (updates, ofi, qi, sign, signed, spread, vol, depth) in zip(
                    self.symbols, self.columns.T.tolist(), strict=True
                )
            )
        return self._made

    def __len__(self) -> int:
        return len(self.symbols)

    @overload
    def __getitem__(self, i: int) -> FlowReading: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[FlowReading, ...]: ...

    def __getitem__(self, i: int | slice) -> FlowReading | tuple[FlowReading, ...]:
        return self.readings()[i]

    def __iter__(self) -> Iterator[FlowReading]:
        return iter(self.readings())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FlowBatch({len(self)} readings)"


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value
