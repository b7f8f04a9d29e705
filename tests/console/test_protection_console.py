"""A card position's protection on the desk: under the position in the positions pane (stop and
target, distance in % and in ATR, the UNPROTECTED mark), marked in the blotter, and ``m`` on a
protective stop asking for a new stop price; against the transport double with hand-built events."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Static

from console.app import OneTapApp
from console.screens import ModifyDialog
from console.widgets.positions import distance_atr, distance_pct
from engine.model import Order, OrderStatus, OrderType, Side, TimeInForce
from engine.model.events import ModifyOrder, ProtectionEvent, ProtectionView, SnapshotEvent
from tests.console.helpers import FakeClient, settle, table_rows
from tests.console.test_blotter_console import ID, TYPE, blotter, open_modify_on
from tests.console.test_widgets import T0, snapshot


def _legs() -> tuple[Order, Order]:
    common = {
        "symbol": "AAPL",
        "side": Side.SELL,
        "quantity": 10.0,
        "tif": TimeInForce.GTC,
        "status": OrderStatus.ACKNOWLEDGED,
        "protects": "OT-1",
        "oca_group": "OCA-OT-1",
        "created_at": T0.replace(minute=40),
        "updated_at": T0.replace(minute=40),
    }
    stop = Order(client_order_id="OT-5", order_type=OrderType.STP, stop_price=165.0, **common)  # type: ignore[arg-type]
    target = Order(client_order_id="OT-6", order_type=OrderType.LMT, limit_price=185.0, **common)  # type: ignore[arg-type]
    return stop, target


def _protected() -> SnapshotEvent:
    base = snapshot()
    view = ProtectionView(
        symbol="AAPL",
        entry="OT-1",
        quantity=10.0,
        stop_id="OT-5",
        stop_price=165.0,
        target_id="OT-6",
        target_price=185.0,
        atr=2.5,
    )
    return replace(base, orders=(*base.orders, *_legs()), protection=(view,))


def test_distances_read_from_the_last_price() -> None:
    assert distance_pct(165.0, 172.5) == "-4.3%"
    assert distance_atr(165.0, 172.5, 2.5) == "-3.0 ATR"
    assert distance_atr(165.0, 172.5, None) == ""


async def test_the_stop_and_target_show_under_their_position() -> None:
    app = OneTapApp(FakeClient(_protected()))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        rows = table_rows(app, "positions-table")
        assert [r[0] for r in rows] == ["AAPL", "  ↳ stop", "  ↳ target", "MSFT"]
        stop, target = rows[1], rows[2]
        assert stop[1] == "10" and stop[2] == "165.00" and stop[4] == "-4.3%" and stop[5] == "-3.0 ATR"
        assert target[2] == "185.00" and target[4] == "+7.2%" and target[5] == "+5.0 ATR"


async def test_an_unprotected_position_is_marked_and_the_mark_goes_when_protected() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert [r[0] for r in table_rows(app, "positions-table")] == ["AAPL", "MSFT"]
        client.push(ProtectionEvent((ProtectionView("AAPL", "", 10.0, unprotected="no working stop"),)))
        await settle(pilot)
        assert [r[0] for r in table_rows(app, "positions-table")] == ["AAPL", "  ↳ UNPROTECTED", "MSFT"]
        client.push(ProtectionEvent(_protected().protection))
        await settle(pilot)
        names = [r[0] for r in table_rows(app, "positions-table")]
        assert names == ["AAPL", "  ↳ stop", "  ↳ target", "MSFT"]


async def test_m_on_a_protective_stop_asks_for_a_new_stop_price() -> None:
    client = FakeClient(_protected())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        types = {r[ID]: r[TYPE] for r in blotter(app)}
        assert types["OT-5"] == "STP exit" and types["OT-6"] == "LMT exit"
        await open_modify_on(app, pilot, "OT-5")
        dialog = app.screen
        assert isinstance(dialog, ModifyDialog)
        assert str(dialog.query_one("#modify-title", Static).render()) == "Modify protection"
        assert not dialog.query("#modify-quantity"), "its quantity follows the position"
        await pilot.press(*"168", "enter")
        await settle(pilot)
        assert client.sent == [ModifyOrder("OT-5", None, None, stop_price=168.0)]
