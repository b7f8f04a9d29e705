"""The execution plan of a card: how each leg is worked, and what executing it should cost.

A leg small against the market is sent as it is (IMMEDIATE); one that would take a visible
share of the day's volume is worked over time (VWAP), so it does not walk the book. The expected
cost (commission, half the spread, square-root impact; engine/execution/costs.py) goes on the
card, where the trader sees it before pressing the key and where execution reports compare it
with what the fills actually cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pandas as pd

from engine.execution.costs import CommissionSchedule, CostEstimate, MarketStats, card_expected_cost
from engine.model import Algo, Leg, Quote, Side, StrategyCard

WORK_SHARE_OF_ADV = 0.005
"""A leg above half a percent of the average daily volume is worked as a VWAP, not sent at once."""


def executed_card_id(card_id: str, execution_id: str) -> str:
    """The id the card is kept under as it was executed.

    A card's own row is overwritten at every refresh (the same id, re-sized at new prices: after
    a fill, to whatever headroom is left), so an execution's expected cost read from it later
    would be another quantity's estimate. The execution keeps its own copy under this id.
    """
    return f"{card_id}@{execution_id}"


def expected_cost_of(card: StrategyCard) -> CostEstimate | None:
    """The estimate ``plan_card`` put on the card, read back (from a stored card, for reports)."""
    d = card.details
    if "expected_cost" not in d:
        return None
    return CostEstimate(
        commission=d.get("expected_commission", 0.0),
        spread=d.get("expected_spread", 0.0),
        impact=d.get("expected_impact", 0.0),
        total=d["expected_cost"],
        total_bps=d.get("expected_cost_bps", 0.0),
        value=d.get("expected_value", 0.0),
    )


def plan_card(
    card: StrategyCard,
    prices: Mapping[str, Quote | float],
    history: Mapping[str, pd.DataFrame],
    schedule: CommissionSchedule,
) -> StrategyCard:
    """The card with an algo chosen per leg and its expected cost in ``details``."""
    legs = []
    for leg in _in_sending_order(card):
        frame = history.get(leg.symbol)
        algo = leg.algo
        if frame is not None and algo is Algo.IMMEDIATE:
            try:
                adv = MarketStats.from_history(frame).adv
            except ValueError:
                adv = 0.0
            if adv > 0 and leg.quantity > WORK_SHARE_OF_ADV * adv:
                algo = Algo.VWAP
        legs.append(replace(leg, algo=algo))
    planned = replace(card, legs=tuple(legs))
    planned = replace(planned, plan=plan_steps(planned))
    try:
        cost = card_expected_cost(planned, prices, history, schedule=schedule)
    except ValueError:
        return planned
    details = {
        **card.details,
        "expected_cost": cost.total,
        "expected_cost_bps": cost.total_bps,
        "expected_commission": cost.commission,
        "expected_spread": cost.spread,
        "expected_impact": cost.impact,
        "expected_value": cost.value,
    }
    return replace(planned, details=details)


def _in_sending_order(card: StrategyCard) -> list[Leg]:
    """The order legs are sent in: a template's own order (a put before its stock) is kept, and in
    a stock pair the short leg goes first, since it is the one a broker can refuse (no borrow) and
    the long should not be bought unhedged."""
    legs = list(card.legs)
    if card.template == "pairs":
        legs.sort(key=lambda leg: 0 if leg.side is Side.SELL else 1)
    return legs


def plan_steps(card: StrategyCard) -> tuple[str, ...]:
    """The execution plan in words: one line per leg in sending order, then the group's rule.

    The deadline is a field of the card (``deadline_minutes``), shown by the screens next to it.
    """
    steps = []
    for leg in card.legs:
        how = (
            "market order, sent at once"
            if leg.algo is Algo.IMMEDIATE
            else f"{leg.algo.value} over the plan's window (large against its daily volume)"
        )
        steps.append(f"{leg.side.value} {leg.quantity:g} {leg.symbol.strip()}: {how}")
    if len(card.legs) > 1:
        steps.append(
            "the legs go out in this order as one group: if any is refused or still unfilled at the "
            "deadline, the working ones are cancelled and the filled ones unwound"
        )
    return tuple(steps)
