"""Allocations that need no optimizer: equal weight and inverse volatility.

- equal weight: ``w_i = 1 / n`` (times the invested fraction);
- inverse volatility: ``w_i = (1 / sigma_i) / sum_j (1 / sigma_j)``, the risk-parity portfolio when
  assets are uncorrelated.

Both are then water-filled onto the caps (:mod:`engine.portfolio.optimize.projection`), which keeps
their ratios among the assets no cap touches, and the trade is limited to the turnover budget.
"""

from __future__ import annotations

import numpy as np

from engine.portfolio.optimize.constraints import FeasibleSet, FloatArray
from engine.portfolio.optimize.projection import limit_turnover, water_fill
from engine.portfolio.optimize.result import Solution


def constrained(raw: FloatArray, fs: FeasibleSet, label: str) -> Solution:
    """``raw`` water-filled onto ``fs``, with a message saying whether anything had to move."""
    ideal = raw * (fs.invested / raw.sum())
    weights = limit_turnover(water_fill(raw, fs), fs)
    moved = float(np.abs(weights - ideal).sum())
    note = "" if moved < 1e-12 else f" (moved {moved:.4f} L1 to meet the constraints)"
    return Solution(weights, float("nan"), 0, f"{label}{note}")


def equal_weight(fs: FeasibleSet) -> Solution:
    """``1/n`` each, then constrained."""
    return constrained(np.ones(fs.n), fs, "equal weight")


def inverse_volatility(cov: FloatArray, fs: FeasibleSet) -> Solution:
    """``1/sigma_i`` normalised, then constrained; an asset with zero variance is refused."""
    vol = np.sqrt(np.diag(cov))
    if np.any(vol <= 0.0):
        flat = [fs.symbols[j] for j in np.flatnonzero(vol <= 0.0)]
        raise ValueError(f"inverse volatility: zero volatility for {', '.join(flat)}")
    return constrained(1.0 / vol, fs, "inverse volatility")
