"""The checks a card must pass before the desk shows it.

Each rule is a pure function of the card, its candidate and the book (what is held, what is
working, what the cards above it already take) that returns a ``Rejection`` or ``None``. A
rejected card is not shown; the generator logs the reason and counts it by code, and the
desk shows the counts, so "why is there no AAPL card?" always has an answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from engine.model import Side, StrategyCard
from engine.model.options import contract_multiplier, is_option_symbol
from engine.strategies.book import Book


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class CheckContext:
    book: Book
    min_confidence: float
    max_positions: int
    template_positions: int
    """Open positions the card's template holds now."""
    book_corr: float
    max_book_corr: float
    min_adv_value: float
    market_open: bool | None
    """None: not checked (cards planned for a later session, e.g. ``onetap cards --asof``)."""
    paused: bool
    shown: Sequence[StrategyCard]
    """Cards already accepted in this refresh, best first."""


Rule = Callable[[StrategyCard, CheckContext], Rejection | None]


def _paused(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    if ctx.paused:
        return Rejection("paused", f"{card.template} is paused by a circuit breaker")
    return None


def _market_hours(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    if ctx.market_open is False:
        return Rejection("market_closed", "the market is closed")
    return None


def _legs(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    if not card.legs or any(not (leg.quantity > 0 and math.isfinite(leg.quantity)) for leg in card.legs):
        return Rejection("too_small", "no leg reaches one tradable unit at this size")
    return None


def _confidence(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    if card.confidence < ctx.min_confidence:
        return Rejection(
            "below_min_confidence",
            f"confidence {card.confidence:.0%} is below the template's {ctx.min_confidence:.0%}",
        )
    return None


def _edge(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    net = card.details.get("rank:expected_net", card.expected_return)
    if not net > 0:
        return Rejection("no_edge", f"expected return net of cost {net:+.2%} is not positive")
    return None


def _template_full(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    if ctx.template_positions >= ctx.max_positions:
        return Rejection("template_full", f"{card.template} already holds {ctx.template_positions} positions")
    return None


def _buying_power(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    need = sum(  # in the account currency: a USDJPY unit costs 1 USD, not 110
        leg.quantity
        * card.details.get(f"ref_price:{leg.symbol}", 0.0)
        * contract_multiplier(leg.symbol)
        * ctx.book.rate(leg.symbol)
        for leg in card.legs
        if leg.side is Side.BUY
    )
    if need > ctx.book.cash + 1e-6:
        return Rejection("buying_power", f"needs ${need:,.0f}, ${max(ctx.book.cash, 0.0):,.0f} free")
    return None


def _position_and_sector(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    book, lim = ctx.book, ctx.book.limits
    after = book.commit(card.legs)
    for leg in card.legs:
        if leg.side is Side.BUY and after.value(leg.symbol) > lim.max_position_pct * book.equity * 1.0001:
            return Rejection(
                "position_limit", f"{leg.symbol} would exceed {lim.max_position_pct:.0%} of equity"
            )
    for sector in {book.sector_of(leg.symbol) for leg in card.legs if leg.side is Side.BUY}:
        if after.sector_value(sector) > lim.max_sector_pct * book.equity * 1.0001:
            return Rejection("sector_limit", f"{sector} would exceed {lim.max_sector_pct:.0%} of equity")
    return None


def _shorts_and_options(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    book = ctx.book
    for leg in card.legs:
        option = is_option_symbol(leg.symbol)
        if option and not book.can_trade_options:
            return Rejection("options_not_supported", "the broker cannot trade option legs")
        uncovered = leg.quantity > book.positions.get(leg.symbol, 0.0) + 1e-9
        if leg.side is Side.SELL and not book.allow_short and not option and uncovered:
            return Rejection(
                "short_not_allowed", f"selling {leg.symbol} short is disabled ([broker] allow_short)"
            )
    return None


def _liquidity(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    for leg in card.legs:
        if is_option_symbol(leg.symbol):
            continue
        adv = ctx.book.adv_value.get(leg.symbol, math.inf)
        if adv < ctx.min_adv_value:
            return Rejection(
                "illiquid", f"{leg.symbol} trades ${adv:,.0f} a day, below ${ctx.min_adv_value:,.0f}"
            )
    return None


def _correlation(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    if ctx.book_corr > ctx.max_book_corr:
        return Rejection(
            "correlated_with_book",
            f"correlation {ctx.book_corr:.2f} with the book is above {ctx.max_book_corr:.2f}",
        )
    return None


def _direction(legs: Sequence[object]) -> Mapping[str, Side]:
    return {leg.symbol: leg.side for leg in legs}  # type: ignore[attr-defined]


def _conflicts(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    mine = _direction(card.legs)
    for sym in mine:
        if sym in ctx.book.working_symbols:
            return Rejection("open_order", f"{sym} has a working order")
    for other in ctx.shown:
        theirs = _direction(other.legs)
        for sym, side in mine.items():
            if sym in theirs and theirs[sym] is not side:
                return Rejection("conflicts_with_card", f"{other.name} trades {sym} the other way")
    for sym, side in mine.items():
        held = ctx.book.positions.get(sym, 0.0)
        if (held > 0 and side is Side.SELL and card.template != "exit") or (held < 0 and side is Side.BUY):
            return Rejection("conflicts_with_position", f"{sym} is held the other way")
    return None


RULES: tuple[Rule, ...] = (
    _paused,
    _market_hours,
    _legs,
    _shorts_and_options,
    _confidence,
    _edge,
    _template_full,
    _liquidity,
    _correlation,
    _conflicts,
    _buying_power,
    _position_and_sector,
)


def validate(card: StrategyCard, ctx: CheckContext) -> Rejection | None:
    """The first rule the card fails, or None when it may be shown."""
    for rule in RULES:
        rejection = rule(card, ctx)
        if rejection is not None:
            return rejection
    return None
