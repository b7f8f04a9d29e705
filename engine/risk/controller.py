"""The risk controller: the trading state and every stateful control around the pure checks.

Strategy -> Risk -> Execution -> Broker: the engine asks ``check`` before an order goes to the
order manager, tells the controller what was sent, filled and rejected, and hands it the
risk gauges after every portfolio update. The controller decides (refuse, pause a strategy,
move to REDUCING or HALTED); the engine acts (cancel, flatten, persist, audit, alert).
Every transition is reported through ``on_event`` so the engine can audit and alert it.

It knows no broker and no database: state goes out through ``persist`` as a ``HaltState``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from engine.actor import ENGINE, Actor
from engine.config import RiskSettings, risk_limit_ranges
from engine.model import AlertCode, OrderRequest, RefusalCode, RiskState, TradingState
from engine.risk.breakers import LossStreaks, RejectStreak, state_breaker
from engine.risk.killswitch import HaltState, resume_allowed
from engine.risk.pretrade import BookView, Limits, RecentOrder, Refusal, pre_trade
from engine.risk.throttle import FillRate, MessageCounter


@dataclass(frozen=True, slots=True)
class RiskTransition:
    """Something the operator must hear about, already applied to the controller's state."""

    code: AlertCode
    level: str
    message: str
    subject: str = ""
    payload: dict[str, Any] | None = None
    actor: Actor = ENGINE
    """Who caused it: the audit trail records this user and source."""


OnEvent = Callable[[RiskTransition], None]
Persist = Callable[[HaltState], None]


class RiskController:
    def __init__(
        self,
        settings: RiskSettings,
        *,
        allow_short: bool,
        sectors: dict[str, str],
        state: HaltState,
        persist: Persist,
        on_event: OnEvent,
    ) -> None:
        self.settings = settings
        self.allow_short = allow_short
        self.sectors = dict(sectors)
        self.state = state
        self._persist = persist
        self._on_event = on_event
        self.limits = Limits.from_mapping(settings.model_dump(), allow_short=allow_short)
        self.orders = MessageCounter()
        self.cancels = MessageCounter()
        self.modifies = MessageCounter()
        self._recent: deque[RecentOrder] = deque()
        self.losses = LossStreaks(settings.max_consecutive_losses)
        self.rejects = RejectStreak(settings.max_consecutive_rejects)
        self._before_recovery: HaltState | None = None
        self.fill_rate = FillRate(settings.repeat_fill_max, timedelta(seconds=settings.repeat_fill_window_s))

    # ------------------------------------------------------------------ the order path
    def check(self, request: OrderRequest, book: BookView, now: datetime) -> Refusal | None:
        """Complete the engine's picture of the book with the controller's state, then run the checks."""
        while self._recent and (now - self._recent[0].ts).total_seconds() > self.limits.duplicate_window_s:
            self._recent.popleft()
        view = replace(
            book,
            trading_state=self.state.state,
            halted_reason=self.state.reason,
            sectors=self.sectors,
            now=now,
            orders_last_second=self.orders.last_second(now),
            orders_today=self.orders.today(now),
            recent=tuple(self._recent),
            paused_strategies=frozenset(self.state.paused),
        )
        return pre_trade(request, view, self.limits)

    def sent(self, request: OrderRequest, now: datetime) -> None:
        """An order left for the order manager: it counts against throttles and the duplicate guard."""
        self.orders.record(now)
        self._recent.append(RecentOrder(now, request.symbol, request.side, request.quantity))

    def check_cancel(self, now: datetime) -> Refusal | None:
        """The cancel throttle for operator cancels; the kill switch's cancels are never throttled."""
        s = self.settings
        if self.cancels.last_second(now) >= s.max_cancels_per_second:
            return Refusal(
                RefusalCode.THROTTLE, f"more than {s.max_cancels_per_second} cancels in one second"
            )
        if self.cancels.today(now) >= s.max_cancels_per_day:
            return Refusal(
                RefusalCode.THROTTLE, f"the daily limit of {s.max_cancels_per_day} cancels is reached"
            )
        return None

    def cancel_sent(self, now: datetime) -> None:
        self.cancels.record(now)

    def check_modify(self, now: datetime) -> Refusal | None:
        s = self.settings
        if self.modifies.last_second(now) >= s.max_modifies_per_second:
            return Refusal(
                RefusalCode.THROTTLE, f"more than {s.max_modifies_per_second} modifies in one second"
            )
        if self.modifies.today(now) >= s.max_modifies_per_day:
            return Refusal(
                RefusalCode.THROTTLE, f"the daily limit of {s.max_modifies_per_day} modifies is reached"
            )
        return None

    def modify_sent(self, now: datetime) -> None:
        self.modifies.record(now)

    # ------------------------------------------------------------------ what happened
    def broker_rejected(self, subject: str, reason: str, now: datetime) -> None:
        if self.rejects.rejected() and not self.state.halted:
            self.halt(
                f"circuit breaker: {self.rejects.max_rejects} broker rejects in a row (last: {reason})",
                ENGINE,
                now,
                code=AlertCode.REJECTS,
                subject=subject,
            )

    def broker_accepted(self) -> None:
        self.rejects.accepted()

    def filled(self, strategy: str, closed_pnl: float | None, now: datetime) -> None:
        """A fill of ``strategy``'s order; ``closed_pnl`` is the realized P&L when it closed a trade."""
        if not strategy:
            return
        if self.fill_rate.record(strategy, now):
            self.pause(
                strategy,
                f"repeat-fill throttle: more than {self.fill_rate.max_fills} fills within "
                f"{self.fill_rate.window.total_seconds():g} s",
                code=AlertCode.REPEAT_FILLS,
            )
        if closed_pnl is not None and self.losses.record(strategy, closed_pnl):
            self.pause(
                strategy, f"{self.losses.max_losses} losing trades in a row", code=AlertCode.LOSS_STREAK
            )

    def gauges(self, risk: RiskState, now: datetime) -> None:
        """Trip the state breakers on fresh gauges; a state only ever gets stricter here."""
        trip = state_breaker(risk)
        if trip is None or _rank(trip.state) <= _rank(self.state.state):
            return
        if trip.state is TradingState.HALTED:
            # [risk] daily_loss_flatten: the daily-loss breaker flattens (level 2), not only halts
            flatten = trip.code is AlertCode.DAILY_LOSS and self.settings.daily_loss_flatten
            self.halt(trip.reason, ENGINE, now, code=trip.code, level=2 if flatten else 1)
        else:
            self._set(replace(self.state, state=trip.state, reason=trip.reason, since=now, by="engine"))
            self._on_event(RiskTransition(trip.code, "error", f"REDUCING: {trip.reason}"))

    # ------------------------------------------------------------------ operator and breaker acts
    def halt(
        self,
        reason: str,
        by: Actor,
        now: datetime,
        *,
        level: int = 1,
        code: AlertCode = AlertCode.HALTED,
        subject: str = "",
    ) -> None:
        """HALTED (level 1) or HALTED and flattening (level 2); a second kill may raise the level."""
        level = max(level, self.state.kill_level if self.state.halted else 0)
        self._set(
            replace(
                self.state, state=TradingState.HALTED, reason=reason, since=now, by=by.label, kill_level=level
            )
        )
        what = "HALTED and flattening every position" if level >= 2 else "HALTED"
        self._on_event(
            RiskTransition(code, "error", f"{what}: {reason}", subject, {"by": by.label, "level": level}, by)
        )

    def enter_recovery(self, reason: str, now: datetime) -> None:
        """RECOVERING until the operator approves the reconciliation; a halt stays a halt."""
        if self.state.halted or self.state.state is TradingState.RECOVERING:
            return
        self._before_recovery = self.state
        self._set(replace(self.state, state=TradingState.RECOVERING, reason=reason, since=now, by="engine"))
        self._on_event(RiskTransition(AlertCode.RECOVERING, "warning", f"RECOVERING: {reason}"))

    def approve_recovery(self, by: Actor) -> Refusal | None:
        if self.state.state is not TradingState.RECOVERING:
            return Refusal(RefusalCode.NOT_RECOVERING, "there is no reconciliation waiting for approval")
        before = self._before_recovery or HaltState()
        self._set(replace(before, paused=self.state.paused))
        self._before_recovery = None
        self._on_event(
            RiskTransition(
                AlertCode.RECOVERY_APPROVED,
                "warning",
                f"reconciliation approved by {by.label}",
                payload={"by": by.label},
                actor=by,
            )
        )
        return None

    def resume(self, confirmation: str, by: Actor) -> Refusal | None:
        if self.state.state in (TradingState.ACTIVE, TradingState.RECOVERING):
            return None
        if not resume_allowed(confirmation):
            return Refusal(RefusalCode.RESUME_WORD, "type RESUME exactly to lift the halt")
        self.rejects.accepted()
        self._set(HaltState(paused=self.state.paused))
        self._on_event(
            RiskTransition(
                AlertCode.RESUMED,
                "warning",
                f"trading resumed by {by.label}",
                payload={"by": by.label},
                actor=by,
            )
        )
        return None

    def pause(self, strategy: str, reason: str, *, code: AlertCode = AlertCode.STRATEGY_PAUSED) -> None:
        if strategy in self.state.paused:
            return
        self._set(self.state.pause(strategy))
        self._on_event(
            RiskTransition(
                code, "warning", f"strategy {strategy} paused: {reason}", strategy, {"reason": reason}
            )
        )

    def unpause(self, strategy: str, by: Actor) -> Refusal | None:
        if strategy not in self.state.paused:
            return Refusal(RefusalCode.NOT_PAUSED, f"strategy {strategy} is not paused")
        self.losses.reset(strategy)
        self.fill_rate.reset(strategy)
        self._set(self.state.unpause(strategy))
        self._on_event(
            RiskTransition(
                AlertCode.STRATEGY_RESUMED,
                "info",
                f"strategy {strategy} resumed by {by.label}",
                strategy,
                actor=by,
            )
        )
        return None

    def set_limit(self, name: str, value: float, by: Actor, *, kept: bool = False) -> Refusal | None:
        """Change one ``[risk]`` setting; refused unless the config would accept it. ``kept``: the
        caller stores the change so it outlives a restart (the alert says which it is)."""
        checked = self.check_limit(name, value)
        if isinstance(checked, Refusal):
            return checked
        updated, old, typed = checked
        self._apply_limits(updated)
        until = (
            "kept across restarts (stored; the config's value returns when it is reset)"
            if kept
            else "in force until restart; put it in your config to keep it"
        )
        self._on_event(
            RiskTransition(
                AlertCode.LIMIT_CHANGED,
                "warning",
                f"{name} changed from {old} to {typed} by {by.label} ({until})",
                name,
                {"name": name, "old": old, "new": typed, "by": by.label},
                by,
            )
        )
        return None

    def restore_limit(self, name: str, value: float) -> Refusal | None:
        """Put back a change stored by an earlier run, without an alert (the start-up notice says
        it); refused, and left at the config's value, when today's config would not accept it."""
        checked = self.check_limit(name, value)
        if isinstance(checked, Refusal):
            return checked
        self._apply_limits(checked[0])
        return None

    def check_limit(self, name: str, value: float) -> tuple[RiskSettings, Any, Any] | Refusal:
        """The settings with ``name`` set to ``value`` (and the old and typed values), or why not."""
        current = self.settings.model_dump()
        if name not in current:
            return Refusal(
                RefusalCode.BAD_LIMIT, f"no risk limit named {name!r}; limits: {', '.join(sorted(current))}"
            )
        old = current[name]
        # a socket peer can send NaN or Infinity (or 1e400, which JSON reads as infinity): an infinite
        # limit is a limit switched off, and int() of either raises, so both are refused up front
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return Refusal(RefusalCode.BAD_LIMIT, f"{name} must be a finite number, got {value!r}")
        typed: Any = value
        if isinstance(old, bool):
            if value not in (0, 1):
                return Refusal(RefusalCode.BAD_LIMIT, f"{name} takes 0 (off) or 1 (on), got {value:g}")
            typed = bool(value)
        elif isinstance(old, int):
            if float(value) != int(value):
                return Refusal(RefusalCode.BAD_LIMIT, f"{name} takes a whole number, got {value:g}")
            typed = int(value)
        try:
            updated = RiskSettings.model_validate({**current, name: typed})
        except ValidationError as exc:
            reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            allowed = risk_limit_ranges().get(name, "")
            return Refusal(
                RefusalCode.BAD_LIMIT, f"{name} = {value:g}: {reason}" + (f" ({allowed})" if allowed else "")
            )
        return updated, old, typed

    def _apply_limits(self, updated: RiskSettings) -> None:
        self.settings = updated
        self.limits = Limits.from_mapping(updated.model_dump(), allow_short=self.allow_short)
        self.losses.max_losses = updated.max_consecutive_losses
        self.rejects.max_rejects = updated.max_consecutive_rejects
        self.fill_rate.max_fills = updated.repeat_fill_max
        self.fill_rate.window = timedelta(seconds=updated.repeat_fill_window_s)

    def limit_values(self) -> dict[str, float]:
        """Config key -> value of every ``[risk]`` setting, as numbers (for the console's limits dialog)."""
        # var_method is a choice, not a limit: the dialog edits numbers only
        return {k: float(v) for k, v in self.settings.model_dump().items() if isinstance(v, int | float)}

    def _set(self, state: HaltState) -> None:
        self.state = state
        self._persist(state)


def _rank(state: TradingState) -> int:
    return _RANKS[state]


_RANKS = {
    TradingState.ACTIVE: 0,
    TradingState.REDUCING: 1,
    TradingState.RECOVERING: 2,
    TradingState.HALTED: 3,
}
