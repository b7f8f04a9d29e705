"""The console's risk surface: gauges and banner, risk alerts, the risk detail screen, the limits
dialog, flatten and the duplicate-order override, against the transport double.

As in ``test_widgets``, events are pushed by hand and the desk is flushed explicitly, so what
is asserted depends on the hand-built values in ``risk_fixtures`` alone.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import cast

import pytest
from rich.console import Console, RenderableType
from rich.text import Text
from textual.widgets import Input, Static

from console.app import Hotkeys, OneTapApp
from console.keys import keymap
from console.screens import ConfirmDialog, LimitsDialog, RiskDetailScreen
from console.state import DeskState
from console.widgets import HaltBanner, MessageLine, RiskGauges
from console.widgets.fmt import UTILISATION_BREACH, UTILISATION_WARN
from console.widgets.risk import gauge, state_label, state_line
from console.widgets.risk_report import (
    CorrelationSection,
    FiguresSection,
    GreeksSection,
    PausedStrategies,
    ReportHeader,
    StressSection,
    VarSection,
    correlation_style,
)
from engine.config import HotkeySettings
from engine.model import TradingState
from engine.model.events import (
    ExecuteCard,
    Flatten,
    Kill,
    LimitsEvent,
    ResumeStrategy,
    RiskAlert,
    RiskEvent,
    RiskReportEvent,
    SetLimit,
)
from tests.console.helpers import T0, FakeClient, settle, shown_toasts, table_rows
from tests.console.risk_fixtures import LIMITS, risk, risk_report, risk_snapshot


def plain(section: Static, width: int = 160) -> str:
    """What a section's content (a Rich table or text) reads as, without colour."""
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(cast(RenderableType, section.content))
    return console.export_text()


def styles_of(line: Text) -> set[str]:
    return {str(span.style) for span in line.spans}


def style_at(line: Text, offset: int) -> str:
    """The style of the span covering ``offset`` (empty where only the line's base style applies)."""
    return " ".join(str(s.style) for s in line.spans if s.start <= offset < s.end)


def gauge_line(app: OneTapApp, label: str) -> Text:
    text = app.screen.query_one(RiskGauges).render()
    return next(line for line in text.split("\n") if line.plain.startswith(label))


# --------------------------------------------------------------------------- gauges and banner
@pytest.mark.parametrize(
    ("used", "style"),
    [
        (0.5, "green"),
        (0.749, "green"),
        (UTILISATION_WARN, "bold yellow"),
        (0.99, "bold yellow"),
        (UTILISATION_BREACH, "bold red"),
        (1.4, "bold red"),
    ],
)
def test_a_gauge_is_green_then_amber_from_75_percent_then_red_at_its_limit(used: float, style: str) -> None:
    line = gauge("VaR 95%", used * 0.02, 0.02, 60)
    assert style_at(line, line.plain.index("█")) == style
    assert line.plain.endswith(f"{used * 0.02:.2%} / 2.00%")
    assert style_at(line, len(line) - 1) == (style if used >= UTILISATION_WARN else "")


async def test_the_desk_gauges_colour_each_limit_by_its_own_use() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        client.push(RiskEvent(risk(var_95=0.016, day_loss=0.021, gross_exposure=0.5)))  # 80%, 105%, 50%
        await settle(pilot)
        assert "bold yellow" in styles_of(gauge_line(app, "VaR 95%"))
        assert "bold red" in styles_of(gauge_line(app, "Day loss"))
        assert styles_of(gauge_line(app, "Gross")) & {"bold yellow", "bold red"} == set()
        assert "2.10% / 2.00%" in gauge_line(app, "Day loss").plain


def test_the_trading_state_reads_with_its_kill_level() -> None:
    assert state_label(risk()) == "ACTIVE"
    assert state_label(risk(TradingState.REDUCING, "drawdown")) == "REDUCING"
    assert state_label(risk(TradingState.HALTED, "kill", kill_level=1)) == "HALTED · kill switch"
    assert state_label(risk(TradingState.HALTED, "flatten", kill_level=2)) == "HALTED · flattening"
    assert "green" in styles_of(state_line(risk())).pop()
    assert "yellow" in styles_of(state_line(risk(TradingState.REDUCING))).pop()
    assert "red" in styles_of(state_line(risk(TradingState.HALTED))).pop()


async def test_the_gauges_show_halted_flattening_and_the_paused_strategies() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        state = TradingState.HALTED
        client.push(RiskEvent(risk(state, "operator flatten", kill_level=2, paused=("momentum", "pairs"))))
        await settle(pilot)
        text = app.screen.query_one(RiskGauges).render().plain
        assert "HALTED · flattening" in text
        assert "Paused    momentum, pairs" in text
        banner = str(app.screen.query_one(HaltBanner).render())
        assert banner.startswith("HALTED: operator flatten since 2024-03-15 10:30:00 EDT")
        assert "every position is being closed at market" in banner


async def test_reducing_shows_an_amber_banner_with_its_reason() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        banner = app.screen.query_one(HaltBanner)
        client.push(RiskEvent(risk(TradingState.REDUCING, "drawdown 10.40% exceeds 10.00%")))
        await settle(pilot)
        assert banner.display and banner.has_class("-reducing") and not banner.has_class("-halted")
        assert str(banner.render()) == (
            "REDUCING: only orders that reduce risk are accepted (drawdown 10.40% exceeds 10.00%)"
        )
        assert "REDUCING" in gauge_line(app, "Trading").plain
        client.push(RiskEvent(risk(TradingState.HALTED, "kill")))
        await settle(pilot)
        assert banner.has_class("-halted") and not banner.has_class("-reducing")
        client.push(RiskEvent(risk()))
        await settle(pilot)
        assert not banner.display


# --------------------------------------------------------------------------- state and alerts
def test_desk_state_folds_reports_limits_and_alerts() -> None:
    state = DeskState()
    assert state.apply(risk_snapshot(report=risk_report(), paused=("momentum",))) >= {"report", "limits"}
    assert state.report == risk_report() and state.limits == LIMITS
    assert state.paused_strategies == ("momentum",)
    assert state.apply(RiskReportEvent(risk_report(scale=2.0))) == {"report"}
    assert state.report is not None and state.report.var[0].var_95 == 3_040.0
    assert state.apply(LimitsEvent({"max_order_value": 20_000.0})) == {"limits"}
    assert state.limits == {"max_order_value": 20_000.0}
    alert = RiskAlert(T0, "LIMIT_CHANGED", "info", "max_order_value 25,000 -> 20,000", "max_order_value")
    assert state.apply(alert) == {"alert", "notice"}
    assert state.line is not None and state.line.text == "LIMIT_CHANGED: max_order_value 25,000 -> 20,000"
    assert list(state.alerts) == [alert] and state.notices[-1].level == "info"
    state.apply(replace(risk_snapshot(), risk_report=None, limits={}))
    assert state.report is None and state.limits == {}


async def test_a_risk_alert_is_toasted_with_its_severity_and_put_on_the_message_line() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        message = "momentum paused after 5 losing trades in a row"
        client.push(RiskAlert(T0, "STRATEGY_PAUSED", "warning", message, "momentum"))
        client.push(RiskAlert(T0, "HALTED", "error", "day loss 2.10% exceeds 2.00%"))
        await settle(pilot)
        toasts = [(n.title, n.severity, n.message) for n in shown_toasts(app)]
        assert ("Risk: STRATEGY_PAUSED", "warning", message) in toasts
        assert ("Risk: HALTED", "error", "day loss 2.10% exceeds 2.00%") in toasts
        line = app.screen.query_one(MessageLine)
        assert "HALTED: day loss 2.10% exceeds 2.00%" in str(line.render())
        assert line.has_class("-error")


# --------------------------------------------------------------------------- risk detail screen
async def test_the_risk_detail_screen_says_when_no_report_has_arrived_then_fills_in() -> None:
    client = FakeClient(risk_snapshot(report=None))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RiskDetailScreen) and screen.has_class("-no-report")
        empty = screen.query_one("#risk-detail-empty", Static)
        assert empty.display and "No risk report has arrived" in str(empty.render())
        client.push(RiskReportEvent(risk_report()))
        await settle(pilot)
        assert not screen.has_class("-no-report")
        assert "Historical" in plain(screen.query_one(VarSection))


async def test_the_risk_detail_screen_renders_every_section_of_the_report() -> None:
    client = FakeClient(risk_snapshot(report=risk_report(), paused=("momentum",)))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RiskDetailScreen)
        header = plain(screen.query_one(ReportHeader))
        assert "as of 2024-03-15 10:30:00 EDT" in header and "history 250 sessions" in header
        var = plain(screen.query_one(VarSection)).splitlines()
        assert var[0].split() == ["Historical", "%", "Parametric", "%", "Monte", "Carlo", "%"]
        assert var[1].split() == ["VaR", "95%", "1,520", "1.52%", "1,410", "1.41%", "1,450", "1.45%"]
        assert var[4].split()[:4] == ["CVaR", "99%", "3,050", "3.05%"]
        assert screen.query_one(VarSection).border_subtitle == "limit: VaR 95% ≤ 2.00% of equity"
        figures = plain(screen.query_one(FiguresSection))
        for expected in ("Volatility", "18.42%", "Beta to SPY", "1.07", "3.6", "of 5 holdings", "1.31"):
            assert expected in figures
        matrix = plain(screen.query_one(CorrelationSection)).splitlines()
        assert matrix[0].split() == ["AAPL", "MSFT", "GOOG", "IBM", "AMZN"]
        assert matrix[4].split() == ["IBM", "+0.31", "+0.28", "+0.12", "+1.00", "-0.05"]
        stress = plain(screen.query_one(StressSection)).splitlines()
        assert stress[1].split() == ["2008", "crisis", "-37.0%", "3.0x", "-24,560", "-24.56%", "7,420"]
        greeks = plain(screen.query_one(GreeksSection))
        assert "Delta  +62,500.00" in greeks and "Rho" in greeks
        paused = screen.query_one(PausedStrategies)
        assert paused.paused == ("momentum",)
        assert app.focused is not None and app.focused.id == "paused-list"


def test_correlation_cells_are_coloured_by_magnitude() -> None:
    assert correlation_style(0.82) == correlation_style(-0.75) == "bold red"
    assert correlation_style(0.55) == correlation_style(-0.4) == "yellow"
    assert correlation_style(0.12) == correlation_style(-0.05) == "green"


async def test_the_risk_detail_screen_follows_new_reports_and_risk_states() -> None:
    client = FakeClient(risk_snapshot(report=risk_report()))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        client.push(RiskReportEvent(risk_report(scale=2.0)))
        client.push(RiskEvent(risk(TradingState.REDUCING, "drawdown", paused=("pairs",))))
        await settle(pilot)
        assert isinstance(screen, RiskDetailScreen)
        var = plain(screen.query_one(VarSection)).splitlines()
        assert var[1].split()[2:4] == ["3,040", "3.04%"]
        assert screen.query_one(PausedStrategies).paused == ("pairs",)
        assert "trading REDUCING" in str(screen.query_one("#risk-detail-title", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RiskDetailScreen)


async def test_enter_on_a_paused_strategy_sends_resume_strategy() -> None:
    client = FakeClient(risk_snapshot(report=risk_report(), paused=("momentum", "mean_reversion")))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        await pilot.press("j", "enter")
        await settle(pilot)
        assert client.sent == [ResumeStrategy("mean_reversion")]
        await pilot.press("k", "enter")
        await settle(pilot)
        assert client.sent[-1] == ResumeStrategy("momentum")


async def test_ctrl_k_sends_kill_from_the_risk_detail_screen() -> None:
    client = FakeClient(risk_snapshot(report=risk_report(), paused=("momentum",)))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        await pilot.press("ctrl+k")
        await settle(pilot)
        assert client.sent == [Kill()]
        assert isinstance(app.screen, RiskDetailScreen)


async def test_the_risk_detail_screen_fits_80x24() -> None:
    client = FakeClient(risk_snapshot(report=risk_report(), paused=("momentum",)))
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        var = app.screen.query_one(VarSection)
        assert "…" not in plain(var, width=var.content_size.width)
        assert var.content_size.width <= 80


# --------------------------------------------------------------------------- limits dialog
async def test_the_limits_dialog_sends_set_limit_with_the_typed_value() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("L")
        await settle(pilot)
        assert isinstance(app.screen, LimitsDialog)
        rows = table_rows(app, "limits-table")
        assert [r[0] for r in rows] == sorted(LIMITS)
        assert rows[1] == ["drawdown_limit_pct", "0.1", "10.00% of equity"]
        await pilot.press("j", "enter", *"0.12", "enter")
        await settle(pilot)
        assert client.sent == [SetLimit("drawdown_limit_pct", 0.12)]
        outcome = app.screen.query_one("#limits-outcome", Static)
        assert str(outcome.render()) == "drawdown_limit_pct is now 0.12 (kept across restarts)"
        assert outcome.has_class("-ok")
        assert table_rows(app, "limits-table")[1][1] == "0.12"
        client.push(LimitsEvent({**LIMITS, "drawdown_limit_pct": 0.12, "max_order_value": 20_000.0}))
        await settle(pilot)
        assert table_rows(app, "limits-table")[4][:2] == ["max_order_value", "20000"]
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, LimitsDialog)


async def test_a_refused_limit_is_shown_in_the_dialog() -> None:
    client = FakeClient(risk_snapshot())
    client.limits = dict(LIMITS)
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("L", "enter", *"-1", "enter")
        await settle(pilot)
        assert client.sent == [SetLimit("daily_loss_limit_pct", -1.0)]
        assert isinstance(app.screen, LimitsDialog)
        outcome = app.screen.query_one("#limits-outcome", Static)
        assert outcome.has_class("-error")
        assert str(outcome.render()) == "Refused [BAD_LIMIT]: daily_loss_limit_pct = -1 is not allowed"
        assert table_rows(app, "limits-table")[0][1] == "0.02"
        assert app.screen.query_one(Input).has_focus  # correct it and send again


@pytest.mark.parametrize("typed", ["1e400", "-1e999"])
async def test_an_infinite_limit_is_refused_in_the_dialog_before_it_is_sent(typed: str) -> None:
    """The number field takes no letters ("inf", "nan"), but float() reads 1e400 as infinity."""
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("L", "enter", *typed, "enter")
        await settle(pilot)
        assert isinstance(app.screen, LimitsDialog)
        outcome = app.screen.query_one("#limits-outcome", Static)
        assert str(outcome.render()) == f"daily_loss_limit_pct must be a finite number, got {typed!r}"
        assert outcome.has_class("-error")
        assert client.sent == []


async def test_keys_typed_into_the_value_stay_there() -> None:
    """Letters typed into the number field neither quit, resume nor execute; Enter on nothing asks."""
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("L", "enter", "q", "R", "x", "F", "enter")
        await settle(pilot)
        assert isinstance(app.screen, LimitsDialog) and client.sent == []
        outcome = app.screen.query_one("#limits-outcome", Static)
        assert str(outcome.render()) == "type the new value first"
        assert app.screen.query_one(Input).region.bottom <= 24  # the input is on a 24-row screen


async def test_the_limits_dialog_says_when_no_limits_are_known() -> None:
    app = OneTapApp(FakeClient(risk_snapshot(limits={})))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("L")
        await settle(pilot)
        assert app.screen.has_class("-empty")
        assert app.screen.query_one("#limits-empty", Static).display


# --------------------------------------------------------------------------- flatten
async def test_flatten_asks_first_and_sends_only_on_y() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("F")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.id == "flatten-dialog"
        body = str(dialog.query_one(".confirm-body", Static).render())
        assert "every position (2: AAPL, MSFT) is closed with a market order" in body
        assert "Trading is HALTED" in body
        await pilot.press("enter")  # the focus is on Cancel: a stray Enter does not flatten
        await settle(pilot)
        assert client.sent == [] and not isinstance(app.screen, ConfirmDialog)
        for cancel in ("n", "escape"):
            await pilot.press("F", cancel)
            await settle(pilot)
            assert client.sent == [] and not isinstance(app.screen, ConfirmDialog)
        await pilot.press("F", "y")
        await settle(pilot)
        assert client.sent == [Flatten()]
        assert not isinstance(app.screen, ConfirmDialog)


async def test_ctrl_k_works_inside_the_flatten_dialog() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("F", "ctrl+k")
        await settle(pilot)
        assert client.sent == [Kill()]
        assert isinstance(app.screen, ConfirmDialog)


# --------------------------------------------------------------------------- duplicate override
async def test_a_duplicate_refusal_asks_and_y_sends_the_card_again_with_the_override() -> None:
    client = FakeClient(risk_snapshot())
    client.duplicates = {"C-1"}
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.id == "duplicate-dialog"
        assert (
            "the same order was sent moments ago"
            in str(dialog.query_one(".confirm-body", Static).render()).lower()
        )
        line = str(app.screen_stack[0].query_one(MessageLine).render())
        assert "REFUSED execute_card [DUPLICATE]: BUY 10 NVDA was sent 2s ago" in line
        await pilot.press("y")
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-1"), ExecuteCard("C-1", override_duplicate=True)]
        assert not isinstance(app.screen, ConfirmDialog)


@pytest.mark.parametrize("key", ["n", "escape", "x", "enter", "space"])
async def test_any_other_key_cancels_the_duplicate_override(key: str) -> None:
    client = FakeClient(risk_snapshot())
    client.duplicates = {"C-1"}
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press(key)
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-1")]
        assert not isinstance(app.screen, ConfirmDialog)


async def test_ctrl_k_works_inside_the_duplicate_dialog() -> None:
    client = FakeClient(risk_snapshot())
    client.duplicates = {"C-1"}
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("x", "ctrl+k")
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-1"), Kill()]
        assert isinstance(app.screen, ConfirmDialog)  # the kill switch took the key; nothing was answered


# --------------------------------------------------------------------------- keys
def test_the_risk_hotkeys_come_from_the_settings() -> None:
    hotkeys = HotkeySettings(flatten="ctrl+f", risk_detail="d", limits="l")
    assert (hotkeys.flatten, hotkeys.risk_detail, hotkeys.limits) == ("ctrl+f", "d", "l")
    bound = keymap(hotkeys)
    assert bound["onetap.flatten"] == "ctrl+f"
    assert bound["onetap.risk_detail"] == "d" and bound["onetap.limits"] == "l"


async def test_the_desk_shows_the_risk_keys_and_they_are_remappable() -> None:
    client = FakeClient(risk_snapshot(report=risk_report()))
    app = OneTapApp(client, hotkeys=Hotkeys(risk_detail="d", limits="l"))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        shown = {
            b.binding.key: b.binding.description
            for b in app.screen.active_bindings.values()
            if b.binding.show
        }
        assert shown["F"] == "Flatten" and shown["d"] == "Risk"
        assert "l" not in shown  # no room in an 80-column footer: the risk pane names it instead
        assert app.screen.query_one(RiskGauges).border_subtitle == "d detail · l limits"
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LimitsDialog)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        assert not isinstance(app.screen, RiskDetailScreen)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, RiskDetailScreen)


# ------------------------------------------------------ limits: keyboard, checks, keeping
async def test_a_letter_typed_into_a_limit_is_refused_with_a_message() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("L", "enter")
        await settle(pilot)
        assert app.screen.query_one(Input).has_focus  # Enter on a limit focuses its value
        await pilot.press("0", "a")
        await settle(pilot)
        outcome = app.screen.query_one("#limits-outcome", Static)
        assert str(outcome.render()).startswith("'a' cannot be part of a number")
        assert outcome.has_class("-error") and app.screen.query_one(Input).value == "0"


async def test_the_value_is_checked_against_the_engines_bounds_as_it_is_typed() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("L", "enter", *"1.5")  # daily_loss_limit_pct is a share of equity
        await settle(pilot)
        outcome = app.screen.query_one("#limits-outcome", Static)
        assert str(outcome.render()).startswith("daily_loss_limit_pct = 1.5: Input should be less than")
        assert outcome.has_class("-error") and client.sent == []
        await pilot.press("backspace", "backspace", "backspace", *"0.03")
        await settle(pilot)
        assert str(outcome.render()) == "Enter sets daily_loss_limit_pct to 0.03 (kept across restarts)"


async def test_this_session_only_is_a_toggle_that_the_command_carries() -> None:
    client = FakeClient(risk_snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("L", "enter", *"0.03", "tab", "space", "shift+tab", "enter")
        await settle(pilot)
        assert client.sent == [SetLimit("daily_loss_limit_pct", 0.03, session_only=True)]
        outcome = app.screen.query_one("#limits-outcome", Static)
        assert str(outcome.render()) == "daily_loss_limit_pct is now 0.03 (this session only)"
