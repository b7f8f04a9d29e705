"""Momentum: buy strength that participation confirms.

Entry: the 20- and 60-day rates of change are both positive, the close is above its 50-day
average and volume momentum (20-day over 60-day average volume) is at least ``min_volume``.
Score: composite of the risk-adjusted 20-day return (ROC20 over 20-day volatility), the
60-day return and volume momentum. Exit: the close falls below the 50-day average or the
20-day return turns negative. Stop: ``stop_atr`` x ATR(14) below the entry; no fixed target.
Horizon: 10 sessions. Exit policy (config/strategies.toml): a resting stop 2 ATR below the
fill, no target, out at the horizon's last close.
"""

from __future__ import annotations

import numpy as np

from engine.model.exits import ExitPolicy, StopRule, TimeExit
from engine.strategies.aggregate import composite_flat
from engine.strategies.templates import panel as pn
from engine.strategies.templates.base import Bars, Params, Setup, Template, per_symbol, single_setup
from engine.strategies.templates.panel import FlatBars, Signals, one_stock

NAME = "momentum"
WEIGHTS = {"roc20_risk_adj": 0.5, "roc60": 0.3, "volume_momentum": 0.2}


def _signals(flat: FlatBars, p: Params) -> Signals:
    close, starts = flat.close, flat.starts
    r20, r60 = pn.roc(flat, 20), pn.roc(flat, 60)
    ma50 = pn.sma(flat, 50)
    vmom = pn.volume_momentum(flat, 20, 60)
    vol20 = pn.rolling_volatility(flat, 20)
    a = pn.atr(flat, 14)
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = r20 / (vol20 * np.sqrt(20.0 / 252.0))
        entry = (r20 > 0) & (r60 > 0) & (close > ma50) & (vmom >= p["min_volume"])
        exit_rule = (close < ma50) | (r20 < 0)
    components = {"roc20_risk_adj": strength, "roc60": r60, "volume_momentum": vmom}
    score = composite_flat(components, WEIGHTS, starts)
    return {
        **components,
        "r20": r20,
        "entry": entry,
        "exit": exit_rule,
        "score": score,
        "atr": a,
        "stop_distance": p["stop_atr"] * a,
    }


def _setup(bars: Bars, p: Params, sig: Signals) -> Setup:
    r20, r60, vmom = sig["r20"], sig["roc60"], sig["volume_momentum"]

    def reason(t: int) -> str:
        return f"20d {r20[t]:+.1%}, 60d {r60[t]:+.1%}, above 50d avg, volume x{vmom[t]:.2f} vs 60d"

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


momentum_setup, momentum_panel = one_stock(_signals, _setup)


MOMENTUM = Template(
    name=NAME,
    title="Momentum",
    rules=__doc__ or "",
    horizon_days=10,
    signals_required=("roc20", "roc60", "sma50", "volume_momentum", "volatility20", "atr14"),
    min_history=320,
    defaults={"stop_atr": 2.0, "min_volume": 1.0},
    build=per_symbol(momentum_setup),
    panel=momentum_panel,
    exit_policy=ExitPolicy(StopRule.ATR, 2.0, None, TimeExit.CLOSE),
)
