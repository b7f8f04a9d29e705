"""The order blotter: algo parents and their children, slippage, the open filter, cancel-all and
the modify dialog, against the transport double with hand-built orders (``execution_fixtures``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.app import OneTapApp
from console.screens import ConfirmDialog, ModifyDialog
from console.tca import order_tree
from console.widgets import OrderBlotter
from engine.model import OrderStatus, Side
from engine.model.events import CancelAll, CancelOrder, Kill, ModifyOrder, OrderEvent
from engine.model.quality import slippage_bps
from tests.console.execution_fixtures import algo_orders, algo_snapshot
from tests.console.helpers import FakeClient, settle, shown_toasts, table_rows
from tests.console.test_widgets import order

ID, SYMBOL, TYPE, STATUS, FILLED, AVG, SLIP = 1, 2, 5, 7, 8, 9, 10
"""Column positions in the blotter at 160 columns, where every column is shown."""


def blotter(app: OneTapApp) -> list[list[str]]:
    return table_rows(app, "blotter-table")


# --------------------------------------------------------------------------- the tree
def test_children_follow_their_parent_oldest_first_and_orphans_stand_alone() -> None:
    sell, parent, first, second = algo_orders()
    orphan = replace(order("OT-20", "IBM", OrderStatus.ACKNOWLEDGED, 40), parent_id="OT-99")
    newest_first = (orphan, second, first, parent, sell)
    rows = [(r.order.client_order_id, r.depth) for r in order_tree(newest_first)]
    assert rows == [("OT-20", 0), ("OT-10", 0), ("OT-11", 1), ("OT-12", 1), ("OT-9", 0)]


def test_the_open_filter_keeps_open_orders_and_the_parents_of_open_children() -> None:
    sell, parent, first, second = algo_orders()
    rows = order_tree((second, first, parent, sell), open_only=True)
    assert [(r.order.client_order_id, r.depth) for r in rows] == [("OT-10", 0), ("OT-12", 1)]
    done = replace(parent, status=OrderStatus.CANCELLED)
    rows = order_tree((second, first, done, sell), open_only=True)
    assert [r.order.client_order_id for r in rows] == ["OT-10", "OT-12"], "an open slice keeps its algo"


def test_slippage_is_positive_when_it_costs() -> None:
    assert slippage_bps(Side.BUY, 100.0, 100.05) == pytest.approx(5.0)  # bought above arrival
    assert slippage_bps(Side.SELL, 100.0, 99.95) == pytest.approx(5.0)  # sold below arrival
    assert slippage_bps(Side.BUY, 100.0, 99.90) == pytest.approx(-10.0)  # better than arrival
    assert slippage_bps(Side.BUY, None, 100.0) is None
    assert slippage_bps(Side.BUY, 100.0, None) is None


async def test_the_blotter_shows_an_algo_with_its_children_indented_under_it() -> None:
    app = OneTapApp(FakeClient(algo_snapshot()))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        rows = blotter(app)
        assert [r[ID] for r in rows] == ["OT-10", "OT-11", "OT-12", "OT-2", "OT-9", "OT-1"]
        assert [r[SYMBOL] for r in rows[:3]] == ["AAPL", "└ AAPL", "└ AAPL"]
        assert rows[0][TYPE] == "TWAP" and rows[1][TYPE] == "LMT"
        assert rows[0][FILLED] == "20" and rows[0][AVG] == "410.12"
        assert rows[2][STATUS] == "PARTIAL" and rows[2][FILLED] == "3"
        subtitle = str(app.screen.query_one(OrderBlotter).border_subtitle)
        assert subtitle.startswith("2 working · 1 algo · all orders")  # OT-12 and OT-2 at the broker


async def test_slippage_against_arrival_is_shown_per_order() -> None:
    app = OneTapApp(FakeClient(algo_snapshot()))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        slip = {r[ID]: r[SLIP] for r in blotter(app)}
        assert slip["OT-10"] == "+3.0"  # bought 20 at 410.1225 against 410.00
        assert slip["OT-11"] == "+2.4"  # a child is measured against its parent's arrival
        assert slip["OT-12"] == "+6.1"
        assert slip["OT-9"] == "+2.5"  # sold at 404.90 against 405.00: a cost too
        assert slip["OT-2"] == "" and slip["OT-1"] == ""  # no arrival price: blank, not zero


async def test_o_toggles_open_orders_only_and_says_so() -> None:
    app = OneTapApp(FakeClient(algo_snapshot()))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("tab", "o")
        await settle(pilot)
        assert [r[ID] for r in blotter(app)] == ["OT-10", "OT-12", "OT-2"]
        pane = app.screen.query_one(OrderBlotter)
        assert "open only" in str(pane.border_subtitle) and "o all" in str(pane.border_subtitle)
        await pilot.press("o")
        await settle(pilot)
        assert len(blotter(app)) == 6 and "all orders" in str(pane.border_subtitle)


async def test_the_filter_reads_in_the_subtitle_at_80_columns() -> None:
    app = OneTapApp(FakeClient(algo_snapshot()))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(OrderBlotter)
        assert pane.border_subtitle == "2 working · 1 algo · all (o)"
        assert table_rows(app, "blotter-table")[1][0] == "└ AAPL"  # the mark survives the compact table


# --------------------------------------------------------------------------- cancel all
async def test_cancel_all_asks_first_and_sends_only_on_y() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("C")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.id == "cancel-all-dialog"
        body = str(dialog.query_one(".confirm-body", Static).render())
        assert "3 on the desk" in body and "trading is NOT halted" in body
        for cancel in ("n", "escape", "enter"):  # the focus is on Keep: a stray Enter cancels nothing
            if not isinstance(app.screen, ConfirmDialog):
                await pilot.press("C")
            await pilot.press(cancel)
            await settle(pilot)
            assert client.sent == [] and not isinstance(app.screen, ConfirmDialog)
        await pilot.press("C", "y")
        await settle(pilot)
        assert client.sent == [CancelAll()]
        assert not isinstance(app.screen, ConfirmDialog)


async def test_ctrl_k_works_inside_the_cancel_all_dialog() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("C", "ctrl+k")
        await settle(pilot)
        assert client.sent == [Kill()]
        assert isinstance(app.screen, ConfirmDialog)


# --------------------------------------------------------------------------- modify
async def open_modify_on(app: OneTapApp, pilot: Pilot[None], coid: str) -> None:
    """Focus the blotter, move to ``coid`` and press ``m``."""
    await pilot.press("tab")
    ids = [r[ID] for r in blotter(app)]
    await pilot.press(*["j"] * ids.index(coid), "m")
    await settle(pilot)


async def test_m_sends_modify_order_with_the_typed_values() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await open_modify_on(app, pilot, "OT-2")
        dialog = app.screen
        assert isinstance(dialog, ModifyDialog) and dialog.order.client_order_id == "OT-2"
        assert "OT-2: BUY 10 MSFT LMT @ 100.00" in str(dialog.query_one("#modify-order", Static).render())
        await pilot.press(*"8", "tab", *"99.5", "enter")
        await settle(pilot)
        assert client.sent == [ModifyOrder("OT-2", quantity=8.0, limit_price=99.5)]
        assert not isinstance(app.screen, ModifyDialog)


async def test_a_blank_field_keeps_its_value() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await open_modify_on(app, pilot, "OT-2")
        await pilot.press("tab", *"101.25", "enter")
        await settle(pilot)
        assert client.sent == [ModifyOrder("OT-2", quantity=None, limit_price=101.25)]


async def test_a_refused_modify_is_shown_in_the_dialog() -> None:
    client = FakeClient(algo_snapshot())
    client.modify_refusal = ("PRICE_BAND", "limit 150.00 is 40% away from the last 100.00")
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await open_modify_on(app, pilot, "OT-2")
        await pilot.press("tab", *"150", "enter")
        await settle(pilot)
        assert client.sent == [ModifyOrder("OT-2", limit_price=150.0)]
        assert isinstance(app.screen, ModifyDialog)
        outcome = app.screen.query_one("#modify-outcome", Static)
        assert outcome.has_class("-error")
        assert str(outcome.render()) == "Refused [PRICE_BAND]: limit 150.00 is 40% away from the last 100.00"


async def test_nothing_typed_or_not_a_number_is_answered_without_sending() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await open_modify_on(app, pilot, "OT-2")
        await pilot.press("enter")
        await settle(pilot)
        outcome = app.screen.query_one("#modify-outcome", Static)
        assert str(outcome.render()) == "type a new quantity or a new limit price"
        await pilot.press(*"-5", "enter")
        await settle(pilot)
        assert str(outcome.render()) == "the quantity must be more than zero"
        assert client.sent == [] and app.screen.query_one("#modify-quantity", Input).has_focus
        await pilot.press("q")  # typed into the field, not quitting
        await settle(pilot)
        assert isinstance(app.screen, ModifyDialog)


@pytest.mark.parametrize(
    ("coid", "why"),
    [
        ("OT-1", "OT-1 is FILLED; nothing to modify"),
        ("OT-10", "OT-10 is worked by TWAP"),
        ("OT-9", "OT-9 is FILLED; nothing to modify"),
    ],
)
async def test_m_explains_why_an_order_cannot_be_modified(coid: str, why: str) -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await open_modify_on(app, pilot, coid)
        assert not isinstance(app.screen, ModifyDialog) and client.sent == []
        assert any(n.message.startswith(why) for n in shown_toasts(app))


async def test_the_modify_dialog_says_so_when_the_order_fills_meanwhile() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await open_modify_on(app, pilot, "OT-2")
        filled = order("OT-2", "MSFT", OrderStatus.FILLED, 32, filled=10)
        client.push(OrderEvent(filled))
        await settle(pilot)
        outcome = app.screen.query_one("#modify-outcome", Static)
        assert str(outcome.render()) == "OT-2 is FILLED; nothing to modify"


async def test_ctrl_k_works_inside_the_modify_dialog_and_c_still_cancels() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await open_modify_on(app, pilot, "OT-2")
        await pilot.press("ctrl+k")
        await settle(pilot)
        assert client.sent == [Kill()] and isinstance(app.screen, ModifyDialog)
        await pilot.press("escape", "c")
        await settle(pilot)
        assert client.sent == [Kill(), CancelOrder("OT-2")]
