"""From the day's candidates to the ranked, sized, validated cards the desk shows.

Runs on every refresh at current prices (the scan behind it runs once a session):

1. size each candidate on its own against the book (``engine.strategies.sizing``), build its
   legs (the template's hook: a basket, a pair, a stock with its option) and its execution
   plan and expected cost (``plan``, injected: the execution package owns it);
2. rank by ``RANKING_FORMULA`` (engine.model): expected return net of the round-trip cost per
   unit of the horizon's risk, penalised by correlation with what the book already holds; cards
   of templates with a measured edge (``meta:edge``, ``engine.strategies.meta_label``) first;
3. walk the ranking best first: re-size each card against the book as the cards above it
   would leave it (sizing across cards), validate it (``engine.strategies.validation``) and
   keep it or count why not;
4. add a close card for each held position, then cut to ``max_cards``.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from engine.model import Leg, Side, StrategyCard
from engine.model.exits import ProtectionLevels, resolve_levels
from engine.model.fx import card_pip_details, round_to_tick
from engine.model.instruments import spec_for_symbol
from engine.strategies.book import Book, correlation
from engine.strategies.lots_fit import fit_to_lots, lotted
from engine.strategies.meta_label import card_details as meta_details
from engine.strategies.scan import Candidate, Scan
from engine.strategies.sizing import SizingPolicy, size_capital
from engine.strategies.templates.base import CardLegs, basket_legs
from engine.strategies.validation import CheckContext, Rejection, validate

log = logging.getLogger("onetap.cards")

PlanFn = Callable[[StrategyCard], StrategyCard]
"""Adds the execution plan (leg order, algos, deadline) and ``expected_cost`` to a card."""


@dataclass(frozen=True, slots=True)
class TemplatePolicy:
    """A template's configured limits ([strategies.NAME] in config/strategies.toml)."""

    min_confidence: float = 0.5
    max_positions: int = 3
    risk_per_position: float = 0.01


@dataclass(frozen=True, slots=True)
class GeneratorPolicy:
    vol_target: float = 0.04
    kelly_fraction: float = 0.25
    kelly_cap: float = 0.25
    correlation_penalty: float = 0.5
    max_book_corr: float = 0.8
    min_adv_value: float = 1_000_000.0
    max_cards: int = 12
    templates: Mapping[str, TemplatePolicy] = field(default_factory=dict)

    def of(self, template: str) -> TemplatePolicy:
        return self.templates.get(template, TemplatePolicy())


@dataclass(frozen=True, slots=True)
class Context:
    asof: datetime
    session_day: date
    book: Book
    policy: GeneratorPolicy
    market_open: bool | None = None
    paused: frozenset[str] = frozenset()
    template_positions: Mapping[str, int] = field(default_factory=dict)
    """template -> open positions it holds (for max_positions)."""
    account_currency: str = "USD"
    """The currency a pair's pip value is stated in on its card (``[risk] account_currency``)."""


@dataclass(frozen=True, slots=True)
class Proposal:
    cards: tuple[StrategyCard, ...]
    rejected: Mapping[str, int]
    """Candidates not shown in this refresh, by reason code."""
    reasons: tuple[tuple[str, Rejection], ...] = ()
    """(candidate key, why) for every rejected candidate, for the log and the CLI."""


def _card_id(candidate: Candidate, day: date) -> str:
    key = candidate.setup.key.replace(" ", "_")
    return f"{candidate.template.name}-{key}-{day:%Y%m%d}"


def card_levels(candidate: Candidate, book: Book) -> ProtectionLevels | None:
    """Where the card's protection rests if it fills at the reference price: the template's exit
    policy resolved at that price and the ATR at the signal bar (``resolve_levels``, as the
    engine resolves it at the fill). None for a basket (no one price to rest a stop at).
    Raises ValueError when the policy cannot protect it (no ATR, the price through the stop)."""
    setup, t = candidate.setup, candidate.t
    policy = candidate.template.exit_policy
    if len(setup.symbols) != 1:
        return None
    ref = book.prices.get(setup.symbols[0], 0.0)
    atr = None if setup.atr is None else float(setup.atr[t])
    side = Side.BUY if setup.weights[t][0] >= 0 else Side.SELL
    return resolve_levels(
        policy,
        side,
        ref,
        atr=atr if atr is not None and math.isfinite(atr) else None,
        card_stop=setup.stop_price(t),
        card_target=setup.target_price(t),
        horizon_sessions=candidate.template.horizon_days,
    )


def _stop_fraction(levels: ProtectionLevels | None, candidate: Candidate, book: Book) -> float:
    """The loss at the stop as a share of the capital: the resting stop's distance from the
    reference price, or the setup's own stop where nothing rests (baskets, option overlays)."""
    if levels is None or levels.stop_price is None:
        return float(candidate.setup.stop[candidate.t])
    ref = book.prices[candidate.setup.symbols[0]]
    return abs(ref - levels.stop_price) / ref


def _unprotectable(candidate: Candidate, ctx: Context, why: str) -> StrategyCard:
    record, setup = candidate.record, candidate.setup
    return StrategyCard(
        card_id=_card_id(candidate, ctx.session_day),
        template=record.template.name,
        name=f"{record.template.title} {setup.key}",
        legs=(),
        confidence=candidate.confidence,
        expected_return=candidate.expected,
        max_risk=0.0,
        reason=candidate.reason,
        asof=ctx.asof,
        score=-math.inf,
        details={"unavailable": 1.0},
        notes=(why, "unprotectable"),
    )


def build_card(candidate: Candidate, ctx: Context, book: Book, plan: PlanFn) -> StrategyCard:
    """The candidate sized against ``book``, with its legs, plan, cost and every number behind it."""
    setup, t, record = candidate.setup, candidate.t, candidate.record
    tpol = ctx.policy.of(record.template.name)
    weights = setup.weights[t]
    by_limits, binding_limit = book.headroom(setup.symbols, weights)
    try:
        levels = card_levels(candidate, book)
    except ValueError as exc:  # the exit policy cannot protect it at this price: not shown
        return _unprotectable(candidate, ctx, f"exit policy: {exc}")
    stop = _stop_fraction(levels, candidate, book)
    sizing = size_capital(
        equity=book.equity,
        stop=stop,
        vol_annual=candidate.vol_annual,
        kelly_full=record.kelly,
        by_limits=by_limits,
        policy=SizingPolicy(
            tpol.risk_per_position, ctx.policy.vol_target, ctx.policy.kelly_fraction, ctx.policy.kelly_cap
        ),
    )
    hook = record.template.card_legs or basket_legs
    fractional = book.allow_fractional or lotted(setup.symbols, book.specs)  # lots_fit rounds them
    made: CardLegs = hook(setup, t, sizing.capital, book.prices, book.positions, ctx.asof, fractional)
    made = fit_to_lots(  # lots, minimums and the account currency (issue 20)
        made,
        specs=book.specs,
        prices=book.prices,
        stop_price=levels.stop_price if levels is not None else None,
        risk=sizing.capital * stop if math.isfinite(stop) else 0.0,
        account_currency=ctx.account_currency,
        asof=ctx.asof,
    )
    capital = made.capital
    if made.unavailable:
        return StrategyCard(
            card_id=_card_id(candidate, ctx.session_day),
            template=record.template.name,
            name=f"{record.template.title} {setup.key}",
            legs=(),
            confidence=candidate.confidence,
            expected_return=candidate.expected,
            max_risk=0.0,
            reason=candidate.reason,
            asof=ctx.asof,
            score=-math.inf,
            details={"unavailable": 1.0},
            notes=(*made.notes[-1:], made.unavailable),
        )
    max_loss = capital * stop if math.isfinite(stop) else capital
    details: dict[str, float] = {
        f"ref_price:{leg.symbol}": book.prices.get(leg.symbol, 0.0) for leg in made.legs
    }
    details.update(made.details)
    details.update({f"signal:{k}": v for k, v in candidate.signals.items()})
    details["score:composite"] = candidate.score
    if setup.atr is not None and len(setup.symbols) == 1:
        details["exit:atr"] = float(setup.atr[t])
    if levels is not None and levels.trail_amount is not None:
        details["exit:trail_amount"] = levels.trail_amount
    if levels is not None and levels.trail_percent is not None:
        details["exit:trail_percent"] = levels.trail_percent
    details.update(
        {
            "size:capital": capital,
            "size:risk_budget": sizing.risk_budget,
            "size:by_risk": sizing.by_risk,
            "size:by_vol": sizing.by_vol,
            "size:by_kelly": sizing.by_kelly,
            "size:by_limits": sizing.by_limits,
            # which limit set by_limits (the key names it; details hold numbers only)
            f"limit:{binding_limit}": sizing.by_limits,
            "size:kelly": sizing.kelly,
            "size:vol_annual": candidate.vol_annual,
            "bt:n": float(record.n),
            "bt:win_rate": record.win_rate,
            "bt:mean": record.mean,
            "bt:std": record.std,
            "bt:avg_win": record.avg_win,
            "bt:avg_loss": record.avg_loss,
            "bt:symbol_n": float(candidate.own_n),
            "bt:symbol_win_rate": candidate.own_win_rate,
            "risk:spread": candidate.spread,
            "risk:reward_risk": record.avg_win / stop if math.isfinite(stop) and stop > 0 else math.nan,
        }
    )
    if record.holdout is not None:
        details["bt:brier"] = record.holdout.brier
        details["bt:brier_base"] = record.holdout.brier_base
    if record.meta is not None:
        details.update(meta_details(record.meta))
    if candidate.edge is not None:  # a set card's tier is its research verdict (``rank_key``)
        details["meta:edge"] = 1.0 if candidate.edge else 0.0
    # a pair's card states its size in FX terms: stop pips x pip value per lot x lots (issue 20)
    first = setup.symbols[0]
    tick = (book.specs.get(first) or spec_for_symbol(first)).tick_size if len(setup.symbols) == 1 else 0.01
    if len(made.legs) == 1 and levels is not None and levels.stop_price is not None:
        leg = made.legs[0]
        details.update(
            card_pip_details(
                leg.symbol,
                book.prices.get(leg.symbol, 0.0),
                levels.stop_price,
                leg.quantity,
                book.prices,
                ctx.account_currency,
                ctx.asof,
            )
        )
    card = StrategyCard(
        card_id=_card_id(candidate, ctx.session_day),
        template=record.template.name,
        name=f"{record.template.title} {setup.key}",
        legs=made.legs,
        confidence=candidate.confidence,
        expected_return=candidate.expected,
        max_risk=max_loss,
        reason=candidate.reason,
        asof=ctx.asof,
        horizon_days=record.template.horizon_days,
        stop_price=None
        if levels is None or levels.stop_price is None
        else round_to_tick(levels.stop_price, tick),
        target_price=None
        if levels is None or levels.target_price is None
        else round_to_tick(levels.target_price, tick),
        details=details,
        notes=(*made.notes, candidate.verdict) if candidate.verdict else made.notes,
        exit_policy=record.template.exit_policy,
    )
    card = plan(card) if card.legs else card
    cost = card.details.get("expected_cost", 0.0)
    cost_frac = 2.0 * cost / capital if capital > 0 else 0.0
    expected_net = candidate.expected - cost_frac
    sigma = candidate.spread if candidate.spread > 0 else math.nan
    rho = correlation(book.daily_returns(), candidate.recent_returns)
    penalty = ctx.policy.correlation_penalty * max(0.0, rho)
    score = expected_net / sigma * (1.0 - penalty) if math.isfinite(sigma) else -math.inf
    ranked = {
        **card.details,
        "rank:expected_net": expected_net,
        "rank:cost": cost_frac,
        "rank:sigma": candidate.spread,
        "rank:book_corr": rho,
        "rank:penalty": penalty,
        "rank:score": score,
        "risk:max_loss": max_loss + cost,
    }
    finite = {k: v for k, v in ranked.items() if math.isfinite(v)}  # the store and JSON hold numbers only
    return replace(card, details=finite, score=score, max_risk=max_loss + cost)


BuildFn = Callable[[Candidate, Context, Book, PlanFn], StrategyCard]
"""``build_card``'s signature: a candidate sized against a book, with its plan."""


CheckFn = Callable[[StrategyCard, Candidate, Context, Book, list[StrategyCard]], Rejection | None]
"""``check_card``'s signature: why a card is not shown below the ``shown`` ones, or None."""


def check_card(
    card: StrategyCard, candidate: Candidate, ctx: Context, book: Book, shown: list[StrategyCard]
) -> Rejection | None:
    """Why ``card`` is not shown, sized against ``book`` below the ``shown`` cards; None: shown."""
    return _check(card, candidate, ctx, book, shown)


def _check(
    card: StrategyCard, candidate: Candidate, ctx: Context, book: Book, shown: list[StrategyCard]
) -> Rejection | None:
    if "unavailable" in card.details:
        why = card.notes[-2] if len(card.notes) > 1 else "not available for this account"
        return Rejection(card.notes[-1] if card.notes else "unavailable", why)
    tpol = ctx.policy.of(candidate.template.name)
    return validate(
        card,
        CheckContext(
            book=book,
            min_confidence=tpol.min_confidence,
            max_positions=tpol.max_positions,
            template_positions=ctx.template_positions.get(candidate.template.name, 0),
            book_corr=card.details.get("rank:book_corr", 0.0),
            max_book_corr=ctx.policy.max_book_corr,
            min_adv_value=ctx.policy.min_adv_value,
            market_open=ctx.market_open,
            paused=candidate.template.name in ctx.paused,
            shown=shown,
        ),
    )


def propose(
    found: Scan, ctx: Context, plan: PlanFn, build: BuildFn | None = None, check: CheckFn | None = None
) -> Proposal:
    """Ranked, sized and validated cards at the current prices (entries, then closes).

    ``build`` and ``check`` stand in for ``build_card`` and the checks (same arguments, same
    result): the engine passes ones that reuse what they gave before on equal inputs
    (``engine.runtime.card_memo``)."""
    build = build_card if build is None else build
    check = _check if check is None else check
    first = [(build(c, ctx, ctx.book, plan), c) for c in found.candidates]
    first.sort(key=lambda pair: rank_key(pair[0]), reverse=True)
    shown: list[StrategyCard] = []
    rejected: Counter[str] = Counter()
    reasons: list[tuple[str, Rejection]] = []
    book = ctx.book
    for card, candidate in first:
        if len(shown) >= ctx.policy.max_cards:
            break
        if shown:  # the cards above it took their share of cash and limits
            card = build(candidate, ctx, book, plan)
        rejection = check(card, candidate, ctx, book, shown)
        if rejection is not None:
            rejected[rejection.code] += 1
            reasons.append((card.card_id, rejection))
            continue
        shown.append(card)
        book = book.commit(card.legs)
    exits = [c for c in (close_card(sym, qty, ctx) for sym, qty in sorted(ctx.book.positions.items())) if c]
    cards = (shown + exits)[: ctx.policy.max_cards]
    return Proposal(tuple(cards), dict(rejected), tuple(reasons))


def rank_key(card: StrategyCard) -> tuple[float, float]:
    """Cards of templates with a measured edge (their meta-label's out-of-sample skill interval
    lies above zero) rank above those without one, then by score: a card whose confidence is only
    its template's base rate has not earned a place above one whose confidence was shown to know
    more. Without meta-labelling every card is in the same tier."""
    return card.details.get("meta:edge", 0.0), card.score


def close_card(symbol: str, quantity: float, ctx: Context) -> StrategyCard | None:
    """One key to close a held position at market.

    A close card makes no forecast: its confidence and expected return are 0 and the desk shows
    a dash for them; it ranks after every entry card.
    """
    if quantity == 0:
        return None
    price = ctx.book.prices.get(symbol, 0.0)
    side = Side.SELL if quantity > 0 else Side.BUY
    held = abs(quantity)
    # a broker that takes no fractional order (IBKR) can close the whole shares only: the
    # fraction left over (from a broker or a split that made it) is said in the reason
    size = held if ctx.book.broker_fractional else float(math.floor(held + 1e-9))
    if size <= 0:
        log.info("no close card for %s: %g is less than one whole share", symbol, held)
        return None
    whole = "the whole" if size == held else f"{size:g} of the {held:g}"
    rest = "" if size == held else f"; the fraction {held - size:g} cannot be sent as an order"
    return StrategyCard(
        card_id=f"exit-{symbol.replace(' ', '_')}-{ctx.session_day:%Y%m%d}",
        template="exit",
        name=f"Close {symbol.strip()}",
        legs=(Leg(symbol=symbol, side=side, quantity=size),),
        confidence=0.0,
        expected_return=0.0,
        max_risk=0.0,
        reason=f"{side.value.lower()} {whole} {symbol.strip()} position ({held:g}) at market{rest}",
        asof=ctx.asof,
        horizon_days=0,
        score=-math.inf,
        details={f"ref_price:{symbol}": price},
    )


def card_template(card_id: str) -> str:
    """The template of a card from its id (``<template>-<key>-<yyyymmdd>``)."""
    return card_id.split("-", 1)[0]
