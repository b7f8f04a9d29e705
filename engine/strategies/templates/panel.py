"""A whole universe's bars end to end, and a one-stock template's setups over all of it at once.

The scan of thousands of symbols (issue 18) cannot afford a ``Setup`` object, a dozen kernel calls
and their Python glue per symbol and template. A template that builds one setup per symbol
(momentum, mean reversion, breakout, trend, the options overlays) therefore also offers ``panel``:
the same signals over a ``FlatBars`` (every symbol's bars laid end to end, the segmented kernels of
``engine.signals.segmented``), returned as ``Family`` arrays: the per-bar arrays its setups would
hold, end to end. The scan measures the track record on those arrays in one compiled call and
builds a real ``Setup`` only for the few symbols whose entry rule holds at the last bar (today's
candidates), over their last bars only.

The per-symbol ``build`` and ``panel`` share one implementation: each template's setup function
runs its panel signals on a one-symbol ``FlatBars``, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from engine.signals import segmented as seg
from engine.strategies.templates.base import Array, Bars, Mask, PanelFn, Params, Setup, single_arrays

Starts = NDArray[np.int64]
G = TypeVar("G", bound=np.generic)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FlatBars:
    """Several symbols' daily bars end to end: symbol ``i`` is ``[starts[i], starts[i + 1])``."""

    symbols: tuple[str, ...]
    starts: Starts
    dates: NDArray[np.datetime64]
    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array
    memo: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)
    """Series several templates read, each computed once per slice (``shared``). A slice is built
    by each scan, so nothing here outlives the scan: a re-scan recomputes everything."""

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, or what it gave for ``key`` on this slice already (one ATR(14), one
        Bollinger band set, ... for every template that reads it)."""
        if key not in self.memo:
            self.memo[key] = compute()
        out: T = self.memo[key]
        return out

    def release(self, keep: tuple[Hashable, ...] = ()) -> None:
        """Let go of the shared series but ``keep``'s (a universe of several slices: a template's
        pass holds one slice's series at a time, not every slice's; memory)."""
        for key in [k for k in self.memo if k not in keep]:
            del self.memo[key]

    @classmethod
    def of(cls, bars: Sequence[Bars]) -> FlatBars:
        """One copy of the symbols' bars (the only copy the panel path makes)."""
        lengths = np.fromiter((len(b) for b in bars), dtype=np.int64, count=len(bars))
        starts = np.zeros(len(bars) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])

        def cat(name: str) -> Array:
            if not bars:
                return np.empty(0)
            out: Array = np.ascontiguousarray(
                np.concatenate([getattr(b, name) for b in bars]), dtype=np.float64
            )
            return out

        dates = np.concatenate([b.dates for b in bars]) if bars else np.empty(0, "datetime64[D]")
        return cls(
            tuple(b.symbol for b in bars),
            starts,
            dates.astype("datetime64[D]"),
            cat("open"),
            cat("high"),
            cat("low"),
            cat("close"),
            cat("volume"),
        )

    def __len__(self) -> int:
        return len(self.symbols)

    def tail(self, i: int, k: int) -> Bars:
        """Symbol ``i``'s last ``k`` bars, copied (a candidate must not keep the panel alive)."""
        lo, hi = max(int(self.starts[i]), int(self.starts[i + 1]) - k), int(self.starts[i + 1])
        return Bars(
            self.symbols[i],
            self.dates[lo:hi].copy(),
            *(getattr(self, f)[lo:hi].copy() for f in ("open", "high", "low", "close", "volume")),
        )

    def cut(self, x: NDArray[G], i: int, k: int) -> NDArray[G]:
        """Symbol ``i``'s last ``k`` values of a flat array, copied."""
        lo, hi = max(int(self.starts[i]), int(self.starts[i + 1]) - k), int(self.starts[i + 1])
        out: NDArray[G] = x[lo:hi].copy()
        return out


MakeSetup = Callable[[int, int], Setup]
"""(symbol index, bars) -> that symbol's setup over its last ``bars`` bars (a candidate's)."""

FlatOutcome = Callable[[FlatBars, "Family", NDArray[np.int64]], tuple[Array, NDArray[np.int64]]]
"""(panel, family, flat signal bars) -> each trade's return and exit bar (NaN / -1: not complete):
a template's own trade outcome (``Template.outcome``) over the whole panel."""


@dataclass(frozen=True, slots=True)
class Family:
    """One setup per symbol of a ``FlatBars``: the arrays each ``Setup`` would hold, end to end.

    ``entry``, ``exit``, ``score``, ``stop``, ``target`` and ``atr`` are the setup's own arrays
    (``single_arrays`` made them, as ``single_setup`` does); ``stop_distance`` gives the setup's
    protective stop price ``round(close - stop_distance, 2)`` (``Setup.stop_price``; None: it has
    none). ``make`` builds one symbol's real setup, ``outcome`` is the template's own trade model
    (None: the exit model every basket uses)."""

    entry: Mask
    exit: Mask
    score: Array
    stop: Array
    target: Array
    make: MakeSetup
    atr: Array | None = None
    stop_distance: Array | None = None
    outcome: FlatOutcome | None = None


def single_family(
    panel: FlatBars,
    *,
    entry: Mask,
    exit: Mask,
    score: Array,
    stop_distance: Array,
    target_distance: Array | None,
    atr: Array | None,
    make: MakeSetup,
) -> Family:
    """The ``Family`` of a one-stock template whose setups ``single_setup`` makes."""
    e, s, stop, target = single_arrays(panel.close, entry, score, stop_distance, target_distance)
    return Family(e, exit, s, stop, target, make, atr=atr, stop_distance=stop_distance)


def one(bars: Bars) -> FlatBars:
    """A one-symbol panel over ``bars`` (no copy beyond the arrays' own)."""
    return FlatBars(
        (bars.symbol,),
        np.array([0, len(bars)], dtype=np.int64),
        bars.dates,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
    )


Signals = dict[str, NDArray[Any]]
"""A one-stock template's named series over a ``FlatBars`` (or one symbol's bars): ``entry``,
``exit``, ``score``, ``stop_distance`` and ``atr`` always, ``target_distance`` where it has a
target, and whatever else its reason reads."""

SignalsFn = Callable[[FlatBars, Params], Signals]
SetupFromSignals = Callable[[Bars, Params, Signals], Setup]


def one_stock(signals: SignalsFn, setup: SetupFromSignals) -> tuple[Callable[[Bars, Params], Setup], PanelFn]:
    """A one-stock template's per-symbol setup function and its ``panel``, from one implementation:
    ``signals`` over a panel (or a one-symbol panel), ``setup`` wrapping one symbol's series."""

    def per_symbol_setup(bars: Bars, p: Params) -> Setup:
        return setup(bars, p, signals(one(bars), p))

    def panel(flat: FlatBars, p: Params) -> list[Family]:
        sig = signals(flat, p)

        def make(i: int, k: int) -> Setup:
            return setup(flat.tail(i, k), p, {name: flat.cut(v, i, k) for name, v in sig.items()})

        return [
            single_family(
                flat,
                entry=sig["entry"],
                exit=sig["exit"],
                score=sig["score"],
                stop_distance=sig["stop_distance"],
                target_distance=sig.get("target_distance"),
                atr=sig.get("atr"),
                make=make,
            )
        ]

    return per_symbol_setup, panel


# The series several one-stock templates read, each computed once per slice (``FlatBars.shared``).


def atr(flat: FlatBars, n: int = 14) -> Array:
    """``segmented.atr`` of the slice (every one-stock template's stop reads ATR(14))."""
    return flat.shared(("atr", n), lambda: seg.atr(flat.high, flat.low, flat.close, flat.starts, n))


def bollinger(flat: FlatBars, n: int = 20, k: float = 2.0) -> tuple[Array, Array, Array, Array]:
    """``segmented.bollinger`` of the slice's closes (mean reversion and breakout)."""
    return flat.shared(("bollinger", n, k), lambda: seg.bollinger(flat.close, flat.starts, n, k))


def volume_momentum(flat: FlatBars, fast: int = 20, slow: int = 60) -> Array:
    """``segmented.volume_momentum`` of the slice (momentum and breakout)."""
    return flat.shared(
        ("vmom", fast, slow), lambda: seg.volume_momentum(flat.volume, flat.starts, fast, slow)
    )


def roc(flat: FlatBars, n: int) -> Array:
    """``segmented.roc`` of the slice's closes (momentum, trend and the options overlays)."""
    return flat.shared(("roc", n), lambda: seg.roc(flat.close, flat.starts, n))


def sma(flat: FlatBars, n: int) -> Array:
    """``segmented.sma`` of the slice's closes (momentum and the options overlays)."""
    return flat.shared(("sma", n), lambda: seg.sma(flat.close, flat.starts, n))


def rolling_volatility(flat: FlatBars, n: int) -> Array:
    """``segmented.rolling_volatility`` of the slice's closes (momentum and the options overlays)."""
    return flat.shared(("vol", n), lambda: seg.rolling_volatility(flat.close, flat.starts, n))
