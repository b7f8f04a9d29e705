"""TWS error codes turned into lines an operator can act on.

TWS reports everything, from "your order was rejected" to "the data farm is fine", as an
error message with a number. The raw text is written for IB's support staff; the operator needs
to know what happened and what to do. Codes not listed keep TWS's own text, prefixed by the code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ib_insync import Trade

from dataclasses import dataclass

WARNING_CODES = frozenset({110, 165, 202, 399, 404, 434, 492, 10167}) | frozenset(range(2100, 2200))
"""Codes ib_insync (and TWS) treat as information, not failure."""

CONNECTION_LOST = 1100
RESTORED_DATA_LOST = 1101
RESTORED_DATA_KEPT = 1102
CLIENT_ID_IN_USE = 326
CANNOT_CONNECT = 502


@dataclass(frozen=True, slots=True)
class ErrorAdvice:
    summary: str
    action: str


ADVICE: dict[int, ErrorAdvice] = {
    200: ErrorAdvice(
        "no security definition for this contract",
        "check the symbol (and for an option its expiry, strike and right); IBKR does not know it",
    ),
    201: ErrorAdvice("order rejected by IBKR", "read the reason; nothing was sent to the market"),
    103: ErrorAdvice(
        "duplicate order id",
        "another client used this id; onetap will not reuse it: restart the connection to get fresh ids",
    ),
    162: ErrorAdvice("historical data request failed", "check the symbol and the market data permissions"),
    326: ErrorAdvice(
        "the client id is already in use",
        "another program (or another onetap) is connected with this client id: "
        "set [ibkr] client_id to a free one",
    ),
    354: ErrorAdvice(
        "no market data subscription for this symbol",
        'subscribe in Account Management, or set [ibkr] market_data = "delayed"',
    ),
    502: ErrorAdvice(
        "cannot connect to TWS / IB Gateway",
        "is TWS or IB Gateway running with the API enabled (Configure > API > Settings: "
        "Enable ActiveX and Socket Clients) on that host and port?",
    ),
    504: ErrorAdvice("not connected", "wait for the connection to come back; nothing was sent"),
    1100: ErrorAdvice(
        "TWS lost its connection to IBKR's servers",
        "orders cannot be sent or changed until it comes back; working orders stay at IBKR",
    ),
    1101: ErrorAdvice("connection to IBKR restored, market data lost", "onetap resubscribes to its quotes"),
    1102: ErrorAdvice("connection to IBKR restored, market data kept", "nothing to do"),
    10147: ErrorAdvice(
        "IBKR does not know the order to cancel", "it may have filled or been cancelled already"
    ),
    10167: ErrorAdvice("showing delayed market data", "prices are 15-20 minutes old"),
}


def describe(code: int, text: str) -> str:
    """One line: what happened and what to do, with TWS's own text kept for the record."""
    advice = ADVICE.get(code)
    if advice is None:
        return f"IBKR {code}: {text}"
    detail = f" ({text})" if text else ""
    return f"IBKR {code}: {advice.summary}{detail}; {advice.action}"


def is_warning(code: int) -> bool:
    return code in WARNING_CODES


def modify_refusal(
    order_type: str,
    limit_price: float | None,
    stop_price: float | None,
    trail_amount: float | None,
    trail_percent: float | None,
) -> str:
    """Why these terms do not belong to an order of ``order_type`` ("" when they do)."""
    if limit_price is not None and order_type not in ("LMT", "STP LMT"):
        return f"a {order_type} order has no limit price to change"
    if stop_price is not None and order_type not in ("STP", "STP LMT", "TRAIL"):
        return f"a {order_type} order has no stop price to change"
    if (trail_amount is not None or trail_percent is not None) and order_type != "TRAIL":
        return f"a {order_type} order has no trailing distance to change"
    if trail_amount is not None and trail_percent is not None:
        return "give one of trail_amount and trail_percent, not both"
    return ""


def last_error(trade: Trade) -> tuple[int, str]:
    """The error code and text TWS attached to a trade's latest log entry, (0, "") for none."""
    for entry in reversed(trade.log):
        if entry.errorCode:
            message = entry.message
            # ib_insync logs "Error 201, reqId 5: Order rejected - reason: ..." (and a contract)
            if ": " in message:
                message = message.split(": ", 1)[1]
            return int(entry.errorCode), message.split(", contract:", 1)[0]
    return 0, ""
