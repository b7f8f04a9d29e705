"""``Reconciler``: after a start or a reconnect, the database is compared with the broker, and
trading waits (RECOVERING) until what changed is approved; a clean result goes on at once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.actor import Actor
from engine.brokers.base import Broker
from engine.bus import EventBus
from engine.clock import Clock
from engine.config import Settings
from engine.execution.order_manager import OrderManager
from engine.execution.recovery import reconcile
from engine.model import Action, CommandSource, RefusalCode
from engine.model.codec import to_jsonable
from engine.model.events import CommandResult, ReconciliationSummary
from engine.portfolio.ledger import Ledger
from engine.runtime.accounting import Accounting
from engine.runtime.outbox import Outbox
from engine.runtime.risk_monitor import RiskMonitor
from engine.store.repository import Store

CASH_TOLERANCE = 0.01
"""Cash closer than a cent (of any currency) is the same."""


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        broker: Broker,
        orders: OrderManager,
        ledger: Ledger,
        accounting: Accounting,
        risk: RiskMonitor,
        bus: EventBus,
        clock: Clock,
        outbox: Outbox,
    ) -> None:
        self._settings = settings
        self._store = store
        self._broker = broker
        self._orders = orders
        self._ledger = ledger
        self._accounting = accounting
        self._risk = risk
        self._bus = bus
        self._clock = clock
        self._outbox = outbox
        self.summary: ReconciliationSummary | None = None
        self._review: list[str] = []
        self._held: dict[str, float] = {}
        """The broker's quantities of the symbols a standing mismatch is about ({} when none stands)."""
        """Why the next reconciliation must wait for a person even if it finds nothing (set at start)."""

    def require_review(self, reason: str) -> None:
        """The next summary is not approved on its own, however clean: a person must look (``reason``)."""
        self._review.append(reason)

    async def reconcile(self) -> ReconciliationSummary:
        """Compare the database with the broker, then decide whether trading may go on.

        Anything but a clean result is RECOVERING until an operator approves the summary, or, for
        a headless engine configured so, approved here, except position mismatches and database
        problems, which always need a person.
        """
        self._accounting.record_missed_settlements()
        summary = await reconcile(
            store=self._store,
            broker=self._broker,
            orders=self._orders,
            ledger_positions={p.symbol: p.quantity for p in self._ledger.positions(include_flat=False)},
            now=self._clock.now(),
        )
        summary = replace(summary, cash_differences=self._cash_differences())
        clean = summary.clean
        automatic = self._settings.engine.auto_approve_recovery and not summary.position_mismatches
        review, self._review = self._review, []
        if not summary.problems and (clean or automatic) and not review:
            summary = replace(summary, approved=True)
        else:
            reason = "; ".join(review) if review and clean else _recovery_reason(summary)
            self._risk.controller.enter_recovery(reason, self._clock.now())
        self.summary = summary
        self._held = await self._mismatched_holdings() if summary.position_mismatches else {}
        self._outbox.audit("engine", CommandSource.ENGINE, "reconciliation", _fields_of(summary))
        self._bus.publish(summary)
        return summary

    def _cash_differences(self) -> tuple[str, ...]:
        """Each currency's cash, the engine's book against the broker's (those the broker reports)."""
        theirs = self._broker.cash_balances()
        mine = self._ledger.cash_by_currency()
        return tuple(
            f"{currency}: engine {mine.get(currency, 0.0):,.2f}, broker {theirs.get(currency, 0.0):,.2f}"
            for currency in sorted(set(theirs) | (set(mine) if theirs else set()))
            if abs(mine.get(currency, 0.0) - theirs.get(currency, 0.0)) > CASH_TOLERANCE
        )

    def held_at_broker(self) -> dict[str, float]:
        """While a position mismatch stands: the broker's quantity of each symbol it is about.

        The pre-trade picture counts only what both sides hold there, so while the operator has not
        approved, a reduce-only order (flatten, exit) reduces toward what the broker really holds."""
        return self._held

    async def _mismatched_holdings(self) -> dict[str, float]:
        held = {p.symbol: p.quantity for p in await self._broker.positions()}
        mine = {p.symbol: p.quantity for p in self._ledger.positions(include_flat=False)}
        return {
            symbol: held.get(symbol, 0.0)
            for symbol in set(held) | set(mine)
            if abs(held.get(symbol, 0.0) - mine.get(symbol, 0.0)) > 1e-9
        }

    async def after_reconnect(self) -> None:
        """The adapter reconnected on its own: reconcile (missed fills once, nothing sent twice)."""
        summary = await self.reconcile()
        if not summary.clean:
            self._outbox.notice(
                "warning", "reconnected to the broker: review and approve what changed while it was away"
            )

    @property
    def unresolved(self) -> bool:
        """A position mismatch stands that nobody approved: resuming leads to RECOVERING, not ACTIVE."""
        s = self.summary
        return s is not None and not s.approved and bool(s.position_mismatches or s.problems)

    async def approve(self, actor: Actor) -> CommandResult:
        """Approve what reconciliation found. A position mismatch is resolved the broker's way: the
        book adopts the broker's quantity (audited), so no exit is ever sized on shares the account
        does not hold. While HALTED the approval is kept and the halt stays (RESUME lifts it)."""
        summary = self.summary
        if summary is not None and summary.problems:
            return self._outbox.refuse(
                Action.APPROVE_RECOVERY,
                RefusalCode.RECOVERY_PROBLEMS,
                "the database failed its checks; trading stays refused: " + "; ".join(summary.problems),
                "",
            )
        controller = self._risk.controller
        halted = controller.state.halted
        if summary is None or summary.approved or not halted:
            refusal = controller.approve_recovery(actor)
            if refusal is not None:
                return self._outbox.refuse(Action.APPROVE_RECOVERY, refusal.code, refusal.message, "")
        adopted = await self._adopt_broker_positions(actor) if summary and summary.position_mismatches else []
        if summary is not None:
            self.summary = replace(summary, approved=True)
            self._bus.publish(self.summary)
        self._held = {}  # adopted: the book is the broker's now
        self._risk.publish_portfolio()
        took = f"; adopted the broker's quantities: {', '.join(adopted)}" if adopted else ""
        if halted:
            return CommandResult(
                ok=True, message=f"reconciliation approved{took}; trading stays HALTED until RESUME"
            )
        return CommandResult(ok=True, message=f"reconciliation approved{took}; trading resumes")

    async def _adopt_broker_positions(self, actor: Actor) -> list[str]:
        held = {p.symbol: p.quantity for p in await self._broker.positions()}
        mine = {p.symbol: p for p in self._ledger.positions(include_flat=False)}
        adopted: list[str] = []
        for symbol in sorted(set(held) | set(mine)):
            want = held.get(symbol, 0.0)
            pos = mine.get(symbol)
            have = pos.quantity if pos is not None else 0.0
            if abs(want - have) < 1e-9:
                continue
            price = pos.last if pos is not None and pos.last > 0 else 0.0
            self._accounting.adopt_broker_quantity(symbol, want, price)
            adopted.append(f"{symbol} {have:g} -> {want:g}")
            self._outbox.audit(
                actor.user,
                actor.source,
                "adopt_position",
                {"symbol": symbol, "engine": have, "broker": want, "price": price},
            )
        return adopted


def _recovery_reason(summary: ReconciliationSummary) -> str:
    parts = [
        f"{len(summary.fills_applied)} missed fill(s) applied" if summary.fills_applied else "",
        f"{len(summary.fills_repaired)} stored fill(s) repaired" if summary.fills_repaired else "",
        f"{len(summary.lost)} order(s) LOST" if summary.lost else "",
        f"{len(summary.external)} EXTERNAL order(s)" if summary.external else "",
        f"{len(summary.position_mismatches)} position mismatch(es)" if summary.position_mismatches else "",
        f"database problems: {'; '.join(summary.problems)}" if summary.problems else "",
    ]
    return "reconciliation found " + ", ".join(p for p in parts if p) + "; review and approve it"


def _fields_of(summary: ReconciliationSummary) -> dict[str, Any]:
    data = to_jsonable(summary)
    data.pop("type", None)
    return dict(data)
