"""What makes the audit anchor worth trusting: a key kept away from the database, and a witness.

The hash chain alone proves that no entry *inside* it was changed; anyone who can write the
database can still rebuild the whole chain, or cut its end, and write a matching anchor beside it.
Two things outside the database folder close that gap:

* the **audit key** (32 random bytes, a 0600 file in the user's config directory): every anchor
  carries an HMAC-SHA256 of the chain's length and end under it, so an anchor written by someone
  without the key is refused;
* the **witness**: an append-only file (beside the key by default) that receives every anchor
  too, one keyed line per anchor, tagged with the database's path. Deleting the chain's tail
  *and* the anchor, or putting an older (genuine) anchor back, leaves the chain shorter than
  the witness's last line for it.

``verify_sealed`` checks a chain against both and returns every problem in plain words; the
store runs it before its first append and refuses to extend a chain that failed it. The
threat model (what is caught and what is not) is in the README, "Tamper evidence".
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

from engine.config import StoreSettings
from engine.durable import fsync_dir
from engine.store import audit
from engine.store.audit import Anchor, AuditEntry, AuditVerification

KEY_BYTES = 32
_FILE_MODE = 0o600
_DIR_MODE = 0o700
_ANCHOR_PURPOSE = "onetap-audit-anchor-v1"
_WITNESS_PURPOSE = "onetap-audit-witness-v1"


# --------------------------------------------------------------------------- where
@dataclass(frozen=True, slots=True)
class AuditProtection:
    """Where the audit key and the witness file live: both outside the database folder."""

    key_path: Path
    witness_path: Path

    @classmethod
    def default(cls) -> AuditProtection:
        """``$XDG_CONFIG_HOME/onetap/audit.key`` and ``audit.witness`` beside it."""
        folder = platformdirs.user_config_path("onetap")
        return cls(folder / "audit.key", folder / "audit.witness")

    @classmethod
    def from_settings(cls, store: StoreSettings) -> AuditProtection:
        """``[store] audit_key`` and ``[store] audit_witness``; empty means the default place.

        An empty witness setting puts the witness beside the key (wherever the key is).
        """
        key = Path(store.audit_key).expanduser() if store.audit_key else cls.default().key_path
        witness = (
            Path(store.audit_witness).expanduser() if store.audit_witness else key.with_name("audit.witness")
        )
        return cls(key, witness)


def database_identity(database: Path) -> str:
    """How the witness names a database: its absolute path (a replaced file keeps the name)."""
    return str(Path(database).resolve())


# --------------------------------------------------------------------------- the key
@dataclass(frozen=True, slots=True)
class AuditKey:
    """The secret that keys anchors and witness lines. ``key_id`` names it without revealing it."""

    path: Path
    secret: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"onetap-audit-key-id" + self.secret).hexdigest()[:16]

    def mac(self, purpose: str, fields: Mapping[str, object]) -> str:
        message = f"{purpose}\n{audit.canonical_json(dict(fields))}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def sign(self, anchor: Anchor) -> Anchor:
        return replace(anchor, mac=self.mac(_ANCHOR_PURPOSE, anchor.head()), key_id=self.key_id)

    def signed(self, anchor: Anchor) -> bool:
        """True when ``anchor`` carries this key's MAC over its own values."""
        return hmac.compare_digest(anchor.mac, self.mac(_ANCHOR_PURPOSE, anchor.head()))


def load_key(path: Path) -> AuditKey | None:
    """The key at ``path``, or None when there is none; ValueError naming the file when unusable.

    A key other users can read is refused: it would let them forge anchors.
    """
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not text"
        raise ValueError(f"the audit key {path} cannot be read ({why})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"the audit key {path} is not a regular file")
    if info.st_mode & 0o077:
        raise ValueError(
            f"the audit key {path} can be read by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            "whoever read it can forge anchors: chmod 600 it, or make a new key and re-anchor"
        )
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != KEY_BYTES:
        raise ValueError(f"the audit key {path} is not {KEY_BYTES} bytes of hex; it was damaged or replaced")
    return AuditKey(path, secret)


def load_or_create_key(path: Path) -> AuditKey:
    """The key, created 0600 (folder 0700) on first use; two processes creating it agree on one."""
    key = load_key(path)
    if key is not None:
        return key
    _private_dir(path.parent)
    # Written whole under a temporary name, then linked into place: a crash never leaves an empty
    # key behind, and of two processes creating it at once the first link wins for both.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
        os.write(fd, (secrets.token_hex(KEY_BYTES) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    created = load_key(path)
    if created is None:
        raise ValueError(f"the audit key {path} vanished while it was created")
    return created


# --------------------------------------------------------------------------- the witness
@dataclass(frozen=True, slots=True)
class WitnessRecord:
    """The last anchor the witness holds for one database, and the line it is on (1-based)."""

    line: int
    anchor: Anchor


def witness_line(key: AuditKey, database: str, anchor: Anchor) -> str:
    fields: dict[str, object] = {"db": database, **anchor.head()}
    return audit.canonical_json({**fields, "key_id": key.key_id, "mac": key.mac(_WITNESS_PURPOSE, fields)})


def publish(path: Path, key: AuditKey, database: str, anchor: Anchor) -> None:
    """Append one keyed line for ``anchor`` to the witness (created 0600), and fsync it.

    One ``write`` of one short line in append mode, so concurrent writers (two databases) do not
    interleave. A crash can leave a torn last line; the next line then starts on a line of its
    own, and ``read_witness`` skips the torn one.
    """
    _private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, _FILE_MODE)
    try:
        size = os.fstat(fd).st_size
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        line = witness_line(key, database, anchor) + "\n"
        os.write(fd, (("\n" if torn else "") + line).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_witness(path: Path, database: str, key: AuditKey | None) -> tuple[WitnessRecord | None, list[str]]:
    """The witness's last genuine record for ``database``, and the problems found on the way.

    Read from the end: only this database's lines are parsed, and the search stops at the first
    genuine one, so a witness shared by many databases and grown for years stays cheap to check.
    A line for this database whose MAC does not match was forged or edited: a problem, and the
    search goes on to the line before it. Without the key nothing can be authenticated (the
    caller reports the key); the last line is then taken as it is. Lines that do not parse are
    skipped: a crash can tear the last line, and garbage forges nothing.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, []
    except OSError as exc:
        return None, [f"the witness {path} cannot be read ({exc.strerror})"]
    lines = raw.split(b"\n")
    marker = json.dumps(database).encode("utf-8")  # the quoted path, however the line is spaced
    problems: list[str] = []
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if marker not in line:
            continue
        try:
            data = json.loads(line)
            fields: dict[str, object] = {
                "db": str(data["db"]),
                "count": data["count"],
                "last_seq": data["last_seq"],
                "last_hash": data["last_hash"],
            }
            anchor = Anchor(int(data["count"]), int(data["last_seq"]), str(data["last_hash"]))
            mac, key_id = str(data["mac"]), str(data.get("key_id", ""))
        except (ValueError, KeyError, TypeError):
            continue
        if fields["db"] != database:
            continue
        if key is not None and not hmac.compare_digest(mac, key.mac(_WITNESS_PURPOSE, fields)):
            problems.append(
                f"the witness {path} line {index + 1} for this database does not carry a valid MAC "
                f"(key id {key_id or 'none'}): it was edited or forged"
            )
            continue
        return WitnessRecord(index + 1, replace(anchor, mac=mac, key_id=key_id)), problems
    return None, problems


# --------------------------------------------------------------------------- verification
@dataclass(frozen=True, slots=True)
class SealVerdict:
    """Everything known about a chain after checking it against its anchor, key and witness.

    ``problems``: any entry means the chain must not be extended (nothing appended, nothing
    re-anchored) and trading stays refused. ``verification`` is the same verdict in the store's
    one-line form (the first problem, and where the chain first goes wrong).
    ``migrate`` is an unkeyed anchor that verified the old way: the next append keys it.
    """

    verification: AuditVerification
    problems: tuple[str, ...]
    migrate: Anchor | None
    count: int
    last_seq: int
    last_hash: str
    witnessed: bool


def verify_sealed(
    entries: Iterable[AuditEntry],
    *,
    database: Path,
    protection: AuditProtection,
    fresh: bool = False,
) -> SealVerdict:
    """Check the chain, its anchor (keyed or legacy) and the witness's last record for it.

    ``fresh`` says the database file did not exist before this store opened it: a witness
    history under the same path then belongs to an earlier file someone chose to replace, and
    an empty chain is not called cut. Nothing is written here.
    """
    anchor_file = audit.anchor_path(database)
    found = _Findings()
    key: AuditKey | None = None
    try:
        key = load_key(protection.key_path)
    except ValueError as exc:
        found.key_problem = str(exc)
    anchor: Anchor | None = None
    anchor_problem = ""
    try:
        anchor = audit.read_anchor(anchor_file)
    except ValueError as exc:
        anchor_problem = str(exc)
    except OSError as exc:
        anchor_problem = f"{anchor_file}: unreadable ({exc.strerror})"
    record, witness_problems = read_witness(protection.witness_path, database_identity(database), key)
    wanted = [a.last_seq for a in (anchor, record.anchor if record else None) if a is not None]
    walk = audit.walk_chain(entries, wanted)

    if walk.bad is not None:
        position, seq, message = walk.bad
        found.add(message, seq, position)
    if found.key_problem:
        found.add(found.key_problem)
    intact = f"{walk.count} entries, chain intact, but " if walk.bad is None else ""
    anchor_end_failed = False
    if anchor_problem:
        found.add(f"{intact}{anchor_problem}: the end of the log cannot be checked")
    elif anchor is None:
        if walk.count > 0:
            found.add(
                f"{intact}there is no anchor file ({anchor_file}): it was deleted, or the database was "
                "copied without it, so a cut tail cannot be ruled out"
            )
    else:
        anchor_end_failed = _check_anchor(found, walk, anchor, anchor_file, key, witnessed=record is not None)
    for problem in witness_problems:
        found.add(problem)
    witnessed = record is not None and not (fresh and walk.count == 0)
    if record is not None and witnessed and not anchor_end_failed:  # else the anchor told it already
        end = audit.end_problem(
            walk, record.anchor, f"the witness {protection.witness_path} (line {record.line})"
        )
        if end is not None:
            found.add(end[2], end[0], end[1])

    migrate = anchor if anchor is not None and not anchor.keyed and not found.problems else None
    return SealVerdict(
        _verification(found, walk, anchor, migrate),
        tuple(found.problems),
        migrate,
        walk.count,
        walk.last_seq,
        walk.last_hash,
        witnessed,
    )


class _Findings:
    """The problems found so far, and where the chain first goes wrong (for the one-line verdict)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.first_bad: tuple[int | None, int | None] = (None, None)  # (seq, position)
        self.key_problem = ""

    def add(self, problem: str, seq: int | None = None, position: int | None = None) -> None:
        self.problems.append(problem)
        if self.first_bad == (None, None):
            self.first_bad = (seq, position)


def _check_anchor(
    found: _Findings,
    walk: audit.ChainWalk,
    anchor: Anchor,
    anchor_file: Path,
    key: AuditKey | None,
    *,
    witnessed: bool,
) -> bool:
    """Add the anchor's problems (its key, then its end); True when the chain does not reach its end."""
    if anchor.keyed:
        for problem in _key_problems(anchor, key, found.key_problem, anchor_file):
            found.add(problem)
    elif witnessed:
        found.add(
            f"the anchor {anchor_file} is not keyed, but the witness holds keyed anchors for this "
            "database: the anchor was replaced by one written without the key"
        )
    end = audit.end_problem(walk, anchor, "the anchor")
    if end is None:
        return False
    found.add(end[2], end[0], end[1])
    return True


def _verification(
    found: _Findings, walk: audit.ChainWalk, anchor: Anchor | None, migrate: Anchor | None
) -> AuditVerification:
    if found.problems:
        seq, position = found.first_bad
        return AuditVerification(False, walk.count, seq, found.problems[0], position, anchor is not None)
    if anchor is None:
        return AuditVerification(
            True,
            walk.count,
            None,
            f"{walk.count} entries, chain intact (no anchor: a cut tail cannot be detected)",
        )
    message = f"{walk.count} entries, chain intact, anchor matches"
    if migrate is not None:
        message += " (the anchor is not keyed yet: the next append keys it)"
    return AuditVerification(True, walk.count, None, message, None, True)


def _key_problems(anchor: Anchor, key: AuditKey | None, key_problem: str, anchor_file: Path) -> list[str]:
    if key_problem:
        return []  # already reported: the key itself is the problem
    if key is None:
        return [
            f"the anchor {anchor_file} is keyed but there is no audit key at the configured place: "
            "the key was deleted or moved, or this is another user's or machine's database; "
            "the anchor cannot be trusted"
        ]
    if anchor.key_id and anchor.key_id != key.key_id:
        return [
            f"the anchor {anchor_file} was keyed with another key (key id {anchor.key_id}, this "
            f"key is {key.key_id}): the key was replaced, or the anchor was"
        ]
    if not key.signed(anchor):
        return [
            f"the anchor {anchor_file} does not carry a valid MAC under the audit key: "
            "it was edited or forged"
        ]
    return []


# --------------------------------------------------------------------------- files
def _private_dir(folder: Path) -> None:
    """Create missing folders 0700; existing ones are the user's and left alone."""
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):
            created.mkdir(mode=_DIR_MODE)
            created.chmod(_DIR_MODE)
