"""What each past entry of a setup returned: the track record confidence and sizing are fitted on.

A trade is traded exactly as the backtester trades it (``engine.research.backtest``): entered
on the signal at bar t, filled at bar t+1's open; marked at each close after that; closed at the
first close where its return reaches the stop (a loss) or the target (a gain), where the
template's exit rule holds, or ``horizon`` bars after the signal, and filled at the next open.
So a gap through a stop books the worse fill, as it would have. An entry whose exit fill lies
past the last bar has no outcome yet (NaN): it is not known at the as-of date, so it is never
used. Unlike the backtester, trades may overlap: every signal is an observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

from engine.strategies.templates.base import Array, Setup


@numba.njit(cache=True, nogil=True)
def _basket_kernel(
    open_: Array,
    close: Array,
    weights: Array,
    stop: Array,
    target: Array,
    exit_rule: NDArray[np.bool_],
    entries: NDArray[np.int64],
    horizon: int,
) -> tuple[Array, NDArray[np.int64]]:
    n_bars, k = close.shape
    out = np.full(len(entries), np.nan)
    exit_at = np.full(len(entries), -1, dtype=np.int64)
    for e in range(len(entries)):
        t = entries[e]
        if t + 1 >= n_bars:
            continue
        last = t + horizon
        for j in range(t + 1, min(last, n_bars - 1) + 1):
            r = 0.0
            for i in range(k):
                w = weights[t, i]
                if w != 0.0:
                    r += w * (close[j, i] / open_[t + 1, i] - 1.0)
            if r <= -stop[t] or r >= target[t] or exit_rule[j] or j == last:
                if j + 1 < n_bars:  # decided at j's close, filled at the next open
                    r = 0.0
                    for i in range(k):
                        w = weights[t, i]
                        if w != 0.0:
                            r += w * (open_[j + 1, i] / open_[t + 1, i] - 1.0)
                    out[e] = r
                    exit_at[e] = j + 1
                break
    return out, exit_at


@dataclass(frozen=True, slots=True)
class Outcomes:
    """The completed past trades of one setup: entry bar, exit bar, return, score at entry."""

    entries: NDArray[np.int64]
    exits: NDArray[np.int64]
    returns: Array
    scores: Array

    @property
    def n(self) -> int:
        return len(self.returns)

    @property
    def wins(self) -> int:
        return int(np.sum(self.returns > 0))


def basket_outcomes(
    setup: Setup, entries: NDArray[np.int64], horizon: int
) -> tuple[Array, NDArray[np.int64]]:
    """Returns and exit bars of trades entered at ``entries`` (NaN / -1 where not complete)."""
    result: tuple[Array, NDArray[np.int64]] = _basket_kernel(
        np.ascontiguousarray(setup.open),
        np.ascontiguousarray(setup.close),
        np.ascontiguousarray(setup.weights),
        setup.stop,
        setup.target,
        setup.exit,
        entries,
        horizon,
    )
    return result


def setup_outcomes(setup: Setup, horizon: int, outcome_fn: object | None = None) -> Outcomes:
    """Every completed past trade of the setup (the last bar's signal is the one being proposed)."""
    entries = np.flatnonzero(setup.entry[:-1]).astype(np.int64)
    if callable(outcome_fn):
        rets, exits = outcome_fn(setup, entries, horizon)
    else:
        rets, exits = basket_outcomes(setup, entries, horizon)
    done = np.isfinite(rets)
    return Outcomes(entries[done], exits[done], rets[done], setup.score[entries[done]])


def strategy_daily_returns(setup: Setup, outcomes: Outcomes) -> Array:
    """The setup run as a strategy: in its basket from each entry's next open to the exit, else flat.

    Overlapping trades count once (the strategy is in or out). Used for diversity between cards.
    """
    n_bars = len(setup)
    held = np.zeros(n_bars, dtype=np.bool_)
    for t, j in zip(outcomes.entries, outcomes.exits, strict=True):
        held[t + 2 : j + 1] = True
    rets = np.zeros(n_bars)
    basket = np.full(setup.close.shape, np.nan)
    basket[1:] = setup.close[1:] / setup.close[:-1] - 1.0
    for t, _j in zip(outcomes.entries, outcomes.exits, strict=True):
        w = setup.weights[t]
        daily = np.nan_to_num(basket[t + 2 : _j + 1] @ w)
        rets[t + 2 : _j + 1] = np.where(held[t + 2 : _j + 1], daily, 0.0)
    return rets
