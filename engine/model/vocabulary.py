"""The words that cross the socket between an engine and a console: refusal codes, action names,
risk-alert codes, and the desk areas a console repaints.

Each was a bare string on both sides, and the console re-declared some of them (``DUPLICATE``),
so a typo on either side was a silent mismatch. As enums in the model they are one declaration
that both sides import, and strict mypy checks every place that emits or compares one.

They are ``StrEnum``s: a member *is* its string, so the JSON on the wire, the audit payloads and
the stored risk events are byte-for-byte what they were, and a peer built before these enums
still reads them. Adding a member is a protocol change: a console decodes an unknown code as an
error naming it (``engine.model.codec.DecodeError``), so add codes before an engine emits them.
"""

from __future__ import annotations

from enum import StrEnum


class RefusalCode(StrEnum):
    """Why a command or an order was refused: ``RefusalEvent.code``, ``CommandResult.code`` and the
    pre-trade checks' ``Refusal.code``. The operator reads it in brackets beside the message, and
    the console acts on a few (``DUPLICATE`` asks to confirm). ``NONE`` is an accepted command's."""

    NONE = ""

    # the trading state (engine.risk.pretrade, engine.risk.controller)
    HALTED = "HALTED"
    RECOVERING = "RECOVERING"
    REDUCING = "REDUCING"
    NOT_REDUCING = "NOT_REDUCING"
    STRATEGY_PAUSED = "STRATEGY_PAUSED"
    NOT_RECOVERING = "NOT_RECOVERING"
    RECOVERY_PROBLEMS = "RECOVERY_PROBLEMS"
    RESUME_WORD = "RESUME_WORD"
    NOT_PAUSED = "NOT_PAUSED"
    BAD_LIMIT = "BAD_LIMIT"

    # pre-trade checks on one order (engine.risk.pretrade)
    SYMBOL_NOT_ALLOWED = "SYMBOL_NOT_ALLOWED"
    BAD_QUANTITY = "BAD_QUANTITY"
    NO_PRICE = "NO_PRICE"
    BAD_QUOTE = "BAD_QUOTE"
    """The symbol's latest quote was held out (crossed, locked, spike, out of order, delayed)."""
    STALE_QUOTE = "STALE_QUOTE"
    """A live symbol has had no good quote for ``[quotes] stale_s`` while its exchange is open."""
    FX_RATE_STALE = "FX_RATE_STALE"
    """The rate converting the instrument's currency into the account currency is older than
    ``[risk] fx_rate_max_age_s`` (``engine.model.fx``): never guessed at."""
    FX_RATE_MISSING = "FX_RATE_MISSING"
    """No pair quoted converts the instrument's currency into the account currency."""
    BELOW_MIN_LOT = "BELOW_MIN_LOT"
    """The quantity is below the instrument's minimum lot (``InstrumentSpec.min_lot``)."""
    LOT_SIZE = "LOT_SIZE"
    """The quantity is not a whole number of the instrument's lot steps (``lot_size``)."""
    TICK_SIZE = "TICK_SIZE"
    """A limit or stop price is off the instrument's tick grid (``tick_size``)."""
    MARKET_CLOSED = "MARKET_CLOSED"
    THROTTLE = "THROTTLE"
    DUPLICATE = "DUPLICATE"
    MAX_ORDER_QTY = "MAX_ORDER_QTY"
    MAX_ORDER_VALUE = "MAX_ORDER_VALUE"
    PRICE_BAND = "PRICE_BAND"
    STOP_WRONG_SIDE = "STOP_WRONG_SIDE"
    """A protective stop (or target) moved to the wrong side of the market: it would fill at once."""
    INSUFFICIENT_CASH = "INSUFFICIENT_CASH"
    NO_SHORTING = "NO_SHORTING"
    NAKED_OPTION = "NAKED_OPTION"
    MAX_POSITION = "MAX_POSITION"
    RISK_PER_TRADE = "RISK_PER_TRADE"
    MAX_SECTOR = "MAX_SECTOR"
    GROSS_EXPOSURE = "GROSS_EXPOSURE"

    # the order's own shape (engine.execution.validation)
    BAD_ORDER = "BAD_ORDER"

    # commands (engine.runtime: commands, trading, portfolio report; engine.desk)
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    NOT_LIVE = "NOT_LIVE"
    NOT_A_REPLAY = "NOT_A_REPLAY"
    """A replay control sent to an engine that is not replaying a recording."""
    LIVE_NOT_ACKNOWLEDGED = "LIVE_NOT_ACKNOWLEDGED"
    BROKER_CLOSED = "BROKER_CLOSED"
    CARD_STALE = "CARD_STALE"
    NOT_OPEN = "NOT_OPEN"
    MODIFY_FAILED = "MODIFY_FAILED"
    CANCEL_FAILED = "CANCEL_FAILED"
    NO_SESSION = "NO_SESSION"
    NO_PLAN = "NO_PLAN"
    PREVIEW_STALE = "PREVIEW_STALE"
    PRICES_MOVED = "PRICES_MOVED"
    STORE_DEGRADED = "STORE_DEGRADED"
    """The database cannot be written: write-ahead is impossible, so nothing may be sent."""
    ENGINE_ERROR = "ENGINE_ERROR"
    """The engine failed while serving the command (a bug or a fault): the session still answers."""

    # the console's own, for a command that never got an engine's answer (console.client, console.app)
    DISCONNECTED = "DISCONNECTED"
    CLIENT_ERROR = "CLIENT_ERROR"


class Action(StrEnum):
    """What the operator (or the autopilot) asked for, as ``RefusalEvent.action`` names it: one per
    command, plus ``rebalance`` for a rebalance toward target weights (research, the autopilot).
    The console names a refused result's action the same way, so both read alike."""

    EXECUTE_CARD = "execute_card"
    MODIFY_ORDER = "modify_order"
    CANCEL_ORDER = "cancel_order"
    CANCEL_ALL = "cancel_all"
    KILL = "kill"
    FLATTEN = "flatten"
    RESET_KILL = "reset_kill"
    SET_LIMIT = "set_limit"
    RESUME_STRATEGY = "resume_strategy"
    APPROVE_RECOVERY = "approve_recovery"
    ACKNOWLEDGE_LIVE = "acknowledge_live"
    REPLAY_CONTROL = "replay_control"
    PORTFOLIO_REPORT = "portfolio_report"
    PREVIEW_REBALANCE = "preview_rebalance"
    EXECUTE_REBALANCE = "execute_rebalance"
    REBALANCE = "rebalance"
    GET_SNAPSHOT = "get_snapshot"
    GET_VITALS = "get_vitals"
    SCOREBOARD = "scoreboard"


class AlertCode(StrEnum):
    """What a ``RiskAlert`` (and the risk controller's ``RiskTransition`` behind it) reports: a change
    of the trading state, a breaker trip, a paused strategy, a limit change, the autopilot's news.
    Stored with each risk event and shown in the alert's title and the notifiers' subject line."""

    # the kill switch (engine.runtime.kill) and a halt with no more specific cause
    KILL = "KILL"
    FLATTEN = "FLATTEN"
    HALTED = "HALTED"
    RESUMED = "RESUMED"
    WRONG_ACCOUNT = "WRONG_ACCOUNT"
    """Start-up halted: the broker's account is not the one this database belongs to."""

    # circuit breakers (engine.risk.breakers, engine.risk.controller)
    DAILY_LOSS = "DAILY_LOSS"
    DRAWDOWN = "DRAWDOWN"
    REJECTS = "REJECTS"
    REPEAT_FILLS = "REPEAT_FILLS"
    LOSS_STREAK = "LOSS_STREAK"

    # strategies, recovery and limits (engine.risk.controller)
    STRATEGY_PAUSED = "STRATEGY_PAUSED"
    STRATEGY_RESUMED = "STRATEGY_RESUMED"
    RECOVERING = "RECOVERING"
    RECOVERY_APPROVED = "RECOVERY_APPROVED"
    LIMIT_CHANGED = "LIMIT_CHANGED"

    # the autopilot's run reports (engine.desk)
    AUTOPILOT = "AUTOPILOT"

    # automatic exits (engine.runtime.protection)
    UNPROTECTED = "UNPROTECTED"
    """A position a card opened has no working stop/target (refused, cancelled, or missing after
    a restart and not re-placed)."""
    TIME_EXIT = "TIME_EXIT"
    """A card's horizon ended with its position open: the protection was cancelled, the exit sent."""

    # forecast tracking (engine.runtime.forecasts)
    FORECAST_DRIFT = "FORECAST_DRIFT"
    """A template's live results differ significantly from what its cards forecast (the
    scoreboard's drift tests); raised once per crossing."""


class DeskArea(StrEnum):
    """An area of the console's desk that an event changed (``DeskState.apply`` answers a set of
    them); the app repaints only those, at a bounded rate. A few are moments, not panes: ``refusal``
    and ``execution_failed`` make a toast, ``notice`` the message line."""

    QUOTES = "quotes"
    POSITIONS = "positions"
    ORDERS = "orders"
    CARDS = "cards"
    RISK = "risk"
    REPORT = "report"
    LIMITS = "limits"
    STATUS = "status"
    NOTICE = "notice"
    REFUSAL = "refusal"
    ALERT = "alert"
    FILLS = "fills"
    EXECUTIONS = "executions"
    EXECUTION_FAILED = "execution_failed"
    RECONCILIATION = "reconciliation"
    PORTFOLIO = "portfolio"
    REBALANCE = "rebalance"
    SCOREBOARD = "scoreboard"
