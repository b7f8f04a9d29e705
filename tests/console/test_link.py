"""What the header says about the engine link, and the cards pane's 'computing' state, folded."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.widgets import Static

from console.app import OneTapApp
from console.client import LinkState
from console.link import LinkWatch
from console.state import DeskState
from console.widgets import CardsPane
from engine.model import DeskArea, TradingState
from engine.model.events import CardsEvent, RiskEvent
from tests.console.helpers import FakeClient, settle
from tests.console.test_widgets import card, risk_state, snapshot

T0 = datetime(2012, 1, 3, 14, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_disconnected_header_names_the_age_of_the_data_and_the_next_try() -> None:
    clock = Clock()
    watch = LinkWatch(clock)
    watch.data()
    assert watch.header() is None
    clock.now += 40
    watch.change(LinkState(False, "reconnecting", retry_in=4.0))
    clock.now += 2
    assert watch.header() == "DISCONNECTED · data 42 s old · retrying in 2 s"
    watch.change(LinkState(True, "reconnected"))
    assert watch.header() is None and not watch.down


def test_the_scan_progress_is_folded_and_cleared_by_the_cards() -> None:
    state = DeskState()
    assert state.apply(CardsEvent(T0, (), scanned=3, to_scan=7)) == {DeskArea.CARDS}
    assert state.cards_scan == (3, 7)
    state.apply(CardsEvent(T0, ()))
    assert state.cards_scan is None


async def test_the_cards_pane_says_the_cards_are_being_computed() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        client.push(CardsEvent(T0, (), scanned=3, to_scan=7))
        await settle(pilot)
        pane = app.screen.query_one(CardsPane)
        assert pane.border_subtitle.startswith("computing the day's cards: 3/7 templates · ")
        assert "computing the day's cards" in str(app.screen.query_one("#card-reason", Static).render())
        client.push(CardsEvent(T0, (card("C-9", "NVDA"),)))
        await settle(pilot)
        assert pane.border_subtitle.startswith("1 offered")


async def test_the_footer_is_rebuilt_only_when_what_it_offers_changes() -> None:
    """A risk update arrives with every mark; rebuilding the footer for each was most of the idle
    desk's CPU. Only a change of trading state (resume offered or not) rebuilds it."""
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        rebuilt: list[int] = []
        original = app.refresh_bindings

        def counting() -> None:
            rebuilt.append(1)
            original()

        app.refresh_bindings = counting  # type: ignore[method-assign]
        for reason in ("a", "b", "c"):
            client.push(RiskEvent(risk_state(TradingState.ACTIVE, reason)))
            await settle(pilot)
        assert rebuilt == []
        client.push(RiskEvent(risk_state(TradingState.HALTED, "operator kill switch")))
        await settle(pilot)
        assert rebuilt == [1]
