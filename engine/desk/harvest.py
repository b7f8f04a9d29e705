"""Tax-loss harvest proposals as strategy cards (template "tax_loss").

``propose_harvests`` finds open long lots at a tax loss beyond ``[tax_loss]`` thresholds and a
substitute among the candidates (the most correlated daily returns, never a substantially
identical one). Each proposal not blocked by the wash-sale rule becomes a card: sell the lot's
quantity, buy the substitute for about the same value, so the book keeps its exposure while the
loss is realized. Its reason and plan lines say the loss, the substitute and its correlation,
and the date from which the original may be bought back without a wash sale. Executed like any
card (one key, one group execution); the sell closes exactly that lot (see ``engine.desk.lots``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime

import pandas as pd

from engine.desk.lots import HARVEST_TEMPLATE, EngineLots, harvest_card_id
from engine.model import Leg, Side, StrategyCard
from engine.portfolio.tax_loss import HarvestProposal, propose_harvests


def harvest_cards(
    lots: EngineLots,
    marks: Mapping[str, float],
    day: date,
    asof: datetime,
    *,
    closes: pd.DataFrame,
    substitutes: Sequence[str],
    min_loss: float,
    min_loss_pct: float,
    lookback: int,
    fractional: bool,
) -> list[StrategyCard]:
    """One card per harvestable lot, largest loss first (blocked proposals are left out)."""
    held = [lot for lot in lots.book.open_lots() if lot.is_long and lot.symbol in marks]
    if not held:
        return []
    proposals = propose_harvests(
        held,
        marks,
        day,
        rules=lots.rules,
        history=lots.recent_fills(day),
        prices=closes,
        substitutes=substitutes,
        min_loss=min_loss,
        min_loss_pct=min_loss_pct,
        lookback=lookback,
    )
    return [
        _card(p, marks, asof, fractional) for p in proposals if p.blocked is None and p.lot.symbol in marks
    ]


def _card(p: HarvestProposal, marks: Mapping[str, float], asof: datetime, fractional: bool) -> StrategyCard:
    lot = p.lot
    price = marks[lot.symbol]
    legs = [Leg(lot.symbol, Side.SELL, lot.quantity)]
    details = {
        f"ref_price:{lot.symbol}": price,
        "tax:loss": p.loss,
        "tax:loss_pct": p.loss_pct,
        "tax:quantity": lot.quantity,
    }
    value = lot.quantity * price * lot.multiplier
    substitute = ""
    if p.substitute is not None and marks.get(p.substitute, 0.0) > 0:
        sub_price = marks[p.substitute]
        quantity = value / sub_price
        quantity = round(quantity, 4) if fractional else float(math.floor(quantity))
        if quantity > 0:
            substitute = p.substitute
            legs.append(Leg(substitute, Side.BUY, quantity))
            details[f"ref_price:{substitute}"] = sub_price
            details["tax:correlation"] = p.correlation if p.correlation is not None else math.nan
    swap = (
        f"buy {substitute} (correlation {p.correlation:.2f}) for about the same value"
        if substitute and p.correlation is not None
        else "no substitute found: the exposure is not replaced"
    )
    back = f"{lot.symbol} may be bought back from {p.repurchase_from.isoformat()} (wash-sale rule)"
    reason = (
        f"harvest a {p.loss:,.2f} tax loss ({p.loss_pct:.1%}) on lot {lot.lot_id} of {lot.quantity:g} "
        f"{lot.symbol}; {swap}; {back}"
    )
    return StrategyCard(
        card_id=harvest_card_id(lot.lot_id, p.sell_on),
        template=HARVEST_TEMPLATE,
        name=f"Harvest {lot.symbol}" + (f" -> {substitute}" if substitute else ""),
        legs=tuple(legs),
        confidence=0.0,
        expected_return=0.0,
        max_risk=0.0,
        reason=reason,
        asof=asof,
        details=details,
        plan=(
            f"sell lot {lot.lot_id}: {lot.quantity:g} {lot.symbol} (tax loss {p.loss:,.2f})",
            swap,
            back,
        ),
    )
