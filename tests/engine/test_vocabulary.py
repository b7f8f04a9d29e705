"""The wire vocabulary (``engine.model.vocabulary``): one declaration of each code, action and area.

Strict mypy holds every emitter to the enums once the fields are typed; these tests hold the enums
themselves (a member's value is its name, so a typo in either shows) and check, on real parts,
that what the risk controller emits is a member and not a look-alike string.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum

import pytest

import engine.model.vocabulary as vocabulary
from engine.actor import Actor
from engine.config import RiskSettings
from engine.model import (
    Action,
    AlertCode,
    CommandSource,
    DeskArea,
    OrderRequest,
    RefusalCode,
    RiskState,
    Side,
    TradingState,
)
from engine.risk.controller import RiskController, RiskTransition
from engine.risk.killswitch import HaltState
from engine.risk.pretrade import BookView

T0 = datetime(2012, 3, 1, 15, 0, tzinfo=UTC)
ALICE = Actor("alice", CommandSource.HOTKEY)
CALM = RiskState(TradingState.ACTIVE, 0.1, 1.0, 0.0, 0.02, 0.0, 0.10, 0.005, 0.02)


@pytest.mark.parametrize(
    ("enum", "spelling"),
    [
        (RefusalCode, str.upper),
        (AlertCode, str.upper),
        (Action, str.lower),
        (DeskArea, str.lower),
    ],
)
def test_each_value_is_its_members_name(enum: type[StrEnum], spelling: Callable[[str], str]) -> None:
    members = [m for m in enum if m.value]  # RefusalCode.NONE is the empty code of an ok result
    assert members
    wrong = [m.name for m in members if m.value != spelling(m.name)]
    assert wrong == [], f"{enum.__name__}: value and name disagree for {wrong}"


def test_an_ok_result_has_the_empty_code() -> None:
    assert RefusalCode.NONE == "" and not RefusalCode.NONE


def test_the_vocabulary_is_standard_library_only() -> None:
    tree = ast.parse(inspect.getsource(vocabulary))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"__future__", "enum"}


def test_the_controller_emits_alert_and_refusal_members() -> None:
    events: list[RiskTransition] = []
    ctl = RiskController(
        RiskSettings(max_consecutive_losses=2),
        allow_short=False,
        sectors={},
        state=HaltState(),
        persist=lambda _state: None,
        on_event=events.append,
    )
    ctl.gauges(replace(CALM, drawdown=0.11), T0)  # a breaker: REDUCING
    ctl.gauges(replace(CALM, day_loss=0.021), T0)  # a breaker: HALTED
    refused = ctl.check(OrderRequest("AAPL", Side.BUY, 1), _book(), T0)
    wrong_word = ctl.resume("resume please", ALICE)
    assert ctl.resume("RESUME", ALICE) is None
    ctl.filled("momentum", -1.0, T0)
    ctl.filled("momentum", -1.0, T0)  # a losing streak pauses it
    assert ctl.unpause("momentum", ALICE) is None
    assert ctl.set_limit("max_position_pct", 0.2, ALICE) is None
    bad_limit = ctl.set_limit("no_such_limit", 1.0, ALICE)

    assert [e.code for e in events] == [
        AlertCode.DRAWDOWN,
        AlertCode.DAILY_LOSS,
        AlertCode.RESUMED,
        AlertCode.LOSS_STREAK,
        AlertCode.STRATEGY_RESUMED,
        AlertCode.LIMIT_CHANGED,
    ]
    assert all(type(e.code) is AlertCode for e in events)
    refusals = [refused, wrong_word, bad_limit]
    assert [r.code if r is not None else None for r in refusals] == [
        RefusalCode.HALTED,
        RefusalCode.RESUME_WORD,
        RefusalCode.BAD_LIMIT,
    ]
    assert all(r is not None and type(r.code) is RefusalCode for r in refusals)


def _book() -> BookView:
    return BookView(
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
