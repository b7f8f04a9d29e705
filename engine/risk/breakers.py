"""Circuit breakers: the conditions that change the trading state or pause a strategy.

Pure decisions over the risk state and small streak counters; the engine acts on them
(halting, cancelling, alerting) and records each transition as an audited risk event.

- today's loss beyond the daily limit: HALTED (everything stops until RESUME);
- drawdown beyond its limit: REDUCING (only orders that reduce risk pass);
- N losing trades in a row for a strategy: that strategy paused;
- K broker rejects in a row: HALTED (something is wrong between us and the broker).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.model import AlertCode, RiskState, TradingState


@dataclass(frozen=True, slots=True)
class Trip:
    """A breaker's verdict: the state it demands, a stable code and the operator's explanation."""

    state: TradingState
    code: AlertCode
    reason: str


def state_breaker(risk: RiskState) -> Trip | None:
    """The trading state the gauges demand, the most severe first; None when within every limit."""
    if risk.day_loss > risk.day_loss_limit:
        return Trip(
            TradingState.HALTED,
            AlertCode.DAILY_LOSS,
            f"circuit breaker: today's loss {risk.day_loss:.2%} exceeds {risk.day_loss_limit:.2%}",
        )
    if risk.drawdown > risk.drawdown_limit:
        return Trip(
            TradingState.REDUCING,
            AlertCode.DRAWDOWN,
            f"circuit breaker: drawdown {risk.drawdown:.2%} exceeds {risk.drawdown_limit:.2%}",
        )
    return None


class LossStreaks:
    """Consecutive losing closed trades per strategy; a win (or a flat trade) resets the streak."""

    def __init__(self, max_losses: int) -> None:
        self.max_losses = max_losses
        self._streak: dict[str, int] = {}

    def record(self, strategy: str, realized: float) -> bool:
        """Count one closed trade; True when the strategy has just reached ``max_losses`` in a row."""
        streak = self._streak.get(strategy, 0) + 1 if realized < 0 else 0
        self._streak[strategy] = streak
        return streak == self.max_losses

    def reset(self, strategy: str) -> None:
        self._streak.pop(strategy, None)

    def streak(self, strategy: str) -> int:
        return self._streak.get(strategy, 0)


class RejectStreak:
    """Broker rejects in a row; any acknowledgement or fill in between resets it."""

    def __init__(self, max_rejects: int) -> None:
        self.max_rejects = max_rejects
        self.count = 0

    def rejected(self) -> bool:
        """Count one reject; True when the streak has just reached ``max_rejects``."""
        self.count += 1
        return self.count == self.max_rejects

    def accepted(self) -> None:
        self.count = 0
