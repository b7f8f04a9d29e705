"""The card source: turns template signals on the history before today into ranked cards.

Honesty rules: a card is built only from bars strictly before the session it is shown
in; its confidence and expected return come from the template's own past signals,
measured on the same history (entry at the next open, exit at the close ``horizon``
sessions later), shrunk toward the template's pooled rate across the universe when a
symbol has few signals. Nothing is clipped to look good.

Sizing: risk ``risk_per_card_pct`` of equity to a stop ``stop_atr`` x ATR(14) below the
price, capped by the position limit and the order value limit, in whole shares.
Ranking: expected return per unit of risk (expected return / stop distance), so a card
that risks little for its edge ranks first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from engine.model import Leg, Side, StrategyCard
from engine.signals.basic import atr
from engine.strategies.templates.base import Array, Template

SHRINK = 10.0
"""Pseudo-count pulling a symbol's hit rate toward the template's pooled rate."""


@dataclass(frozen=True, slots=True)
class CardContext:
    asof: datetime
    session_day: date
    equity: float
    cash: float
    positions: Mapping[str, float]
    prices: Mapping[str, float]
    risk_per_card_pct: float
    stop_atr: float
    max_position_pct: float
    max_order_value: float
    max_cards: int


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Forward returns after each past entry signal of one template on one symbol."""

    returns: Array

    @property
    def n(self) -> int:
        return len(self.returns)

    @property
    def wins(self) -> int:
        return int(np.sum(self.returns > 0))


@dataclass(frozen=True, slots=True)
class _Arrays:
    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array


def _arrays(df: pd.DataFrame) -> _Arrays:
    return _Arrays(*(df[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")))


def signal_outcomes(entry: np.ndarray, a: _Arrays, horizon: int) -> Outcomes:
    """Return from the next bar's open to the close ``horizon`` bars after the signal."""
    idx = np.flatnonzero(entry[: len(entry) - horizon - 1]) if len(entry) > horizon + 1 else np.array([], int)
    rets = a.close[idx + horizon] / a.open[idx + 1] - 1.0
    return Outcomes(rets[np.isfinite(rets)])


@dataclass(frozen=True, slots=True)
class Candidate:
    """A template's entry signal on one symbol as of the last bar, with its measured track record."""

    template: Template
    symbol: str
    reason: str
    signal_score: float
    last_close: float
    atr14: float
    outcomes: Outcomes
    pooled_rate: float
    pooled_mean: float


@dataclass(frozen=True, slots=True)
class Scan:
    """Everything about a session that depends only on the history before it: computed once a day."""

    candidates: tuple[Candidate, ...]
    down_rate_5d: Mapping[str, float]
    mean_return_5d: Mapping[str, float]


def scan(histories: Mapping[str, pd.DataFrame], templates: Sequence[Template]) -> Scan:
    arrays = {sym: _arrays(df) for sym, df in histories.items() if len(df) > 0}
    found: list[Candidate] = []
    for template in templates:
        signals = {
            sym: template.signal(a.open, a.high, a.low, a.close, a.volume)
            for sym, a in arrays.items()
            if len(a.close) >= template.min_history
        }
        outcomes = {
            sym: signal_outcomes(s.entry, arrays[sym], template.horizon_days) for sym, s in signals.items()
        }
        pooled = np.concatenate([o.returns for o in outcomes.values()]) if outcomes else np.array([])
        pooled_rate = float((np.sum(pooled > 0) + 1.0) / (len(pooled) + 2.0))
        pooled_mean = float(np.mean(pooled)) if len(pooled) else 0.0
        for sym, sig in signals.items():
            if sig.entry[-1]:
                a = arrays[sym]
                found.append(
                    Candidate(
                        template,
                        sym,
                        sig.reason(len(sig.entry) - 1),
                        float(sig.score[-1]),
                        float(a.close[-1]),
                        float(atr(a.high, a.low, a.close, 14)[-1]),
                        outcomes[sym],
                        pooled_rate,
                        pooled_mean,
                    )
                )
    down: dict[str, float] = {}
    mean: dict[str, float] = {}
    for sym, a in arrays.items():
        if len(a.close) >= 30:
            fwd = a.close[5:] / a.close[:-5] - 1.0
            down[sym] = (float(np.sum(fwd < 0)) + 1.0) / (len(fwd) + 2.0)
            mean[sym] = float(np.mean(fwd))
    return Scan(tuple(found), down, mean)


SIZING_HEADROOM = 0.95
"""Cards are sized to 95% of the position and order limits so that a price move between the
card's refresh and the key press does not turn a valid card into a refused order."""


def size_cards(found: Scan, ctx: CardContext) -> list[StrategyCard]:
    """Ranked cards at the current prices: entries first (best first), then exits of held positions."""
    cards = [c for c in (_entry_card(cand, ctx) for cand in found.candidates) if c is not None]
    cards.sort(key=lambda c: c.score, reverse=True)
    exits = [c for c in (_exit_card(sym, qty, found, ctx) for sym, qty in sorted(ctx.positions.items())) if c]
    return (cards + exits)[: ctx.max_cards]


def generate_cards(
    histories: Mapping[str, pd.DataFrame], templates: Sequence[Template], ctx: CardContext
) -> list[StrategyCard]:
    return size_cards(scan(histories, templates), ctx)


def _entry_card(cand: Candidate, ctx: CardContext) -> StrategyCard | None:
    symbol, template, outcomes = cand.symbol, cand.template, cand.outcomes
    price = ctx.prices.get(symbol, cand.last_close)
    if not (price > 0 and math.isfinite(cand.atr14) and cand.atr14 > 0):
        return None
    stop_distance = ctx.stop_atr * cand.atr14
    budget = ctx.risk_per_card_pct * ctx.equity
    qty = min(
        budget / stop_distance,
        SIZING_HEADROOM * ctx.max_position_pct * ctx.equity / price - ctx.positions.get(symbol, 0.0),
        SIZING_HEADROOM * ctx.max_order_value / price,
        SIZING_HEADROOM * ctx.cash / price,
    )
    qty = math.floor(qty)
    if qty < 1:
        return None
    confidence = (outcomes.wins + SHRINK * cand.pooled_rate) / (outcomes.n + SHRINK)
    expected = (float(np.sum(outcomes.returns)) + SHRINK * cand.pooled_mean) / (outcomes.n + SHRINK)
    stop_frac = stop_distance / price
    return StrategyCard(
        card_id=f"{template.name}-{symbol}-{ctx.session_day:%Y%m%d}",
        template=template.name,
        name=f"{template.title} {symbol}",
        legs=(Leg(symbol=symbol, side=Side.BUY, quantity=float(qty)),),
        confidence=confidence,
        expected_return=expected,
        max_risk=qty * stop_distance,
        reason=cand.reason,
        asof=ctx.asof,
        horizon_days=template.horizon_days,
        stop_price=round(price - stop_distance, 2),
        score=expected / stop_frac,
        details={
            f"ref_price:{symbol}": price,
            "atr14": cand.atr14,
            "signal_score": cand.signal_score,
            "past_signals": float(outcomes.n),
            "past_wins": float(outcomes.wins),
            "pooled_hit_rate": cand.pooled_rate,
        },
    )


def _exit_card(symbol: str, quantity: float, found: Scan, ctx: CardContext) -> StrategyCard | None:
    """Close a held position. Its confidence is the symbol's base rate of a falling 5-day return."""
    if quantity <= 0 or symbol not in found.down_rate_5d:
        return None
    price = ctx.prices.get(symbol, 0.0)
    return StrategyCard(
        card_id=f"exit-{symbol}-{ctx.session_day:%Y%m%d}",
        template="exit",
        name=f"Close {symbol}",
        legs=(Leg(symbol=symbol, side=Side.SELL, quantity=quantity),),
        confidence=found.down_rate_5d[symbol],
        expected_return=-found.mean_return_5d[symbol],
        max_risk=0.0,
        reason=f"sell the whole {symbol} position ({quantity:g} sh) at market",
        asof=ctx.asof,
        horizon_days=5,
        score=-1.0,
        details={f"ref_price:{symbol}": price},
    )


def card_template(card_id: str) -> str:
    """The template of a card from its id (``<template>-<symbol>-<yyyymmdd>``)."""
    return card_id.split("-", 1)[0]
