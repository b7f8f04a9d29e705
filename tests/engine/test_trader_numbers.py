"""The numbers a trader reads: whole shares by default, the execution report's expected cost of the
card as it was sent, the limit that bound a card's size.

Real parts: the engine on the shipped data, the paper broker, SQLite under tmp_path.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from engine.actor import Actor
from engine.api.reports import load_execution_quality
from engine.config import Settings, fractional_allowed, load_settings
from engine.execution.plan import executed_card_id, expected_cost_of
from engine.kernel import Engine
from engine.model import CommandSource, Side
from engine.model.events import ExecuteCard
from engine.strategies.book import Book, Limits
from engine.strategies.generator import Context, GeneratorPolicy, close_card

OPERATOR = Actor("tester", CommandSource.HOTKEY)


def test_fractional_quantities_need_the_config_and_a_broker_that_takes_them() -> None:
    base = load_settings(environ={})
    assert not base.cards.fractional  # whole shares by default
    assert not fractional_allowed(base, base.cards.fractional)
    wants = load_settings(environ={"ONETAP_CARDS__FRACTIONAL": "true"})
    assert fractional_allowed(wants, wants.cards.fractional)
    no_broker = load_settings(
        environ={"ONETAP_CARDS__FRACTIONAL": "true", "ONETAP_BROKER__ALLOW_FRACTIONAL": "false"}
    )
    assert not fractional_allowed(no_broker, True)
    ibkr = wants.model_copy(update={"broker": wants.broker.model_copy(update={"kind": "ibkr"})})
    assert not fractional_allowed(ibkr, True)  # the IBKR API takes no fractional share order


def _ctx(*, broker_fractional: bool) -> Context:
    book = Book(
        equity=100_000.0,
        cash=50_000.0,
        positions={"AAPL": 33.593},
        prices={"AAPL": 190.0},
        sectors={},
        limits=Limits(0.15, 0.3, 25_000.0, 1.0, 0.01),
        allow_fractional=False,
        broker_fractional=broker_fractional,
    )
    return Context(
        datetime(2024, 3, 15, 14, 30, tzinfo=UTC), datetime(2024, 3, 15).date(), book, GeneratorPolicy()
    )


def test_a_close_card_sends_whole_shares_to_a_broker_without_fractions() -> None:
    whole = close_card("AAPL", 33.593, _ctx(broker_fractional=False))
    assert whole is not None and whole.legs[0].quantity == 33.0 and whole.legs[0].side is Side.SELL
    assert "33 of the 33.593" in whole.reason and "0.593 cannot be sent" in whole.reason
    assert close_card("AAPL", 0.4, _ctx(broker_fractional=False)) is None  # less than one share
    fractional = close_card("AAPL", 33.593, _ctx(broker_fractional=True))
    assert fractional is not None and fractional.legs[0].quantity == 33.593


async def test_cards_are_whole_shares_and_the_report_keeps_the_executed_cards_expected_cost(
    engine: Engine, db: Path
) -> None:
    await engine.step_day()
    stocks = [leg for c in engine.cards for leg in c.legs if " " not in leg.symbol]
    assert stocks, "no stock leg on the first day"
    assert all(leg.quantity == int(leg.quantity) for leg in stocks)
    card = next(c for c in engine.cards if c.template != "exit" and "expected_cost" in c.details)
    sent = expected_cost_of(card)
    assert sent is not None
    result = await engine.handle(ExecuteCard(card.card_id), OPERATOR)
    assert result.ok, result.message
    await engine.step_day()
    # the card's own row was re-saved since (re-sized, or at the next day's prices); the copy kept
    # with the execution is the card as it was sent
    engine.store.save_cards([replace(card, details={**card.details, "expected_cost": 0.97})])
    (execution,) = [e for e in load_execution_quality(db, datetime(2000, 1, 1, tzinfo=UTC)) if e.card_id]
    assert execution.expected is not None
    assert execution.expected.total == sent.total and execution.expected.value == sent.value
    assert engine.store.load_card(executed_card_id(card.card_id, execution.key)) is not None


def test_a_card_names_the_limit_that_bound_its_size(settings: Settings) -> None:
    book = Book(
        equity=100_000.0,
        cash=100_000.0,
        positions={"AAPL": 100.0},
        prices={"AAPL": 200.0, "MSFT": 400.0},
        sectors={"AAPL": "Technology", "MSFT": "Technology"},
        limits=Limits(0.15, 0.25, 25_000.0, 1.0, 0.01),
    )
    import numpy as np

    capital, code = book.headroom(["MSFT"], np.array([1.0]))
    assert code == "sector_limit:Technology"  # 25% of 100k less the 20k AAPL holds: 5k, below 15k
    assert 0 < capital <= 5_000.0
