"""Refusals read as words with their code: a toast title says what did not happen, and the
rebalance screen says a re-planned preview is waiting for one more ``x``."""

from __future__ import annotations

from console.refusals import refusal_body, refusal_title
from console.screens.rebalance import execute_refusal
from engine.model import Action, RefusalCode
from engine.model.events import CommandResult, RefusalEvent
from tests.console.helpers import T0, FakeClient, settle, shown_toasts
from tests.console.test_widgets import snapshot


def test_every_action_has_words_and_the_code_stays_in_the_body() -> None:
    for action in Action:
        assert not refusal_title(action).startswith("Refused:"), action
    assert refusal_title(Action.EXECUTE_CARD) == "Card not executed"
    assert refusal_title("new_thing") == "Refused: new thing"
    assert refusal_body("order value 30,000 exceeds 25,000", "MAX_ORDER_VALUE") == (
        "order value 30,000 exceeds 25,000 [MAX_ORDER_VALUE]"
    )


def test_a_moved_price_asks_for_one_more_look_not_a_bare_refusal() -> None:
    moved = CommandResult(
        ok=False,
        message="prices moved more than 0.50% since the preview (AAPL 100.00 -> 101.2)",
        code=RefusalCode.PRICES_MOVED,
    )
    text = execute_refusal(moved)
    assert text.startswith("Not sent, the plan was made again at the new prices: check it above, x sends it")
    assert "[PRICES_MOVED]" in text
    capped = CommandResult(ok=False, message="AAPL would be 15.2% of equity", code=RefusalCode.MAX_POSITION)
    assert execute_refusal(capped) == "Rebalance not sent: AAPL would be 15.2% of equity [MAX_POSITION]"


async def test_the_refusal_toast_is_titled_in_words() -> None:
    from console.app import OneTapApp

    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        client.push(RefusalEvent(T0, Action.EXECUTE_REBALANCE, RefusalCode.MAX_POSITION, "AAPL at 15.2%"))
        await settle(pilot)
        (toast,) = [t for t in shown_toasts(app) if "AAPL at 15.2%" in t.message]
        assert toast.title == "Rebalance not sent" and toast.message == "AAPL at 15.2% [MAX_POSITION]"
