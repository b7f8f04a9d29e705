"""Orders linked to others at the paper broker: one-cancels-all groups, bracket children, trailing stops.

Pure decisions over ``PaperState``; the broker journals what they return with the change that
caused it (one line), and ``PaperState`` applies it. An effect is ``["work", coid, quantity, why]``
(the order now works that quantity, and a held bracket child starts working) or
``["cancel", coid, reason]``.

The rules, as IBKR applies them:

* **OCA groups** (``Order.oca_group``) follow IB's ``ocaType`` 3, "reduce without block": when
  a member fills completely every other member is cancelled; a partial fill reduces each other
  member's quantity by the amount filled (one whose remaining reaches zero is cancelled).
  Nothing is blocked while a fill is in progress (the simulator fills synchronously anyway).
* **Bracket children** (``place_bracket``) are held until their entry fills; each fill of the
  entry sets every child to work the entry's filled quantity so far, less what its OCA group
  already exited. An entry that ends (cancelled, expired, unpaid) with nothing filled cancels
  its held children; once something filled, the children stay and protect that.
* **Trailing stops** (TRAIL): the stop follows the last trade at ``trail_amount`` (money) or
  ``trail_percent`` (percent) behind it, rounded to the cent, and only ever tightens (up for a
  sell, down for a buy). The level is the order's ``stop_price``; each move is journaled and
  reported (``OrderModified``) so the engine shows it. Once triggered it no longer moves.
"""

from __future__ import annotations

from typing import Any

from engine.brokers.paper.account import EPS
from engine.brokers.paper.matching import shares
from engine.brokers.paper.state import OrderRecord, PaperState
from engine.model import Order, OrderType, Side

Effect = list[Any]

TRAIL_DECIMALS = 2
"""Trailing levels move in whole cents: a move smaller than that is not a move (nor a journal line)."""


def after_fill(state: PaperState, record: OrderRecord, qty: float) -> list[Effect]:
    """What a fill of ``qty`` on ``record`` (not yet applied) does to its children and OCA siblings."""
    order = record.order
    filled = order.filled_quantity + qty
    complete = order.quantity - filled <= EPS
    if complete:
        filled = order.quantity
    effects: list[Effect] = []
    coid = order.client_order_id
    children = [r for r in state.working.values() if r.parent == coid]
    exited: dict[str, float] = {}
    for child in children:
        group = child.order.oca_group
        if group is not None and group not in exited:
            exited[group] = sum(r.order.filled_quantity for r in children if r.order.oca_group == group)
    for child in children:
        group = child.order.oca_group
        out = exited[group] if group is not None else child.order.filled_quantity
        quantity = child.order.filled_quantity + filled - out
        why = f"bracket entry {coid} filled {shares(filled)}"
        effects.append(["work", child.order.client_order_id, quantity, why])
    group = order.oca_group
    if group is None:
        return effects
    for sibling in state.working.values():
        other = sibling.order
        if sibling is record or sibling.held or other.oca_group != group:
            continue
        if complete:
            reason = f"one-cancels-all group {group}: {coid} filled"
            effects.append(["cancel", other.client_order_id, reason])
        elif other.remaining - qty <= EPS:
            reason = f"one-cancels-all group {group}: {coid} filled {shares(qty)}, nothing was left to work"
            effects.append(["cancel", other.client_order_id, reason])
        else:
            why = f"one-cancels-all group {group}: {coid} filled {shares(qty)}"
            effects.append(["work", other.client_order_id, other.quantity - qty, why])
    return effects


def orphans(state: PaperState, entry: str, how: str) -> list[Effect]:
    """The held children an entry leaves behind when it ends unfilled (``how``: "was cancelled")."""
    return [
        ["cancel", r.order.client_order_id, f"its bracket entry {entry} {how} with nothing filled"]
        for r in state.working.values()
        if r.parent == entry and r.held
    ]


def trail_level(order: Order, last: float) -> float | None:
    """The stop a TRAIL order would sit at with the last trade at ``last`` (None: not a TRAIL)."""
    if order.order_type is not OrderType.TRAIL:
        return None
    if order.trail_amount is not None:
        distance = order.trail_amount
    elif order.trail_percent is not None:
        distance = last * order.trail_percent / 100.0
    else:
        return None
    level = last - distance if order.side is Side.SELL else last + distance
    return round(level, TRAIL_DECIMALS)


def ratchet(record: OrderRecord, last: float) -> float | None:
    """The TRAIL order's new, tighter level after a trade at ``last``; None when it does not move."""
    if record.triggered or record.held:
        return None
    order = record.order
    level = trail_level(order, last)
    if level is None or level <= 0.0:
        return None
    current = order.stop_price
    if current is None:
        return level
    tighter = level > current + EPS if order.side is Side.SELL else level < current - EPS
    return level if tighter else None
