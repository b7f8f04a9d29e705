"""Execution progress on the desk and the execution report screen, from hand-built executions,
orders and fills (``execution_fixtures``) pushed through the transport double."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import cast

from rich.console import Console, RenderableType
from textual.widgets import Static

from console.app import OneTapApp
from console.screens import ExecutionReportScreen
from console.state import DeskState, FillTimes
from console.tca import duration, measure
from console.widgets import ExecutionProgress, MessageLine
from console.widgets.exec_report import ExecutionSection
from engine.model import ExecutionStatus
from engine.model.events import FillEvent, Kill
from engine.model.quality import Timing
from tests.console.execution_fixtures import algo_orders, algo_snapshot, execution, fills, legs
from tests.console.helpers import T0, FakeClient, settle, shown_toasts
from tests.console.test_widgets import snapshot


def plain(widget: Static, width: int = 160) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(cast(RenderableType, widget.content))
    return console.export_text()


def strip_text(app: OneTapApp) -> str:
    return str(app.screen.query_one(ExecutionProgress).render())


# --------------------------------------------------------------------------- the fold
def test_the_fold_keeps_executions_fill_times_and_the_current_execution() -> None:
    state = DeskState()
    state.apply(algo_snapshot())
    assert state.current_execution == execution()
    for event in fills():
        state.apply(event)
    assert state.fill_times["OT-11"] == FillTimes(
        T0 + timedelta(minutes=2.5), T0 + timedelta(minutes=3), 2, 17
    )
    assert state.apply(fills()[0]) == set(), "a fill seen twice is folded once"
    assert state.fill_times["OT-9"].count == 1
    second = execution(execution_id="EX-2", minutes=8)
    assert state.apply(second) == {"executions"}
    assert state.current_execution == second
    assert state.apply(execution(minutes=9)) == {"executions"}  # EX-1 moves on; EX-2 stays current
    assert state.current_execution == second
    assert [e.execution_id for e in state.executions_newest_first()] == ["EX-2", "EX-1"]


def test_a_failed_execution_is_reported_once() -> None:
    state = DeskState()
    state.apply(algo_snapshot())
    failed = execution(ExecutionStatus.ROLLED_BACK, message="AAPL rejected; MSFT unwound")
    assert state.apply(failed) == {"executions", "execution_failed", "notice"}
    assert (
        state.line is not None
        and state.line.text == "ROLLED_BACK Pair AAPL/MSFT: AAPL rejected; MSFT unwound"
    )
    assert state.apply(failed) == {"executions"}


def test_time_to_fill_falls_back_to_the_orders_own_times() -> None:
    sell = algo_orders()[0]
    assert measure(sell, {}).timing == Timing(None, timedelta(minutes=1), estimated=True)
    seen = {"OT-9": FillTimes(T0 + timedelta(minutes=2), T0 + timedelta(minutes=2), 1, 10)}
    assert measure(sell, {}, seen).timing == Timing(timedelta(seconds=30), timedelta(seconds=30))
    assert [duration(timedelta(seconds=s)) for s in (4.25, 192, 3720)] == ["4.2s", "3m 12s", "1h 02m"]


# --------------------------------------------------------------------------- the desk's strip
async def test_execution_progress_appears_and_updates_per_leg() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        progress = app.screen.query_one(ExecutionProgress)
        assert not progress.display, "no strip before the first execution"
        start = legs(aapl=(0, None, "WORKING"), msft=(0, None, "PENDING"))
        client.push(execution(minutes=2, leg_progress=start))
        await settle(pilot)
        assert progress.display
        text = strip_text(app)
        assert "EXECUTING  Pair AAPL/MSFT  10:32:00" in text
        assert "BUY 34 AAPL 0/34 WORKING (TWAP)" in text and "SELL 10 MSFT 0/10 PENDING" in text
        client.push(execution(minutes=5))
        await settle(pilot)
        text = strip_text(app)
        assert "BUY 34 AAPL 20/34 @ 410.12 WORKING (TWAP)" in text
        assert "SELL 10 MSFT 10/10 @ 404.90 FILLED" in text
        done = legs(aapl=(34, 410.15, "FILLED"))
        client.push(execution(ExecutionStatus.COMPLETED, minutes=9, leg_progress=done))
        await settle(pilot)
        assert "COMPLETED" in strip_text(app) and "BUY 34 AAPL 34/34 @ 410.15 FILLED" in strip_text(app)
        assert progress.has_class("-completed")


async def test_a_rolled_back_execution_says_what_happened_and_stays_until_the_next() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        message = "AAPL leg rejected by the broker (no shortable shares); MSFT unwound"
        ended = legs(aapl=(0, None, "REJECTED"), msft=(10, 404.90, "UNWOUND"))
        client.push(execution(ExecutionStatus.ROLLED_BACK, minutes=7, message=message, leg_progress=ended))
        await settle(pilot)
        progress = app.screen.query_one(ExecutionProgress)
        text = strip_text(app)
        assert "ROLLED_BACK" in text and message in text
        assert "BUY 34 AAPL 0/34 REJECTED" in text and "SELL 10 MSFT 10/10 @ 404.90 UNWOUND" in text
        assert progress.has_class("-failed")
        toasts = [n for n in shown_toasts(app) if n.severity == "error"]
        assert len(toasts) == 1
        assert toasts[0].title == "Execution ROLLED_BACK: Pair AAPL/MSFT"
        assert toasts[0].message.splitlines() == [
            message,
            "BUY 34 AAPL 0/34 REJECTED (TWAP)",
            "SELL 10 MSFT 10/10 @ 404.90 UNWOUND",
        ]
        assert message in str(app.screen.query_one(MessageLine).render())

        client.push(fills()[0])  # later events do not clear it
        await settle(pilot)
        assert "ROLLED_BACK" in strip_text(app)
        client.push(execution(execution_id="EX-2", minutes=8, leg_progress=legs(aapl=(0, None, "PENDING"))))
        await settle(pilot)
        assert "ROLLED_BACK" not in strip_text(app) and not progress.has_class("-failed")


async def test_the_strip_fits_an_80_column_desk() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        progress = app.screen.query_one(ExecutionProgress)
        lines = strip_text(app).splitlines()
        assert lines == [
            " EXECUTING  Pair AAPL/MSFT  10:35:00",
            "BUY AAPL 20/34 WORKING",
            "SELL MSFT 10/10 FILLED",
        ]
        assert progress.region.height == 3 and progress.region.right <= 80


# --------------------------------------------------------------------------- the report
async def test_the_execution_report_shows_each_orders_figures() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for event in fills():
            client.push(event)
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionReportScreen)
        section = screen.query_one(ExecutionSection)
        assert section.border_title == "Pair AAPL/MSFT  ·  EXECUTING"
        lines = plain(section).splitlines()
        assert "Filled 30 of 44 (68.1% by value)" in lines[0]  # 68.2% of the shares; engine.model.quality
        assert "Slippage +2.8 bps (cost 3.45 against arrival)" in lines[0]
        assert "First order to last fill 3m 30s" in lines[0]
        assert lines[1].split() == [
            "Order", "Symbol", "Side", "Qty", "Type", "Status", "Filled", "Fill", "rate", "Arrival",
            "Avg", "fill", "Slip", "bps", "Cost", "$", "1st", "fill", "Last", "fill",
        ]  # fmt: skip
        rows = {
            line.split()[0] if not line.startswith("└") else line.split()[1]: line.split()
            for line in lines[2:6]
        }
        assert rows["OT-10"] == [
            "OT-10", "AAPL", "BUY", "34", "TWAP", "WORKING", "20", "59%", "410.00", "410.12",
            "+3.0", "+2.45", "30.0s", "3m", "00s",
        ]  # fmt: skip
        assert rows["OT-11"][:1] == ["└"] and rows["OT-11"][9:13] == ["410.00", "410.10", "+2.4", "+1.70"]
        assert rows["OT-12"][6:9] == ["PARTIAL", "3", "18%"]
        assert rows["OT-9"] == [
            "OT-9", "MSFT", "SELL", "10", "MKT", "FILLED", "10", "100%", "405.00", "404.90",
            "+2.5", "+1.00", "30.0s", "30.0s",
        ]  # fmt: skip
        legend = str(screen.query_one("#executions-legend", Static).render())
        assert "positive is a cost" in legend and "arrival price" in legend


async def test_the_report_follows_new_executions_and_keys_work_on_it() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionReportScreen) and screen.has_class("-empty")
        client.push(execution())
        await settle(pilot)
        assert not screen.has_class("-empty") and len(screen.query(ExecutionSection)) == 1
        assert "1 running" in str(screen.query_one("#executions-title", Static).render())
        client.push(FillEvent(fills()[0].fill))
        client.push(execution(ExecutionStatus.COMPLETED, minutes=9))
        await settle(pilot)
        section = screen.query_one(ExecutionSection)
        assert section.border_title == "Pair AAPL/MSFT  ·  COMPLETED"
        assert "The console has not seen this execution's orders" in plain(section)
        await pilot.press("ctrl+k")
        await settle(pilot)
        assert client.sent == [Kill()] and isinstance(app.screen, ExecutionReportScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ExecutionReportScreen)


async def test_the_report_drops_to_the_essential_columns_at_80() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        section = app.screen.query_one(ExecutionSection)
        lines = plain(section, width=section.content_size.width).splitlines()
        header = next(line for line in lines if line.startswith("Order"))
        assert header.split() == [
            "Order",
            "Symbol",
            "Filled/qty",
            "Arrival",
            "Avg",
            "fill",
            "Slip",
            "bps",
            "Last",
            "fill",
        ]
        assert "…" not in "\n".join(lines)
