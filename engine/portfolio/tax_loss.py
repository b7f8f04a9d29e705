"""Tax-loss harvesting: which lots to sell, what to hold instead, and the wash-sale rule.

The wash-sale rule (IRS Pub. 550): a loss on selling a security is disallowed when the same or a
substantially identical security is bought within 30 days before or after the sale (61 days in
all, the sale day in the middle). The disallowed loss is added to the replacement's basis and
the sold lot's holding period is added to the replacement's. When fewer replacement shares are
bought than were sold, the disallowance is proportional: loss x replacement shares / sold shares;
replacement lots are matched in the order they were acquired, each share used once.

Days are calendar days between trade dates: a repurchase 30 days after the sale is a wash, 31
is not; likewise a purchase 30 days before. What counts as "substantially identical" beyond the
symbol itself is the user's call (``WashSaleRules.substantially_identical``: groups such as
``{"SPY", "IVV", "VOO"}``); options on a stock are not treated as identical unless grouped.

Harvest proposals measure the loss against the *tax* basis (wash-sale adjustments included, as
that is the loss that would be reported) and propose a substitute that is not substantially
identical but moved with the sold security: the candidate with the highest correlation of daily
returns over a lookback.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from engine.model.enums import Side
from engine.model.lots import Lot, RealizedLot, WashSale, trade_date
from engine.model.orders import Fill
from engine.portfolio.lots import LotBook

WASH_SALE_DAYS = 30


@dataclass(frozen=True, slots=True)
class WashSaleRules:
    """The window and which securities count as substantially identical to each other."""

    window_days: int = WASH_SALE_DAYS
    substantially_identical: Iterable[Collection[str]] = ()
    groups: tuple[frozenset[str], ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if self.window_days < 0:
            raise ValueError(f"wash-sale window must be >= 0 days, got {self.window_days}")
        groups = tuple(frozenset(s.strip().upper() for s in group) for group in self.substantially_identical)
        for group in groups:
            if len(group) < 2:
                raise ValueError(
                    f"a substantially-identical group needs two symbols or more, got {sorted(group)}"
                )
        object.__setattr__(self, "groups", groups)

    def identical(self, a: str, b: str) -> bool:
        """Same symbol, or in one substantially-identical group."""
        return a == b or any(a in group and b in group for group in self.groups)

    def family(self, symbol: str) -> frozenset[str]:
        """``symbol`` and everything substantially identical to it."""
        out = {symbol}
        for group in self.groups:
            if symbol in group:
                out |= group
        return frozenset(out)

    def repurchase_from(self, sale_day: date) -> date:
        """The first day the sold security (or an identical one) may be bought back without a wash."""
        return sale_day + timedelta(days=self.window_days + 1)

    def in_window(self, sale_day: date, purchase_day: date) -> bool:
        return abs((purchase_day - sale_day).days) <= self.window_days

    def blocked(
        self, symbol: str, day: date, history: Iterable[Fill], *, selling: Collection[str] = ()
    ) -> str | None:
        """Why selling ``symbol`` at a loss on ``day`` would be a wash sale, or None when it would not.

        ``history`` is the account's fills; a buy of ``symbol`` or an identical security within
        the window around ``day`` blocks the harvest, except the buys that opened the lots being
        sold (``selling``: their fills' exec ids).
        """
        for fill in sorted(history, key=lambda f: f.ts):
            if (
                fill.side is not Side.BUY
                or fill.exec_id in selling
                or not self.identical(fill.symbol, symbol)
            ):
                continue
            bought = trade_date(fill.ts)
            if not self.in_window(day, bought):
                continue
            gap = (day - bought).days
            when = f"{gap} days before" if gap >= 0 else f"{-gap} days after"
            clear = bought + timedelta(days=self.window_days + 1)
            return (
                f"{fill.symbol} bought on {bought.isoformat()} ({when} {day.isoformat()}): a loss sale of "
                f"{symbol} would be a wash sale; harvest from {clear.isoformat()}"
            )
        return None


# ---------------------------------------------------------------------- candidates


@dataclass(frozen=True, slots=True)
class HarvestCandidate:
    """An open long lot at a tax loss: ``loss`` is positive money, ``loss_pct`` a fraction of its tax cost."""

    lot: Lot
    mark: float
    loss: float
    loss_pct: float


def harvest_candidates(
    lots: Iterable[Lot],
    marks: Mapping[str, float],
    *,
    min_loss: float | None = None,
    min_loss_pct: float | None = None,
) -> list[HarvestCandidate]:
    """Open long lots whose tax loss exceeds every threshold given, largest loss first.

    ``min_loss`` is money, ``min_loss_pct`` a fraction of the lot's tax cost (0.1 for 10%); with
    neither, any loss qualifies. A lot whose symbol has no mark is a ValueError.
    """
    for name, threshold in (("min_loss", min_loss), ("min_loss_pct", min_loss_pct)):
        if threshold is not None and not (math.isfinite(threshold) and threshold >= 0):
            raise ValueError(f"{name} must be a number >= 0, got {threshold!r}")
    out: list[HarvestCandidate] = []
    for lot in lots:
        if not lot.is_long:
            continue
        mark = marks.get(lot.symbol)
        if mark is None:
            raise ValueError(f"no mark for {lot.symbol}: cannot value lot {lot.lot_id}")
        cost = lot.quantity * lot.tax_basis * lot.multiplier
        loss = cost - lot.quantity * mark * lot.multiplier
        pct = loss / cost if cost > 0 else 0.0
        if loss <= 0 or (min_loss is not None and loss <= min_loss):
            continue
        if min_loss_pct is not None and pct <= min_loss_pct:
            continue
        out.append(HarvestCandidate(lot, mark, loss, pct))
    return sorted(out, key=lambda c: -c.loss)


def choose_substitute(
    symbol: str,
    candidates: Sequence[str],
    prices: pd.DataFrame,
    rules: WashSaleRules,
    *,
    asof: date | None = None,
    lookback: int = 252,
    min_observations: int = 60,
) -> tuple[str, float] | None:
    """The candidate whose daily returns correlated most with ``symbol``'s over the lookback.

    ``prices`` is indexed by date with a column of closes per symbol; rows after ``asof`` are
    ignored (no look-ahead). Candidates substantially identical to ``symbol`` are excluded (buying
    them would be the wash sale the harvest avoids), as are those with fewer than
    ``min_observations`` overlapping returns. Returns (substitute, correlation) or None.
    """
    if symbol not in prices.columns:
        raise ValueError(f"no prices for {symbol}: cannot choose a substitute")
    if lookback < 2:
        raise ValueError(f"lookback must be at least 2 days, got {lookback}")
    frame = prices if asof is None else prices.loc[prices.index <= pd.Timestamp(asof)]
    returns = frame.tail(lookback + 1).pct_change(fill_method=None).iloc[1:]
    best: tuple[str, float] | None = None
    for candidate in candidates:
        if rules.identical(candidate, symbol) or candidate not in returns.columns:
            continue
        pair = returns[[symbol, candidate]].dropna()
        if len(pair) < min_observations:
            continue
        corr = float(pair[symbol].corr(pair[candidate]))
        if math.isfinite(corr) and (best is None or corr > best[1]):
            best = (candidate, corr)
    return best


@dataclass(frozen=True, slots=True)
class HarvestProposal:
    """Sell ``lot`` on ``sell_on`` at its loss, buy ``substitute``; the original may come back from
    ``repurchase_from``. ``blocked`` says why the harvest is refused now (None: it may go)."""

    lot: Lot
    loss: float
    loss_pct: float
    sell_on: date
    repurchase_from: date
    substitute: str | None
    correlation: float | None
    blocked: str | None


def propose_harvests(
    lots: Iterable[Lot],
    marks: Mapping[str, float],
    day: date,
    *,
    rules: WashSaleRules,
    history: Sequence[Fill] = (),
    prices: pd.DataFrame | None = None,
    substitutes: Sequence[str] = (),
    min_loss: float | None = None,
    min_loss_pct: float | None = None,
    lookback: int = 252,
) -> list[HarvestProposal]:
    """One proposal per candidate lot, largest loss first.

    Every candidate lot of a symbol is assumed sold together, so their own opening buys do not
    block each other; any other buy of an identical security within the window does.
    """
    found = harvest_candidates(lots, marks, min_loss=min_loss, min_loss_pct=min_loss_pct)
    selling: dict[str, set[str]] = {}
    for c in found:
        selling.setdefault(c.lot.symbol, set()).add(c.lot.exec_id or c.lot.lot_id)
    chosen: dict[str, tuple[str, float] | None] = {}
    out: list[HarvestProposal] = []
    for c in found:
        symbol = c.lot.symbol
        if symbol not in chosen:
            chosen[symbol] = (
                choose_substitute(symbol, substitutes, prices, rules, asof=day, lookback=lookback)
                if prices is not None and substitutes
                else None
            )
        pick = chosen[symbol]
        out.append(
            HarvestProposal(
                lot=c.lot,
                loss=c.loss,
                loss_pct=c.loss_pct,
                sell_on=day,
                repurchase_from=rules.repurchase_from(day),
                substitute=pick[0] if pick else None,
                correlation=pick[1] if pick else None,
                blocked=rules.blocked(symbol, day, history, selling=selling[symbol]),
            )
        )
    return out


# ---------------------------------------------------------------------- detection


def _base_id(lot_id: str) -> str:
    """Pieces cut from one lot (``X/3``) share their base id: a lot never replaces itself."""
    return lot_id.split("/", 1)[0]


def detect_wash_sales(
    realized: Iterable[RealizedLot], purchases: Iterable[Lot], rules: WashSaleRules | None = None
) -> list[WashSale]:
    """Match every long loss sale with replacement purchases within the window (Pub. 550).

    ``purchases`` are lots as acquired (``LotBook.acquisitions``), open or closed since. Sales
    are taken in date order; each sale's replacements in acquisition order, each replacement
    unit used once. A piece of the sold lot itself is never its replacement.
    """
    rules = rules or WashSaleRules()
    buys = sorted((lot for lot in purchases if lot.is_long), key=lambda lot: lot.opened)
    capacity = {lot.lot_id: lot.quantity for lot in buys}
    out: list[WashSale] = []
    losses = sorted(
        (s for s in realized if s.is_long and s.proceeds - s.tax_basis < 0),
        key=lambda s: (s.closed, s.lot_id),
    )
    for sale in losses:
        loss = sale.tax_basis - sale.proceeds
        remaining = sale.quantity
        for buy in buys:
            if remaining <= 1e-12:
                break
            if (
                _base_id(buy.lot_id) == _base_id(sale.lot_id)
                or not rules.identical(buy.symbol, sale.symbol)
                or not rules.in_window(sale.closed, buy.open_date)
                or capacity[buy.lot_id] <= 1e-12
            ):
                continue
            take = min(remaining, capacity[buy.lot_id])
            capacity[buy.lot_id] -= take
            remaining -= take
            out.append(
                WashSale(
                    sale_lot_id=sale.lot_id,
                    sale_exec_id=sale.exec_id,
                    symbol=sale.symbol,
                    sale_date=sale.closed,
                    quantity=take,
                    loss=loss,
                    disallowed=loss * take / sale.quantity,
                    replacement_lot_id=buy.lot_id,
                    replacement_symbol=buy.symbol,
                    replacement_date=buy.open_date,
                    holding_start=buy.open_date - (sale.closed - sale.holding_start),
                )
            )
    return out


def apply_wash_sales(book: LotBook, washes: Iterable[WashSale]) -> list[Lot | None]:
    """Record each wash sale in the book (see ``LotBook.apply_wash_sale``); the adjusted lots, in order."""
    return [book.apply_wash_sale(wash) for wash in washes]
