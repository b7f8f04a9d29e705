"""Templates: each declares its signals, entry and exit rules, stop and target, horizon and defaults."""

from engine.strategies.templates.base import Template
from engine.strategies.templates.breakout import BREAKOUT
from engine.strategies.templates.mean_reversion import MEAN_REVERSION
from engine.strategies.templates.momentum import MOMENTUM
from engine.strategies.templates.options import OPTIONS
from engine.strategies.templates.pairs import PAIRS
from engine.strategies.templates.rotation import ROTATION
from engine.strategies.templates.trend import TREND

TEMPLATES: dict[str, Template] = {
    t.name: t for t in (MOMENTUM, MEAN_REVERSION, BREAKOUT, TREND, ROTATION, PAIRS, OPTIONS)
}

__all__ = [
    "BREAKOUT",
    "MEAN_REVERSION",
    "MOMENTUM",
    "OPTIONS",
    "PAIRS",
    "ROTATION",
    "TEMPLATES",
    "TREND",
    "Template",
]
