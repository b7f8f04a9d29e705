"""Trend following: ride an established trend with a wide ATR stop.

Entry: the fast EMA (``fast``, 20) above the slow EMA (``slow``, 50), the close above the fast
EMA and the MACD(12, 26, 9) histogram positive. Score: composite of the EMA spread in ATRs,
the MACD histogram in ATRs and the 60-day rate of change. Exit: the fast EMA crosses below the
slow one. Stop: ``stop_atr`` x ATR(14) below the entry (a trend needs room); no fixed target.
Horizon: 20 sessions. Exit policy (config/strategies.toml): a trailing stop 3 ATR (the ATR at
entry) under the best price since the fill, no target, out at the horizon's last close.
"""

from __future__ import annotations

import numpy as np

from engine.model.exits import ExitPolicy, StopRule, TimeExit
from engine.signals import segmented as seg
from engine.strategies.aggregate import composite_flat
from engine.strategies.templates import panel as pn
from engine.strategies.templates.base import Bars, Params, Setup, Template, per_symbol, single_setup
from engine.strategies.templates.panel import FlatBars, Signals, one_stock

NAME = "trend"
WEIGHTS = {"ema_spread_atr": 0.4, "macd_hist_atr": 0.3, "roc60": 0.3}


def _signals(flat: FlatBars, p: Params) -> Signals:
    close, starts = flat.close, flat.starts
    fast, slow = seg.ema(close, starts, int(p["fast"])), seg.ema(close, starts, int(p["slow"]))
    line = seg.ema(close, starts, 12) - seg.ema(close, starts, 26)  # macd(12, 26, 9), as indicators.macd
    hist = line - seg.ema(line, starts, 9)
    a = pn.atr(flat, 14)
    r60 = pn.roc(flat, 60)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = (fast - slow) / a
        entry = (fast > slow) & (close > fast) & (hist > 0)
        exit_rule = fast < slow
        macd_atr = hist / a
    components = {"ema_spread_atr": spread, "macd_hist_atr": macd_atr, "roc60": r60}
    score = composite_flat(components, WEIGHTS, starts)
    return {
        **components,
        "fast": fast,
        "slow": slow,
        "hist": hist,
        "entry": entry,
        "exit": exit_rule,
        "score": score,
        "atr": a,
        "stop_distance": p["stop_atr"] * a,
    }


def _setup(bars: Bars, p: Params, sig: Signals) -> Setup:
    fast, slow, spread, hist = sig["fast"], sig["slow"], sig["ema_spread_atr"], sig["hist"]

    def reason(t: int) -> str:
        return (
            f"EMA{int(p['fast'])} {fast[t]:.2f} over EMA{int(p['slow'])} {slow[t]:.2f} "
            f"({spread[t]:.1f} ATR), MACD histogram {hist[t]:+.2f}"
        )

    return single_setup(
        NAME,
        bars,
        entry=sig["entry"],
        exit=sig["exit"],
        score=sig["score"],
        stop_distance=sig["stop_distance"],
        components={name: sig[name] for name in WEIGHTS},
        reason=reason,
        atr=sig["atr"],
    )


trend_setup, trend_panel = one_stock(_signals, _setup)


TREND = Template(
    name=NAME,
    title="Trend following",
    rules=__doc__ or "",
    horizon_days=20,
    signals_required=("ema20", "ema50", "macd", "atr14", "roc60"),
    min_history=330,
    defaults={"stop_atr": 3.0, "fast": 20.0, "slow": 50.0},
    build=per_symbol(trend_setup),
    panel=trend_panel,
    exit_policy=ExitPolicy(StopRule.TRAIL_ATR, 3.0, None, TimeExit.CLOSE),
)
