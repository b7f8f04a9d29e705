"""The card detail screen: what it draws from a card's details, plan and notes, and what ``x`` and
Escape do there, on a small host app and on the desk against the transport double.

The cards are built by hand with the namespaced ``details`` keys ``StrategyCard`` documents, so
what is asserted depends on the figures in this file alone.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path
from typing import cast

from rich.console import Console, RenderableType
from textual.app import App
from textual.widgets import Static

from console.app import OneTapApp
from console.messages import CommandRequest
from console.screens.card_detail import NO_LONGER_OFFERED, CardDetailScreen
from console.screens.desk import DeskScreen
from console.state import DeskState
from console.widgets.card_detail import (
    BINDS,
    CardGreeksSection,
    CardHeader,
    CardSection,
    ExitSection,
    NotesSection,
    PlanSection,
    RankingSection,
    SignalsSection,
    SizingSection,
    TrackRecordSection,
    binding_cap,
)
from engine.model import RANKING_FORMULA, Algo, CommandSource, Leg, OrderType, Side, StrategyCard
from engine.model.events import CardsEvent, ExecuteCard
from tests.console.helpers import T0, FakeClient, settle, shown_toasts, table_rows
from tests.console.test_widgets import card as plain_card
from tests.console.test_widgets import snapshot

CSS = Path(__file__).resolve().parents[2] / "console" / "app.tcss"

DETAILS = {
    "ref_price:NVDA": 875.0,
    "signal:momentum_20d": 0.084,
    "signal:volume_z": 2.31,
    "signal:rsi_14": 64.2,
    "score:composite": 1.12,
    "size:capital": 10_500.0,
    "size:risk_budget": 500.0,
    "size:by_risk": 13_125.0,
    "size:by_vol": 10_500.0,
    "size:by_kelly": 15_800.0,
    "size:by_limits": 25_000.0,
    "size:kelly": 0.158,
    "size:vol_annual": 0.42,
    "bt:n": 214,
    "bt:win_rate": 0.58,
    "bt:mean": 0.0061,
    "bt:std": 0.034,
    "bt:avg_win": 0.028,
    "bt:avg_loss": 0.024,
    "bt:symbol_n": 19,
    "bt:symbol_win_rate": 0.63,
    "bt:brier": 0.231,
    "bt:brier_base": 0.244,
    "risk:max_loss": 512.4,
    "risk:reward_risk": 2.14,
    "risk:spread": 0.034,
    "rank:expected_net": 0.0198,
    "rank:sigma": 0.034,
    "rank:book_corr": 0.31,
    "rank:penalty": 0.155,
    "rank:score": 0.49,
    "expected_cost": 4.2,
    "expected_cost_bps": 4.0,
    "expected_commission": 1.0,
    "expected_spread": 2.1,
    "expected_impact": 1.1,
}


def full_card(card_id: str = "C-7", **changes: object) -> StrategyCard:
    """A momentum card carrying every documented key a share card has, a plan and a note."""
    card = StrategyCard(
        card_id=card_id,
        template="momentum",
        name="Momentum NVDA breakout",
        legs=(Leg("NVDA", Side.BUY, 12, OrderType.LMT, 875.5, Algo.LIMIT_AT_MID),),
        confidence=0.62,
        expected_return=0.021,
        max_risk=480.0,
        reason="NVDA 20-day high with rising volume",
        asof=T0,
        horizon_days=5,
        stop_price=835.0,
        target_price=930.0,
        score=0.49,
        details=dict(DETAILS),
        deadline_minutes=30,
        plan=("NVDA: BUY 12 LMT at the mid (875.50), re-priced 3 times, then market",),
        notes=("earnings on 2024-03-20 fall inside the horizon",),
    )
    return replace(card, **changes)  # type: ignore[arg-type]


def bare_card() -> StrategyCard:
    """A card with none of the optional keys, no plan and no notes."""
    legs = (Leg("KO", Side.BUY, 100), Leg("PEP", Side.SELL, 40))
    return StrategyCard("C-9", "pairs", "Pairs KO/PEP", legs, 0.55, 0.004, 150.0, "spread 2.1 std wide", T0)


class Host(App[None]):
    """A minimal app that opens the screen and records the commands it asks for."""

    CSS_PATH = str(CSS)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, card: StrategyCard) -> None:
        super().__init__()
        self.card = card
        self.requests: list[CommandRequest] = []

    def on_mount(self) -> None:
        self.push_screen(CardDetailScreen(self.card))

    def on_command_request(self, message: CommandRequest) -> None:
        self.requests.append(message)


def text_of(section: Static, width: int = 160) -> str:
    """What a section's content reads as, without colour."""
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(cast(RenderableType, section.content))
    return console.export_text()


def section(app: App[None], kind: type[CardSection]) -> CardSection:
    return app.screen.query_one(kind)


def line_with(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(start))


# --------------------------------------------------------------------------- what it draws
async def test_every_section_shows_the_cards_figures() -> None:
    app = Host(full_card())
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, CardDetailScreen)
        title = str(app.screen.query_one("#card-detail-title", Static).render())
        assert "Momentum NVDA breakout" in title and "momentum" in title

        header = text_of(section(app, CardHeader))
        assert "BUY" in header and "NVDA" in header and "LMT 875.50" in header and "LIMIT_AT_MID" in header
        assert "875.00" in header  # the leg's reference price
        assert "62%" in line_with(header, "Confidence")
        assert "+2.10% ± 3.40%" in line_with(header, "Expected return")
        assert "+220 on 10,500" in line_with(header, "Expected return")
        assert "512.40" in line_with(header, "Max loss")
        assert "2.1" in line_with(header, "Reward/risk")
        assert "4.20 (4.0 bps)" in line_with(header, "Expected cost")
        assert "5 sessions" in line_with(header, "Horizon")
        assert "835.00" in line_with(header, "Stop") and "930.00" in line_with(header, "Target")

        signals = text_of(section(app, SignalsSection))
        assert "+0.084" in line_with(signals, "momentum_20d")
        assert "+2.31" in line_with(signals, "volume_z")
        assert "+64.20" in line_with(signals, "rsi_14")
        assert "+1.12" in line_with(signals, "composite score")

        sizing_widget = section(app, SizingSection)
        sizing = text_of(sizing_widget)
        assert "10,500" in line_with(sizing, "Capital")
        assert "500" in line_with(sizing, "Risk budget")
        assert BINDS in line_with(sizing, "Cap by volatility")
        for other in ("Cap by risk", "Cap by Kelly", "Cap by limits"):
            assert BINDS not in line_with(sizing, other)
        assert "[risk] order and position limits" in line_with(sizing, "Cap by limits")
        assert "15.8%" in line_with(sizing, "Kelly ") and "42.0%" in line_with(sizing, "Volatility")
        assert sizing_widget.border_subtitle == "binding: by_vol"

        track = text_of(section(app, TrackRecordSection))
        assert "214" in line_with(track, "Past signals")
        assert "58%" in line_with(track, "Win rate")
        assert "+0.61% ± 3.40%" in line_with(track, "Mean return")
        assert "+2.80%" in line_with(track, "Average win") and "-2.40%" in line_with(track, "Average loss")
        assert "63% of 19" in line_with(track, "On NVDA")
        assert "Brier 0.231 vs base rate 0.244" in track and "confidence carries information" in track

        ranking = text_of(section(app, RankingSection))
        assert RANKING_FORMULA.partition("   ")[0].strip() in ranking
        assert "+1.98%" in line_with(ranking, "E[r] - cost")
        assert "+0.31" in line_with(ranking, "rho_book ")
        assert re.search(r"^score +0\.49 ", ranking, re.MULTILINE)

        assert not section(app, CardGreeksSection).display  # a card of shares has no Greeks
        plan = text_of(section(app, PlanSection))
        assert "1. NVDA: BUY 12 LMT at the mid (875.50)" in plan
        assert "30 market minutes" in plan
        assert "commission 1.00 · spread 2.10 · impact 1.10" in plan
        assert "• earnings on 2024-03-20 fall inside the horizon" in text_of(section(app, NotesSection))
        assert not app.screen.query_one("#card-detail-gone").display


async def test_the_exit_section_shows_the_policy_in_words_and_its_levels() -> None:
    from engine.model.exits import ExitPolicy, StopRule, TimeExit

    policy = ExitPolicy(StopRule.TRAIL_ATR, 2.0, 2.0, TimeExit.CLOSE)
    details = {**DETAILS, "exit:atr": 20.0, "exit:trail_amount": 40.0}
    app = Host(full_card(exit_policy=policy, details=details))
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        exits = text_of(section(app, ExitSection))
        assert policy.describe() in line_with(exits, "Policy")
        stop = line_with(exits, "Stop")  # 835 from the 875 reference: -4.6%, 2.0 ATR of 20
        assert "835.00" in stop and "-4.6% · 2.0 ATR" in stop and "trails 40.00 under the best price" in stop
        assert "930.00" in line_with(exits, "Target") and "+6.3% · 2.8 ATR" in line_with(exits, "Target")
        assert "20.00" in line_with(exits, "ATR")
        horizon = line_with(exits, "Horizon")
        assert "5 sessions" in horizon and "time exit at the close of the last session" in horizon


async def test_a_card_without_the_optional_keys_renders_what_it_has() -> None:
    app = Host(bare_card())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        header = text_of(section(app, CardHeader), width=80)
        assert "KO" in header and "PEP" in header
        assert "150.00" in line_with(header, "Max risk")
        for absent in ("Max loss", "Reward/risk", "Expected cost", "Stop", "Target"):
            assert absent not in header
        hidden_sections = (SignalsSection, SizingSection, TrackRecordSection, CardGreeksSection, NotesSection)
        for hidden in (*hidden_sections, ExitSection):  # no exit policy: nothing protects it
            assert not section(app, hidden).display, hidden.__name__
        ranking = text_of(section(app, RankingSection), width=80)
        assert "score = (E[r] - cost)" in ranking
        assert re.search(r"^score +0\.00 ", ranking, re.MULTILINE)  # no rank:*: the card's own score
        assert "30 market minutes" in text_of(section(app, PlanSection), width=80)


async def test_an_option_card_shows_its_greeks_and_a_partial_record() -> None:
    details = {
        "greek:delta": 412.5,
        "greek:vega": -38.2,
        "bt:brier": 0.26,
        "bt:brier_base": 0.25,
        "size:by_risk": 9e3,
    }
    app = Host(replace(bare_card(), details=details))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        greeks = text_of(section(app, CardGreeksSection))
        assert "+412.50" in line_with(greeks, "Delta") and "-38.20" in line_with(greeks, "Vega")
        assert "Gamma" not in greeks
        track = text_of(section(app, TrackRecordSection))
        assert "Brier 0.260 vs base rate 0.250" in track and "adds nothing" in track
        assert "Past signals" not in track
        assert BINDS in line_with(text_of(section(app, SizingSection)), "Cap by risk")


def test_the_smallest_cap_binds() -> None:
    assert binding_cap({"size:by_risk": 3.0, "size:by_vol": 2.0, "size:by_kelly": 5.0}) == "by_vol"
    assert binding_cap({"size:by_limits": 1.0, "size:capital": 0.5}) == "by_limits"
    assert binding_cap({"size:capital": 1.0}) is None


# --------------------------------------------------------------------------- keys
async def test_x_asks_the_app_to_execute_the_card_and_closes() -> None:
    app = Host(full_card())
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert [r.command for r in app.requests] == [ExecuteCard("C-7", source=CommandSource.HOTKEY)]
        assert not isinstance(app.screen, CardDetailScreen)


async def test_escape_closes_without_executing() -> None:
    app = Host(full_card())
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CardDetailScreen)
        assert app.requests == []


async def test_a_withdrawn_card_is_marked_and_x_refuses_here() -> None:
    app = Host(full_card())
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CardDetailScreen)
        state = DeskState()
        state.cards = (plain_card("C-1", "AMD"),)
        screen.follow(state, {"cards"})
        await pilot.pause()
        assert not screen.offered and screen.has_class("-gone")
        assert screen.query_one("#card-detail-gone").display
        assert NO_LONGER_OFFERED in str(screen.query_one("#card-detail-gone", Static).render())
        assert NO_LONGER_OFFERED.upper() in str(screen.query_one("#card-detail-title", Static).render())
        await pilot.press("x")
        await pilot.pause()
        assert app.requests == []
        assert app.screen_stack[-1].id == "card-detail"  # still open
        assert any(NO_LONGER_OFFERED in n.message for n in shown_toasts(app))

        state.cards = (full_card(confidence=0.71),)  # offered again, with new figures
        screen.follow(state, {"cards"})
        await pilot.pause()
        assert screen.offered and not screen.has_class("-gone")
        assert "71%" in line_with(text_of(section(app, CardHeader)), "Confidence")


# --------------------------------------------------------------------------- on the desk
async def test_enter_on_the_desk_opens_the_highlighted_card_and_x_there_executes_it() -> None:
    client = FakeClient(replace(snapshot(), cards=(plain_card("C-1", "NVDA"), full_card("C-2"))))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        rows = table_rows(app, "cards-table")
        assert [r[7] for r in rows] == ["", "2.1"]  # R:R, blank without risk:reward_risk
        await pilot.press("j", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CardDetailScreen) and screen.card.card_id == "C-2"
        await pilot.press("x")
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-2", source=CommandSource.HOTKEY)]
        assert isinstance(app.screen, DeskScreen)


async def test_a_card_the_engine_withdraws_while_open_is_not_sent() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CardDetailScreen) and screen.card.card_id == "C-1"
        client.push(CardsEvent(T0, (plain_card("C-4", "QQQ"),)))
        await settle(pilot)
        assert not screen.offered
        await pilot.press("x")
        await settle(pilot)
        assert client.sent == []
        assert app.screen_stack[-1].id == "card-detail"  # still open
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DeskScreen)
