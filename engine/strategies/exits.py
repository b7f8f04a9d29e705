"""The one model of how a trade leaves the market: used by the backtester and the card track record.

``exit_trades`` walks every trade of one instrument set forward from its entry fill, in one
numba call for all of them, and returns each trade's exit bar, exit return (and for a single
instrument the exit price) and why it ended. ``setup_exits`` is what both callers run: it turns a
template's ``ExitPolicy`` into each trade's protective levels (``resolve_arrays``, the array twin of
``engine.model.exits.resolve_levels``) at the trade's fill price and the ATR at its signal bar.

The rules, the same for every caller (the live engine's protective orders follow them too):

- **Entry.** A signal at the close of bar ``s`` fills at bar ``f = s + 1``: at its open
  (``fill_at_open``, the default everywhere) or at its close. Returns are measured from that fill.
- **The fill bar.** Exits are checked from the fill on, never before it: with an open fill the
  whole fill bar comes after the fill, so it is checked like any other bar (its gap check is
  against the fill itself, so only a stop already on the wrong side of the fill triggers there,
  at the fill); with a close fill nothing of the fill bar comes after it, and checks start at
  ``f + 1``. The template's exit rule is read at every close after the fill, the fill bar's
  close included for an open fill. (The old backtester skipped the rule on the fill bar while
  the track record applied it; both now do what is written here.)
- **Within a bar**, in this order:
  1. the open: a gap through the stop (or the trailing stop) fills at the open, a gap through
     the target fills at the open;
  2. the range: the bar's adverse extreme (low for a long) touching the stop fills at the stop,
     the favourable extreme touching the target fills at the target; when both are touched the
     stop wins (the order within a daily bar is unknown: assume the worse);
  3. the trailing stop ratchets on the bar's favourable extreme **after** 1 and 2, so a bar
     never stops out on a level its own high set;
  4. the close: the time exit ``CLOSE`` fills at the close of the horizon's last bar
     ``f + horizon - 1``; otherwise the template's exit rule, a basket's close-checked stop or
     target (``rule_stop``/``rule_target``, below) or the time exit ``NEXT_OPEN`` decide at the
     close and fill at the next bar's fill price.
- **End of data.** A trade not closed by the last bar (or whose next-bar fill would lie past
  it) ends with reason ``end``, bar -1 and its return marked at the last close: it is not
  complete, and the track record leaves it out.
- A stop-limit (``stop_limit_bps``) is modelled as a stop: a gap through its limit would leave
  it unfilled live, which daily bars cannot say.

Baskets (pairs, rotation) and templates whose policy rests no stop and no target (options) have
no protective levels: their setup's own ``stop`` and ``target`` (fractions of capital) are
checked on closes and filled at the next bar, like the exit rule (``rule_stop``/``rule_target``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numba
import numpy as np
from numpy.typing import NDArray

from engine.model.exits import ExitPolicy, StopRule, TimeExit
from engine.strategies.templates.base import Array, Setup


class ExitReason(IntEnum):
    """Why a trade ended (the ``reason`` codes ``exit_trades`` returns)."""

    END = 0
    """Still open at the end of the data: not a completed trade."""
    STOP = 1
    TARGET = 2
    TRAIL = 3
    TIME = 4
    RULE = 5
    """The template's exit rule at a close, filled at the next bar."""

    @property
    def label(self) -> str:
        return "end-of-data" if self is ExitReason.END else self.name.lower()


_TIME_CODES = {TimeExit.NONE: 0, TimeExit.CLOSE: 1, TimeExit.NEXT_OPEN: 2}


@dataclass(frozen=True, slots=True)
class TradeLevels:
    """Each trade's protective levels as prices (NaN: none). Single-instrument trades only."""

    stop: Array
    target: Array
    trail_amount: Array
    trail_percent: Array

    @classmethod
    def none(cls, n: int) -> TradeLevels:
        nan = np.full(n, np.nan)
        return cls(nan, nan.copy(), nan.copy(), nan.copy())


@dataclass(frozen=True, slots=True)
class Exits:
    """What ``exit_trades`` found for each trade, in the order the trades were given."""

    bar: NDArray[np.int64]
    """The bar the exit fills on; -1 while the trade is still open at the end (``END``)."""
    ret: Array
    """Return on the trade's capital from the entry fill to the exit fill (before costs)."""
    price: Array
    """The exit fill price of a single-instrument trade (NaN for a basket)."""
    reason: NDArray[np.int8]
    """``ExitReason`` codes."""
    intrabar: NDArray[np.bool_]
    """True where the exit fills within its bar (stop, target, trail, time at the close) rather
    than at the bar's fill price (the open: exit rule, next-open time exit)."""

    @property
    def done(self) -> NDArray[np.bool_]:
        """The completed trades (those that ended before the data did)."""
        out: NDArray[np.bool_] = self.bar >= 0
        return out

    def reasons(self) -> list[str]:
        return [ExitReason(int(r)).label for r in self.reason]


@numba.njit(cache=True, nogil=True)
def _bar_returns(
    open_: Array, high: Array, low: Array, close: Array, w: Array, px: Array, j: int
) -> tuple[float, float, float, float]:
    """Bar j in return space: (open, adverse extreme, favourable extreme, close)."""
    r_open = r_lo = r_hi = r_close = 0.0
    for i in range(len(w)):
        if w[i] == 0.0:
            continue
        adverse, favourable = (low[j, i], high[j, i]) if w[i] > 0.0 else (high[j, i], low[j, i])
        r_open += w[i] * (open_[j, i] / px[i] - 1.0)
        r_close += w[i] * (close[j, i] / px[i] - 1.0)
        r_lo += w[i] * (adverse / px[i] - 1.0)
        r_hi += w[i] * (favourable / px[i] - 1.0)
    return r_open, r_lo, r_hi, r_close


@numba.njit(cache=True, nogil=True)
def _stop_level(stop: float, trail_r: float, trail_pct: float, best: float, w0: float) -> tuple[float, int]:
    """The stop in force (return units) and its reason code: the fixed stop or the trailing one."""
    if np.isfinite(trail_r):
        trail = best - trail_r
    elif np.isfinite(trail_pct):
        sgn = 1.0 if w0 > 0.0 else -1.0
        trail = w0 * ((1.0 + best / w0) * (1.0 - sgn * trail_pct / 100.0) - 1.0)
    else:
        return stop, 1
    if not np.isfinite(stop) or trail >= stop:
        return trail, 3
    return stop, 1


@numba.njit(cache=True, nogil=True)
def _touched(
    r_open: float, r_lo: float, r_hi: float, level: float, code: int, target: float
) -> tuple[int, float]:
    """(reason, return) of a protective order filled in this bar, (0, 0) if none: a gap at the
    open first, then the range, the stop before the target."""
    stop_on = np.isfinite(level)
    target_on = np.isfinite(target)
    if stop_on and r_open <= level:
        return code, r_open
    if target_on and r_open >= target:
        return 2, r_open
    if stop_on and r_lo <= level:
        return code, level
    if target_on and r_hi >= target:
        return 2, target
    return 0, 0.0


@numba.njit(cache=True, nogil=True)
def _at_close(
    r_close: float, rule_stop: float, rule_target: float, rule: bool, time_exit: int, at_horizon: bool
) -> int:
    """The reason a trade is closed at the next bar's fill from this close (0: it is not)."""
    if r_close <= -rule_stop:
        return 1
    if r_close >= rule_target:
        return 2
    if rule:
        return 5
    if time_exit == 2 and at_horizon:
        return 4
    return 0


@numba.njit(cache=True, nogil=True)
def _walk(
    open_: Array,
    high: Array,
    low: Array,
    close: Array,
    fill: Array,
    w: Array,
    f: int,
    first: int,
    last: int,
    levels: Array,
    exit_rule: NDArray[np.bool_],
    time_exit: int,
) -> tuple[int, float, int, bool]:
    """One trade filled at bar f: (exit bar, return, reason, within the bar); bar -1: still open.

    ``levels``: stop, target, trail distance, trail percent, rule stop, rule target.
    """
    k = len(w)
    px = np.empty(k)
    for i in range(k):
        px[i] = fill[f, i]
    stop, target, trail_r, trail_pct, rule_stop, rule_target = levels
    best = 0.0
    r_close = 0.0
    for j in range(first, len(close)):
        r_open, r_lo, r_hi, r_close = _bar_returns(open_, high, low, close, w, px, j)
        if j == f:
            r_open = 0.0  # an open fill: the fill is the open
        level, code = _stop_level(stop, trail_r, trail_pct, best, w[0])
        reason, r = _touched(r_open, r_lo, r_hi, level, code, target)
        if reason != 0:
            return j, r, reason, True
        best = max(best, r_hi)  # the trailing stop ratchets after the bar's checks
        if time_exit == 1 and j >= last:
            return j, r_close, 4, True
        reason = _at_close(r_close, rule_stop, rule_target, exit_rule[j], time_exit, j >= last)
        if reason != 0:
            if j + 1 >= len(close):
                return -1, r_close, 0, False
            r = 0.0
            for i in range(k):
                r += w[i] * (fill[j + 1, i] / px[i] - 1.0)
            return j + 1, r, reason, False
    return -1, r_close, 0, False


@numba.njit(cache=True, nogil=True)
def _exit_kernel(
    open_: Array,
    high: Array,
    low: Array,
    close: Array,
    fill: Array,
    weights: Array,
    signal_bars: NDArray[np.int64],
    fill_at_open: bool,
    levels: Array,
    exit_rule: NDArray[np.bool_],
    horizon: int,
    time_exit: int,
) -> tuple[NDArray[np.int64], Array, NDArray[np.int8], NDArray[np.bool_]]:
    """Every trade in return space: ``r = sum_i w_i (p_i / f_i - 1)`` (f_i: leg i's entry fill).

    ``levels[e]``: the trade's stop and target as returns (a protective stop < 0), its trailing
    distance in return units or trailing percent of the best price (single leg only), and its
    close-checked rule stop and target (fractions of capital).
    """
    n_bars = close.shape[0]
    n = len(signal_bars)
    out_bar = np.full(n, -1, dtype=np.int64)
    out_ret = np.full(n, np.nan)
    out_reason = np.zeros(n, dtype=np.int8)
    out_intra = np.zeros(n, dtype=np.bool_)
    for e in range(n):
        f = signal_bars[e] + 1
        if f >= n_bars:
            continue
        if not fill_at_open and levels[e, 0] >= 0.0:  # a stop on the wrong side: out at the fill
            out_bar[e], out_ret[e], out_reason[e], out_intra[e] = f, 0.0, 1, True
            continue
        last = f + horizon - 1 if horizon > 0 else n_bars + 1
        first = f if fill_at_open else f + 1
        bar, r, reason, intra = _walk(
            open_, high, low, close, fill, weights[e], f, first, last, levels[e], exit_rule, time_exit
        )
        out_bar[e], out_ret[e], out_reason[e], out_intra[e] = bar, r, reason, intra
    return out_bar, out_ret, out_reason, out_intra


def _matrix(a: Array) -> Array:
    out: Array = np.ascontiguousarray(a if a.ndim == 2 else a[:, None], dtype=np.float64)
    return out


def exit_trades(
    open_: Array,
    high: Array,
    low: Array,
    close: Array,
    *,
    signal_bars: NDArray[np.int64],
    weights: Array,
    levels: TradeLevels | None = None,
    horizon: int,
    time_exit: TimeExit = TimeExit.CLOSE,
    exit_rule: NDArray[np.bool_] | None = None,
    fill: Array | None = None,
    fill_at_open: bool = True,
    rule_stop: Array | None = None,
    rule_target: Array | None = None,
) -> Exits:
    """Exit bar, return, price and reason of every trade (rules in the module docstring).

    ``open_``/``high``/``low``/``close``: ``[T]`` (one instrument) or ``[T, k]`` (a basket);
    ``signal_bars``: ``[n]`` signal bars (each fills at the next bar); ``weights``: ``[n, k]``
    (or ``[n]``) signed capital weights of each trade (1.0: long the whole capital); ``levels``:
    protective prices per trade (single instrument only); ``horizon``: bars held at most, the
    fill bar counting as the first; ``fill``: the entry and next-bar exit fill prices (the
    open unless given); ``rule_stop``/``rule_target``: close-checked stop/target as fractions of
    capital (a basket's). Trades are independent: one may overlap another.
    """
    o, h, lo, c = (_matrix(a) for a in (open_, high, low, close))
    n_bars, k = c.shape
    w = np.ascontiguousarray(weights.reshape(len(signal_bars), k), dtype=np.float64)
    n = len(signal_bars)
    fills = o if fill is None else _matrix(fill)
    lv = levels or TradeLevels.none(n)
    if k > 1 and levels is not None:
        raise ValueError("protective price levels apply to single-instrument trades only")
    bars = np.asarray(signal_bars, dtype=np.int64)
    f = np.minimum(bars + 1, n_bars - 1)
    entry = fills[f, 0]
    w0 = w[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        stop_r = w0 * (lv.stop / entry - 1.0)
        target_r = w0 * (lv.target / entry - 1.0)
        trail_r = np.abs(w0) * lv.trail_amount / entry
    per_trade = np.column_stack(
        [
            stop_r,
            target_r,
            trail_r,
            np.asarray(lv.trail_percent, dtype=np.float64),
            np.full(n, np.inf) if rule_stop is None else np.asarray(rule_stop, dtype=np.float64),
            np.full(n, np.inf) if rule_target is None else np.asarray(rule_target, dtype=np.float64),
        ]
    ).reshape(n, 6)
    result = _exit_kernel(
        o,
        h,
        lo,
        c,
        fills,
        w,
        bars,
        fill_at_open,
        np.ascontiguousarray(per_trade),
        np.zeros(n_bars, dtype=np.bool_) if exit_rule is None else np.ascontiguousarray(exit_rule),
        int(horizon),
        _TIME_CODES[time_exit],
    )
    bar, ret, reason, intra = result
    if k == 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            price = np.where(bar >= 0, entry * (1.0 + ret / w0), np.nan)
    else:
        price = np.full(n, np.nan)
    return Exits(bar, ret, price, reason, intra)


def resolve_arrays(
    policy: ExitPolicy,
    direction: Array | float,
    entry_price: Array,
    *,
    atr: Array,
    card_stop: Array,
) -> TradeLevels:
    """``resolve_levels`` for many entries at once (the same formulas; tested equal).

    ``direction``: +1 for a long entry (``Side.BUY``), -1 for a short, per entry or for all.

    Where ``resolve_levels`` would refuse (no ATR, no card stop) the stop is NaN; a stop on the
    wrong side of the fill is kept as it is, and ``exit_trades`` exits that trade at once, at the
    fill, as a resting stop order would; its target is then NaN.
    """
    e = np.asarray(entry_price, dtype=np.float64)
    d = np.broadcast_to(np.asarray(direction, dtype=np.float64), e.shape)
    v = policy.stop_value
    nan = np.full(len(e), np.nan)
    trail_amount, trail_percent = nan.copy(), nan.copy()
    match policy.stop:
        case StopRule.NONE:
            stop = nan.copy()
        case StopRule.PRICE:
            stop = np.asarray(card_stop, dtype=np.float64).copy()
        case StopRule.ATR:
            stop = e - d * v * atr
        case StopRule.PERCENT:
            stop = e * (1.0 - d * v / 100.0)
        case StopRule.TRAIL_AMOUNT:
            stop = e - d * v
            trail_amount = np.full(len(e), v)
        case StopRule.TRAIL_PERCENT:
            stop = e * (1.0 - d * v / 100.0)
            trail_percent = np.full(len(e), v)
        case _:
            stop = e - d * v * atr
            trail_amount = v * atr
    with np.errstate(invalid="ignore"):
        protective = (d * (e - stop) > 0.0) & (stop > 0.0)
    if policy.target_r is None or policy.stop is StopRule.NONE:
        target = nan.copy()  # with no stop, the target is the card's own (none in the model)
    else:
        target = np.where(protective, e + d * policy.target_r * np.abs(e - stop), np.nan)
    return TradeLevels(stop, target, trail_amount, trail_percent)


def protects(policy: ExitPolicy) -> bool:
    """Whether the policy rests any protective order (a stop or a target)."""
    return policy.stop is not StopRule.NONE or policy.target_r is not None


def setup_exits(
    setup: Setup,
    signal_bars: NDArray[np.int64],
    horizon: int,
    policy: ExitPolicy,
    *,
    fill: str = "open",
    protect: bool = True,
) -> Exits:
    """The exits of ``setup``'s trades entered on ``signal_bars`` under ``policy``.

    The one call the backtester and the track record make. A single-instrument setup whose
    policy protects it gets the policy's levels, resolved at each trade's fill price with the ATR
    at its signal bar and the template's stop level at that bar; any other setup (a basket, a
    policy with no stop and no target) gets its own ``stop``/``target`` as close-checked exits.
    ``protect=False`` drops both (the "no exits" run: only the exit rule and the time exit).
    """
    bars = np.asarray(signal_bars, dtype=np.int64)
    n_bars, k = setup.close.shape
    fill_prices = setup.open if fill == "open" else setup.close
    high = setup.high if setup.high is not None else np.maximum(setup.open, setup.close)
    low = setup.low if setup.low is not None else np.minimum(setup.open, setup.close)
    weights = setup.weights[bars]
    levels: TradeLevels | None = None
    rule_stop: Array | None = None
    rule_target: Array | None = None
    if protect and k == 1 and protects(policy):
        f = np.minimum(bars + 1, n_bars - 1)
        atr = setup.atr[bars] if setup.atr is not None else np.full(len(bars), np.nan)
        card_stop = np.full(len(bars), np.nan)
        if policy.stop is StopRule.PRICE:  # the template's own level at each signal
            card_stop = np.array([_price(setup.stop_price(int(t))) for t in bars], dtype=np.float64)
        direction = np.where(weights[:, 0] < 0.0, -1.0, 1.0)
        levels = resolve_arrays(policy, direction, fill_prices[f, 0], atr=atr, card_stop=card_stop)
    elif protect:
        rule_stop, rule_target = setup.stop[bars], setup.target[bars]
    return exit_trades(
        setup.open,
        high,
        low,
        setup.close,
        signal_bars=bars,
        weights=weights,
        levels=levels,
        horizon=horizon,
        time_exit=policy.time_exit,
        exit_rule=setup.exit,
        fill=fill_prices,
        fill_at_open=fill == "open",
        rule_stop=rule_stop,
        rule_target=rule_target,
    )


def _price(value: float | None) -> float:
    return math.nan if value is None else float(value)
