"""What a template is: a named entry rule over daily bars with a stop and a horizon.

``signal`` is the only strategy logic: the card source, research backtests and live
execution all call it, so a template is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Signal:
    """Per bar: whether the entry rule holds, and a score (higher = stronger)."""

    entry: NDArray[np.bool_]
    score: Array
    reason: Callable[[int], str]


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    title: str
    horizon_days: int
    signals_required: tuple[str, ...]
    signal: Callable[[Array, Array, Array, Array, Array], Signal]
    """(open, high, low, close, volume) -> Signal; value at t uses bars up to t only."""
    min_history: int
