"""Templates held back for a series that lacks what they read (volume), with the reason.

Momentum and breakout score volume momentum; on a series whose volume is missing, zero or
constant (an index, a commodity's spot price, a closes-only file) its z-score is NaN and the
template would silently never fire. Saying so is the point: ``onetap cards``, ``onetap backtest``
and the desk's cards pane list each such template as held back, naming the symbols.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from engine.strategies.templates.base import Template

VOLUME_SIGNALS = frozenset({"volume_momentum"})
"""Signals that read the volume column."""


def lacks_volume(frame: pd.DataFrame) -> bool:
    """True when ``frame``'s volume carries no information: empty, missing, all zero or constant."""
    if "volume" not in frame.columns or frame.empty:
        return True
    volume = frame["volume"].to_numpy(dtype=np.float64)
    volume = volume[np.isfinite(volume)]
    return len(volume) == 0 or float(volume.max()) <= 0.0 or float(volume.max()) == float(volume.min())


def needs_volume(template: Template) -> bool:
    return bool(VOLUME_SIGNALS.intersection(template.signals_required))


def held_back(
    templates: Iterable[Template], histories: Mapping[str, pd.DataFrame]
) -> dict[str, tuple[str, ...]]:
    """Template name -> the symbols it is held back on for want of volume (only non-empty ones)."""
    without = tuple(sorted(s for s, f in histories.items() if lacks_volume(f)))
    if not without:
        return {}
    return {t.name: without for t in templates if needs_volume(t)}


def held_back_codes(found: Mapping[str, tuple[str, ...]]) -> tuple[tuple[str, int], ...]:
    """The held-back templates as the cards pane's (reason code, count) pairs:
    ``("momentum_needs_volume", 2)`` reads "momentum needs volume 2" on the desk."""
    return tuple((f"{name}_needs_volume", len(symbols)) for name, symbols in sorted(found.items()))


def describe(found: Mapping[str, tuple[str, ...]]) -> str:
    """``momentum, breakout held back: they read volume, and N225, GOLD have none (zero or constant)``."""
    if not found:
        return ""
    names = ", ".join(sorted(found))
    symbols = sorted({s for syms in found.values() for s in syms})
    have = "has" if len(symbols) == 1 else "have"
    read = "it reads" if len(found) == 1 else "they read"
    return (
        f"{names} held back: {read} volume, and {', '.join(symbols)} {have} none (missing, zero or constant)"
    )
