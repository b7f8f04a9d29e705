"""How a position leaves the market: the exit policy a card carries and the levels it resolves to.

One vocabulary for the backtester, the card track record and the live engine, so the three can
share one exit function (``engine.strategies.exits``) and cannot drift apart. Standard library
only, like the rest of ``engine.model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.model.enums import Side


class StopRule(StrEnum):
    """How the protective stop is placed. ``stop_value`` is read in the rule's own unit."""

    NONE = "none"
    """No stop (only a target and/or the time exit protect the position)."""
    PRICE = "price"
    """A fixed price given by the card (the template's own stop level)."""
    ATR = "atr"
    """``stop_value`` x ATR away from the entry price."""
    PERCENT = "percent"
    """``stop_value`` percent away from the entry price."""
    TRAIL_AMOUNT = "trail_amount"
    """Trailing: follows the best price at ``stop_value`` money per share."""
    TRAIL_PERCENT = "trail_percent"
    """Trailing: follows the best price at ``stop_value`` percent."""
    TRAIL_ATR = "trail_atr"
    """Trailing: follows the best price at ``stop_value`` x the ATR at entry (fixed distance)."""

    @property
    def trailing(self) -> bool:
        return self in (StopRule.TRAIL_AMOUNT, StopRule.TRAIL_PERCENT, StopRule.TRAIL_ATR)


class TimeExit(StrEnum):
    """What happens when the card's horizon ends with the position still open."""

    NONE = "none"
    CLOSE = "close"
    """Exit at the close of the horizon's last session (a market-on-close order live)."""
    NEXT_OPEN = "next_open"
    """Exit at the open of the session after the horizon's last one."""


@dataclass(frozen=True, slots=True)
class ExitPolicy:
    """A template's (and so each of its cards') exit rules, declared in ``config/strategies.toml``.

    ``target_r`` places the take-profit at that multiple of the initial stop distance (the "R"
    a trader speaks of); None means no target. ``stop_limit_bps`` turns the stop into a STP LMT
    whose limit sits that many basis points beyond the stop (None: a plain STP, which always
    exits). Trailing rules ignore ``stop_limit_bps`` (a TRAIL order is a stop-market order).
    """

    stop: StopRule = StopRule.ATR
    stop_value: float = 2.0
    target_r: float | None = 2.0
    time_exit: TimeExit = TimeExit.CLOSE
    stop_limit_bps: float | None = None

    def describe(self) -> str:
        """One line for the card detail screen and reports."""
        stop = {
            StopRule.NONE: "no stop",
            StopRule.PRICE: "stop at the template's level",
            StopRule.ATR: f"stop {self.stop_value:g} ATR",
            StopRule.PERCENT: f"stop {self.stop_value:g}%",
            StopRule.TRAIL_AMOUNT: f"trailing stop {self.stop_value:g}",
            StopRule.TRAIL_PERCENT: f"trailing stop {self.stop_value:g}%",
            StopRule.TRAIL_ATR: f"trailing stop {self.stop_value:g} ATR",
        }[self.stop]
        if self.stop_limit_bps is not None and not self.stop.trailing and self.stop is not StopRule.NONE:
            stop += f" (stop-limit {self.stop_limit_bps:g} bps)"
        target = "no target" if self.target_r is None else f"target {self.target_r:g}R"
        time = {
            TimeExit.NONE: "no time exit",
            TimeExit.CLOSE: "exit at the horizon's last close",
            TimeExit.NEXT_OPEN: "exit at the open after the horizon",
        }[self.time_exit]
        return f"{stop}, {target}, {time}"


@dataclass(frozen=True, slots=True)
class ProtectionLevels:
    """An exit policy resolved against one entry: the prices the protective orders rest at.

    ``side`` is the exit side (SELL protects a long). For trailing stops ``stop_price`` is the
    initial stop and exactly one of ``trail_amount``/``trail_percent`` is set.
    """

    side: Side
    stop_price: float | None
    target_price: float | None
    trail_amount: float | None = None
    trail_percent: float | None = None
    stop_limit_price: float | None = None
    horizon_sessions: int = 0
    time_exit: TimeExit = TimeExit.NONE


def resolve_levels(
    policy: ExitPolicy,
    entry_side: Side,
    entry_price: float,
    *,
    atr: float | None,
    card_stop: float | None = None,
    card_target: float | None = None,
    horizon_sessions: int = 0,
) -> ProtectionLevels:
    """The prices an entry filled at ``entry_price`` is protected at under ``policy``.

    The target sits ``target_r`` times the initial stop distance beyond the entry; with no stop
    (``StopRule.NONE``) the card's own target is used. Raises ValueError naming what is missing
    (an ATR rule without a positive ATR, a PRICE rule without the card's stop, a stop on the
    wrong side of the entry) so a card that cannot be protected is refused, not half-protected.
    """
    if not entry_price > 0.0:
        raise ValueError(f"entry price must be positive, got {entry_price}")
    direction = entry_side.sign
    value = policy.stop_value
    if policy.stop in (StopRule.ATR, StopRule.TRAIL_ATR) and not (atr is not None and atr > 0.0):
        raise ValueError(f"exit policy '{policy.describe()}' needs a positive ATR, got {atr}")
    if policy.stop is not StopRule.NONE and policy.stop is not StopRule.PRICE and not value > 0.0:
        raise ValueError(f"exit policy stop_value must be positive, got {value}")
    stop, trail_amount, trail_percent = _initial_stop(policy, direction, entry_price, atr or 0.0, card_stop)
    if stop is not None and not (direction * (entry_price - stop) > 0.0 and stop > 0.0):
        raise ValueError(
            f"stop {stop:.4f} is not a protective level for a {entry_side.value} entry at {entry_price:.4f}"
        )
    target: float | None
    if policy.target_r is None:
        target = None
    elif stop is None:
        target = card_target
    else:
        target = entry_price + direction * policy.target_r * abs(entry_price - stop)
    stop_limit: float | None = None
    if stop is not None and policy.stop_limit_bps is not None and not policy.stop.trailing:
        stop_limit = stop * (1.0 - direction * policy.stop_limit_bps / 1e4)
    return ProtectionLevels(
        side=entry_side.opposite,
        stop_price=stop,
        target_price=target,
        trail_amount=trail_amount,
        trail_percent=trail_percent,
        stop_limit_price=stop_limit,
        horizon_sessions=horizon_sessions,
        time_exit=policy.time_exit,
    )


def _initial_stop(
    policy: ExitPolicy, direction: int, entry_price: float, atr: float, card_stop: float | None
) -> tuple[float | None, float | None, float | None]:
    """(stop price, trail amount, trail percent) for an entry in ``direction`` (+1 long)."""
    value = policy.stop_value
    match policy.stop:
        case StopRule.NONE:
            return None, None, None
        case StopRule.PRICE:
            if card_stop is None:
                raise ValueError("exit policy 'stop at the template's level' but the card has no stop price")
            return card_stop, None, None
        case StopRule.ATR:
            return entry_price - direction * value * atr, None, None
        case StopRule.PERCENT:
            return entry_price * (1.0 - direction * value / 100.0), None, None
        case StopRule.TRAIL_AMOUNT:
            return entry_price - direction * value, value, None
        case StopRule.TRAIL_PERCENT:
            return entry_price * (1.0 - direction * value / 100.0), None, value
        case _:  # TRAIL_ATR: a fixed distance measured once, at entry
            return entry_price - direction * value * atr, value * atr, None
