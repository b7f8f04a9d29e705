"""What each past entry of a setup returned: the track record confidence and sizing are fitted on.

A trade is traded exactly as the backtester trades it: both call ``engine.strategies.exits.
setup_exits`` (entered on the signal at bar t, filled at bar t+1's open, then out by the
template's exit policy: a stop, a target or a trailing stop resting from the fill, the time exit
at the horizon, or the exit rule at a close; the rules are in that module's docstring). So a gap
through a stop books the worse fill, as it would have. An entry still open at the last bar has
no outcome yet (NaN): it is not known at the as-of date, so it is never used. Unlike the
backtester, trades may overlap: every signal is an observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.model.exits import ExitPolicy
from engine.strategies.exits import setup_exits
from engine.strategies.templates.base import NO_PROTECTION, Array, Setup


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
    setup: Setup, entries: NDArray[np.int64], horizon: int, policy: ExitPolicy = NO_PROTECTION
) -> tuple[Array, NDArray[np.int64]]:
    """Returns and exit bars of trades entered at ``entries`` (NaN / -1 where not complete)."""
    exits = setup_exits(setup, entries, horizon, policy)
    return np.where(exits.done, exits.ret, np.nan), exits.bar


def setup_outcomes(
    setup: Setup, horizon: int, outcome_fn: object | None = None, policy: ExitPolicy = NO_PROTECTION
) -> Outcomes:
    """Every completed past trade of the setup (the last bar's signal is the one being proposed)."""
    entries = np.flatnonzero(setup.entry[:-1]).astype(np.int64)
    if callable(outcome_fn):
        rets, exits = outcome_fn(setup, entries, horizon)
    else:
        rets, exits = basket_outcomes(setup, entries, horizon, policy)
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
