"""Session recordings: everything that came into the engine, in order, to replay it exactly.

A recording is a folder per session under ``<data dir>/recordings/``:

- ``meta.json``: the recording's format version, the settings in force, the start time;
- ``start.db`` (+ ``start.paper.jsonl``): the database (and the paper broker's journal) as they were
  when the session started, copied with SQLite's backup API, so a replay starts from the same
  book, orders and audit chain;
- the fingerprint of the daily bars the engine had (in ``meta.json``): a replay reloads the
  market its settings name and refuses bars that differ (cards are built from them);
- ``events-000.arrows``, ``events-001.arrows``, ...: the inputs, appended as they arrive, in the
  Arrow IPC *stream* format.

Why Arrow IPC streams and not Parquet for the events: Parquet writes its footer on close, so a
crash loses the file; an IPC stream is a sequence of self-delimited record batches, each flushed
as it is written, so a killed engine leaves a readable prefix, and damage is found at a byte
offset. Columnar and typed, so a quote costs a few dozen bytes, not a JSON object. Parts rotate at
``max_part_bytes``; whole recordings are pruned oldest first beyond ``max_total_bytes``.

Rows: one per quote (``kind = "quote"``, a step's quotes share ``seq``), and one per other input:
``day_start``/``day_end`` (payload: the ISO day), ``command`` (payload: the command and actor as
the codec writes them), ``reconnect``, ``broker`` (a remote broker's report, for the record), and
``depth`` (format 2: a broker's market depth of ``symbol``, the sizes of its rows best first in
``bid_depth``/``ask_depth``, as the IBKR adapter hands them to the order-flow book; replayed in
its place between the quote steps, so the depth imbalance reads the same).
``ts`` is the engine's clock at arrival, ``wall`` the machine's.

Versions: format 1 had no depth columns; its recordings still replay (read with ``EVENT_SCHEMA_V1``,
no depth rows). Format 2 adds ``bid_depth`` and ``ask_depth`` (lists of float64).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from engine.model import Quote

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
EVENT_SCHEMA_V1 = pa.schema(
    [
        ("seq", pa.int64()),
        ("kind", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("wall", pa.timestamp("us", tz="UTC")),
        ("symbol", pa.string()),
        ("bid", pa.float64()),
        ("ask", pa.float64()),
        ("last", pa.float64()),
        ("bid_size", pa.float64()),
        ("ask_size", pa.float64()),
        ("last_size", pa.float64()),
        ("volume", pa.float64()),
        ("payload", pa.string()),
    ]
)
EVENT_SCHEMA = EVENT_SCHEMA_V1.append(pa.field("bid_depth", pa.list_(pa.float64()))).append(
    pa.field("ask_depth", pa.list_(pa.float64()))
)
_QUOTE_FIELDS = ("bid", "ask", "last", "bid_size", "ask_size", "last_size", "volume")


class RecordingError(Exception):
    """A recording cannot be read; the text names the file and, for damage, the byte offset."""


@dataclass(frozen=True, slots=True)
class RecordedDepth:
    """A broker's market depth of one symbol: the sizes of its rows, best first."""

    symbol: str
    bid_sizes: tuple[float, ...]
    ask_sizes: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One input: a quote step (``quotes``), a book (``depth``), or another kind with its JSON
    ``payload``."""

    seq: int
    kind: str
    ts: datetime
    quotes: tuple[Quote, ...] = ()
    payload: Any = None
    depth: RecordedDepth | None = None


class RecordingWriter:
    """Appends a session's inputs. Rows are buffered and written as one record batch (flushed to
    the OS) every ``flush_s`` of wall time, at ``batch_rows`` rows, and at once for a command, so
    a crash loses at most the last ``flush_s`` of quotes and never an operator's command."""

    def __init__(
        self,
        folder: Path,
        *,
        max_part_bytes: int = 64_000_000,
        flush_s: float = 0.5,
        batch_rows: int = 20_000,
    ) -> None:
        self.folder = folder
        self._max_part = max_part_bytes
        self._flush_s = flush_s
        self._batch_rows = batch_rows
        self._part = -1
        self._sink: Any = None
        self._writer: ipc.RecordBatchStreamWriter | None = None
        self._seq = 0
        self._rows: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA.names}
        self._last_flush = time.monotonic()
        self.bytes_written = 0
        self._open_part()

    def _open_part(self) -> None:
        self._close_part()
        self._part += 1
        path = self.folder / f"events-{self._part:03d}.arrows"
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = ipc.new_stream(self._sink, EVENT_SCHEMA)

    def quotes(self, ts: datetime, quotes: Sequence[Quote], wall: datetime) -> None:
        self._seq += 1
        rows = self._rows
        n = len(quotes)
        rows["seq"] += [self._seq] * n
        rows["kind"] += ["quote"] * n
        rows["ts"] += [ts] * n
        rows["wall"] += [wall] * n
        rows["symbol"] += [q.symbol for q in quotes]
        for name in _QUOTE_FIELDS:
            rows[name] += [float(getattr(q, name)) for q in quotes]
        # the quotes' own times, when they differ from the step's (a live feed), ride in payload
        rows["payload"] += [None if q.ts == ts else q.ts.isoformat() for q in quotes]
        rows["bid_depth"] += [None] * n
        rows["ask_depth"] += [None] * n
        self._maybe_flush(force=False)

    def depth(
        self,
        ts: datetime,
        symbol: str,
        bid_sizes: Sequence[float],
        ask_sizes: Sequence[float],
        wall: datetime,
    ) -> None:
        """A broker's market depth of ``symbol`` (row sizes, best first)."""
        self._seq += 1
        rows = self._rows
        for name, value in (("seq", self._seq), ("kind", "depth"), ("ts", ts), ("wall", wall)):
            rows[name].append(value)
        rows["symbol"].append(symbol)
        for name in (*_QUOTE_FIELDS, "payload"):
            rows[name].append(None)
        rows["bid_depth"].append([float(x) for x in bid_sizes])
        rows["ask_depth"].append([float(x) for x in ask_sizes])
        self._maybe_flush(force=False)

    def event(self, kind: str, ts: datetime, payload: Any, wall: datetime) -> None:
        self._seq += 1
        rows = self._rows
        rows["seq"].append(self._seq)
        rows["kind"].append(kind)
        rows["ts"].append(ts)
        rows["wall"].append(wall)
        rows["symbol"].append(None)
        rows["payload"].append(json.dumps(payload, separators=(",", ":")))
        for name in (*_QUOTE_FIELDS, "bid_depth", "ask_depth"):
            rows[name].append(None)
        self._maybe_flush(force=kind == "command")

    def _maybe_flush(self, *, force: bool) -> None:
        due = (
            time.monotonic() - self._last_flush >= self._flush_s or len(self._rows["seq"]) >= self._batch_rows
        )
        if force or due:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one batch and hand it to the OS."""
        self._last_flush = time.monotonic()
        if not self._rows["seq"] or self._writer is None or self._sink is None:
            return
        batch = pa.RecordBatch.from_pydict(self._rows, schema=EVENT_SCHEMA)
        self._rows = {name: [] for name in EVENT_SCHEMA.names}
        self._writer.write_batch(batch)
        self._sink.flush()
        self.bytes_written = self._sink.tell()
        if self.bytes_written >= self._max_part:
            self._open_part()

    def close(self) -> None:
        self.flush()
        self._close_part()

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None


def read_events(folder: Path) -> Iterator[RecordedEvent]:
    """The recorded inputs in order, across parts. Raises RecordingError naming the part and the
    byte offset of the first damaged batch (a torn tail after a crash is reported, not skipped)."""
    parts = sorted(folder.glob("events-*.arrows"))
    if not parts:
        raise RecordingError(f"{folder}: not a recording (no events-*.arrows files)")
    for part in parts:
        yield from _read_part(part)


def _read_part(path: Path) -> Iterator[RecordedEvent]:
    with path.open("rb") as raw:
        try:
            reader = ipc.open_stream(raw)
        except (pa.ArrowInvalid, OSError) as exc:
            raise RecordingError(f"{path}: damaged at byte offset 0 (no stream header: {exc})") from None
        if not (reader.schema.equals(EVENT_SCHEMA) or reader.schema.equals(EVENT_SCHEMA_V1)):
            raise RecordingError(f"{path}: not an onetap recording (unexpected columns)")
        while True:
            offset = raw.tell()
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as exc:
                raise RecordingError(f"{path}: damaged at byte offset {offset} ({exc})") from None
            yield from _events(batch)


def _events(batch: pa.RecordBatch) -> Iterator[RecordedEvent]:
    """A batch's rows as events: a quote step's rows (one ``seq``) become one event."""
    data = batch.to_pydict()
    seqs, kinds = data["seq"], data["kind"]
    i, n = 0, len(seqs)
    while i < n:
        if kinds[i] == "depth":
            bids, asks = data["bid_depth"][i], data["ask_depth"][i]
            depth = RecordedDepth(data["symbol"][i], tuple(bids or ()), tuple(asks or ()))
            yield RecordedEvent(int(seqs[i]), "depth", data["ts"][i], depth=depth)
            i += 1
            continue
        if kinds[i] != "quote":
            payload = json.loads(data["payload"][i]) if data["payload"][i] else None
            yield RecordedEvent(int(seqs[i]), kinds[i], data["ts"][i], payload=payload)
            i += 1
            continue
        j = i
        while j < n and seqs[j] == seqs[i] and kinds[j] == "quote":
            j += 1
        quotes = tuple(
            Quote(
                data["symbol"][k],
                datetime.fromisoformat(data["payload"][k]) if data["payload"][k] else data["ts"][k],
                *(float(data[name][k]) for name in _QUOTE_FIELDS),
            )
            for k in range(i, j)
        )
        yield RecordedEvent(int(seqs[i]), "quote", data["ts"][i], quotes=quotes)
        i = j


# --------------------------------------------------------------------------- the folder
def write_meta(
    folder: Path,
    settings_json: dict[str, Any],
    started: datetime,
    *,
    engine_clock: datetime,
    bars: str,
    broker: str,
) -> None:
    meta = {
        "format": FORMAT_VERSION,
        "started": started.astimezone(UTC).isoformat(),
        "engine_clock": engine_clock.astimezone(UTC).isoformat(),
        "settings": settings_json,
        "bars_digest": bars,
        "broker": broker,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))


def read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "meta.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordingError(f"{folder}: not a recording (no meta.json)") from None
    except ValueError as exc:
        raise RecordingError(f"{path}: damaged ({exc})") from None
    if meta.get("format") not in READABLE_FORMATS:
        raise RecordingError(
            f"{path}: recording format {meta.get('format')} is not one this onetap reads "
            f"({', '.join(map(str, READABLE_FORMATS))})"
        )
    return dict(meta)


def bars_digest(bars: dict[str, pd.DataFrame]) -> str:
    """A fingerprint of the daily bars: a replay reloads the market the settings name and refuses
    to go on when the bars are not the ones the session had (its cards would differ)."""
    digest = hashlib.sha256()
    for symbol in sorted(bars):
        frame = bars[symbol]
        digest.update(symbol.encode())
        digest.update(frame.index.to_numpy(dtype="datetime64[ns]").tobytes())
        digest.update(np.ascontiguousarray(frame.to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()


def prune(root: Path, max_total_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete whole recordings, oldest first, until the folder holds at most ``max_total_bytes``;
    ``keep`` (the session being recorded) is never deleted. Returns what was deleted."""
    sessions = (
        sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name) if root.exists() else []
    )
    sizes = {p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) for p in sessions}
    total = sum(sizes.values())
    deleted: list[Path] = []
    for folder in sessions:
        if total <= max_total_bytes:
            break
        if keep is not None and folder == keep:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        total -= sizes[folder]
        deleted.append(folder)
    return deleted


MARKET_KINDS = frozenset({"quote", "day_start", "day_end", "depth"})


class RecordingFeed:
    """The market half of a recording as a ``MarketFeed``: each ``play_steps(1)`` plays the next
    quote step with the session boundaries recorded next to it, on the recorded clock. The replay
    runner (``engine.api.replay``) reads the other inputs (commands, reconnects) between steps."""

    def __init__(
        self, events: Sequence[RecordedEvent], data_bars: dict[str, pd.DataFrame], clock: Any
    ) -> None:
        self._events = list(events)
        self._at = 0
        self._bars = data_bars
        self._clock = clock
        self._day: date | None = None
        self._latest: dict[str, Quote] = {}
        days = sorted({date.fromisoformat(e.payload) for e in self._events if e.kind == "day_start"})
        self._sessions = days
        self.steps_played = 0
        self.on_depth: Callable[[RecordedDepth], None] | None = None
        """Where recorded depth goes (the engine's order-flow book; ``MarketView`` sets it)."""

    # the runner's view
    def peek(self) -> RecordedEvent | None:
        return self._events[self._at] if self._at < len(self._events) else None

    def take(self) -> RecordedEvent:
        event = self._events[self._at]
        self._at += 1
        self._advance(event.ts)
        return event

    def _advance(self, ts: datetime) -> None:
        if ts > self._clock.now():
            self._clock.set(ts)

    # MarketFeed
    @property
    def finished(self) -> bool:
        return self._at >= len(self._events)

    @property
    def current_day(self) -> date | None:
        return self._day

    @property
    def sessions(self) -> list[date]:
        return list(self._sessions)

    def next_day(self) -> date | None:
        later = [d for d in self._sessions if self._day is None or d > self._day]
        return later[0] if later else None

    def history(self, symbol: str, before: date) -> pd.DataFrame:
        frame = self._bars[symbol]
        return frame.iloc[: int(frame.index.searchsorted(pd.Timestamp(before), side="left"))]

    def latest_quotes(self) -> dict[str, Quote]:
        return dict(self._latest)

    async def run(
        self, sink: Any, *, seconds_per_day: float, on_day_start: Any = None, on_day_end: Any = None
    ) -> None:
        raise RuntimeError("a recording is replayed step by step (engine.api.replay), never paced")

    def play_steps(self, sink: Any, steps: int, *, on_day_start: Any = None, on_day_end: Any = None) -> int:
        played = 0
        while (event := self.peek()) is not None and event.kind in MARKET_KINDS:
            if event.kind == "quote" and played >= steps:
                break
            self.take()
            if event.kind == "day_start":
                self._day = date.fromisoformat(event.payload)
                if on_day_start is not None:
                    on_day_start(self._day)
            elif event.kind == "day_end":
                if on_day_end is not None:
                    on_day_end(date.fromisoformat(event.payload))
            elif event.kind == "depth":
                if self.on_depth is not None and event.depth is not None:
                    self.on_depth(event.depth)
            else:
                for quote in event.quotes:
                    self._latest[quote.symbol] = quote
                sink(event.quotes)
                played += 1
                self.steps_played += 1
        return played

    def stop(self) -> None:
        return None
