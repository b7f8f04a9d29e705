"""``onetap cards --asof DATE``: the ranked cards the engine would offer on a session, headless.

The same scan, book and generator the engine runs (``engine.strategies.pipeline``), on the bars
strictly before ``asof`` (the session the cards are for), sized against a flat paper account of
``[broker] starting_cash`` at the last close before ``asof``. Market hours are not checked: the
cards are a plan for that session. Nothing here touches the database or a broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

import numpy as np
import pandas as pd

from engine.config import Settings
from engine.execution.costs import CommissionSchedule
from engine.execution.plan import plan_card
from engine.model import StrategyCard
from engine.rl.live import live_templates
from engine.strategies.generator import Context, Proposal, propose
from engine.strategies.held_back import held_back
from engine.strategies.meta_label import SkillReport as SkillReport  # the console's type (re-exported)
from engine.strategies.meta_study import TemplateMeta as TemplateMeta
from engine.strategies.meta_study import meta_study as run_meta_study
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
    held_back: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Templates held back for want of data (volume), with the symbols that lack it."""


def _market_bars(settings: Settings) -> tuple[dict[str, pd.DataFrame], pd.DataFrame | None]:
    """The universe's bars, and the benchmark's (meta-labelling reads its state; None if absent)."""
    from engine.data.market import load_market as _load_market

    market = _load_market(settings)
    universe = {sym: f for sym, f in market.bars.items() if sym in settings.universe.symbols}
    return universe, market.bars.get(settings.universe.benchmark)


def _universe_bars(settings: Settings) -> dict[str, pd.DataFrame]:
    return _market_bars(settings)[0]


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


def meta_study(settings: Settings, fit_end: date, end: date | None = None) -> tuple[TemplateMeta, ...]:
    """Brier skill before and after meta-labelling, out of sample, per template (``meta_study``)."""
    frames, bench = _market_bars(settings)
    last = np.datetime64(end) if end is not None else None

    def cut(f: pd.DataFrame) -> pd.DataFrame:
        return f if last is None else f.loc[f.index <= last]

    panel = {sym: Bars.from_frame(sym, cut(f)) for sym, f in frames.items()}
    panel = {sym: b for sym, b in panel.items() if len(b)}
    benchmark = None if bench is None or not len(cut(bench)) else Bars.from_frame("benchmark", cut(bench))
    return run_meta_study(
        panel,
        enabled_templates(settings),
        template_params(settings),
        fit_end=fit_end,
        benchmark=benchmark,
        method=settings.cards.calibration,
    )


def cards_asof(settings: Settings, asof: date | None = None) -> CardRun:
    """Scan and propose for the session ``asof`` (bars before it only); ``None``: the latest
    session in the data."""
    frames, bench = _market_bars(settings)
    if asof is None:
        if not frames:
            raise ValueError(f"no bars for {', '.join(settings.universe.symbols)}")
        asof = max(f.index[-1] for f in frames.values() if len(f)).date()
    histories = {sym: frame.loc[frame.index < np.datetime64(asof)] for sym, frame in frames.items()}
    histories = {sym: f for sym, f in histories.items() if len(f)}
    if not histories:
        raise ValueError(f"no bars before {asof} for {', '.join(settings.universe.symbols)}")
    found = scan_histories(
        settings,
        histories,
        benchmark=None if bench is None else bench.loc[bench.index < np.datetime64(asof)],
        extra=live_templates(settings),
    )
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

    held = held_back(enabled_templates(settings), histories)
    return CardRun(asof, propose(found, ctx, plan), found, held)


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
