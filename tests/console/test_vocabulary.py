"""The console speaks the engine's vocabulary: refusal codes, actions and desk areas are the enums
of ``engine.model``, not strings the console declares again.

The values are the strings the wire always carried, so the tests go through the codec where the
console would: a refusal the console acts on arrives as JSON and must be recognized from it.
"""

from __future__ import annotations

import typing
from datetime import UTC, datetime

import pytest

import console.app as app_module
from console.app import _ACTIONS, _refused_as_duplicate
from console.state import AREAS, SNAPSHOT_AREAS, DeskState
from engine.model import Action, DeskArea, RefusalCode
from engine.model.codec import dumps, loads
from engine.model.events import Command, CommandResult, ExecuteCard, RefusalEvent

T0 = datetime(2024, 3, 15, 14, 30, tzinfo=UTC)


def over_the_wire(result: CommandResult) -> CommandResult:
    back = loads(dumps(result))
    assert isinstance(back, CommandResult)
    return back


def test_a_duplicate_refusal_from_the_wire_asks_to_confirm_by_the_enum() -> None:
    duplicate = over_the_wire(CommandResult(ok=False, message="sent 2 s ago", code=RefusalCode.DUPLICATE))
    assert duplicate.code is RefusalCode.DUPLICATE
    assert _refused_as_duplicate(ExecuteCard("C-1"), duplicate)
    # only that code, only a refusal, and never twice for an override
    throttled = over_the_wire(CommandResult(ok=False, message="slow down", code=RefusalCode.THROTTLE))
    assert not _refused_as_duplicate(ExecuteCard("C-1"), throttled)
    assert not _refused_as_duplicate(ExecuteCard("C-1", override_duplicate=True), duplicate)
    assert not _refused_as_duplicate(ExecuteCard("C-1"), CommandResult(ok=True, code=RefusalCode.DUPLICATE))


def test_the_console_declares_no_refusal_code_of_its_own() -> None:
    """``DUPLICATE`` used to be re-declared in console/app.py; the enum is the one declaration."""
    strings = {
        name: v for name, v in vars(app_module).items() if isinstance(v, str) and v in set(RefusalCode)
    }
    assert "DUPLICATE" not in vars(app_module)
    assert strings == {}, f"console.app re-declares refusal codes: {strings}"


def test_every_command_has_the_engines_action_name() -> None:
    commands = set(typing.get_args(Command))
    assert commands, "the Command union has members"
    assert set(_ACTIONS) == commands
    assert all(isinstance(action, Action) for action in _ACTIONS.values())
    assert len(set(_ACTIONS.values())) == len(_ACTIONS), "two commands share an action name"


def test_the_desk_areas_are_the_enum() -> None:
    assert frozenset(DeskArea) == AREAS
    assert SNAPSHOT_AREAS < AREAS


@pytest.mark.parametrize("code", [RefusalCode.HALTED, RefusalCode.DISCONNECTED])
def test_a_refusal_keeps_its_members_through_the_fold(code: RefusalCode) -> None:
    desk = DeskState()
    changed = desk.apply(loads(dumps(RefusalEvent(T0, Action.CANCEL_ORDER, code, "no", "OT-1"))))
    assert changed == {DeskArea.REFUSAL}
    assert all(type(area) is DeskArea for area in changed)
    refusal = desk.last_refusal
    assert refusal is not None
    assert refusal.action is Action.CANCEL_ORDER and refusal.code is code
    assert desk.line is not None and desk.line.text == f"REFUSED cancel_order [{code.value}]: no"
