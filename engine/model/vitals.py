"""The engine's vital signs: what `onetap status`, a cron job or a load balancer asks of it.

One value answers "is it healthy?" everywhere (the status command now, the HTTP health and
metrics endpoints later), so the rule that turns facts into a verdict lives in one function,
``assess``, and every reader shows the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from engine.model.enums import TradingState


class Health(IntEnum):
    """The verdict, valued as ``onetap status`` exits: 0 healthy, 1 degraded, 2 halted."""

    HEALTHY = 0
    DEGRADED = 1
    HALTED = 2


@dataclass(frozen=True, slots=True)
class Vitals:
    """Facts measured at ``ts`` (the engine's clock); ages are in seconds of that clock.

    ``quote_age_s`` is, per symbol group ("stocks", "options"), the age of the oldest last good
    quote among the group's symbols. ``stale_symbols``: live symbols without a good quote for
    ``[quotes] stale_s`` while their exchange is in session (a closed market is not stale);
    ``held_out``: symbol -> why its latest quote was held out. ``var_use`` is the 95% VaR over
    its limit (1.0 = at the limit).
    """

    ts: datetime
    trading_state: TradingState
    kill_level: int
    halted_reason: str
    broker: str
    mode: str
    feed: str
    session_day: str
    link: str
    """The broker link's state ("" for the embedded paper broker, which has none to lose)."""
    link_age_s: float | None
    """Seconds since the broker's last heartbeat (None when there is no link or no heartbeat)."""
    quote_age_s: dict[str, float] = field(default_factory=dict)
    stale_symbols: tuple[str, ...] = ()
    held_out: dict[str, str] = field(default_factory=dict)
    open_orders: int = 0
    positions: int = 0
    equity: float = 0.0
    day_pnl: float = 0.0
    var_use: float = 0.0
    last_autopilot_run: str = ""
    """The session day of the autopilot's last run ("" when it never ran or is off)."""
    store_degraded: str = ""
    """Why the database cannot be written ("" when it can): new orders are refused meanwhile."""
    health: Health = Health.HEALTHY
    reasons: tuple[str, ...] = ()
    """Why ``health`` is not HEALTHY, in words, most serious first."""


LINK_UP = ("", "connected")
"""Link states in which orders reach the broker ("" is the embedded paper broker)."""


def assess(vitals: Vitals) -> tuple[Health, tuple[str, ...]]:
    """The verdict and its reasons: HALTED when trading is halted (kill switch or breaker);
    DEGRADED when orders could not be trusted to go through or the picture is stale (the broker
    link down, the database unwritable, a reconciliation awaiting review, stale quotes);
    otherwise HEALTHY. REDUCING is healthy: the engine is doing what its limits ask."""
    halted: list[str] = []
    degraded: list[str] = []
    if vitals.trading_state is TradingState.HALTED:
        why = f": {vitals.halted_reason}" if vitals.halted_reason else ""
        halted.append(f"trading HALTED (kill level {vitals.kill_level}){why}")
    if vitals.store_degraded:
        degraded.append(f"database not writable: {vitals.store_degraded}")
    if vitals.link not in LINK_UP:
        degraded.append(f"broker link {vitals.link}")
    if vitals.trading_state is TradingState.RECOVERING:
        degraded.append("recovery waiting for the operator's review")
    if vitals.held_out:
        shown = "; ".join(list(vitals.held_out.values())[:3])
        degraded.append(f"quotes held out: {shown}")
    if vitals.stale_symbols:
        shown = ", ".join(vitals.stale_symbols[:5])
        more = f" and {len(vitals.stale_symbols) - 5} more" if len(vitals.stale_symbols) > 5 else ""
        degraded.append(f"stale quotes: {shown}{more}")
    if halted:
        return Health.HALTED, tuple(halted + degraded)
    if degraded:
        return Health.DEGRADED, tuple(degraded)
    return Health.HEALTHY, ()
