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
