"""Refusals in words: what was refused, and why, with the engine's code kept for the record.

The engine names a refused action by its wire name (``execute_card``, ``set_limit``); a toast that
says "Refused: execute_card" reads like a stack trace. The title says what did not happen in the
trader's words; the code stays in the body, in brackets, for the audit and for support.
"""

from __future__ import annotations

ACTION_WORDS = {
    "execute_card": "Card not executed",
    "modify_order": "Order not modified",
    "cancel_order": "Order not cancelled",
    "cancel_all": "Cancel all not done",
    "kill": "Kill switch not applied",
    "flatten": "Flatten not done",
    "reset_kill": "Trading not resumed",
    "set_limit": "Limit not changed",
    "resume_strategy": "Strategy not resumed",
    "approve_recovery": "Reconciliation not approved",
    "acknowledge_live": "Live account not acknowledged",
    "portfolio_report": "Portfolio report not made",
    "preview_rebalance": "Rebalance not planned",
    "execute_rebalance": "Rebalance not sent",
    "rebalance": "Rebalance not sent",
    "get_snapshot": "Desk not refreshed",
    "get_vitals": "Status not read",
    "replay_control": "Replay not changed",
    "scoreboard": "Scoreboard not shown",
}


def refusal_title(action: str) -> str:
    """``execute_card`` -> "Card not executed"; an action this console does not know is named
    as it came ("refused: new_action") rather than hidden."""
    return ACTION_WORDS.get(str(action), f"Refused: {str(action).replace('_', ' ')}")


def refusal_body(message: str, code: str) -> str:
    """The engine's reason, then its code: "order value 30,000 exceeds 25,000 [MAX_ORDER_VALUE]"."""
    return f"{message} [{code}]" if code else message
