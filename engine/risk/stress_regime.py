"""Stress that fits today's market: replays scaled to the current volatility, plus vol and correlation shocks.

``stress.stress_test`` replays each episode's market fall and sets the volatility after it as a
multiple of the window's average volatility. When the market is already turbulent that
understates the aftermath (and overstates it in a calm), so here the multiple is applied to
*today's* volatility: ``regime`` = the book's EWMA volatility now (RiskMetrics, lambda 0.94) over
its window average, and each scenario's multiplier is scaled by it (the ``Vol x`` column then
still reads as a multiple of the window's volatility). Two shocks join the replays:

* ``vol x3``: no price move, today's volatility tripled; the shares' P&L is zero (option vega is
  not revalued here), the point is the VaR it would leave.
* ``correlation 1``: every holding falls together by 2.33 of its own current volatility (the
  99% one-day move), as if all correlations went to one: diversification and hedges that rely
  on imperfect correlation stop helping. VaR after is z99 x |sum w_i sigma_i|.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from engine.model.risk import StressResult
from engine.risk.stress import SCENARIOS, Scenario, stress_test
from engine.risk.var import MIN_OBSERVATIONS, AlignedBook
from engine.risk.var_models import EWMA_LAMBDA, variance_filter

VOL_SHOCK = 3.0
REGIME_BOUNDS = (0.25, 10.0)
"""The regime ratio is clamped here: a near-empty window must not make a scenario absurd."""
_Z99 = -NormalDist().inv_cdf(0.01)


def ewma_sigma(returns: np.ndarray) -> np.ndarray:
    """Today's EWMA volatility of each column (days x columns), started from the first 20 days."""
    r = np.atleast_2d(np.asarray(returns, dtype=np.float64))
    if r.shape[0] == 0:
        return np.zeros(r.shape[1])
    out = np.empty(r.shape[1])
    for j in range(r.shape[1]):
        col = r[:, j]
        first = float(np.mean(col[: min(col.size, MIN_OBSERVATIONS)] ** 2))
        out[j] = math.sqrt(variance_filter(col, 0.0, 1.0 - EWMA_LAMBDA, EWMA_LAMBDA, first)[-1])
    return out


def volatility_regime(book: AlignedBook) -> float:
    """Today's EWMA volatility of the book's P&L over its window standard deviation (1.0 if unknown)."""
    pnl = book.pnl()
    if pnl.size < MIN_OBSERVATIONS:
        return 1.0
    window = float(pnl.std(ddof=1))
    if not window > 0.0:
        return 1.0
    now = float(ewma_sigma(pnl[:, None])[0])
    return min(max(now / window, REGIME_BOUNDS[0]), REGIME_BOUNDS[1])


def regime_stress(
    book: AlignedBook,
    *,
    equity: float,
    betas: Mapping[str, float | None] | None = None,
    scenarios: Sequence[Scenario] = SCENARIOS,
) -> tuple[StressResult, ...]:
    """The replays at today's volatility, the volatility shock, and the correlation-to-one shock."""
    regime = volatility_regime(book)
    scaled = [Scenario(s.name, s.shock, s.vol_multiplier * regime) for s in scenarios]
    scaled.append(Scenario(f"vol x{VOL_SHOCK:g}", 0.0, VOL_SHOCK * regime))
    results = list(stress_test(book, equity=equity, betas=betas, scenarios=scaled))
    results.append(correlation_one(book, equity=equity))
    return tuple(results)


def correlation_one(book: AlignedBook, *, equity: float) -> StressResult:
    """Every holding down z99 x its current volatility at once (correlations all one)."""
    if not book.symbols or book.observations < MIN_OBSERVATIONS:
        return StressResult("correlation 1", 0.0, 1.0, 0.0, 0.0, 0.0)
    sigma = ewma_sigma(book.returns)
    moves = np.maximum(-_Z99 * sigma, -1.0)
    pnl = float(book.values @ moves)
    gross = float(np.abs(book.values).sum())
    shock = float(np.abs(book.values) @ moves) / gross if gross > 0 else 0.0
    var_99 = _Z99 * abs(float(book.values @ sigma))
    return StressResult(
        scenario="correlation 1",
        shock=shock,
        vol_multiplier=1.0,
        pnl=pnl,
        pnl_pct=pnl / equity if equity > 0.0 else 0.0,
        var_99=var_99,
    )
