"""The hash-chained audit log, as pure functions over plain values (no ORM, no database).

Each entry commits to its predecessor: ``hash = sha256(prev_hash + canonical_json(entry))`` over
seq, ts, actor, source, action and payload, starting from 64 zeros. Changing any byte of a stored
entry, or removing one, breaks the chain at that entry. Cutting entries off the end leaves a valid
(shorter) chain, which only an outside witness can expose: after every append the store writes an
*anchor* file beside the database recording how long the chain was and how it ended.

This module also owns the store's one timestamp format (ISO-8601, UTC, microseconds, fixed width),
because the audit hash is taken over that text: two spellings of one instant must not exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.durable import fsync_dir
from engine.model import Fill
from engine.model.codec import to_jsonable

GENESIS_HASH = "0" * 64
"""What the first entry's ``prev_hash`` must be."""

FILL_ACTION = "fill"
"""The action of a fill's audit entry, whose payload is ``fill_payload``: every stored fill has one.

Reconciliation looks fills up by the ``exec_id`` in these payloads (``Store.unaudited_fills``)."""


def fill_payload(fill: Fill, **extra: object) -> dict[str, object]:
    """A fill's audit payload: one shape for the engine's fill handler and for reconciliation."""
    return {
        "exec_id": fill.exec_id,
        "coid": fill.client_order_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "qty": fill.quantity,
        "price": fill.price,
        **extra,
    }


_ANCHOR_MODE = 0o600


# --------------------------------------------------------------------------- timestamps
def format_ts(ts: datetime) -> str:
    """Fixed-width UTC text: sorts as time sorts, so range queries can compare strings."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts!r}: every time in onetap carries a zone")
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(text: str) -> datetime:
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError(f"stored time {text!r} carries no zone")
    return ts.astimezone(UTC)


# --------------------------------------------------------------------------- hashing
def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def entry_hash(
    prev_hash: str, seq: int, ts: str, actor: str, source: str, action: str, payload: object
) -> str:
    body = canonical_json(
        {"seq": seq, "ts": ts, "actor": actor, "source": source, "action": action, "payload": payload}
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry exactly as stored: text, not parsed values, so verification sees every byte."""

    seq: int
    ts: str
    actor: str
    source: str
    action: str
    payload_json: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry as the rest of the engine reads it."""

    seq: int
    ts: datetime
    actor: str
    source: str
    action: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> AuditRecord:
        payload = json.loads(entry.payload_json)
        if not isinstance(payload, dict):
            raise ValueError(f"audit entry {entry.seq}: payload is not a JSON object")
        return cls(
            seq=entry.seq,
            ts=parse_ts(entry.ts),
            actor=entry.actor,
            source=entry.source,
            action=entry.action,
            payload=payload,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )


def seal(
    *,
    seq: int,
    prev_hash: str,
    ts: datetime,
    actor: str,
    source: str,
    action: str,
    payload: Mapping[str, object],
) -> AuditEntry:
    """Build the entry that follows ``prev_hash``.

    The payload may hold model values (orders, enums, datetimes); they are encoded by the model's
    codec. It is then normalised through one JSON round trip, so the text stored and the value
    hashed are what ``verify`` will rebuild (int keys become strings, tuples lists) and a
    re-serialisation of a stored payload is byte-identical.
    """
    data = json.loads(json.dumps(to_jsonable(dict(payload))))
    ts_text = format_ts(ts)
    actor, source, action = str(actor), str(source), str(action)
    return AuditEntry(
        seq=seq,
        ts=ts_text,
        actor=actor,
        source=source,
        action=action,
        payload_json=canonical_json(data),
        prev_hash=prev_hash,
        hash=entry_hash(prev_hash, seq, ts_text, actor, source, action, data),
    )


# --------------------------------------------------------------------------- anchor
@dataclass(frozen=True, slots=True)
class Anchor:
    """How long the chain was, and how it ended, after the last append.

    ``mac`` is the HMAC of those three values under the audit key (``engine.store.sealing``) and
    ``key_id`` names that key; both are empty in an anchor written before anchors were keyed.
    """

    count: int
    last_seq: int
    last_hash: str
    mac: str = ""
    key_id: str = ""

    @property
    def keyed(self) -> bool:
        return bool(self.mac)

    def head(self) -> dict[str, object]:
        """What a MAC is taken over: the chain's length and its end, nothing else."""
        return {"count": self.count, "last_seq": self.last_seq, "last_hash": self.last_hash}


def anchor_path(database: Path) -> Path:
    """``<database file>.audit.anchor``: beside the database, and one per database file."""
    return database.with_name(f"{database.name}.audit.anchor")


def write_anchor(path: Path, anchor: Anchor) -> None:
    """Replace the anchor atomically: a crash leaves the old anchor or the new one, never half of one."""
    fields = anchor.head()
    if anchor.keyed:
        fields.update(mac=anchor.mac, key_id=anchor.key_id)
    text = json.dumps(fields)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _ANCHOR_MODE)
    try:
        try:
            os.fchmod(fd, _ANCHOR_MODE)
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except OSError:  # a full disk fails the write: no half-written temp is left behind either
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _temp_pid(anchor: Path, candidate: Path) -> int | None:
    """The writer's pid in ``.<anchor name>.<pid>.tmp``, or None for any other file."""
    prefix, suffix = f".{anchor.name}.", ".tmp"
    name = candidate.name
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    digits = name[len(prefix) : -len(suffix)]
    return int(digits) if digits.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and not ours to judge
        return True
    return True


def remove_orphaned_anchor_temps(anchor: Path) -> list[Path]:
    """Delete the temp files of anchor writes that a crash cut short; the paths removed.

    ``write_anchor`` renames its temp over the anchor; a process killed between the two leaves
    ``.<anchor>.<pid>.tmp`` behind for ever. Only temps of processes no longer running (or of this
    one, which is not writing while it opens) are removed: a live writer's temp is about to be
    renamed. The temp is never evidence: the anchor it would have become is checked, not it.
    """
    removed: list[Path] = []
    try:
        candidates = list(anchor.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        pid = _temp_pid(anchor, candidate)
        if pid is None or (pid != os.getpid() and _alive(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def read_anchor(path: Path) -> Anchor | None:
    """The anchor, or None when there is none yet; ValueError when the file is not an anchor."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        anchor = Anchor(
            count=data["count"],
            last_seq=data["last_seq"],
            last_hash=data["last_hash"],
            mac=data.get("mac", ""),
            key_id=data.get("key_id", ""),
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not an audit anchor ({exc})") from None
    counts = (anchor.count, anchor.last_seq)
    texts = (anchor.last_hash, anchor.mac, anchor.key_id)
    if not (all(type(n) is int for n in counts) and all(isinstance(t, str) for t in texts)):
        raise ValueError(f"{path}: not an audit anchor (wrong field types)")
    return anchor


# --------------------------------------------------------------------------- verification
@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The verdict on a chain. ``message`` names the first bad entry by position and seq.

    Position (``first_bad_entry``, 1-based in seq order) and seq differ once entries are deleted:
    an auditor counting rows needs the first, one querying the table needs the second.
    ``anchored`` is False when no anchor could be compared, so a cut tail went unchecked.
    """

    ok: bool
    count: int
    first_bad_seq: int | None
    message: str
    first_bad_entry: int | None = None
    anchored: bool = False


def verify(entries: Iterable[AuditEntry], anchor: Anchor | None = None) -> AuditVerification:
    """Walk the chain in seq order; report the first entry that cannot be trusted.

    Without an anchor a cut tail is undetectable, and the message says so. The anchor's MAC is
    not looked at here (``engine.store.sealing`` does that, it holds the key).
    """
    walk = walk_chain(entries, () if anchor is None else (anchor.last_seq,))
    anchored = anchor is not None
    if walk.bad is not None:
        position, seq, message = walk.bad
        return AuditVerification(False, walk.count, seq, message, position, anchored)
    if anchor is None:
        return AuditVerification(
            True,
            walk.count,
            None,
            f"{walk.count} entries, chain intact (no anchor: a cut tail cannot be detected)",
        )
    problem = end_problem(walk, anchor, "the anchor")
    if problem is not None:
        return AuditVerification(False, walk.count, problem[0], problem[2], problem[1], True)
    return AuditVerification(
        True, walk.count, None, f"{walk.count} entries, chain intact, anchor matches", None, True
    )


@dataclass(frozen=True, slots=True)
class ChainWalk:
    """One pass over the chain: its first fault, its length and end, and the hashes asked for."""

    bad: tuple[int, int, str] | None
    """(position, seq, why) of the first entry that cannot be trusted, or None."""
    count: int
    last_seq: int
    last_hash: str
    hashes: dict[int, str]
    """seq -> hash of the entries whose seqs were asked for (an anchor's and a witness's end)."""


def walk_chain(entries: Iterable[AuditEntry], wanted: Iterable[int] = ()) -> ChainWalk:
    """Check every link once; keep the hashes at ``wanted`` seqs for the end checks."""
    want = set(wanted)
    count = 0
    last_seq = 0
    last_hash = GENESIS_HASH
    hashes: dict[int, str] = {}
    bad: tuple[int, int, str] | None = None
    for entry in entries:
        count += 1
        if bad is None:
            bad = _check(entry, count, last_seq, last_hash)
        if entry.seq in want:
            hashes[entry.seq] = entry.hash
        last_seq, last_hash = entry.seq, entry.hash
    return ChainWalk(bad, count, last_seq, last_hash, hashes)


def end_problem(walk: ChainWalk, anchor: Anchor, what: str) -> tuple[int, int | None, str] | None:
    """(first bad seq, position, why) when the chain does not reach ``anchor``'s end, else None.

    ``what`` names the witness of that end in the message ("the anchor", "the witness file ...").
    A chain longer than the anchor is accepted: the anchor moves after the commit, so a crash in
    between leaves it behind.
    """
    count, last_seq = walk.count, walk.last_seq
    # Fewer entries than anchored but reaching the anchored seq means rows went missing inside
    # the chain, which the walk already names; only a chain that stops short was cut.
    if last_seq < anchor.last_seq or (count < anchor.count and walk.bad is None):
        return (
            last_seq + 1,
            count + 1,
            f"entry {count + 1} (seq {last_seq + 1}) and after are gone: the log ends at entry {count} "
            f"(seq {last_seq}) but {what} records {anchor.count} entries ending at seq "
            f"{anchor.last_seq}; the tail was cut",
        )
    if walk.hashes.get(anchor.last_seq) != anchor.last_hash:
        return (
            anchor.last_seq,
            None,
            f"the entry at seq {anchor.last_seq} differs from {what}: the log was rewritten",
        )
    return None


def _check(entry: AuditEntry, position: int, last_seq: int, last_hash: str) -> tuple[int, int, str] | None:
    """(position, seq, why) of the first thing wrong with ``entry`` following ``last_seq``, or None."""
    name = f"entry {position} (seq {entry.seq})"
    if entry.seq > last_seq + 1:
        return (
            position,
            last_seq + 1,
            f"entry {position} (seq {last_seq + 1}) is missing: the log jumps from seq {last_seq} "
            f"to seq {entry.seq}, so entries were deleted",
        )
    if entry.seq != last_seq + 1:
        return position, entry.seq, f"{name} is out of order: it comes after seq {last_seq}"
    try:
        payload = json.loads(entry.payload_json)
    except json.JSONDecodeError:
        return position, entry.seq, f"{name} is altered: its payload is not JSON"
    if canonical_json(payload) != entry.payload_json:
        return position, entry.seq, f"{name} is altered: its payload is not as it was written"
    expected = entry_hash(
        entry.prev_hash, entry.seq, entry.ts, entry.actor, entry.source, entry.action, payload
    )
    if expected != entry.hash:
        return position, entry.seq, f"{name} is altered: its hash does not match its content"
    if entry.prev_hash != last_hash:
        return (
            position,
            entry.seq,
            f"{name} does not follow seq {last_seq}: its prev_hash is not that entry's hash, "
            "so the chain was broken there",
        )
    return None
