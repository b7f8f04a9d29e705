"""The rebalance preview on a real embedded engine: ``w`` shows current against target weights and the
orders, ``x`` sends exactly that plan as one group execution, and the desk's blotter shows its orders."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from console.app import OneTapApp
from console.screens.rebalance import RebalanceScreen
from engine.config import load_settings
from engine.data.loader import MarketData
from tests.console.helpers import table_rows
from tests.console.test_journey import embedded, step, wait_for


async def test_preview_then_one_key_sends_the_plan(tmp_path: Path, shipped: MarketData) -> None:
    settings = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})
    client = embedded(settings, tmp_path / "onetap.db", shipped)
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, "the desk", lambda: app.state.risk is not None)
        await step(client, 3)  # the session opens: quotes to plan with
        await pilot.press("w")
        await wait_for(pilot, "the preview", lambda: isinstance(app.screen, RebalanceScreen))
        screen = app.screen
        await wait_for(pilot, "the plan", lambda: bool(table_rows(app, "rebalance-lines")))
        preview = app.state.rebalance_preview
        assert preview is not None
        lines = table_rows(app, "rebalance-lines")
        assert {row[0] for row in lines} >= set(preview.targets)
        for row, line in zip(lines, preview.plan.lines, strict=True):
            assert row[2] == f"{line.target_weight * 100:.1f}%"
        orders = table_rows(app, "rebalance-orders")
        assert len(orders) == len(preview.plan.orders) > 0  # an empty book: every target is a buy
        assert all(row[0] == "BUY" for row in orders)
        summary = str(screen.query_one("#rebalance-summary", Static).render())
        assert "Expected cost" in summary and "turnover" in summary
        await pilot.press("x")
        await wait_for(
            pilot, "the result", lambda: "Sent" in str(screen.query_one("#rebalance-result", Static).render())
        )
        await pilot.press("escape")
        await step(client, 2)
        await wait_for(pilot, "the orders", lambda: len(table_rows(app, "blotter-table")) >= len(orders))
        sent = {row[2] for row in table_rows(app, "blotter-table")}
        assert sent == {o.symbol for o in preview.plan.orders}
        await pilot.press("q")
