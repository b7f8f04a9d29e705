"""The journal lines the paper broker writes for a bracket, a modification and a session close,
built as plain values before anything is committed.

Why apart from ``broker.py``: a line is decided in full before it is journaled (the journal is
the broker's truth, and a crash may fall between two writes), so what goes into a line is a pure
function of the broker's state and the request; the broker only commits it and reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from engine.brokers.paper import linked, matching
from engine.brokers.paper.options import OptionMarket
from engine.brokers.paper.state import PaperState
from engine.model import Order, Quote


def bracket_problem(
    entry: Order, children: Sequence[Order], shape: Callable[[Order], str], known: Callable[[str], object]
) -> tuple[Order, str] | None:
    """The first child that makes a bracket unsound (its own shape, or on the entry's side), with
    why; None when every child is sound. A child id already seen raises ``ValueError``: it is not
    a refusal of the bracket but a sender's bug (an id reused)."""
    problems = [(child, shape(child)) for child in children]
    seen = {entry.client_order_id}
    for child, reason in problems:
        if child.client_order_id in seen or known(child.client_order_id) is not None:
            raise ValueError(f"bracket child {child.client_order_id} is not a new order id")
        seen.add(child.client_order_id)
        if not reason and child.side is entry.side:
            return child, f"a bracket child must be on the other side of its entry ({entry.side.value})"
    return next(((c, r) for c, r in problems if r), None)


def modify_line(
    ts: datetime,
    coid: str,
    quantity: float,
    limit_price: float | None,
    *,
    stop_price: float | None = None,
    trail_amount: float | None = None,
    trail_percent: float | None = None,
) -> dict[str, Any]:
    """A ``modify`` line: the new quantity and limit always, a stop or trailing term only when
    changed (a trailing distance given in one unit clears the other)."""
    line: dict[str, Any] = {
        "e": "modify",
        "ts": ts,
        "coid": coid,
        "quantity": quantity,
        "limit_price": limit_price,
    }
    if stop_price is not None:
        line["stop_price"] = stop_price
    if trail_amount is not None:
        line["trail_amount"], line["trail_percent"] = trail_amount, None
    if trail_percent is not None:
        line["trail_amount"], line["trail_percent"] = None, trail_percent
    return line


def close_line(
    state: PaperState,
    options: OptionMarket,
    ts: datetime,
    day: date,
    closes: Mapping[str, float],
    quotes: Mapping[str, Quote],
    settle_days: int,
) -> dict[str, Any]:
    """A session's ``close`` line: the orders that expire, the linked orders that go with them
    (``then``), and the options settled in cash (``settlements``), as one line so a crash cannot
    leave half a close behind."""
    expired = matching.expiring(state.working.values(), options, day)
    record: dict[str, Any] = {"e": "close", "ts": ts, "day": day, "expired": expired}
    gone = {coid for coid, _ in expired}
    then = [
        effect
        for coid, _ in expired
        for effect in linked.orphans(state, coid, "expired")
        if effect[1] not in gone
    ]
    if then:
        record["then"] = then
    settle = options.settlements(day, state.account.holdings, closes, quotes)
    if settle:
        record["settlements"] = settle
        record["settle_days"] = settle_days
    return record
