"""Templates: each declares its signals, entry rule, stop rule and horizon, once for all uses."""

from engine.strategies.templates.base import Template
from engine.strategies.templates.mean_reversion import MEAN_REVERSION
from engine.strategies.templates.momentum import MOMENTUM

TEMPLATES: dict[str, Template] = {t.name: t for t in (MOMENTUM, MEAN_REVERSION)}

__all__ = ["MEAN_REVERSION", "MOMENTUM", "TEMPLATES", "Template"]
