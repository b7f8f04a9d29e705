"""The desk's help overlay, quotes pane and event log (issue 19), driven through the real app.

The app talks to ``FakeClient`` (the transport double); the events it pushes are the engine's
own types, so what these tests show is what the console does with what the engine says.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from datetime import timedelta
from types import ModuleType

import pytest
from rich.cells import cell_len
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets.data_table import ColumnKey

import console.screens as screens_package
import console.widgets as widgets_package
from console.app import OneTapApp
from console.journal import EntryKind, Journal
from console.keys import keymap
from console.screens.help import HelpScreen, bindings_of, help_text, key_display, sections
from console.widgets.event_log import EventLogPane
from console.widgets.quotes import REDRAW_EVERY_S, QuotesPane, health
from console.widgets.status import StatusLine
from console.widgets.table import SyncedTable
from engine.config import HotkeySettings
from engine.model import TradingState
from engine.model.events import MarketEvent, NoticeEvent, RiskAlert, StatusEvent
from tests.console.helpers import T0, FakeClient, settle, table_rows
from tests.console.test_widgets import quote, snapshot


def _modules(package: ModuleType) -> list[ModuleType]:
    import importlib
    import pkgutil

    return [
        importlib.import_module(f"{package.__name__}.{m.name}")
        for m in pkgutil.iter_modules(package.__path__)
    ]


# ---------------------------------------------------------------------------------------- help
async def test_question_mark_opens_the_help_and_escape_or_question_mark_closes_it() -> None:
    app = OneTapApp(FakeClient(snapshot()))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)
        assert app.screen is app.desk


async def test_the_kill_switch_works_above_the_help() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.press("ctrl+k")
        await settle(pilot)
        assert [type(c).__name__ for c in client.sent] == ["Kill"]


async def test_the_help_lists_every_binding_of_every_screen_and_pane_with_its_remapped_key() -> None:
    keys = HotkeySettings(research="B", quotes="Q")
    app = OneTapApp(FakeClient(snapshot()), hotkeys=keys)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        text = help_text(app, keymap(keys)).plain
        seen = 0
        for section in sections():
            assert section.title in text
            for binding in bindings_of(section.owner):
                assert (binding.description or binding.action) in text, (section.title, binding)
                line = f"{key_display(app, binding, keymap(keys))}"
                assert line in text, (section.title, binding)
                seen += 1
        assert seen > 30
        assert "  B  " in text.replace("B ", "B  ") and "Research" in text  # the remapped key is shown
        assert key_display(app, Binding("b", "app.research", id="onetap.research"), keymap(keys)) == "B"
        for state in TradingState:
            assert f"  {state.value}" in text
        assert "Kill level 1" in text and "Kill level 2" in text


def test_every_screen_and_pane_with_keys_has_a_section_in_the_help() -> None:
    """A new screen or pane with BINDINGS that the help does not list fails here."""
    owners = {s.owner for s in sections()}
    missing = []
    for module in _modules(screens_package) + _modules(widgets_package):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or cls is HelpScreen:
                continue
            if issubclass(cls, Screen | Widget) and cls.__dict__.get("BINDINGS") and cls not in owners:
                missing.append(cls.__qualname__)
    assert not missing, f"not in the help: {missing}"


async def test_escape_closes_the_command_palettes_keys_panel() -> None:
    app = OneTapApp(FakeClient(snapshot()))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.action_show_help_panel()
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")


# ---------------------------------------------------------------------------------------- quotes
async def test_the_quotes_pane_shows_a_quote_that_arrives_with_its_day_change_and_health() -> None:
    snap = replace(snapshot(), status=replace(snapshot().status, closes={"NVDA": 100.0}))
    client = FakeClient(snap)
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert not [r for r in table_rows(app, "quotes-table") if r[0] == "NVDA"]
        client.push(MarketEvent(T0, (replace(quote("NVDA", 102.0), bid=101.95, ask=102.05),)))
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)  # the quotes pane repaints at most twice a second
        row = next(r for r in table_rows(app, "quotes-table") if r[0] == "NVDA")
        assert row[1:] == ["101.95", "102.05", "102.00", "+2.00%", "9.8", "ok 0s"]
        client.push(
            MarketEvent(T0 + timedelta(minutes=20), (quote("AMD", 150.0, T0 + timedelta(minutes=20)),))
        )
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)  # the quotes pane repaints at most twice a second
        row = next(r for r in table_rows(app, "quotes-table") if r[0] == "NVDA")
        assert row[4] == "+2.00%" and row[6] == "stale 20m"
        assert "stale" in str(app.screen.query_one(QuotesPane).border_subtitle)


async def test_quotes_folded_between_repaints_show_the_latest_and_the_columns_fit_them() -> None:
    """Steps that come faster than the pane repaints are folded: the repaint shows the latest
    value of each symbol; a column grows to its widest cell and shrinks back when that cell
    narrows (the table re-sizes a column once, not on every cell: issue 18)."""
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        client.push(MarketEvent(T0, (quote("NVDA", 90.0), quote("AMD", 150.0))))
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)
        table = app.screen.query_one("#quotes-table", SyncedTable)
        narrow = table.columns[ColumnKey("last")].content_width
        for k, price in enumerate((91.0, 12345.5, 92.0, 123456.25)):  # within one repaint interval
            client.push(MarketEvent(T0 + timedelta(seconds=k + 1), (quote("NVDA", price),)))
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)
        rows = {r[0]: r for r in table_rows(app, "quotes-table")}
        assert rows["NVDA"][3] == "123,456.25" and rows["AMD"][3] == "150.00"
        wide = table.columns[ColumnKey("last")].content_width
        assert wide == cell_len("123,456.25") > narrow
        client.push(MarketEvent(T0 + timedelta(seconds=9), (quote("NVDA", 93.0),)))
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)
        assert next(r for r in table_rows(app, "quotes-table") if r[0] == "NVDA")[3] == "93.00"
        assert table.columns[ColumnKey("last")].content_width == narrow


def test_a_crossed_or_empty_quote_is_bad_data() -> None:
    crossed = replace(quote("X", 10.0), bid=10.2, ask=10.0)
    assert health(crossed, T0)[0] == "bad" and "crossed" in health(crossed, T0)[1]
    assert health(replace(quote("X", 10.0), bid=0.0), T0)[0] == "bad"
    assert health(quote("X", 10.0), T0 + timedelta(minutes=14)) == ("ok", "ok 14m")


async def test_closes_from_a_status_event_move_the_day_change() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        client.push(MarketEvent(T0, (quote("NVDA", 90.0),)))
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)  # the quotes pane repaints at most twice a second
        assert next(r for r in table_rows(app, "quotes-table") if r[0] == "NVDA")[4] == "-"
        status = StatusEvent(T0, "paper", "paper", "running", "2024-03-15", 60.0, closes={"NVDA": 100.0})
        client.push(status)
        await settle(pilot)
        await pilot.pause(REDRAW_EVERY_S)  # the quotes pane repaints at most twice a second
        assert next(r for r in table_rows(app, "quotes-table") if r[0] == "NVDA")[4] == "-10.00%"


# ---------------------------------------------------------------------------------------- event log
async def test_the_event_log_keeps_a_refusal_with_its_code_a_data_problem_and_filters_them() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        client.halted = True
        await pilot.press("x")  # refused: HALTED
        await settle(pilot)
        bad_row = "bars.csv:17: NVDA 2024-03-14: high < low (high 99 < low 101); row excluded"
        client.push(NoticeEvent(T0, "error", bad_row, topic="data"))
        client.push(RiskAlert(T0, "DRAWDOWN", "warning", "drawdown 8% of 10%"))  # type: ignore[arg-type]
        client.push(NoticeEvent(T0, "info", "cards refreshed"))
        await settle(pilot)
        rows = table_rows(app, "events-table")
        assert rows[0][1:] == ["NOTICE", "cards refreshed"]
        refused = next(r for r in rows if r[1] == "REFUSED")
        assert refused[2].startswith("HALTED execute_card: ")
        assert sum(1 for r in rows if r[1] == "REFUSED") == 1  # event and result: one refusal
        assert next(r for r in rows if r[1] == "DATA")[2] == bad_row
        assert next(r for r in rows if r[1] == "ALERT")[2] == "DRAWDOWN drawdown 8% of 10%"
        assert not [t for t in app._notifications if bad_row in str(t.message)]  # no toast for data
        await pilot.press("l")  # focus the log (wide: it is beside the panes)
        assert app.focused is not None and app.focused.id == "events-table"
        kinds = []
        for _ in range(5):
            await pilot.press("f")
            await settle(pilot)
            kinds.append({r[1] for r in table_rows(app, "events-table")})
        assert kinds == [set(), {"REFUSED"}, {"ALERT"}, {"DATA"}, {"NOTICE", "REFUSED", "DATA", "ALERT"}]
        assert "all · f filter" in str(app.screen.query_one(EventLogPane).border_subtitle)


async def test_data_problems_said_before_the_console_subscribed_arrive_with_the_snapshot_once() -> None:
    early = NoticeEvent(T0, "warning", "prices.csv:9: AMD: price jump (+31%)", topic="data")
    snap = replace(snapshot(), notices=(early, NoticeEvent(T0, "info", "engine started")))
    client = FakeClient(snap)
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        client.push(early)  # heard live too (a reconnect's snapshot repeats it): kept once
        client.push(snap)
        await settle(pilot)
        rows = table_rows(app, "events-table")
        assert [r[1] for r in rows if "price jump" in r[2]] == ["DATA"]
        assert [r[2] for r in rows if r[1] == "NOTICE"].count("engine started") == 1


def test_the_journal_is_bounded_and_counts_versions() -> None:
    journal = Journal(max_entries=3)
    for i in range(5):
        journal.add(T0, EntryKind.FILL, "info", f"fill {i}")
    assert [e.text for e in journal.entries()] == ["fill 2", "fill 3", "fill 4"] and journal.version == 5
    assert journal.add_once(T0, EntryKind.DATA, "warning", "x") is not None
    assert journal.add_once(T0, EntryKind.DATA, "warning", "x") is None


# ---------------------------------------------------------------------------------------- layout
async def test_a_narrow_desk_shows_the_quotes_and_the_log_in_place_of_the_panes() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        desk = app.desk
        assert desk is not None
        positions, quotes, events = (desk.query_one(f"#{n}") for n in ("positions", "quotes", "events"))
        assert positions.region.height > 5 and quotes.region.height == 0 and events.region.height == 0
        await pilot.press("t")
        await settle(pilot)
        assert quotes.region.height > 15 and positions.region.height == 0
        assert app.focused is not None and app.focused.id == "quotes-table"
        await pilot.press("l")
        await settle(pilot)
        assert events.region.height > 15 and quotes.region.height == 0
        await pilot.press("escape")
        await settle(pilot)
        assert positions.region.height > 5 and events.region.height == 0
        assert app.focused is not None and app.focused.id == "cards-table"
        await pilot.press("t", "t")
        await settle(pilot)
        assert positions.region.height > 5 and quotes.region.height == 0


async def test_a_wide_desk_shows_all_six_panes() -> None:
    app = OneTapApp(FakeClient(snapshot()))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        desk = app.desk
        assert desk is not None
        for name in ("positions", "cards", "risk", "blotter", "quotes", "events"):
            assert desk.query_one(f"#{name}").region.height >= 10, name


@pytest.mark.parametrize("mode", ["attached", "ibkr"])
async def test_the_header_fits_160_columns_attached_and_on_ibkr(mode: str) -> None:
    """Issue 19: the header was cut at 160 columns in attach and IBKR modes."""
    status = StatusEvent(
        T0,
        broker="ibkr" if mode == "ibkr" else "paper",
        mode="live read-only" if mode == "ibkr" else "paper",
        feed="live" if mode == "ibkr" else "running",
        session_day="2024-03-15",
        speed=60.0,
        link="connected" if mode == "ibkr" else "",
        server_version=176,
        account="DU1234567",
        data_type="delayed",
        heartbeat=T0,
        broker_equity=1_234_567.0,
        buying_power=4_938_268.0,
    )
    app = OneTapApp(FakeClient(replace(snapshot(), status=status)))
    app.client.description = "attached to /run/user/1000/onetap/a-long-directory/engine.sock"
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        line = str(app.screen.query_one(StatusLine).render())
        assert "engine.sock" in line and "/run/user" not in line
        if mode == "ibkr":
            assert "DU1234567 connected delayed data" in line and "NLV 1.23M BP 4.94M" in line
        assert cell_len(line) <= 160, line


def test_every_desk_and_pane_action_the_footer_labels_tersely_has_its_meaning_in_the_help() -> None:
    from console.screens.desk import DeskScreen
    from console.screens.help import DETAILS

    terse = [
        b.action for owner in (DeskScreen, EventLogPane) for b in bindings_of(owner) if b.key != "escape"
    ]
    assert [a for a in terse if a not in DETAILS] == []
