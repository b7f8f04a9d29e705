"""When the engine re-sizes its cards, and what it writes (issue 18).

Cards are re-sized at once after a fill, off the event loop on ``RESIZE_EVERY`` of market time or a
``MATERIAL_MOVE`` of a symbol they were sized on, and not otherwise; a re-size writes only the
card rows that changed; a proposal made off the loop that a newer re-size overtook is dropped.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from engine.actor import Actor
from engine.kernel import Engine
from engine.model import CommandSource, OrderStatus, Side, StrategyCard
from engine.model.events import CardsEvent, ExecuteCard
from engine.runtime.cards import MATERIAL_MOVE, RESIZE_EVERY

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


async def test_nothing_is_sized_or_written_while_nothing_moved(engine: Engine) -> None:
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
    pipeline.on_quotes(quotes, pipeline.sized_at + RESIZE_EVERY)  # half an hour of market time later
    await engine.parts.outbox.settle()
    assert len(events) == 2


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
