"""One key, right row: the cursor follows its card by id, a vanished card's neighbour is not a
choice, the line under the cards says what ``x`` will send, and a card that closes or reduces a
position asks first while an entry card stays one key."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from textual.widgets import Static

from console.app import OneTapApp
from console.screens.confirm import ConfirmDialog
from console.widgets.blotter import order_time, spans_days
from console.widgets.cards import REDUCE_MARK, reduces
from engine.model import Leg, OrderStatus, Side, StrategyCard
from engine.model.events import CancelOrder, CardsEvent, ExecuteCard, OrderEvent
from tests.console.helpers import T0, FakeClient, settle, table_rows
from tests.console.test_widgets import card, order, snapshot


def exit_card(symbol: str, quantity: float) -> StrategyCard:
    return StrategyCard(
        card_id=f"exit-{symbol}-20240315",
        template="exit",
        name=f"Close {symbol}",
        legs=(Leg(symbol, Side.SELL, quantity),),
        confidence=0.0,
        expected_return=0.0,
        max_risk=0.0,
        reason=f"sell the whole {symbol} position ({quantity:g}) at market",
        asof=T0,
    )


def reason_line(app: OneTapApp) -> str:
    return str(app.screen.query_one("#card-reason", Static).render())


async def test_selection_stays_on_the_same_card_across_a_re_rank() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "j")  # on C-3 (SPY), the third row
        client.push(CardsEvent(T0, (card("C-3", "SPY"), card("C-1", "NVDA"), card("C-2", "AMD"))))
        await settle(pilot)
        assert [r[2] for r in table_rows(app, "cards-table")] == ["SPY", "NVDA", "AMD"]
        assert reason_line(app).startswith("x: BUY 10 SPY momentum")  # the hint followed the card
        await pilot.press("x")
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-3")]


async def test_when_the_selected_card_vanishes_x_does_nothing_until_the_trader_moves() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j")  # on C-2 (AMD)
        client.push(CardsEvent(T0, (card("C-1", "NVDA"), card("C-3", "SPY"))))
        await settle(pilot)
        assert "the card you had selected is gone" in reason_line(app)
        await pilot.press("x")
        await settle(pilot)
        assert client.sent == []  # the neighbour the cursor fell on was nobody's choice
        await pilot.press("k", "x")
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-1")]


async def test_an_entry_card_executes_at_once_on_x() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert reason_line(app).startswith("x: BUY 10 NVDA momentum")
        await pilot.press("x")
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-1")]
        assert not isinstance(app.screen, ConfirmDialog)


async def test_an_exit_card_is_marked_and_asks_before_it_sends() -> None:
    held = snapshot()  # holds 10 AAPL and 5 MSFT
    client = FakeClient(replace(held, cards=(exit_card("AAPL", 10), card("C-1", "NVDA"))))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        rows = table_rows(app, "cards-table")
        assert rows[0][0] == f"{REDUCE_MARK}1" and rows[1][0] == "2"
        assert reason_line(app).startswith("x (asks): SELL 10 AAPL exit, reduces a position")
        assert app.screen.query_one("#card-reason", Static).has_class("-reduces")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog) and client.sent == []
        await pilot.press("n")
        await settle(pilot)
        assert client.sent == []
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert client.sent == [ExecuteCard("exit-AAPL-20240315")]


async def test_a_card_whose_leg_sells_a_holding_asks_from_the_detail_screen_too() -> None:
    selling = card("C-9", "MSFT", side=Side.SELL, qty=3)
    client = FakeClient(replace(snapshot(), cards=(selling,)))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog) and client.sent == []
        await pilot.press("y")
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-9")]


def test_which_cards_reduce_a_position() -> None:
    held = {"AAPL": 10.0, "TSLA": -4.0}
    assert reduces(exit_card("AAPL", 10), held)
    assert reduces(card("A", "AAPL", side=Side.SELL), held)
    assert reduces(card("T", "TSLA", side=Side.BUY), held)  # buys back a short
    assert not reduces(card("B", "AAPL", side=Side.BUY), held)  # adds
    assert not reduces(card("N", "NVDA", side=Side.SELL), held)  # opens a short: an entry


async def test_c_in_the_blotter_does_nothing_on_a_neighbour_of_a_vanished_order() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("tab", "o")  # open orders only: OT-2 (working)
        await settle(pilot)
        working = order("OT-3", "NVDA", OrderStatus.ACKNOWLEDGED, 33)
        client.push(OrderEvent(working))
        await settle(pilot)
        await pilot.press("j")  # on OT-2, under the newer OT-3
        client.push(OrderEvent(replace(order("OT-2", "MSFT", OrderStatus.FILLED, 32), filled_quantity=10)))
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert client.sent == []
        await pilot.press("k", "c")
        await settle(pilot)
        assert client.sent == [CancelOrder("OT-3")]


def test_blotter_times_carry_the_date_when_the_orders_span_days() -> None:
    today = order("OT-1", "AAPL", OrderStatus.FILLED, 31)
    yesterday = replace(today, client_order_id="OT-0", created_at=T0 - timedelta(days=1))
    assert not spans_days([today]) and spans_days([today, yesterday])
    assert order_time(T0, dated=False) == "10:30:00"
    assert order_time(T0 - timedelta(days=1), dated=True) == "03-14 10:30:00"


async def test_the_card_detail_shows_the_reason_and_names_the_limit_that_bound() -> None:
    from console.widgets.card_detail import binding_limit
    from tests.console.test_card_detail import text_of

    sized = replace(
        card("C-1", "NVDA"),
        details={
            "size:capital": 5_000.0,
            "size:by_risk": 20_000.0,
            "size:by_vol": 30_000.0,
            "size:by_kelly": 25_000.0,
            "size:by_limits": 5_000.0,
            "limit:sector_limit:Technology": 5_000.0,
        },
    )
    assert binding_limit(sized.details) == "the sector cap ([risk] max_sector_pct): Technology"
    client = FakeClient(replace(snapshot(), cards=(sized,)))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        header = text_of(app.screen.query_one("#card-header", Static))
        assert "Why: NVDA 20-day high with rising volume; trend filter positive" in header
        sizing = text_of(app.screen.query_one("#card-sizing", Static), width=200)
        assert "binds: the sector cap ([risk] max_sector_pct): Technology" in sizing
        assert "order and position limits" not in sizing
