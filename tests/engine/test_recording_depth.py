"""Recording format 2: market depth rows among the quotes, played back in their place; and a
format-1 recording (no depth columns) still reads and replays.

(The whole path, a simulator session with ``[ibkr] depth_symbols`` recorded and replayed to the
same depth-imbalance readings: ``tests/engine/brokers/ibkr/test_depth_recording.py``.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from engine.api.replay import replay
from engine.clock import SimulatedClock
from engine.config import Settings
from engine.data.loader import MarketData
from engine.data.recording import (
    EVENT_SCHEMA_V1,
    FORMAT_VERSION,
    RecordedDepth,
    RecordingError,
    RecordingFeed,
    RecordingWriter,
    read_events,
    read_meta,
)
from engine.kernel import Engine
from engine.model import Quote

T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)


def _quote(symbol: str, ts: datetime, bid: float) -> Quote:
    return Quote(symbol, ts, bid, bid + 0.02, bid + 0.01, 300.0, 200.0, 0.0, 0.0)


def test_depth_rows_read_back_and_play_before_the_next_quote_step(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path)
    writer.quotes(T0, [_quote("AAPL", T0, 190.0)], T0)
    t1 = T0 + timedelta(seconds=1)
    writer.depth(t1, "AAPL", [300.0, 600.0, 900.0], [200.0, 400.0, 600.0], t1)
    writer.quotes(t1, [_quote("AAPL", t1, 190.01)], t1)
    writer.close()

    events = list(read_events(tmp_path))
    assert [e.kind for e in events] == ["quote", "depth", "quote"]
    assert events[1].depth == RecordedDepth("AAPL", (300.0, 600.0, 900.0), (200.0, 400.0, 600.0))
    assert events[1].ts == t1

    order: list[str] = []
    feed = RecordingFeed(events, {}, SimulatedClock(T0))
    feed.on_depth = lambda depth: order.append(f"depth {depth.symbol} {depth.bid_sizes[0]:g}")

    def sink(quotes: tuple[Quote, ...]) -> None:
        order.append(f"quote {quotes[0].bid:g}")

    assert feed.play_steps(sink, 1) == 1
    assert feed.play_steps(sink, 1) == 1
    assert order == ["quote 190", "depth AAPL 300", "quote 190.01"]
    assert feed.finished


def test_a_format_one_part_still_reads(tmp_path: Path) -> None:
    """A part written before depth (the format-1 columns) gives its quotes; meta format 1 is read;
    a format this onetap does not know is refused naming it."""
    row = {name: [None] for name in EVENT_SCHEMA_V1.names}
    row |= {"seq": [1], "kind": ["quote"], "ts": [T0], "wall": [T0], "symbol": ["AAPL"]}
    row |= {name: [1.0] for name in ("bid", "ask", "last", "bid_size", "ask_size", "last_size", "volume")}
    part = str(tmp_path / "events-000.arrows")
    with pa.OSFile(part, "wb") as sink, ipc.new_stream(sink, EVENT_SCHEMA_V1) as stream:
        stream.write_batch(pa.RecordBatch.from_pydict(row, schema=EVENT_SCHEMA_V1))
    (event,) = read_events(tmp_path)
    assert event.kind == "quote" and event.quotes[0].symbol == "AAPL" and event.depth is None
    (tmp_path / "meta.json").write_text(json.dumps({"format": 1}))
    assert read_meta(tmp_path)["format"] == 1
    (tmp_path / "meta.json").write_text(json.dumps({"format": FORMAT_VERSION + 1}))
    with pytest.raises(RecordingError, match=f"recording format {FORMAT_VERSION + 1} is not one"):
        read_meta(tmp_path)


def _as_format_one(source: Path, target: Path) -> None:
    """The recording as format 1 wrote it: the same rows without the depth columns."""
    target.mkdir()
    for item in source.iterdir():
        if item.name.startswith("events-"):
            with pa.OSFile(str(item), "rb") as raw:
                table = ipc.open_stream(raw).read_all()
            old = table.drop_columns(["bid_depth", "ask_depth"]).cast(EVENT_SCHEMA_V1)
            with (
                pa.OSFile(str(target / item.name), "wb") as sink,
                ipc.new_stream(sink, EVENT_SCHEMA_V1) as out,
            ):
                out.write_table(old)
        elif item.name == "meta.json":
            meta = json.loads(item.read_text())
            (target / item.name).write_text(json.dumps({**meta, "format": 1}))
        else:
            (target / item.name).write_bytes(item.read_bytes())


async def test_a_format_one_recording_replays_like_it_did(
    settings: Settings, db: Path, shipped: MarketData, tmp_path: Path
) -> None:
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    await engine.step(12)
    await engine.stop()
    (folder,) = [p for p in (db.parent / "recordings").iterdir() if p.is_dir()]
    assert read_meta(folder)["format"] == FORMAT_VERSION == 2
    old = tmp_path / "format-1"
    _as_format_one(folder, old)

    now = await replay(folder, tmp_path / "work-2")
    then = await replay(old, tmp_path / "work-1")
    assert then.steps == now.steps == 12
    assert then.stopped_at == now.stopped_at
