"""Reading the date-time texts clients send (reqExecutions' filter, reqHistoricalData's end).

IB accepts ``YYYYMMDD HH:MM:SS``, ``YYYYMMDD-HH:MM:SS`` (both UTC), ``YYYYMMDD HH:MM:SS <zone>`` and a
bare ``YYYYMMDD``. Texts without a zone are read as UTC, the zone ib_insync itself writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EXCHANGE_ZONE = ZoneInfo("America/New_York")


def parse_ib_datetime(text: str) -> datetime | None:
    """A tz-aware datetime, or None for an empty or unreadable text."""
    text = text.strip()
    if not text:
        return None
    day_part, _, rest = text.replace("-", " ", 1).partition(" ")
    if len(day_part) != 8 or not day_part.isdigit():
        return None
    rest = rest.strip()
    clock_part, _, zone_name = rest.partition(" ")
    zone: ZoneInfo | None = None
    if zone_name.strip():
        try:
            zone = ZoneInfo(zone_name.strip())
        except (ZoneInfoNotFoundError, ValueError):
            return None
    hms = clock_part.split(":") if clock_part else ["0", "0", "0"]
    if len(hms) != 3 or not all(p.isdigit() for p in hms):
        return None
    try:
        return datetime(
            int(day_part[:4]),
            int(day_part[4:6]),
            int(day_part[6:]),
            int(hms[0]),
            int(hms[1]),
            int(hms[2]),
            tzinfo=zone or UTC,
        )
    except ValueError:
        return None
