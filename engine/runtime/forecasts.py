"""``ForecastTracker``: every executed card's forecast meets its outcome, on the desk.

It feeds each order change and each booked fill to a ``TradeBook`` (``engine.portfolio.
forecasts``: which fills opened and closed each card's position) and, when a trade ends, stores
its ``ForecastOutcome``. Both handlers are critical and run inside the fill's (or the order's)
own transaction, so the outcome commits with the fill that closed the trade, or not at all.

At start ``recover`` folds every stored order and fill through the same book and stores the
outcomes that are missing (insert-or-ignore by execution): a database from before the table, or
one a crash left between a fill and its outcome, gets its outcomes once; a trade opened before a
restart and closed after it ends in the rebuilt book like any other.

After each stored outcome the template's scoreboard row is recomputed and its drift tests
(``engine.portfolio.scoreboard``) run; a template that crosses into drift raises one
``FORECAST_DRIFT`` alert the way the risk monitor raises its own (risk event row, audit entry,
``RiskAlert`` on the bus, the notifiers). The set of drifting templates is kept in the engine
state, so neither the next trade nor a restart announces a standing drift again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from engine.bus import EventBus
from engine.clock import Clock
from engine.execution.plan import executed_card_id
from engine.model import AlertCode, CommandSource, Fill, StrategyCard
from engine.model.events import CommandResult, OrderEvent, RiskAlert, ScoreboardEvent
from engine.model.forecast import ForecastOutcome, OutcomeStatus, Scoreboard, TemplateScore
from engine.portfolio.forecasts import TradeBook
from engine.portfolio.scoreboard import ALPHA, MIN_TRADES, drift_crossings, scoreboard
from engine.risk.alerts import AlertDispatcher
from engine.runtime.accounting import FillBooked
from engine.runtime.outbox import Outbox
from engine.store.repository import Store

DRIFT_KEY = "forecast_drift"
"""Engine state: the templates whose drift was announced and has not come back within the forecast."""
DRIFT_ACTION = "forecast_drift"


class ForecastTracker:
    def __init__(
        self,
        *,
        store: Store,
        bus: EventBus,
        clock: Clock,
        outbox: Outbox,
        alerts: AlertDispatcher,
        min_trades: int = MIN_TRADES,
        alpha: float = ALPHA,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._outbox = outbox
        self._alerts = alerts
        self._min_trades = min_trades
        self._alpha = alpha
        self._book = TradeBook(self._card)
        self._outcomes: list[ForecastOutcome] = []
        self._drifting: set[str] = set()

    def _card(self, card_id: str, execution_id: str) -> StrategyCard | None:
        """The card as executed (its own copy), else, for older files, as it was last saved."""
        return self._store.load_card(executed_card_id(card_id, execution_id)) or self._store.load_card(
            card_id
        )

    # ------------------------------------------------------------------ start
    def recover(self, fills: Iterable[Fill]) -> int:
        """Fold the stored orders and ``fills`` (the list the ledger folded); store the outcomes
        missing; answers how many were added."""
        ended = self._book.fold(self._store.load_orders(), fills)
        added = self._store.save_outcomes(ended)
        self._outcomes = self._store.load_outcomes()
        self._drifting = _drifting(self._store.get_state(DRIFT_KEY))
        if added:
            self._outbox.notice("info", f"forecast tracking: {added} trade(s) scored from the stored fills")
        self._check_drift()
        return added

    # ------------------------------------------------------------------ the bus (critical)
    def on_order(self, event: OrderEvent) -> None:
        self._record(self._book.order(event.order))

    def on_fill_booked(self, event: FillBooked) -> None:
        self._record(self._book.fill(event.fill))

    def _record(self, ended: list[ForecastOutcome]) -> None:
        if not ended:
            return
        self._store.save_outcomes(ended)
        self._outcomes.extend(ended)
        for o in ended:
            self._outbox.notice("info", _scored(o))
        self._check_drift()

    # ------------------------------------------------------------------ the scoreboard
    @property
    def outcomes(self) -> tuple[ForecastOutcome, ...]:
        return tuple(self._outcomes)

    def scoreboard(self, since: datetime | None = None) -> Scoreboard:
        pending: dict[str, int] = {}
        for trade in self._book.open_trades():
            pending[trade.template] = pending.get(trade.template, 0) + 1
        return scoreboard(
            self._outcomes,
            asof=self._clock.now(),
            since=since,
            open_trades=pending,
            min_trades=self._min_trades,
            alpha=self._alpha,
        )

    def publish(self) -> CommandResult:
        """``GetScoreboard``: the board follows as a ``ScoreboardEvent``."""
        board = self.scoreboard()
        self._bus.publish(ScoreboardEvent(board))
        scored = sum(row.n for row in board.rows)
        return CommandResult(
            ok=True, message=f"scoreboard: {scored} closed trade(s), {len(board.rows)} template(s)"
        )

    # ------------------------------------------------------------------ drift
    def _check_drift(self) -> None:
        board = self.scoreboard()
        crossed, now = drift_crossings(board.rows, self._drifting)
        if now != self._drifting:
            self._store.set_state(DRIFT_KEY, json.dumps(sorted(now)), self._clock.now())
        self._drifting = now
        for row in crossed:
            self._alert(row)

    def _alert(self, row: TemplateScore) -> None:
        now = self._clock.now()
        message = drift_message(row)
        details = {
            "template": row.template,
            "n": row.n,
            "hit_rate": row.hit_rate,
            "mean_confidence": row.mean_confidence,
            "mean_return": row.mean_return,
            "mean_expected_return": row.mean_expected_return,
            "hit_z": None if row.hit_test is None else row.hit_test.statistic,
            "hit_p": None if row.hit_test is None else row.hit_test.p_value,
            "return_t": None if row.return_test is None else row.return_test.statistic,
            "return_p": None if row.return_test is None else row.return_test.p_value,
        }
        self._store.record_risk_event(now, "forecast", AlertCode.FORECAST_DRIFT, message, details)
        self._outbox.audit("engine", CommandSource.ENGINE, DRIFT_ACTION, details)
        alert = RiskAlert(now, AlertCode.FORECAST_DRIFT, "warning", message, row.template)
        self._bus.publish(alert)
        self._alerts.dispatch(alert)


def _drifting(raw: str | None) -> set[str]:
    """The stored set of drifting templates; a damaged value is an empty set (the next crossing
    alerts again rather than the start failing)."""
    try:
        loaded = json.loads(raw) if raw else []
    except ValueError:
        return set()
    return {str(t) for t in loaded} if isinstance(loaded, list) else set()


def drift_message(row: TemplateScore) -> str:
    """One line: which template, and each test with its numbers."""
    parts: list[str] = []
    h, r = row.hit_test, row.return_test
    if h is not None and row.hit_rate is not None and row.mean_confidence is not None:
        parts.append(
            f"wins {row.hits}/{row.n} = {row.hit_rate:.0%} vs {row.mean_confidence:.0%} forecast "
            f"(z {h.statistic:+.2f}, p {h.p_value:.3f}{'' if h.significant else ', within'})"
        )
    if r is not None and row.mean_return is not None and row.mean_expected_return is not None:
        parts.append(
            f"return {row.mean_return:+.2%} vs {row.mean_expected_return:+.2%} expected "
            f"(t {r.statistic:+.2f}, p {r.p_value:.3f}{'' if r.significant else ', within'})"
        )
    return f"{row.template}: live results differ from the backtest's forecast: " + "; ".join(parts)


def _scored(o: ForecastOutcome) -> str:
    if o.status is OutcomeStatus.VOID:
        return f"{o.card_id}: rolled back, not scored"
    verdict = "win" if o.hit else "loss"
    return (
        f"{o.card_id}: closed, a {verdict}: return {o.realized_return:+.2%} vs {o.expected_return:+.2%} "
        f"expected at {o.confidence:.0%} confidence; cost {o.entry_cost:,.2f} vs {o.expected_cost:,.2f}"
    )
