"""Volatility breakout: a quiet market that breaks out of its range.

Compression: the Bollinger band width (upper - lower over the middle band) sat at least one
standard deviation below its own 120-day average within the last ``squeeze_days`` sessions.
Entry: compression, then the close breaks above the 20-day Donchian channel (the highest high
of the 20 sessions before). Score: composite of the breakout's size in ATRs, how deep the
compression was and volume momentum. Exit: the close falls back below the 20-day average.
Stop: ``stop_atr`` x ATR(14) below the entry. Target: ``target_atr`` x ATR(14) above.
Horizon: 10 sessions. Exit policy (config/strategies.toml): the stop rests at the template's
level (``stop_atr`` x ATR under the signal's close), the target at 2R beyond the fill (3 ATR
when filled at the signal's close), out at the horizon's last close.
"""

from __future__ import annotations

import numpy as np

from engine.model.exits import ExitPolicy, StopRule, TimeExit
from engine.signals import segmented as seg
from engine.strategies.aggregate import composite_flat
from engine.strategies.templates import panel as pn
from engine.strategies.templates.base import Bars, Params, Setup, Template, per_symbol, single_setup
from engine.strategies.templates.panel import FlatBars, Signals, one_stock

NAME = "breakout"
WEIGHTS = {"breakout_atr": 0.4, "compression": 0.3, "volume_momentum": 0.3}


def _signals(flat: FlatBars, p: Params) -> Signals:
    close, starts = flat.close, flat.starts
    mid, upper, lower, _pb = pn.bollinger(flat, 20, 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        width = (upper - lower) / mid
    width_z = seg.zscore(width, starts, 120)
    squeeze = seg.rolling_min(width_z, starts, int(p["squeeze_days"]))
    dc_upper, _dc_lower = seg.donchian(flat.high, flat.low, starts, 20)
    a = pn.atr(flat, 14)
    vmom = pn.volume_momentum(flat, 20, 60)
    ma20 = mid  # the 20-day SMA: Bollinger's mid is that very series (the same _rolling_moments)
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = (close - dc_upper) / a
        entry = (squeeze < -1.0) & (close > dc_upper)
        exit_rule = close < ma20
    components = {"breakout_atr": strength, "compression": -squeeze, "volume_momentum": vmom}
    score = composite_flat(components, WEIGHTS, starts)
    return {
        **components,
        "squeeze": squeeze,
        "dc_upper": dc_upper,
        "entry": entry,
        "exit": exit_rule,
        "score": score,
        "atr": a,
        "stop_distance": p["stop_atr"] * a,
        "target_distance": p["target_atr"] * a,
    }


def _setup(bars: Bars, p: Params, sig: Signals) -> Setup:
    close = bars.close
    squeeze, dc_upper, strength = sig["squeeze"], sig["dc_upper"], sig["breakout_atr"]

    def reason(t: int) -> str:
        return (
            f"band width z {squeeze[t]:+.1f} (compressed), close {close[t]:.2f} above the "
            f"20d high {dc_upper[t]:.2f} by {strength[t]:.1f} ATR"
        )

    return single_setup(
        NAME,
        bars,
        entry=sig["entry"],
        exit=sig["exit"],
        score=sig["score"],
        stop_distance=sig["stop_distance"],
        target_distance=sig["target_distance"],
        components={name: sig[name] for name in WEIGHTS},
        reason=reason,
        atr=sig["atr"],
    )


breakout_setup, breakout_panel = one_stock(_signals, _setup)


BREAKOUT = Template(
    name=NAME,
    title="Volatility breakout",
    rules=__doc__ or "",
    horizon_days=10,
    signals_required=("bollinger20", "donchian20", "atr14", "volume_momentum", "sma20"),
    min_history=400,
    defaults={"stop_atr": 1.5, "target_atr": 3.0, "squeeze_days": 5.0},
    build=per_symbol(breakout_setup),
    panel=breakout_panel,
    exit_policy=ExitPolicy(StopRule.PRICE, 0.0, 2.0, TimeExit.CLOSE),
)
