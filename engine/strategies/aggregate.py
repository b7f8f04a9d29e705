"""One composite score from several signals, the same way for every template.

Signals live on different scales (an RSI, a return, a volume ratio). Each component is first
put on a common scale by its own trailing z-score (``window`` bars, no look-ahead), clipped at
+/-3 so one outlier cannot carry the score, then the template's weights combine them. The
components a template passes are already oriented: higher means a stronger case for entry.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from engine.signals.indicators import zscore_blend
from engine.strategies.templates.base import Array

Z_CLIP = 3.0


def composite(components: Mapping[str, Array], weights: Mapping[str, float], window: int = 252) -> Array:
    """Weighted sum of standardized components divided by the sum of absolute weights."""
    total = sum(abs(w) for w in weights.values())
    if total == 0:
        raise ValueError("composite: every weight is zero")
    names = list(weights)
    shares = [weights[n] / total for n in names]
    return zscore_blend([components[n] for n in names], shares, window, Z_CLIP)


def composite_flat(
    components: Mapping[str, Array],
    weights: Mapping[str, float],
    starts: NDArray[np.int64],
    window: int = 252,
) -> Array:
    """``composite`` on every symbol of a flat panel (``engine.signals.segmented``) at once."""
    from engine.signals import segmented

    total = sum(abs(w) for w in weights.values())
    if total == 0:
        raise ValueError("composite: every weight is zero")
    names = list(weights)
    shares = [weights[n] / total for n in names]
    return segmented.zscore_blend([components[n] for n in names], shares, starts, window, Z_CLIP)
