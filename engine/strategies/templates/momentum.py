"""Momentum: buy strength confirmed by volume.

Entry: 60-day and 20-day rate of change both positive and the close above its 50-day average.
Score: 20-day return divided by 20-day volatility (a risk-adjusted strength), scaled by volume
momentum (20-day average volume over the 60-day average, capped at 2): rising participation
confirms a move, fading participation discounts it.
Stop: ``stop_atr`` x ATR(14) below the entry. Horizon: 10 sessions.
"""

from __future__ import annotations

import numpy as np

from engine.signals.basic import daily_returns, roc, rolling_std, sma
from engine.strategies.templates.base import Array, Signal, Template


def momentum_signal(open_: Array, high: Array, low: Array, close: Array, volume: Array) -> Signal:
    r20 = roc(close, 20)
    r60 = roc(close, 60)
    ma50 = sma(close, 50)
    vol_ratio = sma(volume, 20) / sma(volume, 60)
    sigma = rolling_std(daily_returns(close), 20) * np.sqrt(20.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = r20 / sigma * np.minimum(vol_ratio, 2.0)
        entry = (r20 > 0) & (r60 > 0) & (close > ma50)
    entry &= np.isfinite(score)

    def reason(t: int) -> str:
        return f"20d {r20[t]:+.1%}, 60d {r60[t]:+.1%}, above 50d avg, volume x{vol_ratio[t]:.2f} vs 60d"

    return Signal(entry=entry, score=np.nan_to_num(score, nan=0.0), reason=reason)


MOMENTUM = Template(
    name="momentum",
    title="Momentum",
    horizon_days=10,
    signals_required=("roc20", "roc60", "sma50", "volume_momentum", "volatility20"),
    signal=momentum_signal,
    min_history=80,
)
