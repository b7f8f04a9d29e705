"""The desk's risk gauges: today's loss, drawdown, gross exposure and VaR against their limits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np

from engine.model import AccountSnapshot, RiskState, TradingState


def historical_var(
    values: Mapping[str, float], returns: Mapping[str, np.ndarray], *, level: float = 0.95
) -> float:
    """One-day historical VaR of the current holdings, in money (>= 0).

    The holdings' values are applied to the symbols' aligned daily returns (the same
    dates for all, the most recent window); the loss at the ``level`` quantile is the VaR.
    """
    held = [(sym, v) for sym, v in values.items() if v != 0.0 and sym in returns]
    if not held:
        return 0.0
    n = min(len(returns[sym]) for sym, _ in held)
    if n < 20:
        return 0.0
    pnl = np.zeros(n)
    for sym, value in held:
        pnl += value * returns[sym][-n:]
    return float(max(0.0, -np.quantile(pnl, 1.0 - level)))


def risk_state(
    account: AccountSnapshot,
    var_95: float,
    *,
    trading_state: TradingState,
    halted_reason: str,
    halted_at: datetime | None,
    kill_level: int = 0,
    paused_strategies: tuple[str, ...] = (),
    gross_limit: float,
    daily_loss_limit_pct: float,
    drawdown_limit_pct: float,
    var_limit_pct: float,
    var_method: str = "historical",
) -> RiskState:
    equity = max(account.equity, 1e-9)
    return RiskState(
        trading_state=trading_state,
        gross_exposure=account.gross_exposure / equity,
        gross_limit=gross_limit,
        day_loss=max(0.0, -account.day_pnl) / max(account.start_of_day_equity, 1e-9),
        day_loss_limit=daily_loss_limit_pct,
        drawdown=account.drawdown,
        drawdown_limit=drawdown_limit_pct,
        var_95=var_95 / equity,
        var_limit=var_limit_pct,
        var_method=var_method,
        halted_reason=halted_reason,
        halted_at=halted_at,
        kill_level=kill_level,
        paused_strategies=paused_strategies,
    )
