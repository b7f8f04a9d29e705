"""Mean reversion: buy a sharp pull-back inside a longer uptrend.

Entry: RSI(14) below 40 and %b(20, 2) below 0.2 (near or under the lower Bollinger band).
Score: depth below the band plus how oversold RSI is, halved when the close is under its
200-day average (a pull-back in a downtrend is a weaker bet than one in an uptrend).
Stop: ``stop_atr`` x ATR(14) below the entry. Horizon: 5 sessions.
"""

from __future__ import annotations

import numpy as np

from engine.signals.basic import bollinger_pct_b, rsi, sma
from engine.strategies.templates.base import Array, Signal, Template


def mean_reversion_signal(open_: Array, high: Array, low: Array, close: Array, volume: Array) -> Signal:
    r = rsi(close, 14)
    pb = bollinger_pct_b(close, 20, 2.0)
    ma200 = sma(close, 200)
    with np.errstate(invalid="ignore"):
        entry = (r < 40.0) & (pb < 0.2)
        score = ((0.2 - pb) + (40.0 - r) / 40.0) * np.where(close > ma200, 1.0, 0.5)

    def reason(t: int) -> str:
        trend = "above" if close[t] > ma200[t] else "below"
        return f"RSI {r[t]:.0f} oversold, %b {pb[t]:.2f} near the lower band, {trend} 200d avg"

    return Signal(entry=entry, score=np.nan_to_num(score, nan=0.0), reason=reason)


MEAN_REVERSION = Template(
    name="mean_reversion",
    title="Mean reversion",
    horizon_days=5,
    signals_required=("rsi14", "bollinger_pct_b20", "sma200"),
    signal=mean_reversion_signal,
    min_history=220,
)
