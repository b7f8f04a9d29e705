"""The HALTED banner: absent while trading, impossible to miss while halted."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

from console.widgets.fmt import ny_stamp
from engine.model import RiskState, TradingState


class HaltBanner(Static):
    """Assign ``risk``; the banner shows itself only when trading is HALTED.

    It says why, since when, what that means, and the exact keys that lift it, so an
    operator who walks up to the screen needs nothing else.
    """

    risk: reactive[RiskState | None] = reactive(None, init=False)

    def __init__(self, *, resume_key: str = "R", id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.resume_key = resume_key
        self.display = False

    def watch_risk(self, risk: RiskState | None) -> None:
        halted = risk is not None and risk.trading_state is TradingState.HALTED
        self.display = halted
        if risk is None or not halted:
            self.update("")
            return
        reason = risk.halted_reason or "no reason given"
        self.update(
            f"HALTED: {reason} since {ny_stamp(risk.halted_at)}; new orders refused. "
            f"Press {self.resume_key} and type RESUME to resume."
        )
