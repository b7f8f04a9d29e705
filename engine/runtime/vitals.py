"""Measure the engine's vital signs from its collaborators (``engine.model.vitals`` judges them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from engine.model import AccountSnapshot, Order, Position, Quote, RiskState, is_option_symbol
from engine.model.events import StatusEvent
from engine.model.vitals import Vitals, assess


def measure(
    *,
    now: datetime,
    status: StatusEvent,
    risk: RiskState,
    account: AccountSnapshot,
    positions: Iterable[Position],
    open_orders: Iterable[Order],
    quotes: Mapping[str, Quote],
    held_out: Mapping[str, str],
    stale: tuple[str, ...],
    last_autopilot_run: str,
    store_degraded: str,
) -> Vitals:
    """The vitals at ``now``, judged. ``quotes`` are the last good ones; ``held_out`` the symbols
    whose latest quote was bad, ``stale`` those live symbols without a good quote for
    ``[quotes] stale_s`` while the exchange is in session (``MarketView.quote_problems``)."""
    ages = {symbol: max((now - quote.ts).total_seconds(), 0.0) for symbol, quote in quotes.items()}
    groups: dict[str, float] = {}
    for symbol, age in ages.items():
        group = "options" if is_option_symbol(symbol) else "stocks"
        groups[group] = max(groups.get(group, 0.0), age)
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
        held_out=dict(held_out),
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
