"""A fixed scoreboard: one template drifting (wins far below its cards' confidence), one within
its forecast, one with too few trades to test, one with only an open trade."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from engine.model.forecast import ForecastOutcome, OutcomeStatus, Scoreboard
from engine.portfolio.scoreboard import scoreboard

T0 = datetime(2012, 3, 5, 15, 0, tzinfo=UTC)


def _outcomes(template: str, n: int, seed: int, bias: float) -> list[ForecastOutcome]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = rng.uniform(0.52, 0.68)
        exp = rng.uniform(0.005, 0.02)
        win = rng.random() < p - bias
        ret = abs(rng.gauss(exp, 0.03)) * (1 if win else -1)
        out.append(
            ForecastOutcome(
                execution_id=f"X-{template}-{i}",
                card_id=f"{template}-AAPL-{i}",
                template=template,
                symbols=("AAPL",),
                status=OutcomeStatus.CLOSED,
                opened_at=T0 + timedelta(days=i),
                closed_at=T0 + timedelta(days=i + 3),
                confidence=p,
                expected_return=exp,
                max_risk=40.0,
                expected_cost=2.0,
                capital=2000.0,
                gross_pnl=ret * 2000.0,
                entry_commission=1.0,
                exit_commission=1.0,
                entry_slippage=rng.uniform(0.0, 2.0),
                exit_slippage=0.0,
            )
        )
    return out


def fixed_board() -> Scoreboard:
    outcomes = [
        *_outcomes("mean_reversion", 32, 11, 0.35),
        *_outcomes("momentum", 28, 12, 0.0),
        *_outcomes("breakout", 6, 13, 0.0),
    ]
    return scoreboard(outcomes, asof=T0 + timedelta(days=60), open_trades={"momentum": 2, "pairs": 1})
