"""The console speaks the engine's vocabulary: refusal codes, actions and desk areas are the enums
of ``engine.model``, not strings the console declares again.

The values are the strings the wire always carried, so the tests go through the codec where the
console would: a refusal the console acts on arrives as JSON and must be recognized from it.
"""

from __future__ import annotations

import asyncio
import json
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

import console.app as app_module
from console.app import OneTapApp
from console.client import SocketClient
from console.screens import ConfirmDialog
from console.state import AREAS, SNAPSHOT_AREAS, DeskState
from engine.model import Action, DeskArea, RefusalCode
from engine.model.codec import dumps, loads
from engine.model.events import (
    COMMAND_ACTIONS,
    Command,
    CommandResult,
    Event,
    ExecuteCard,
    Kill,
    NoticeEvent,
    RefusalEvent,
    action_of,
)
from tests.console.helpers import FakeClient, settle
from tests.console.risk_fixtures import risk_snapshot

T0 = datetime(2024, 3, 15, 14, 30, tzinfo=UTC)


def over_the_wire(result: CommandResult) -> CommandResult:
    back = loads(dumps(result))
    assert isinstance(back, CommandResult)
    return back


class WireClient(FakeClient):
    """Answers ``answer(command)`` as the socket delivers it: encoded and decoded again."""

    def __init__(self, answer: Callable[[Command], CommandResult]) -> None:
        super().__init__(risk_snapshot())
        self.answer = answer

    async def send(self, command: Command) -> CommandResult:
        self.sent.append(command)
        return over_the_wire(self.answer(command))


async def _press_execute(client: WireClient, *then: str) -> bool:
    """Press x (execute card C-1), then ``then``; True when the desk is left asking to confirm."""
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        for key in then:
            await pilot.press(key)
            await settle(pilot)
        return isinstance(app.screen, ConfirmDialog) and app.screen.id == "duplicate-dialog"


DUPLICATE = CommandResult(ok=False, message="sent 2 s ago", code=RefusalCode.DUPLICATE)


async def test_a_duplicate_refusal_from_the_wire_asks_to_confirm_by_the_enum() -> None:
    assert over_the_wire(DUPLICATE).code is RefusalCode.DUPLICATE
    first = WireClient(
        lambda c: (
            DUPLICATE if isinstance(c, ExecuteCard) and not c.override_duplicate else CommandResult(ok=True)
        )
    )
    assert await _press_execute(first)
    # only that code, only a refusal, and never twice for an override
    throttled = WireClient(lambda _c: CommandResult(ok=False, message="slow down", code=RefusalCode.THROTTLE))
    assert not await _press_execute(throttled)
    accepted = WireClient(lambda _c: CommandResult(ok=True, code=RefusalCode.DUPLICATE))
    assert not await _press_execute(accepted)
    always = WireClient(lambda _c: DUPLICATE)
    assert not await _press_execute(always, "y")
    assert always.sent == [ExecuteCard("C-1"), ExecuteCard("C-1", override_duplicate=True)]


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
    assert set(COMMAND_ACTIONS) == commands
    assert all(isinstance(action, Action) for action in COMMAND_ACTIONS.values())
    assert len(set(COMMAND_ACTIONS.values())) == len(COMMAND_ACTIONS), "two commands share an action name"
    assert action_of(ExecuteCard("C-1")) is Action.EXECUTE_CARD


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


async def test_an_answer_with_a_code_this_console_does_not_know_ends_the_command(tmp_path: Path) -> None:
    """A newer engine's code is a DecodeError here; the command it answers fails, naming it, and the
    operator's log says so: the sender is not left waiting for an answer it already got."""
    path = tmp_path / "engine.sock"

    async def newer_engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = json.loads(await reader.readline())
        result = {"type": "CommandResult", "ok": False, "message": "m", "code": "FROM_THE_FUTURE"}
        writer.write((json.dumps({"id": request["id"], "result": result}) + "\n").encode())
        await writer.drain()
        await reader.read()  # until the console hangs up
        writer.close()

    server = await asyncio.start_unix_server(newer_engine, path=str(path))
    client = SocketClient(path)
    seen: list[Event] = []
    try:
        await client.connect(seen.append)
        result = await asyncio.wait_for(client.send(Kill()), timeout=10)
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    assert not result.ok and result.code is RefusalCode.CLIENT_ERROR
    assert "CommandResult.code: 'FROM_THE_FUTURE' is not a valid RefusalCode" in result.message
    notices = [e.message for e in seen if isinstance(e, NoticeEvent)]
    assert any("FROM_THE_FUTURE" in n for n in notices), notices
