"""Mean reversion: buy a sharp pull-back, preferably inside a longer uptrend.

Entry: RSI(14) below ``rsi_entry`` and Bollinger %b(20, 2) below ``pct_b_entry`` (at or under
the lower band). Score: composite of how oversold RSI is, the depth below the band and the
trend (close over its 200-day average). Exit: RSI back above ``rsi_exit`` or %b above 0.5
(the middle band). Stop: ``stop_atr`` x ATR(14) below the entry. Target: the middle band.
Horizon: 5 sessions. Exit policy (config/strategies.toml): a resting stop 2 ATR below the fill
and a resting target 1R above it (the middle band is a moving level no resting order can
follow; 1R, 2 ATR, is about where it sits at an entry), out at the horizon's last close.
"""

from __future__ import annotations

import numpy as np

from engine.model.exits import ExitPolicy, StopRule, TimeExit
from engine.signals import segmented as seg
from engine.strategies.aggregate import composite_flat
from engine.strategies.templates import panel as pn
from engine.strategies.templates.base import Bars, Params, Setup, Template, per_symbol, single_setup
from engine.strategies.templates.panel import FlatBars, Signals, one_stock

NAME = "mean_reversion"
WEIGHTS = {"oversold": 0.4, "below_band": 0.4, "trend200": 0.2}


def _signals(flat: FlatBars, p: Params) -> Signals:
    close, starts = flat.close, flat.starts
    r = seg.rsi(close, starts, 14)
    mid, _upper, _lower, pb = pn.bollinger(flat, 20, 2.0)
    ma200 = seg.sma(close, starts, 200)
    a = pn.atr(flat, 14)
    with np.errstate(invalid="ignore", divide="ignore"):
        entry = (r < p["rsi_entry"]) & (pb < p["pct_b_entry"])
        exit_rule = (r > p["rsi_exit"]) | (pb > 0.5)
        trend = close / ma200 - 1.0
        target = np.where(mid > close, mid - close, np.nan)
    components = {"oversold": -r, "below_band": -pb, "trend200": trend}
    score = composite_flat(components, WEIGHTS, starts)
    return {
        **components,
        "rsi": r,
        "pct_b": pb,
        "entry": entry,
        "exit": exit_rule,
        "score": score,
        "atr": a,
        "stop_distance": p["stop_atr"] * a,
        "target_distance": target,
    }


def _setup(bars: Bars, p: Params, sig: Signals) -> Setup:
    r, pb, trend = sig["rsi"], sig["pct_b"], sig["trend200"]

    def reason(t: int) -> str:
        side = "above" if trend[t] > 0 else "below"
        return f"RSI {r[t]:.0f} oversold, %b {pb[t]:.2f} at the lower band, {side} 200d avg"

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


mean_reversion_setup, mean_reversion_panel = one_stock(_signals, _setup)


MEAN_REVERSION = Template(
    name=NAME,
    title="Mean reversion",
    rules=__doc__ or "",
    horizon_days=5,
    signals_required=("rsi14", "bollinger20", "sma200", "atr14"),
    min_history=460,
    defaults={"stop_atr": 2.0, "rsi_entry": 40.0, "rsi_exit": 55.0, "pct_b_entry": 0.2},
    build=per_symbol(mean_reversion_setup),
    panel=mean_reversion_panel,
    exit_policy=ExitPolicy(StopRule.ATR, 2.0, 1.0, TimeExit.CLOSE),
)
