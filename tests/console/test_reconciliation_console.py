"""Reconciliation on the console: the dialog that opens by itself, the approval, the RECOVERING
banner; and the new keys (settings, footer width, command palette)."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import cast

from rich.console import Console, RenderableType
from textual.widgets import Static
from textual.widgets._footer import FooterKey  # Textual exports no public type for a footer's key

from console.app import Hotkeys, OneTapApp
from console.keys import keymap
from console.screens import ExecutionReportScreen, ReconciliationDialog
from console.widgets import HaltBanner, OrderBlotter, RiskGauges
from engine.config import HotkeySettings
from engine.model import TradingState
from engine.model.events import ApproveRecovery, Kill, RiskEvent, SnapshotEvent
from tests.console.execution_fixtures import algo_snapshot, reconciliation
from tests.console.helpers import FakeClient, settle
from tests.console.risk_fixtures import risk


def figures(dialog: ReconciliationDialog) -> str:
    static = dialog.query_one("#reconciliation-figures", Static)
    console = Console(width=90, file=io.StringIO(), record=True, color_system=None)
    console.print(cast(RenderableType, static.content))
    return console.export_text()


def recovering_snapshot(problems: tuple[str, ...] = ()) -> SnapshotEvent:
    """The algo desk after a restart: RECOVERING, with a summary waiting for approval."""
    return replace(
        algo_snapshot(reconciliation=reconciliation(problems=problems)),
        risk=risk(TradingState.RECOVERING, "restart: reconciliation waiting for approval"),
    )


async def test_the_dialog_shows_every_list_and_a_approves() -> None:
    client = FakeClient(recovering_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReconciliationDialog), "it opens by itself"
        text = figures(dialog)
        for expected in (
            "Open orders matched      3",
            "Cancels sent             1",
            "Fills applied (2)        E-77, E-78",
            "LOST (1)                 OT-41",
            "EXTERNAL (2)             9001, 9002",
            "Position mismatches (1)  AAPL: engine 10, broker 12",
            "Problems (0)             none",
        ):
            assert expected in text
        verdict = str(dialog.query_one("#reconciliation-verdict", Static).render())
        assert "Press a to approve" in verdict
        await pilot.press("x", "q")  # desk keys do nothing here
        await settle(pilot)
        assert client.sent == [] and isinstance(app.screen, ReconciliationDialog)
        await pilot.press("a")
        await settle(pilot)
        assert client.sent == [ApproveRecovery()]
        assert not isinstance(app.screen, ReconciliationDialog)


async def test_with_problems_approval_is_not_offered_and_ctrl_k_works() -> None:
    client = FakeClient(recovering_snapshot(problems=("audit chain broken at entry 17",)))
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReconciliationDialog) and dialog.has_class("-problems")
        assert (
            figures(dialog)
            .splitlines()[0]
            .startswith("Problems (1)             audit chain broken at entry 17")
        )
        verdict = str(dialog.query_one("#reconciliation-verdict", Static).render())
        assert "Trading stays refused" in verdict and "approval is not offered" in verdict
        assert "a" not in {b.binding.key for b in dialog.active_bindings.values() if b.enabled}
        await pilot.press("a")
        await settle(pilot)
        assert client.sent == [] and isinstance(app.screen, ReconciliationDialog)
        await pilot.press("ctrl+k")
        await settle(pilot)
        assert client.sent == [Kill()] and isinstance(app.screen, ReconciliationDialog)


async def test_a_refused_approval_is_shown_in_the_dialog() -> None:
    client = FakeClient(recovering_snapshot())
    client.approve_refusal = ("NOT_RECOVERING", "there is no reconciliation waiting for approval")
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ReconciliationDialog)
        outcome = app.screen.query_one("#reconciliation-outcome", Static)
        assert (
            str(outcome.render())
            == "Refused [NOT_RECOVERING]: there is no reconciliation waiting for approval"
        )


async def test_the_banner_says_recovering_and_a_on_the_desk_brings_the_dialog_back() -> None:
    client = FakeClient(recovering_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ReconciliationDialog) and client.sent == []
        banner = app.screen.query_one(HaltBanner)
        assert banner.display and banner.has_class("-recovering")
        assert str(banner.render()).startswith("RECOVERING: review the reconciliation and approve it")
        assert "RECOVERING" in app.screen.query_one(RiskGauges).render().plain
        footer = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show and b.enabled}
        assert "a" in footer and "R" not in footer
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ReconciliationDialog)
        await pilot.press("a")
        await settle(pilot)
        assert client.sent == [ApproveRecovery()]
        client.push(reconciliation(approved=True))
        client.push(RiskEvent(risk()))
        await settle(pilot)
        assert not app.screen.query_one(HaltBanner).display
        footer = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show and b.enabled}
        assert "a" not in footer


async def test_a_summary_pushed_later_opens_the_dialog_and_approval_elsewhere_closes_it() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("e")  # over another screen too
        await settle(pilot)
        client.push(reconciliation())
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReconciliationDialog)
        client.push(reconciliation(problems=("position store unreadable",)))
        await settle(pilot)
        assert app.screen is dialog and dialog.has_class("-problems"), "a newer summary redraws the open one"
        client.push(reconciliation(approved=True))
        await settle(pilot)
        assert isinstance(app.screen, ExecutionReportScreen), "approved elsewhere: the dialog closes"


# --------------------------------------------------------------------------- keys
def test_the_new_keys_have_defaults_when_the_settings_do_not_name_them() -> None:
    hotkeys = HotkeySettings(execute="X")
    assert hotkeys.execute == "X"
    assert (hotkeys.cancel_all, hotkeys.modify, hotkeys.filter_open, hotkeys.executions, hotkeys.approve) == (
        "C",
        "m",
        "o",
        "e",
        "a",
    )
    bound = keymap(Hotkeys(modify="M", approve="A"))
    assert bound["onetap.modify"] == "M" and bound["onetap.approve"] == "A"


async def test_remapped_keys_work_and_the_panes_name_them() -> None:
    client = FakeClient(algo_snapshot())
    app = OneTapApp(client, hotkeys=Hotkeys(filter_open="O", executions="E"))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        blotter = app.screen.query_one(OrderBlotter)
        assert "O open only" in str(blotter.border_subtitle)
        await pilot.press("tab", "O")
        await settle(pilot)
        assert blotter.open_only
        await pilot.press("E")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionReportScreen)


async def test_the_footer_fits_80_columns_with_the_most_keys_it_can_show() -> None:
    """Halted (resume offered) with the blotter focused (cancel offered): every key on the line."""
    client = FakeClient(replace(algo_snapshot(), risk=risk(TradingState.HALTED, "operator kill switch")))
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        await settle(pilot)
        await pilot.pause(0.1)
        keys = [k for k in app.screen.query(FooterKey) if k.display]
        assert not [k for k in keys if k.has_class("-command-palette")]  # "? Help" took its place
        assert [k.key for k in keys] == ["c", "x", "F", "e", "v", "ctrl+k", "R", "q", "question_mark"]
        assert max(k.region.right for k in keys) <= 80


async def test_the_command_palette_offers_the_keys_the_footer_has_no_room_for() -> None:
    app = OneTapApp(FakeClient(algo_snapshot()))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Cancel all open orders (C)",
            "Modify the selected order (m)",
            "Blotter: open orders only / all (o)",
            "Execution report (e)",
            "Risk limits (L)",
        ):
            assert title in titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title.startswith("Blotter"))
        command.callback()
        await settle(pilot)
        assert app.screen.query_one(OrderBlotter).open_only
