"""The trading-state banner: absent while ACTIVE, impossible to miss while HALTED, REDUCING or
RECOVERING."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

from console.widgets.fmt import ny_stamp
from engine.model import RiskState, TradingState


class HaltBanner(Static):
    """Assign ``risk``; the banner shows itself only when trading is HALTED or REDUCING.

    HALTED (red, class ``-halted``) says why, since when, what that means, and the exact keys
    that lift it, so an operator who walks up to the screen needs nothing else. REDUCING
    (amber, class ``-reducing``) says which orders still pass: a drawdown breaker has not
    stopped trading, and an operator who reads only "halted" would close positions by hand
    that the engine would have let them reduce. RECOVERING (amber, class ``-recovering``) says
    that the engine waits for the operator to approve what it found at the broker, and the key.
    """

    risk: reactive[RiskState | None] = reactive(None, init=False)

    def __init__(self, *, resume_key: str = "R", approve_key: str = "a", id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.resume_key = resume_key
        self.approve_key = approve_key
        self.display = False
        self._shown: object = ()
        """What the banner last drew (a sentinel before the first risk state)."""

    def watch_risk(self, risk: RiskState | None) -> None:
        """Drawn only when what it says changes: the risk state arrives with every mark, and a
        banner update relayouts the desk (its height depends on its text)."""
        shown = (risk.trading_state, banner_text(risk, self.resume_key, self.approve_key)) if risk else None
        if shown == self._shown:
            return
        self._shown = shown
        state = risk.trading_state if risk is not None else TradingState.ACTIVE
        self.set_class(state is TradingState.HALTED, "-halted")
        self.set_class(state is TradingState.REDUCING, "-reducing")
        self.set_class(state is TradingState.RECOVERING, "-recovering")
        self.display = risk is not None and state is not TradingState.ACTIVE
        self.update("" if risk is None else banner_text(risk, self.resume_key, self.approve_key))


def banner_text(risk: RiskState, resume_key: str, approve_key: str = "a") -> str:
    """What the banner says for a state; empty while ACTIVE."""
    if risk.trading_state is TradingState.RECOVERING:
        return (
            "RECOVERING: review the reconciliation and approve it; new orders are refused until then. "
            f"Press {approve_key} to review it."
        )
    if risk.trading_state is TradingState.REDUCING:
        why = f" ({risk.halted_reason})" if risk.halted_reason else ""
        return f"REDUCING: only orders that reduce risk are accepted{why}"
    if risk.trading_state is not TradingState.HALTED:
        return ""
    reason = risk.halted_reason or "no reason given"
    flattening = "; every position is being closed at market" if risk.kill_level >= 2 else ""
    return (
        f"HALTED: {reason} since {ny_stamp(risk.halted_at)}{flattening}; new orders refused. "
        f"Press {resume_key} and type RESUME to resume."
    )
