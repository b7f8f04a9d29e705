"""Named stress scenarios: what an instantaneous market move and a volatility regime do to the book.

The scenarios are data (the size of the equity market's fall in each episode, rounded, and how
much daily volatility rose), so adding one is a line here, not code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.model.risk import StressResult
from engine.risk.var import AlignedBook, parametric_from_pnl


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    shock: float
    """Move of the equity market (the benchmark), e.g. -0.37 for a 37% fall."""
    vol_multiplier: float
    """Daily volatility in the regime that follows, as a multiple of the window's."""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("2008", -0.37, 2.5),
    Scenario("2020", -0.34, 3.0),
    Scenario("flash crash", -0.10, 5.0),
    Scenario("correction", -0.10, 1.5),
    Scenario("stagflation", -0.15, 1.8),
)

DEFAULT_BETA = 1.0


def _beta(estimate: float | None) -> float:
    if estimate is None or not math.isfinite(estimate):
        return DEFAULT_BETA
    return float(estimate)


def stress_test(
    book: AlignedBook,
    *,
    equity: float,
    betas: Mapping[str, float | None] | None = None,
    scenarios: Sequence[Scenario] = SCENARIOS,
) -> tuple[StressResult, ...]:
    """Each scenario's P&L and the one-day 99% parametric VaR of the book it leaves behind.

    The shock reaches a holding through its beta to the benchmark: its return is beta x shock.
    A holding with no beta estimate (missing from ``betas`` or None: too little history, or a
    benchmark that never moved) takes beta 1.0, i.e. it is assumed to move with the market, which
    is the neutral assumption for an equity and keeps an unknown holding from looking riskless.
    A price cannot fall more than 100%, so a holding's return is floored at -100% (a high-beta
    name in a deep crash); a non-finite beta counts as no estimate.

    The VaR after the shock is parametric on the shocked holdings' values with the window's
    covariance scaled by ``vol_multiplier`` squared (sigma by ``vol_multiplier``) and the mean
    left as it was. ``pnl_pct`` is 0.0 when equity is not positive.
    """
    known = betas or {}
    beta = np.array([_beta(known.get(s)) for s in book.symbols], dtype=np.float64)
    results: list[StressResult] = []
    for scenario in scenarios:
        moves = np.maximum(beta * scenario.shock, -1.0)
        pnl = float(book.values @ moves)
        shocked = AlignedBook(book.symbols, book.values * (1.0 + moves), book.returns)
        var_99 = parametric_from_pnl(shocked.pnl(), vol_multiplier=scenario.vol_multiplier).var_99
        results.append(
            StressResult(
                scenario=scenario.name,
                shock=scenario.shock,
                vol_multiplier=scenario.vol_multiplier,
                pnl=pnl,
                pnl_pct=pnl / equity if equity > 0.0 else 0.0,
                var_99=var_99,
            )
        )
    return tuple(results)
