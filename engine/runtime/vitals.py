"""Measure the engine's vital signs from its collaborators (``engine.model.vitals`` judges them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from engine.data import calendar
from engine.model import AccountSnapshot, Order, Position, Quote, RiskState, is_option_symbol
from engine.model.events import StatusEvent
from engine.model.vitals import Vitals, assess

LIVE_FEED = "live"
"""Only a live feed can go stale: a replay's quotes move with its own clock by construction."""


def measure(
    *,
    now: datetime,
    status: StatusEvent,
    risk: RiskState,
    account: AccountSnapshot,
    positions: Iterable[Position],
    open_orders: Iterable[Order],
    quotes: Mapping[str, Quote],
    stale_quote_s: float,
    last_autopilot_run: str,
    store_degraded: str,
) -> Vitals:
    """The vitals at ``now``, judged. A quote is stale when the feed is live, the exchange is in
    session (its calendar says so) and the quote is older than ``stale_quote_s``: a closed
    market's last quotes are old, not stale."""
    ages = {symbol: max((now - quote.ts).total_seconds(), 0.0) for symbol, quote in quotes.items()}
    groups: dict[str, float] = {}
    for symbol, age in ages.items():
        group = "options" if is_option_symbol(symbol) else "stocks"
        groups[group] = max(groups.get(group, 0.0), age)
    stale: tuple[str, ...] = ()
    if status.feed == LIVE_FEED and _in_session(now):
        stale = tuple(sorted(s for s, age in ages.items() if age > stale_quote_s))
    link_age = None
    if status.link and status.heartbeat is not None:
        link_age = max((now - status.heartbeat).total_seconds(), 0.0)
    vitals = Vitals(
        ts=now,
        trading_state=risk.trading_state,
        kill_level=risk.kill_level,
        halted_reason=risk.halted_reason,
        broker=status.broker,
        mode=status.mode,
        feed=status.feed,
        session_day=status.session_day,
        link=status.link,
        link_age_s=link_age,
        quote_age_s=groups,
        stale_symbols=stale,
        open_orders=sum(1 for _ in open_orders),
        positions=sum(1 for p in positions if abs(p.quantity) > 1e-9),
        equity=account.equity,
        day_pnl=account.day_pnl,
        var_use=risk.var_95 / risk.var_limit if risk.var_limit > 0 else 0.0,
        last_autopilot_run=last_autopilot_run,
        store_degraded=store_degraded,
    )
    health, reasons = assess(vitals)
    return replace(vitals, health=health, reasons=reasons)


def _in_session(now: datetime) -> bool:
    try:
        if not calendar.is_session(now):
            return False
        opens, closes = calendar.session_open_close(now)
    except ValueError:  # outside the calendar's range: nothing to judge by
        return False
    return opens <= now <= closes
