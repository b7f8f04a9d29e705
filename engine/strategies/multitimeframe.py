"""A template run on one bar size and confirmed on a higher one (multi-timeframe).

``confirmed(TREND, lower=1h, higher=1d)`` takes the trend template's hourly setups and keeps an
entry only where the **daily** trend agrees: the daily EMA(``fast``) above the daily EMA(``slow``)
for a long (below it for a short), computed on daily bars resampled from the hourly ones and read
at each hourly close with only the days that have already closed (``engine.signals.timeframes``).
Everything else (exits, stops, scores, the track record) is the base template's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.data.bar_size import BarSize
from engine.signals.indicators import ema
from engine.signals.timeframes import on_lower, resample
from engine.strategies.templates.base import Array, Bars, Panel, Params, Setup, Template

CONFIRM_FAST = 10
CONFIRM_SLOW = 30


def higher_trend(
    bars: Bars, lower: BarSize, higher: BarSize, fast: int = CONFIRM_FAST, slow: int = CONFIRM_SLOW
) -> Array:
    """+1 where the higher bar size's EMA(fast) is above its EMA(slow), -1 below, 0 unknown, as known
    at each lower bar's close."""
    starts = np.asarray(bars.dates, dtype="datetime64[m]")
    hi = resample(
        starts, bars.open, bars.high, bars.low, bars.close, bars.volume, lower.minutes, higher.minutes
    )
    direction = np.sign(ema(hi.close, fast) - ema(hi.close, slow))
    direction = np.where(np.isfinite(direction), direction, 0.0)
    closes_at = np.asarray(starts + lower.delta, dtype="datetime64[m]")
    seen = on_lower(direction, hi.available_at, closes_at)
    return np.where(np.isfinite(seen), seen, 0.0)


def _confirm(setup: Setup, panel: Panel, lower: BarSize, higher: BarSize) -> Setup:
    if len(setup.symbols) != 1:
        return setup  # a basket has no one trend to confirm against
    bars = panel[setup.symbols[0]]
    trend = higher_trend(bars, lower, higher)
    idx = np.searchsorted(np.asarray(bars.dates, "datetime64[m]"), np.asarray(setup.dates, "datetime64[m]"))
    side = np.sign(setup.weights[:, 0]) if setup.weights.ndim == 2 else np.sign(setup.weights)
    agrees = (trend[idx] * side) > 0
    return replace(setup, entry=setup.entry & agrees, template=setup.template)


def confirmed(base: Template, lower: BarSize, higher: BarSize) -> Template:
    """``base`` on ``lower`` bars, entering only where ``higher``'s trend agrees (see the module doc)."""
    if higher <= lower:
        raise ValueError(f"the confirming bar size {higher} must be above the bar size {lower}")

    def build(panel: Panel, p: Params) -> list[Setup]:
        return [_confirm(s, panel, lower, higher) for s in base.build(panel, p)]

    return replace(
        base,
        name=f"{base.name}@{higher}",
        title=f"{base.title}, confirmed by the {higher} trend",
        rules=(
            base.rules + f"\nConfirmation: enter only where the {higher} EMA{CONFIRM_FAST} is on the "
            f"trade's side of the {higher} EMA{CONFIRM_SLOW} (closed {higher} bars only)."
        ),
        build=build,
    )
