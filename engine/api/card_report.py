"""``onetap cards --asof DATE``: the ranked cards the engine would offer on a session, headless.

The same scan, book and generator the engine runs (``engine.strategies.pipeline``), on the bars
strictly before ``asof`` (the session the cards are for), sized against a flat paper account of
``[broker] starting_cash`` at the last close before ``asof``. Market hours are not checked: the
cards are a plan for that session. Nothing here touches the database or a broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import numpy as np
import pandas as pd

from engine.config import Settings
from engine.execution.costs import CommissionSchedule
from engine.execution.plan import plan_card
from engine.model import StrategyCard
from engine.rl.live import live_templates
from engine.strategies.generator import Context, Proposal, propose
from engine.strategies.pipeline import card_book, scan_histories
from engine.strategies.policy import enabled_templates, generator_policy, template_params
from engine.strategies.scan import Scan
from engine.strategies.study import Study, calibration_study
from engine.strategies.templates.base import Bars


@dataclass(frozen=True, slots=True)
class CardRun:
    asof: date
    proposal: Proposal
    scan: Scan


def _universe_bars(settings: Settings) -> dict[str, pd.DataFrame]:
    from engine.data.market import load_market as _load_market

    market = _load_market(settings)
    return {sym: f for sym, f in market.bars.items() if sym in settings.universe.symbols}


def study(settings: Settings, fit_end: date, end: date | None = None) -> Study:
    """``calibration_study`` on the configured universe and templates, bars up to ``end``."""
    frames = _universe_bars(settings)
    last = np.datetime64(end) if end is not None else None
    panel = {
        sym: Bars.from_frame(sym, f if last is None else f.loc[f.index <= last]) for sym, f in frames.items()
    }
    panel = {sym: b for sym, b in panel.items() if len(b)}
    if not panel or all(b.dates[-1] < np.datetime64(fit_end) for b in panel.values()):
        raise ValueError(f"no bars after --fit-end {fit_end}: nothing to test on")
    return calibration_study(
        panel,
        enabled_templates(settings),
        template_params(settings),
        fit_end=fit_end,
        method=settings.cards.calibration,
    )


def cards_asof(settings: Settings, asof: date) -> CardRun:
    """Scan and propose for the session ``asof`` (bars before it only)."""
    frames = _universe_bars(settings)
    histories = {sym: frame.loc[frame.index < np.datetime64(asof)] for sym, frame in frames.items()}
    histories = {sym: f for sym, f in histories.items() if len(f)}
    if not histories:
        raise ValueError(f"no bars before {asof} for {', '.join(settings.universe.symbols)}")
    found = scan_histories(settings, histories, extra=live_templates(settings))
    prices = {sym: float(f["close"].iloc[-1]) for sym, f in histories.items()}
    cash = settings.broker.starting_cash
    book = card_book(settings, histories, equity=cash, cash=cash, positions={}, prices=prices)
    ctx = Context(
        asof=datetime.combine(asof, time(14, 30), UTC),
        session_day=asof,
        book=book,
        policy=generator_policy(settings),
        market_open=None,
    )
    schedule = CommissionSchedule.from_settings(settings.broker)

    def plan(card: StrategyCard) -> StrategyCard:
        return plan_card(card, prices, histories, schedule)

    return CardRun(asof, propose(found, ctx, plan), found)


def card_rows(run: CardRun) -> list[dict[str, object]]:
    """One JSON-able row per card, best first."""
    rows: list[dict[str, object]] = []
    for rank, card in enumerate(run.proposal.cards, 1):
        rows.append(
            {
                "rank": rank,
                "card_id": card.card_id,
                "template": card.template,
                "legs": [f"{leg.side.value} {leg.quantity:g} {leg.symbol.strip()}" for leg in card.legs],
                "confidence": round(card.confidence, 4),
                "expected_return": round(card.expected_return, 5),
                "max_risk": round(card.max_risk, 2),
                "reward_risk": round(card.details.get("risk:reward_risk", float("nan")), 3),
                "score": round(card.score, 4) if np.isfinite(card.score) else None,
                "reason": card.reason,
            }
        )
    return rows
