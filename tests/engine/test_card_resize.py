"""When the engine re-sizes its cards, and what it writes (issue 18).

Cards are re-sized at once after a fill, off the event loop on ``RESIZE_EVERY`` of market time or a
``MATERIAL_MOVE`` of a symbol they were sized on, and not otherwise; at the half hour only the
cards whose symbols moved materially are built again (none when nothing did); a re-size writes
only the card rows that changed; a proposal made off the loop that a newer re-size overtook is
dropped.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from engine.actor import Actor
from engine.kernel import Engine
from engine.model import CommandSource, OrderStatus, Quote, Side, StrategyCard
from engine.model.events import CardsEvent, ExecuteCard
from engine.runtime import card_memo
from engine.runtime.cards import MATERIAL_MOVE, RESIZE_EVERY
from engine.strategies.book import Book
from engine.strategies.generator import Context, PlanFn, build_card, propose
from engine.strategies.scan import Candidate

OPERATOR = Actor("tester", CommandSource.HOTKEY)


def _spy_saves(engine: Engine) -> list[list[str]]:
    """Every ``save_cards`` call's card ids (the real store still writes them)."""
    saved: list[list[str]] = []
    real = engine.store.save_cards

    def save(cards: object) -> None:
        batch = list(cards)  # type: ignore[call-overload]
        saved.append([c.card_id for c in batch])
        real(batch)

    engine.store.save_cards = save
    return saved


def _published(engine: Engine) -> list[CardsEvent]:
    events: list[CardsEvent] = []
    engine.bus.on(CardsEvent, lambda e: events.append(e) if not e.to_scan else None)
    return events


async def test_nothing_is_sized_or_written_while_nothing_moved(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await engine.step(1)
    pipeline = engine.parts.cards
    assert engine.cards and pipeline.sized_at is not None
    saved, events = _spy_saves(engine), _published(engine)
    quotes = tuple(engine.feed.latest_quotes().values())
    assert quotes
    pipeline.on_quotes(quotes, pipeline.sized_at + RESIZE_EVERY - timedelta(seconds=1))
    await engine.parts.outbox.settle()
    assert events == [] and saved == []
    pipeline.refresh()  # a re-size at the same prices: the cards are published, no row is rewritten
    assert len(events) == 1 and saved == []
    built = _spy_builds(monkeypatch)
    later = pipeline.sized_at + RESIZE_EVERY
    pipeline.on_quotes(quotes, later)  # half an hour of market time later, nothing moved
    await engine.parts.outbox.settle()
    assert built == [] and len(events) == 1 and saved == [], "nothing moved, yet the cards were re-sized"
    assert pipeline.sized_at is not None and pipeline.sized_at >= later - RESIZE_EVERY


def _spy_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The card ids ``build_card`` is called for from now on (the memo's misses)."""
    built: list[str] = []

    def spy(candidate: Candidate, ctx: Context, book: Book, plan: PlanFn) -> StrategyCard:
        card = build_card(candidate, ctx, book, plan)
        built.append(card.card_id)
        return card

    monkeypatch.setattr(card_memo, "build_card", spy)
    return built


def _nudge(engine: Engine, sym: str, factor: float, seconds: int) -> Quote:
    """The symbol's quote at ``factor`` times the price its cards were last sized at."""
    quote = engine.feed.latest_quotes()[sym]
    factor *= engine.parts.cards._view.prices[sym] / quote.last
    moved: Quote = replace(
        quote,
        ts=quote.ts + timedelta(seconds=seconds),
        bid=quote.bid * factor,
        ask=quote.ask * factor,
        last=quote.last * factor,
    )
    return moved


async def test_at_the_half_hour_only_the_cards_on_a_moved_symbol_are_built_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await engine.step(2)
    pipeline = engine.parts.cards
    assert pipeline.sized_at is not None
    pipeline.on_quotes((), pipeline.sized_at + RESIZE_EVERY)  # sized at the prices of now
    await engine.parts.outbox.settle()
    assert pipeline.sized_at is not None
    shown = {leg.symbol for c in engine.cards for leg in c.legs}
    found = pipeline._scan[1].candidates if pipeline._scan else ()
    # a symbol a candidate is on that no shown card holds: only a half hour re-sizes for it
    sym = next(s for c in found for s in c.setup.symbols if s not in shown)
    on_sym = {c.setup.key for c in found if sym in c.setup.symbols}
    saved, built = _spy_saves(engine), _spy_builds(monkeypatch)
    half = pipeline.sized_at + RESIZE_EVERY
    small = _nudge(engine, sym, 1.0 + MATERIAL_MOVE / 2, 1)  # under the threshold
    engine.parts.driver.on_quotes((small,))
    pipeline.on_quotes((small,), half)
    await engine.parts.outbox.settle()
    assert built == [] and saved == [], "an immaterial move re-sized or re-wrote cards"
    big = _nudge(engine, sym, 1.0 + 2 * MATERIAL_MOVE, 2)
    engine.parts.driver.on_quotes((big,))
    pipeline.on_quotes((big,), half + RESIZE_EVERY)
    await engine.parts.outbox.settle()
    assert built, "a material move of a candidate's symbol built no card again"
    rebuilt_keys = {b for b in built if any(k.replace(" ", "_") in b for k in on_sym)}
    assert rebuilt_keys, built
    assert len(set(built)) < len(found), "every candidate was built again for one symbol's move"
    # what is shown equals a proposal made from scratch on the same inputs
    day = engine.parts.market.session_day()
    assert day is not None and pipeline._scan is not None
    ctx = pipeline.context(day)
    fresh = propose(pipeline._scan[1], ctx, pipeline._planner(dict(pipeline._view.quotes)))
    assert [_no_asof(c) for c in fresh.cards] == [_no_asof(c) for c in engine.cards]
    assert all(card_id in {c.card_id for c in engine.cards} for batch in saved for card_id in batch)


def _no_asof(card: StrategyCard) -> StrategyCard:
    return replace(card, asof=card.asof.replace(year=2000, month=1, day=1, hour=0, minute=0, second=0))


async def test_a_material_move_re_sizes_the_cards_at_the_new_price(engine: Engine) -> None:
    await engine.step(2)
    card = next(c for c in engine.cards if c.legs and len(c.legs) == 1 and c.template != "exit")
    sym = card.legs[0].symbol
    before = card.details[f"ref_price:{sym}"]
    quote = engine.feed.latest_quotes()[sym]
    small = 1.0 + MATERIAL_MOVE / 2
    moved = replace(quote, bid=quote.bid * small, ask=quote.ask * small, last=quote.last * small)
    saved = _spy_saves(engine)
    engine.parts.driver.on_quotes((moved,))
    await engine.parts.outbox.settle()
    assert saved == []  # half the threshold: nothing re-sized
    big = 1.0 + 2 * MATERIAL_MOVE
    jumped = replace(
        quote,
        ts=quote.ts + timedelta(seconds=1),
        bid=quote.bid * big,
        ask=quote.ask * big,
        last=quote.last * big,
    )
    engine.parts.driver.on_quotes((jumped,))
    await engine.parts.outbox.settle()
    assert saved, "a 2% move did not re-size the cards"
    again = next(c for c in engine.cards if c.card_id == card.card_id)
    assert again.details[f"ref_price:{sym}"] == engine.parts.market.prices()[sym] != before
    assert card.card_id in saved[-1]
    assert all(card_id in {c.card_id for c in engine.cards} for card_id in saved[-1])


async def test_a_fill_re_sizes_the_cards_at_once(engine: Engine) -> None:
    await engine.step_day()
    card = next(c for c in engine.cards if c.legs and c.legs[0].side is Side.BUY and c.template != "exit")
    sym = card.legs[0].symbol
    assert (await engine.handle(ExecuteCard(card.card_id), OPERATOR)).ok
    seen: list[tuple[StrategyCard, ...]] = []
    engine.bus.on(CardsEvent, lambda e: seen.append(e.cards) if not e.to_scan else None)
    while any(o.status is not OrderStatus.FILLED for o in engine.orders.open_orders()) or not seen:
        await engine.step(1)
        if engine.feed.finished:
            break
    held = {p.symbol for p in engine.ledger.positions(include_flat=False)}
    assert sym in held
    assert any(c.template == "exit" and c.legs[0].symbol == sym for c in engine.cards), (
        "no close card after the fill"
    )


async def test_a_proposal_overtaken_by_a_newer_re_size_is_dropped(engine: Engine) -> None:
    pipeline = engine.parts.cards
    events = _published(engine)
    pipeline.resize()  # off the loop: its proposal comes back later
    pipeline.refresh()  # meanwhile a fill re-sizes at once
    now = list(engine.cards)
    assert len(events) == 1
    await engine.parts.outbox.settle()
    assert len(events) == 1, "the older proposal replaced the newer cards"
    assert engine.cards == now
