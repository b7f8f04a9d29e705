"""Session recording and exact replay: a session with cards executed, a kill and a broker
reconnect is recorded as it runs; replaying the recording gives the same order stream and the
same fills, field by field. A damaged recording names the file and the byte offset."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.actor import Actor
from engine.api.replay import replay, run_attached
from engine.config import Settings
from engine.data.loader import MarketData
from engine.data.recording import RecordingError, RecordingFeed, read_events
from engine.kernel import Engine
from engine.model import CommandSource, Fill, Order, Side
from engine.model.events import ExecuteCard, Kill, ReplayControl

OPERATOR = Actor("tester", CommandSource.HOTKEY)


def _orders(orders: list[Order] | tuple[Order, ...]) -> list[tuple[object, ...]]:
    return [
        (
            o.client_order_id,
            o.symbol,
            o.side,
            o.quantity,
            o.order_type,
            o.limit_price,
            o.status,
            o.filled_quantity,
            o.avg_fill_price,
            o.card_id,
            o.created_at,
            o.reason,
        )
        for o in orders
    ]


def _fills(fills: list[Fill] | tuple[Fill, ...]) -> list[tuple[object, ...]]:
    return [(f.client_order_id, f.symbol, f.side, f.quantity, f.price, f.commission, f.ts) for f in fills]


async def _session(settings: Settings, db: Path, shipped: MarketData) -> tuple[Engine, Path]:
    """Two days with a previous session in the database; cards executed, a kill, a reconnect."""
    first = Engine(settings, database=db, market=shipped, paced=False)
    await first.start()
    await first.step_day()
    entry = next(c.card_id for c in first.cards if c.legs[0].side is Side.BUY)
    assert (await first.handle(ExecuteCard(entry), OPERATOR)).ok
    await first.step_day()
    await first.stop()

    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()  # the recording under test starts here, from a book that holds a position
    await engine.step(5)
    entries = [c.card_id for c in engine.cards if c.legs[0].side is Side.BUY]
    assert entries, "the session offered no entry card"
    assert (await engine.handle(ExecuteCard(entries[-1]), OPERATOR)).ok
    await engine.step(10)
    await engine.reconnect_broker()
    await engine.step(3)
    assert (await engine.handle(Kill(reason="incident drill"), OPERATOR)).ok
    await engine.step_day()
    await engine.step(4)
    return engine, db.parent / "recordings"


async def test_a_recorded_session_replays_to_the_same_orders_and_fills(
    settings: Settings, db: Path, shipped: MarketData, tmp_path: Path
) -> None:
    engine, root = await _session(settings, db, shipped)
    orders, fills = engine.store.load_orders(), engine.store.load_fills()
    await engine.stop()
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    assert len(folders) == 2, "each session has its own recording"
    recording = folders[-1]
    kinds = [e.kind for e in read_events(recording)]
    assert kinds.count("command") == 2 and kinds.count("reconnect") == 1 and "day_end" in kinds

    result = await replay(recording, tmp_path / "replay")
    assert result.steps > 30 and result.reconnects == 1
    assert [name for name, _ in result.commands] == ["ExecuteCard", "Kill"]
    assert all(answer.ok for _, answer in result.commands), result.commands
    assert len(orders) >= 2 and len(fills) >= 2, "each session traded"
    assert _orders(result.orders) == _orders(orders)
    assert _fills(result.fills) == _fills(fills)


async def test_a_damaged_recording_names_the_file_and_the_offset(
    settings: Settings, db: Path, shipped: MarketData, tmp_path: Path
) -> None:
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    await engine.step(12)
    await engine.stop()
    (folder,) = [p for p in (db.parent / "recordings").iterdir() if p.is_dir()]
    part = folder / "events-000.arrows"
    assert len(list(read_events(folder))) >= 12
    size = part.stat().st_size
    with part.open("r+b") as fh:  # a torn tail, as a crash mid-write leaves it
        fh.truncate(size - 40)
    with pytest.raises(RecordingError, match=r"events-000\.arrows: damaged at byte offset \d+"):
        list(read_events(folder))
    with pytest.raises(RecordingError, match=r"no meta\.json"):
        await replay(tmp_path, tmp_path / "work")


async def _ask(path: Path, command: object, ident: int) -> dict[str, object]:
    """One command over the engine's socket, as a console sends it; its answer."""
    import json

    from engine.api.protocol import encode

    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write((encode({"id": ident, "command": command}) + "\n").encode())
        await writer.drain()
        while True:
            line = json.loads(await asyncio.wait_for(reader.readline(), 30.0))
            if line.get("id") == ident:
                return dict(line["result"])
    finally:
        writer.close()


async def test_an_attached_replay_pauses_steps_and_runs_at_the_operators_pace(
    settings: Settings, db: Path, shipped: MarketData, tmp_path: Path
) -> None:
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    await engine.step(20)
    await engine.stop()
    (recording,) = [p for p in (db.parent / "recordings").iterdir() if p.is_dir()]
    sock = tmp_path / "run" / "replay.sock"
    stop = asyncio.Event()
    started: list[Engine] = []
    runner = asyncio.create_task(
        run_attached(recording, tmp_path / "work", sock, speed=1000.0, stop=stop, ready=started.append)
    )
    while not started:
        await asyncio.sleep(0.01)
    replayed = started[0]
    assert replayed.parts.status.event().mode == "replay"
    feed = replayed.parts.feed
    assert isinstance(feed, RecordingFeed)
    assert (await _ask(sock, ReplayControl("pause"), 0))["ok"] is True  # a round trip: the loop ran
    assert feed.steps_played == 0, "an attached replay starts paused"
    answer = await _ask(sock, ReplayControl("step"), 1)
    assert answer["ok"] is True and answer["message"] == "replay paused"
    for _ in range(300):
        if feed.steps_played:
            break
        await asyncio.sleep(0.01)
    assert feed.steps_played == 1, "one step played"
    assert (await _ask(sock, ReplayControl("pause"), 4))["ok"] is True  # a round trip, then look again
    assert feed.steps_played == 1, "and only one"
    assert (await _ask(sock, ReplayControl("speed", 5000.0), 2))["ok"] is True
    assert (await _ask(sock, ReplayControl("resume"), 3))["ok"] is True
    for _ in range(500):
        if feed.peek() is None:
            break
        await asyncio.sleep(0.01)
    assert feed.peek() is None and feed.steps_played == 20, "resumed, it played to the end"
    stop.set()
    result = await asyncio.wait_for(runner, 60.0)
    assert result.steps == 20
    refused = await engine_refuses_control(settings, tmp_path / "plain.db", shipped)
    assert refused == "NOT_A_REPLAY"


async def engine_refuses_control(settings: Settings, db: Path, shipped: MarketData) -> str:
    plain = Engine(settings, database=db, market=shipped, paced=False)
    await plain.start()
    try:
        return (await plain.handle(ReplayControl("pause"), OPERATOR)).code.value
    finally:
        await plain.stop()


class _FullDisk:
    """The recording's file as a full disk leaves it: every write and flush fails with ENOSPC."""

    def __init__(self, real: object) -> None:
        self._real = real

    def write(self, *_args: object) -> None:
        raise OSError(28, "No space left on device")

    flush = write

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


async def test_a_full_disk_stops_the_recording_not_the_trading(
    settings: Settings, db: Path, shipped: MarketData
) -> None:
    from engine.model.events import NoticeEvent

    notices: list[NoticeEvent] = []
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    engine.bus.on(NoticeEvent, notices.append)
    recorder = engine._recorder
    assert recorder is not None and recorder._writer is not None
    writer = recorder._writer
    writer._sink = _FullDisk(writer._sink)
    entry = None
    for _ in range(3):
        await engine.step(10)
        entry = entry or next((c.card_id for c in engine.cards if c.legs[0].side is Side.BUY), None)
    assert entry is not None
    assert (await engine.handle(ExecuteCard(entry), OPERATOR)).ok  # a command forces a write
    await engine.step(5)
    assert any("recording stopped (trading goes on)" in n.message for n in notices)
    assert recorder._writer is None
    assert engine.store.load_fills(), "the card still traded"
    assert not engine.parts.health.degraded, "the database is not the recording: trading is not degraded"
    await engine.stop()
