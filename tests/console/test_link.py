"""What the header says about the engine link, and the cards pane's 'computing' state, folded."""

from __future__ import annotations

from datetime import UTC, datetime

from console.client import LinkState
from console.link import LinkWatch
from console.state import DeskState
from engine.model import DeskArea
from engine.model.events import CardsEvent

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
