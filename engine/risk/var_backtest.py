"""Backtests of VaR and expected-shortfall forecasts: is the tail the model shows the tail that came?

* Kupiec's proportion of failures (POF): are there as many exceedances as the level promises?
* Christoffersen's independence test: do exceedances cluster (a hit today making one tomorrow
  likelier), the sign of a volatility the model did not follow?
* Conditional coverage: both at once (LR_pof + LR_ind, chi-square with 2 degrees of freedom).
* McNeil-Frey's exceedance-residual test for ES: on the days the VaR was exceeded, is the loss
  beyond the forecast ES on average (standardised by the forecast volatility)? One-sided, with
  a seeded bootstrap p-value, as McNeil and Frey (2000) proposed. The Acerbi-Szekely Z2
  statistic is reported beside it (no p-value: it would need each day's whole forecast
  distribution, which not every model here has).

The chi-square survival functions for 1 and 2 degrees of freedom are closed forms (erfc and exp)
so this module never imports scipy; the tests check them against scipy.stats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.risk.var import kupiec_pof

__all__ = [
    "BacktestResult",
    "backtest",
    "christoffersen_independence",
    "conditional_coverage",
    "kupiec_lr",
    "kupiec_pof",
    "mcneil_frey",
    "transitions",
    "z2_statistic",
]

PASS_P = 0.05
"""A test passes when its p-value is at least this (the usual 5% size)."""
BOOTSTRAP = 2_000
"""Resamples behind the McNeil-Frey p-value."""


def _xlogy(x: float, y: float) -> float:
    return x * math.log(y) if x > 0 else 0.0


def kupiec_lr(exceedances: int, observations: int, level: float) -> float:
    """Kupiec's likelihood ratio (chi-square, 1 dof under H0); see ``var.kupiec_pof`` for the p-value."""
    p, x, t = 1.0 - level, float(exceedances), float(observations)
    rate = x / t
    null = _xlogy(t - x, 1.0 - p) + _xlogy(x, p)
    alt = _xlogy(t - x, 1.0 - rate) + _xlogy(x, rate)
    return max(0.0, -2.0 * (null - alt))


def transitions(hits: NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """(n00, n01, n10, n11): day pairs going from no-hit/hit (first digit) to no-hit/hit."""
    h = np.asarray(hits, dtype=bool)
    prev, nxt = h[:-1], h[1:]
    return (
        int(np.sum(~prev & ~nxt)),
        int(np.sum(~prev & nxt)),
        int(np.sum(prev & ~nxt)),
        int(np.sum(prev & nxt)),
    )


def christoffersen_lr(hits: NDArray[np.bool_]) -> float:
    """LR_ind = -2 ln[L(pi) / L(pi01, pi11)] of the first-order Markov chain of hits."""
    n00, n01, n10, n11 = transitions(hits)
    total = n00 + n01 + n10 + n11
    if total == 0:
        return 0.0
    pi = (n01 + n11) / total
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    null = _xlogy(n00 + n10, 1.0 - pi) + _xlogy(n01 + n11, pi)
    alt = _xlogy(n00, 1.0 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1.0 - pi11) + _xlogy(n11, pi11)
    return max(0.0, -2.0 * (null - alt))


def chi2_sf(statistic: float, dof: int) -> float:
    """Survival function of chi-square with 1 or 2 degrees of freedom, in closed form."""
    if dof == 1:
        return min(1.0, math.erfc(math.sqrt(max(statistic, 0.0) / 2.0)))
    if dof == 2:
        return min(1.0, math.exp(-max(statistic, 0.0) / 2.0))
    raise ValueError(f"only 1 or 2 degrees of freedom, got {dof}")


def christoffersen_independence(hits: NDArray[np.bool_]) -> float:
    """p-value of independence of the hit sequence (chi-square, 1 dof)."""
    return chi2_sf(christoffersen_lr(hits), 1)


def conditional_coverage(hits: NDArray[np.bool_], level: float) -> float:
    """p-value of LR_pof + LR_ind (chi-square, 2 dof): right rate and no clustering, jointly.

    Kupiec is taken on the days that have a predecessor (all but the first), as Christoffersen
    (1998) does, so the two statistics describe the same sample.
    """
    h = np.asarray(hits, dtype=bool)
    if h.size < 2:
        raise ValueError("conditional coverage needs at least two days")
    tail = h[1:]
    return chi2_sf(kupiec_lr(int(tail.sum()), int(tail.size), level) + christoffersen_lr(h), 2)


def mcneil_frey(
    losses: NDArray[np.floating],
    var: NDArray[np.floating],
    es: NDArray[np.floating],
    scale: NDArray[np.floating],
    *,
    seed: int = 0,
    resamples: int = BOOTSTRAP,
) -> tuple[float | None, int]:
    """(one-sided p-value, number of exceedances) that ES is not underestimated.

    On exceedance days r = (loss - ES) / scale; H0 mean(r) = 0 against mean(r) > 0. The
    t-statistic of r is compared with ``resamples`` bootstrap t-statistics of r centred on
    zero (the bootstrap imposes H0); p = (1 + #{t_b >= t}) / (1 + resamples). None with fewer
    than three exceedances: the statistic has no spread to judge.
    """
    loss = np.asarray(losses, dtype=np.float64)
    hit = loss > np.asarray(var, dtype=np.float64)
    k = int(hit.sum())
    if k < 3:
        return None, k
    sc = np.asarray(scale, dtype=np.float64)[hit]
    r = (loss[hit] - np.asarray(es, dtype=np.float64)[hit]) / np.where(sc > 0, sc, 1.0)
    observed = _t_stat(r)
    centred = r - r.mean()
    rng = np.random.default_rng(seed)
    draws = centred[rng.integers(0, k, size=(resamples, k))]
    sd = draws.std(axis=1, ddof=1)
    boot = np.where(sd > 0, draws.mean(axis=1) / np.where(sd > 0, sd, 1.0) * math.sqrt(k), 0.0)
    return float((1 + np.sum(boot >= observed)) / (1 + resamples)), k


def _t_stat(r: NDArray[np.float64]) -> float:
    sd = float(r.std(ddof=1))
    if sd == 0.0:
        return math.inf if r.mean() > 0 else (0.0 if r.mean() == 0 else -math.inf)
    return float(r.mean() / sd * math.sqrt(r.size))


def z2_statistic(
    pnl: NDArray[np.floating], var: NDArray[np.floating], es: NDArray[np.floating], level: float
) -> float:
    """Acerbi-Szekely Z2 = sum(X_t I_t / ES_t) / (T (1 - level)) + 1, X the P&L (losses negative),
    I_t the exceedance indicator: 0 when ES is right, negative when it understates the tail."""
    x = np.asarray(pnl, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    e = np.asarray(es, dtype=np.float64)
    hit = -x > v
    safe = np.where(e > 0, e, np.inf)
    return float(np.sum(np.where(hit, x / safe, 0.0)) / (x.size * (1.0 - level)) + 1.0)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """One model at one level over one series: the figures ``onetap var-backtest`` prints."""

    observations: int
    exceedances: int
    expected: float
    kupiec_p: float
    christoffersen_p: float
    conditional_coverage_p: float
    es_p: float | None
    z2: float

    @property
    def passes(self) -> bool:
        """Kupiec and Christoffersen both at or above ``PASS_P``."""
        return self.kupiec_p >= PASS_P and self.christoffersen_p >= PASS_P


def backtest(
    pnl: NDArray[np.floating],
    var: NDArray[np.floating],
    es: NDArray[np.floating],
    scale: NDArray[np.floating],
    level: float,
    *,
    seed: int = 0,
) -> BacktestResult:
    """Every statistic for forecasts ``var``/``es``/``scale`` (losses positive) of ``pnl``, day by day."""
    x = np.asarray(pnl, dtype=np.float64)
    if not (x.size == np.size(var) == np.size(es) == np.size(scale)):
        raise ValueError("pnl, var, es and scale must have one entry per day")
    if x.size < 2:
        raise ValueError(f"a backtest needs at least two days, got {x.size}")
    hits = -x > np.asarray(var, dtype=np.float64)
    exceed = int(hits.sum())
    es_p, _ = mcneil_frey(-x, var, es, scale, seed=seed)
    return BacktestResult(
        observations=int(x.size),
        exceedances=exceed,
        expected=float(x.size * (1.0 - level)),
        kupiec_p=kupiec_pof(exceed, int(x.size), level),
        christoffersen_p=christoffersen_independence(hits),
        conditional_coverage_p=conditional_coverage(hits, level),
        es_p=es_p,
        z2=z2_statistic(x, var, es, level),
    )
