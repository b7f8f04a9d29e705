"""The risk controller's breakers, pauses, limit changes and resume, each with its audit trail."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from engine.actor import Actor
from engine.config import RiskSettings
from engine.model import CommandSource, OrderRequest, RiskState, Side, TradingState
from engine.risk.controller import RiskController, RiskTransition
from engine.risk.killswitch import HaltState
from engine.risk.pretrade import BookView

T0 = datetime(2012, 3, 1, 15, 0, tzinfo=UTC)
ALICE = Actor("alice", CommandSource.HOTKEY)
BOOK = BookView(
    trading_state=TradingState.ACTIVE,
    halted_reason="",
    equity=100_000.0,
    cash=100_000.0,
    positions={},
    prices={"AAPL": 100.0},
    working={},
    working_buy_value=0.0,
    gross_exposure=0.0,
    tradable=frozenset({"AAPL"}),
)
CALM = RiskState(TradingState.ACTIVE, 0.1, 1.0, 0.0, 0.02, 0.0, 0.10, 0.005, 0.02)


class Harness:
    def __init__(self, settings: RiskSettings | None = None, state: HaltState | None = None) -> None:
        self.events: list[RiskTransition] = []
        self.persisted: list[HaltState] = []
        self.ctl = RiskController(
            settings or RiskSettings(),
            allow_short=False,
            sectors={"AAPL": "Tech"},
            state=state or HaltState(),
            persist=self.persisted.append,
            on_event=self.events.append,
        )

    def codes(self) -> list[str]:
        return [e.code for e in self.events]


def test_daily_loss_halts_and_drawdown_reduces_and_states_only_get_stricter() -> None:
    h = Harness()
    h.ctl.gauges(replace(CALM, drawdown=0.11), T0)
    assert h.ctl.state.state is TradingState.REDUCING and h.codes() == ["DRAWDOWN"]
    h.ctl.gauges(CALM, T0)  # recovering does not lift REDUCING by itself
    assert h.ctl.state.state is TradingState.REDUCING
    h.ctl.gauges(replace(CALM, day_loss=0.021), T0)
    assert h.ctl.state.state is TradingState.HALTED and h.codes() == ["DRAWDOWN", "DAILY_LOSS"]
    assert h.persisted[-1].state is TradingState.HALTED, "every transition is persisted"
    assert "today's loss 2.10% exceeds 2.00%" in h.ctl.state.reason


def test_reducing_refuses_new_exposure_but_lets_a_position_shrink() -> None:
    h = Harness()
    h.ctl.gauges(replace(CALM, drawdown=0.2), T0)
    book = replace(BOOK, positions={"AAPL": 50.0}, gross_exposure=5_000.0)
    refusal = h.ctl.check(OrderRequest("AAPL", Side.BUY, 10), book, T0)
    assert refusal is not None and refusal.code == "REDUCING"
    assert h.ctl.check(OrderRequest("AAPL", Side.SELL, 50), book, T0) is None


def test_losing_streak_pauses_only_that_strategy_until_resumed() -> None:
    h = Harness(RiskSettings(max_consecutive_losses=3))
    for pnl in (-10.0, -5.0, 3.0, -1.0, -2.0):
        h.ctl.filled("momentum", pnl, T0)
    assert h.ctl.state.paused == ()
    h.ctl.filled("momentum", -0.5, T0)
    assert h.ctl.state.paused == ("momentum",) and h.codes() == ["LOSS_STREAK"]
    refusal = h.ctl.check(OrderRequest("AAPL", Side.BUY, 1, strategy="momentum"), BOOK, T0)
    assert refusal is not None and refusal.code == "STRATEGY_PAUSED"
    assert h.ctl.check(OrderRequest("AAPL", Side.BUY, 1, strategy="mean_reversion"), BOOK, T0) is None
    assert h.ctl.unpause("momentum", ALICE) is None
    assert h.ctl.state.paused == () and h.codes()[-1] == "STRATEGY_RESUMED"
    not_paused = h.ctl.unpause("momentum", ALICE)
    assert not_paused is not None and not_paused.code == "NOT_PAUSED"


def test_repeat_fills_within_the_window_pause_the_strategy() -> None:
    h = Harness(RiskSettings(repeat_fill_max=3, repeat_fill_window_s=60.0))
    for i in range(3):
        h.ctl.filled("momentum", None, T0 + timedelta(seconds=20 * i))
    assert h.ctl.state.paused == ()
    h.ctl.filled("momentum", None, T0 + timedelta(seconds=90))  # 0 s and 20 s fell out of the window
    h.ctl.filled("momentum", None, T0 + timedelta(seconds=92))
    assert h.ctl.state.paused == ()
    h.ctl.filled("momentum", None, T0 + timedelta(seconds=94))  # 40, 90, 92, 94: four within 60 s
    assert h.ctl.state.paused == ("momentum",) and h.codes() == ["REPEAT_FILLS"]


def test_broker_rejects_in_a_row_halt_and_an_ack_resets_the_streak() -> None:
    h = Harness(RiskSettings(max_consecutive_rejects=3))
    h.ctl.broker_rejected("AAPL", "no market data", T0)
    h.ctl.broker_rejected("AAPL", "no market data", T0)
    h.ctl.broker_accepted()
    h.ctl.broker_rejected("AAPL", "no market data", T0)
    h.ctl.broker_rejected("AAPL", "no market data", T0)
    assert not h.ctl.state.halted
    h.ctl.broker_rejected("AAPL", "insufficient cash", T0)
    assert h.ctl.state.halted and h.codes() == ["REJECTS"]
    assert "3 broker rejects in a row (last: insufficient cash)" in h.ctl.state.reason


def test_kill_levels_persist_and_resume_needs_the_exact_word() -> None:
    h = Harness()
    h.ctl.halt("operator kill switch", ALICE, T0)
    assert h.ctl.state.kill_level == 1
    h.ctl.halt("flatten", ALICE, T0, level=2, code="FLATTEN")
    h.ctl.halt("again", ALICE, T0)  # a later level-1 kill does not lower the level
    assert h.ctl.state.kill_level == 2
    assert HaltState.from_json(h.persisted[-1].to_json()) == h.ctl.state
    wrong = h.ctl.resume("resume", ALICE)
    assert wrong is not None and wrong.code == "RESUME_WORD" and h.ctl.state.halted
    assert h.ctl.resume("RESUME", ALICE) is None
    assert h.ctl.state == HaltState()


def test_a_pause_survives_a_halt_and_a_resume() -> None:
    h = Harness(state=HaltState(paused=("momentum",)))
    h.ctl.halt("kill", ALICE, T0)
    assert h.ctl.resume("RESUME", ALICE) is None
    assert h.ctl.state.paused == ("momentum",)


def test_set_limit_validates_like_the_config_and_takes_effect_at_once() -> None:
    h = Harness()
    order = OrderRequest("AAPL", Side.BUY, 100)
    assert h.ctl.check(order, BOOK, T0) is None
    assert h.ctl.set_limit("max_position_pct", 0.05, ALICE) is None
    refusal = h.ctl.check(order, BOOK, T0)
    assert refusal is not None and refusal.code == "MAX_POSITION"
    event = h.events[-1]
    assert event.code == "LIMIT_CHANGED" and event.payload == {
        "name": "max_position_pct",
        "old": 0.15,
        "new": 0.05,
        "by": ALICE.label,
    }
    assert h.ctl.limit_values()["max_position_pct"] == 0.05


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_positon_pct", 0.1, "no risk limit named 'max_positon_pct'"),
        ("max_position_pct", 1.5, "max_position_pct = 1.5: Input should be less than or equal to 1"),
        ("max_orders_per_day", 10.5, "max_orders_per_day takes a whole number, got 10.5"),
        ("max_orders_per_day", 0, "max_orders_per_day = 0: Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_limit_is_refused_with_its_reason(name: str, value: float, message: str) -> None:
    h = Harness()
    refusal = h.ctl.set_limit(name, value, ALICE)
    assert refusal is not None and refusal.code == "BAD_LIMIT" and refusal.message.startswith(message)
    assert h.events == [] and h.ctl.settings == RiskSettings()


def test_throttles_count_what_was_sent_and_cancels_have_their_own() -> None:
    h = Harness(RiskSettings(max_orders_per_second=2, max_cancels_per_second=1, duplicate_window_s=0.0))
    order = OrderRequest("AAPL", Side.BUY, 1)
    for _ in range(2):
        assert h.ctl.check(order, BOOK, T0) is None
        h.ctl.sent(order, T0)
    refusal = h.ctl.check(order, BOOK, T0 + timedelta(milliseconds=500))
    assert refusal is not None and refusal.code == "THROTTLE"
    assert h.ctl.check(order, BOOK, T0 + timedelta(seconds=1)) is None
    assert h.ctl.check_cancel(T0) is None
    h.ctl.cancel_sent(T0)
    refusal = h.ctl.check_cancel(T0)
    assert refusal is not None and refusal.code == "THROTTLE"
