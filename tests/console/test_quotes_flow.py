"""The quotes pane shows the engine's order flow (issue 20): hidden until a reading arrives, then
the quote imbalance and OFI per symbol, and a subtitle saying invented sizes prove nothing."""

from __future__ import annotations

from dataclasses import replace

from console.app import OneTapApp
from console.widgets.quotes import REDRAW_EVERY_S, QuotesPane
from engine.model.events import MarketEvent
from engine.model.flow import FlowReading
from tests.console.helpers import T0, FakeClient, settle, table_rows
from tests.console.test_widgets import quote, snapshot


async def test_order_flow_columns_appear_with_the_first_reading() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    nvda = replace(quote("NVDA", 102.0), bid=101.95, ask=102.05)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        client.push(MarketEvent(T0, (nvda,)))
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)
        row = next(r for r in table_rows(app, "quotes-table") if r[0] == "NVDA")
        assert len(row) == 7  # no flow yet: no flow columns
        reading = FlowReading("NVDA", 12, 130.0, 1 / 3, 1, 300.0, 0.02, 0.001)
        client.push(MarketEvent(T0, (nvda,), flow=(reading,)))
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)
        row = next(r for r in table_rows(app, "quotes-table") if r[0] == "NVDA")
        assert row[7:] == ["+0.33", "+130"]  # the quote imbalance and the window OFI
        subtitle = str(app.screen.query_one(QuotesPane).border_subtitle)
        assert "sizes invented, value not measurable" in subtitle


async def test_the_depth_column_appears_only_with_a_depth_reading() -> None:
    """IBKR's depth_symbols: Dep shows the depth imbalance (+0.20), "-" for a symbol without depth;
    a feed with no depth anywhere (paper) never shows the column."""
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    nvda = replace(quote("NVDA", 102.0), bid=101.95, ask=102.05)
    amd = replace(quote("AMD", 50.0), bid=49.95, ask=50.05)
    async with app.run_test(size=(240, 48)) as pilot:
        await settle(pilot)
        plain = FlowReading("NVDA", 12, 130.0, 1 / 3, 1, 300.0, 0.02, 0.001, sizes_invented=False)
        client.push(MarketEvent(T0, (nvda, amd), flow=(plain, replace(plain, symbol="AMD"))))
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)
        row = next(r for r in table_rows(app, "quotes-table") if r[0] == "NVDA")
        assert row[7:] == ["+0.33", "+130"]  # no depth anywhere: no Dep column
        client.push(MarketEvent(T0, (nvda,), flow=(replace(plain, depth_imbalance=0.2),)))
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)
        rows = {r[0]: r for r in table_rows(app, "quotes-table")}
        assert rows["NVDA"][7:] == ["+0.33", "+130", "+0.20"]
        assert rows["AMD"][9] == "-"  # absent, not zero
        subtitle = str(app.screen.query_one(QuotesPane).border_subtitle)
        assert "sizes invented" not in subtitle
