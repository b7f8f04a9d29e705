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
from engine.signals.indicators import atr, bollinger, donchian, rolling_min, sma, volume_momentum, zscore
from engine.strategies.aggregate import composite
from engine.strategies.templates.base import Bars, Params, Setup, Template, per_symbol, single_setup

NAME = "breakout"


def breakout_setup(bars: Bars, p: Params) -> Setup:
    close = bars.close
    mid, upper, lower, _pb = bollinger(close, 20, 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        width = (upper - lower) / mid
    width_z = zscore(width, 120)
    squeeze = rolling_min(width_z, int(p["squeeze_days"]))
    dc_upper, _dc_lower = donchian(bars.high, bars.low, 20)
    a = atr(bars.high, bars.low, close, 14)
    vmom = volume_momentum(bars.volume, 20, 60)
    ma20 = sma(close, 20)
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = (close - dc_upper) / a
        entry = (squeeze < -1.0) & (close > dc_upper)
        exit_rule = close < ma20
    components = {"breakout_atr": strength, "compression": -squeeze, "volume_momentum": vmom}
    score = composite(components, {"breakout_atr": 0.4, "compression": 0.3, "volume_momentum": 0.3})

    def reason(t: int) -> str:
        return (
            f"band width z {squeeze[t]:+.1f} (compressed), close {close[t]:.2f} above the "
            f"20d high {dc_upper[t]:.2f} by {strength[t]:.1f} ATR"
        )

    return single_setup(
        NAME,
        bars,
        entry=entry,
        exit=exit_rule,
        score=score,
        stop_distance=p["stop_atr"] * a,
        target_distance=p["target_atr"] * a,
        components=components,
        reason=reason,
        atr=a,
    )


BREAKOUT = Template(
    name=NAME,
    title="Volatility breakout",
    rules=__doc__ or "",
    horizon_days=10,
    signals_required=("bollinger20", "donchian20", "atr14", "volume_momentum", "sma20"),
    min_history=400,
    defaults={"stop_atr": 1.5, "target_atr": 3.0, "squeeze_days": 5.0},
    build=per_symbol(breakout_setup),
    exit_policy=ExitPolicy(StopRule.PRICE, 0.0, 2.0, TimeExit.CLOSE),
)
