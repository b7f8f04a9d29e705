"""The console speaks the engine's vocabulary: refusal codes, actions and desk areas are the enums
of ``engine.model``, not strings the console declares again.

The values are the strings the wire always carried, so the tests go through the codec where the
console would: a refusal the console acts on arrives as JSON and must be recognized from it.
"""

from __future__ import annotations

import asyncio
import json
import typing
from datetime import UTC, datetime
from pathlib import Path

import pytest

import console.app as app_module
from console.app import _ACTIONS, _refused_as_duplicate
from console.client import SocketClient
from console.state import AREAS, SNAPSHOT_AREAS, DeskState
from engine.model import Action, DeskArea, RefusalCode
from engine.model.codec import dumps, loads
from engine.model.events import Command, CommandResult, Event, ExecuteCard, Kill, NoticeEvent, RefusalEvent

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
