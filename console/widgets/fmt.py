"""Number and time formatting shared by the panes, so every pane spells money and time alike.

Times are shown in New York time, the exchange's zone; the engine keeps them in UTC.
Colour is carried by TCSS-independent Rich styles only for values whose colour *is* the
data (P&L sign, order status, utilisation); everything else is styled in app.tcss.
Prices (``price``, ``price_places``) live in ``console.price_format`` and are re-exported here,
so the state's message line can use them without importing the widgets package.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.text import Text

from console.price_format import price as price
from console.price_format import price_places as price_places
from engine.model import OrderStatus

NEW_YORK = ZoneInfo("America/New_York")

GAIN = "green"
LOSS = "red"
WARN = "yellow"
"""Amber: the terminal's yellow, which themes render as amber/orange."""

UTILISATION_WARN = 0.75
"""A gauge turns amber from 75% of its limit: room to act before the limit refuses orders."""
UTILISATION_BREACH = 1.0
"""At or past the limit a gauge is red: orders that add risk are being refused."""

_STATUS_STYLE = {
    OrderStatus.FILLED: "bold green",
    OrderStatus.PARTIALLY_FILLED: "green",
    OrderStatus.REJECTED: "bold red",
    OrderStatus.CANCELLED: "dim",
    OrderStatus.EXPIRED: "dim",
    OrderStatus.UNKNOWN: "bold magenta",
    OrderStatus.PENDING_CANCEL: "yellow",
    OrderStatus.INTENT: "cyan",
    OrderStatus.SENT: "cyan",
    OrderStatus.ACKNOWLEDGED: "bold cyan",
    OrderStatus.LOST: "bold magenta",
    OrderStatus.EXTERNAL: "italic",
}


def ny_time(ts: datetime | None) -> str:
    """HH:MM:SS in New York, or a dash when unknown."""
    return "--:--:--" if ts is None else ts.astimezone(NEW_YORK).strftime("%H:%M:%S")


def ny_stamp(ts: datetime | None) -> str:
    """Date and time in New York with the zone's abbreviation (EST/EDT)."""
    return "-" if ts is None else ts.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M:%S %Z")


def money(value: float) -> str:
    return f"{value:,.2f}"


def signed_money(value: float) -> str:
    return f"{value:+,.2f}"


def qty(value: float) -> str:
    """Whole numbers without decimals; fractional shares keep up to four places."""
    return f"{value:,.0f}" if value == int(value) else f"{value:,.4f}".rstrip("0")


def pnl_style(value: float) -> str:
    if value > 0:
        return GAIN
    if value < 0:
        return LOSS
    return ""


def pnl(value: float) -> Text:
    """Signed money coloured by its sign, right-aligned for a table column."""
    return Text(signed_money(value), style=pnl_style(value), justify="right")


def right(text: str, style: str = "") -> Text:
    return Text(text, style=style, justify="right")


_STATUS_LABEL = {
    OrderStatus.PARTIALLY_FILLED: "PARTIAL",
    OrderStatus.ACKNOWLEDGED: "WORKING",
    OrderStatus.PENDING_CANCEL: "CXL PEND",
}
"""Short names for the long statuses, so the blotter fits a half-width pane."""


def status_text(status: OrderStatus) -> Text:
    return Text(_STATUS_LABEL.get(status, status.value), style=_STATUS_STYLE.get(status, ""))


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def utilisation_style(used: float) -> str:
    """Green well inside a limit, amber from ``UTILISATION_WARN`` of it, red at or past it."""
    if used >= UTILISATION_BREACH:
        return f"bold {LOSS}"
    if used >= UTILISATION_WARN:
        return f"bold {WARN}"
    return GAIN
