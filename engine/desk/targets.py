"""Target weights for the autopilot and the rebalance preview: the configured optimizer over history.

The weights come from ``engine.portfolio.optimize.optimize`` over the daily returns before the
session (no look-ahead: the session's own close is not known at 15:55), under the per-asset cap,
the sector caps of ``[universe] sectors`` and a cash buffer.

The caps sit below the engine's own pre-trade limits (``[risk] max_position_pct`` and
``max_sector_pct``) by ``[autopilot] limit_margin``: a target the risk checks would refuse makes the
whole group refused, and a target exactly at the limit is refused by the first tick against it. When
those caps cannot absorb ``1 - cash_buffer`` (the default universe: four technology stocks under a
30% sector cap and one more under a 15% cap can hold 45% at most), the optimizer would refuse the
set as infeasible; the cash kept is raised to what the caps leave and a note says so, because an
autopilot that fails every session helps no one and the operator asked for those limits.

``method = "rotation"`` (or ``"template:NAME"``) takes a template's own weights instead of an
optimizer's: ``engine/desk/template_targets.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from engine.config import Settings, autopilot_template

CAPACITY_MARGIN = 1e-6
"""Kept below the caps' capacity so the optimizer's feasibility check (1e-7) never trips on rounding."""


@dataclass(frozen=True, slots=True)
class TargetRules:
    """What the optimizer is asked: method, symbols, lookback and the constraints (caps in force)."""

    method: str
    symbols: tuple[str, ...]
    lookback: int
    max_weight: float
    sector_cap: float
    cash_buffer: float
    sectors: Mapping[str, str] = field(default_factory=dict)
    template: str | None = None
    """The template whose own weights are the targets (``method`` "rotation" / "template:NAME")."""
    params: Mapping[str, float] = field(default_factory=dict)
    """The template's configured parameters (``[strategies.NAME] parameters``)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetRules:
        a, r, u = settings.autopilot, settings.risk, settings.universe
        symbols = tuple(a.symbols or u.symbols)
        template = autopilot_template(a.method)
        lookback = a.lookback_sessions
        params: dict[str, float] = {}
        if template is not None:
            from engine.strategies.templates import TEMPLATES

            configured = settings.strategies.get(template)  # type: ignore[call-overload]
            params = dict(configured.parameters) if configured is not None else {}
            lookback = max(lookback, TEMPLATES[template].min_history)  # the data check asks for it
        return cls(
            method=a.method,
            symbols=symbols,
            lookback=lookback,
            template=template,
            params=params,
            # below the risk limits by [autopilot] limit_margin: prices move and costs cut equity
            # between the plan and the check, and a target at the limit itself is refused
            max_weight=min(a.max_weight, max(r.max_position_pct - a.limit_margin, 0.0)),
            sector_cap=min(a.sector_cap, max(r.max_sector_pct - a.limit_margin, 0.0)),
            cash_buffer=a.cash_buffer,
            # a symbol without a sector is its own sector, as the risk checks count it
            sectors={s: u.sectors.get(s, s) for s in symbols},
        )

    def capacity(self) -> float:
        """The most the caps let the book invest: per sector min(sector cap, its assets' caps)."""
        per_sector: dict[str, int] = {}
        for symbol in self.symbols:
            sector = self.sectors.get(symbol, symbol)
            per_sector[sector] = per_sector.get(sector, 0) + 1
        return sum(min(self.sector_cap, n * self.max_weight) for n in per_sector.values())

    def effective_cash_buffer(self) -> tuple[float, str]:
        """The cash kept back, and a note when the caps forced it above the configured buffer."""
        room = self.capacity() - CAPACITY_MARGIN
        if 1.0 - self.cash_buffer <= room:
            return self.cash_buffer, ""
        cash = 1.0 - room
        return cash, (
            f"the caps (max {self.max_weight:.0%} per asset, {self.sector_cap:.0%} per sector) hold at most "
            f"{room:.1%} of equity: {cash:.1%} is kept in cash instead of the configured "
            f"{self.cash_buffer:.1%}"
        )


def returns_frame(closes: Mapping[str, pd.Series], lookback: int) -> pd.DataFrame:
    """Aligned daily simple returns of the last ``lookback`` sessions (dates every symbol has)."""
    frame = pd.DataFrame(dict(closes)).dropna()
    return frame.pct_change(fill_method=None).iloc[1:].tail(lookback)


Optimizer = Callable[[pd.DataFrame, TargetRules], dict[str, float]]
"""Target weights from aligned returns; swappable (tests, a strategy with its own weights)."""


def optimizer_weights(returns: pd.DataFrame, rules: TargetRules) -> dict[str, float]:
    """The configured optimizer under the rules' constraints; weights under 1e-6 are dropped."""
    from engine.portfolio.optimize import Constraints, optimize

    cash, _note = rules.effective_cash_buffer()
    constraints = Constraints(
        max_weight=rules.max_weight,
        sector_cap=rules.sector_cap,
        sectors=dict(rules.sectors),
        long_only=True,
        cash_buffer=cash,
    )
    result = optimize(rules.method, returns, constraints)
    weights = {str(s): float(w) for s, w in result.weights.items() if math.isfinite(w) and w > 1e-6}
    total = sum(weights.values())
    if total > 1.0:  # rounding of a solver at the budget: never ask the planner for leverage
        weights = {s: w / total for s, w in weights.items()}
    return weights


class TargetBook:
    """Today's targets, computed once per session and reused by the autopilot and the preview."""

    def __init__(
        self,
        rules: TargetRules,
        history: Callable[[str, date], pd.DataFrame],
        optimizer: Optimizer = optimizer_weights,
    ) -> None:
        self.rules = rules
        self._history = history
        self.optimizer = optimizer
        self._cache: tuple[date, dict[str, float]] | None = None

    def closes(self, day: date, sessions: int) -> dict[str, pd.Series]:
        """The last ``sessions`` closes before ``day`` of each target symbol."""
        return {s: self._history(s, day)["close"].tail(sessions) for s in self.rules.symbols}

    def weights(self, day: date) -> dict[str, float]:
        if self._cache is not None and self._cache[0] == day:
            return dict(self._cache[1])
        if self.rules.template is not None:
            from engine.desk.template_targets import template_weights

            history = {s: self._history(s, day) for s in self.rules.symbols}  # all of it: see the module
            weights = template_weights(self.rules.template, history, day, self.rules.params)
            self._cache = (day, weights)
            return dict(weights)
        returns = returns_frame(self.closes(day, self.rules.lookback + 1), self.rules.lookback)
        if len(returns) < 2:
            raise ValueError(f"too little history before {day.isoformat()} for target weights")
        weights = self.optimizer(returns, self.rules)
        self._cache = (day, weights)
        return dict(weights)

    def notes(self) -> tuple[str, ...]:
        if self.rules.template is not None:
            from engine.desk.template_targets import notes

            return notes(self.rules.template, self.rules.params)
        _cash, note = self.rules.effective_cash_buffer()
        return (note,) if note else ()
