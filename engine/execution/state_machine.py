"""The order state machine as an explicit table.

A report that asks for a transition not in the table is logged as an error and not
applied: a late 'cancelled' must never undo a fill, a duplicate ack must never reopen a
filled order. A fill may arrive before its acknowledgement (brokers do that), so
INTENT/SENT may go straight to PARTIALLY_FILLED or FILLED. Any open order may become LOST when
reconciliation proves the broker never had it; EXTERNAL orders (the broker's, not ours) never move.
"""

from __future__ import annotations

from engine.model import OrderStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.INTENT: frozenset({S.SENT, S.REJECTED, S.UNKNOWN, S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.FILLED}),
    S.SENT: frozenset(
        {
            S.ACKNOWLEDGED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.REJECTED,
            S.CANCELLED,
            S.PENDING_CANCEL,
            S.UNKNOWN,
            S.EXPIRED,
        }
    ),
    S.ACKNOWLEDGED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED, S.REJECTED}
    ),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED}),
    S.PENDING_CANCEL: frozenset({S.CANCELLED, S.PARTIALLY_FILLED, S.FILLED, S.EXPIRED, S.ACKNOWLEDGED}),
    S.UNKNOWN: frozenset({S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.LOST: frozenset(),
    S.EXTERNAL: frozenset(),
}
# Reconciliation may find that the broker never had any order the engine still thinks is open.
for _open in (S.INTENT, S.SENT, S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.UNKNOWN):
    TRANSITIONS[_open] = TRANSITIONS[_open] | {S.LOST}


def can_transition(old: S, new: S) -> bool:
    return new in TRANSITIONS[old]
