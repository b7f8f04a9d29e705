"""Framing and field encoding of the TWS API wire protocol (see TWS_PROTOCOL_NOTES.md §1-2).

Everything here is pure: bytes in, fields out, and back. Keeping it apart from the sockets lets the
unit tests pin the exact bytes a real client expects, at every negotiated server version.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence

MIN_VERSION = 157
"""Oldest server version we speak; ib_insync itself refuses anything lower."""
MAX_VERSION = 178
"""Newest server version we speak (178 adds pendingPriceRevision to execDetails)."""

HANDSHAKE_PREFIX = b"API\0"
UNSET_DOUBLE = "1.7976931348623157E308"
UNSET_INTEGER = "2147483647"

Field = str | int | float | bool | None
"""A value as the encoders hand it over; ``format_field`` turns it into wire text."""

_LENGTH = struct.Struct(">I")


def format_field(value: Field) -> str:
    """One value as TWS writes it: None -> '' (unset), bools 0/1, integral floats without '.0'.

    Integral quantities must never carry a decimal point: the official client parses tick sizes
    with ``int()`` and would crash on ``100.0``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return UNSET_DOUBLE if value > 0 else ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return value


def encode_frame(fields: Iterable[Field]) -> bytes:
    """A length-prefixed frame; every field, the last one included, ends with NUL."""
    payload = b"".join(format_field(f).encode() + b"\0" for f in fields)
    return _LENGTH.pack(len(payload)) + payload


def encode_raw_frame(text: str) -> bytes:
    """A frame whose payload is plain text without field terminators (the client's version range)."""
    payload = text.encode()
    return _LENGTH.pack(len(payload)) + payload


def decode_payload(payload: bytes) -> list[str]:
    """Fields of one frame: split on NUL, drop the empty tail after the last terminator."""
    parts = payload.decode(errors="backslashreplace").split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Whole frame payloads at the front of ``buffer`` and the incomplete rest."""
    frames: list[bytes] = []
    pos = 0
    while len(buffer) - pos >= 4:
        (size,) = _LENGTH.unpack_from(buffer, pos)
        if len(buffer) - pos - 4 < size:
            break
        frames.append(buffer[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return frames, buffer[pos:]


def parse_version_range(text: str) -> tuple[int, int] | None:
    """``v157..176`` (optionally followed by `` +PACEAPI``) -> (157, 176); None when malformed."""
    head = text.strip().split(" ", 1)[0]
    if not head.startswith("v"):
        return None
    lo, sep, hi = head[1:].partition("..")
    try:
        low = int(lo)
        high = int(hi) if sep else low
    except ValueError:
        return None
    return (low, high) if low <= high else None


def negotiate(client_min: int, client_max: int) -> int | None:
    """The server version for this connection: min(client_max, 178), or None without overlap.

    158 is skipped when possible: ib_insync reads openOrder's ``duration`` only from 159 although
    the field exists from 158, so at 158 every openOrder would be misread.
    """
    chosen = min(client_max, MAX_VERSION)
    if chosen == 158 and client_min <= 157:
        chosen = 157
    if chosen < MIN_VERSION or chosen < client_min:
        return None
    return chosen


def as_float(text: str, default: float = 0.0) -> float:
    """A client's numeric text (``''`` = unset, ``Infinite``) as a float."""
    if text == "":
        return default
    if text == "Infinite":
        return math.inf
    try:
        return float(text)
    except ValueError:
        return default


def as_optional_price(text: str) -> float | None:
    """A price field: empty or UNSET (1.79e308) means "not given"."""
    if text == "":
        return None
    value = as_float(text)
    return None if value >= 1e300 or not math.isfinite(value) else value


def as_int(text: str, default: int = 0) -> int:
    if text == "":
        return default
    try:
        return int(float(text))
    except ValueError:
        return default


def as_bool(text: str) -> bool:
    return as_int(text) != 0


def field_list(fields: Sequence[Field]) -> list[str]:
    """Encoded field texts, for tests and logs."""
    return [format_field(f) for f in fields]
