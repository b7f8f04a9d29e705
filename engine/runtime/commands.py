"""``CommandRouter``: every command the console (or a script) sends, audited, then routed to the
collaborator that owns it. Refusals are results (ok=False) and ``RefusalEvent``s, never exceptions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.actor import Actor
from engine.brokers.base import Broker
from engine.clock import Clock
from engine.config import Settings
from engine.desk import PortfolioDesk
from engine.execution.order_manager import OrderManager
from engine.model import Action, RefusalCode, TradingState
from engine.model.codec import to_jsonable
from engine.model.events import (
    AcknowledgeLive,
    ApproveRecovery,
    CancelAll,
    CancelOrder,
    Command,
    CommandResult,
    ExecuteCard,
    ExecuteRebalance,
    Flatten,
    GetPortfolioReport,
    GetScoreboard,
    GetSnapshot,
    GetVitals,
    Kill,
    ModifyOrder,
    PreviewRebalance,
    ResetKill,
    ResumeStrategy,
    SetLimit,
)
from engine.runtime.accounting import Accounting
from engine.runtime.forecasts import ForecastTracker
from engine.runtime.health import WRITE_ERRORS, StoreHealth
from engine.runtime.kill import KillSwitch
from engine.runtime.market_view import MarketView
from engine.runtime.outbox import Outbox
from engine.runtime.portfolio_report import PortfolioReporter
from engine.runtime.protection import ProtectionManager
from engine.runtime.reconciler import Reconciler
from engine.runtime.risk_monitor import RiskMonitor
from engine.runtime.status import StatusBoard
from engine.runtime.trading import Trading


class CommandRouter:
    def __init__(
        self,
        settings: Settings,
        *,
        trading: Trading,
        kill: KillSwitch,
        orders: OrderManager,
        risk: RiskMonitor,
        reconciler: Reconciler,
        desk: PortfolioDesk,
        reporter: PortfolioReporter,
        accounting: Accounting,
        market: MarketView,
        broker: Broker,
        status: StatusBoard,
        outbox: Outbox,
        health: StoreHealth,
        clock: Clock,
        protection: ProtectionManager | None = None,
        forecasts: ForecastTracker | None = None,
    ) -> None:
        self._protection = protection
        self._forecasts = forecasts
        self._clock = clock
        self._health = health
        self._settings = settings
        self._trading = trading
        self._kill = kill
        self._orders = orders
        self._risk = risk
        self._reconciler = reconciler
        self._desk = desk
        self._reporter = reporter
        self._accounting = accounting
        self._market = market
        self._broker = broker
        self._status = status
        self._outbox = outbox

    async def handle(self, command: Command, actor: Actor) -> CommandResult:
        """Serve one command; the command itself is audited first, whoever sent it, except the
        kill switch, which acts first and is audited after (a full disk must not stop it)."""
        if isinstance(command, Kill | Flatten):
            result = await self._kill.kill(command.reason, actor, level=1 if isinstance(command, Kill) else 2)
            with self._health.guard("auditing the kill switch command"):
                self._audit_command(command, actor)
            if self._health.degraded:
                result = replace(
                    result, message=f"{result.message}; RECORD DEGRADED: {self._health.degraded}"
                )
            return result
        if isinstance(command, GetVitals):
            return CommandResult(ok=True)  # read-only and polled: the session sends the vitals
        if isinstance(command, GetScoreboard):  # read-only: not audited
            if self._forecasts is None:
                return CommandResult(
                    ok=False, message="no forecast tracking", code=RefusalCode.UNKNOWN_COMMAND
                )
            return self._forecasts.publish()
        try:
            self._audit_command(command, actor)
        except WRITE_ERRORS as exc:
            self._health.failed(f"auditing {type(command).__name__}", exc)
            return CommandResult(
                ok=False,
                message=f"not done: the database cannot be written ({exc})",
                code=RefusalCode.STORE_DEGRADED,
            )
        return await self._route(command, actor)

    def _audit_command(self, command: Command, actor: Actor) -> None:
        self._outbox.audit(
            actor.user, actor.source, "command", {"command": type(command).__name__, **_fields(command)}
        )

    async def _route(self, command: Command, actor: Actor) -> CommandResult:
        match command:
            case ExecuteCard(card_id=card_id, override_duplicate=override):
                return await self._trading.execute_card(card_id, actor, override=override)
            case CancelOrder(client_order_id=coid):
                return await self._trading.cancel(coid)
            case ModifyOrder(client_order_id=coid, quantity=quantity, limit_price=limit, stop_price=stop):
                order = self._orders.get(coid)
                if self._protection is not None and order is not None and order.protects is not None:
                    moved = await self._protection.modify(coid, quantity, limit, stop)
                    if moved.ok:
                        return moved
                    return self._outbox.refuse(Action.MODIFY_ORDER, moved.code, moved.message, coid)
                if stop is not None:
                    return self._outbox.refuse(
                        Action.MODIFY_ORDER,
                        RefusalCode.BAD_ORDER,
                        f"{coid}: only a position's protective stop can be moved here",
                        coid,
                    )
                return await self._trading.modify(coid, quantity, limit)
            case CancelAll():
                n = await self._orders.cancel_all()
                return CommandResult(ok=True, message=f"cancel sent for {n} open order(s)")
            case PreviewRebalance() | ExecuteRebalance():
                return await self._desk.serve(command, actor)
            case GetPortfolioReport(since=since):
                return self._reporter.start(since)
            case GetSnapshot():
                return CommandResult(ok=True)  # the session sends the snapshot with the result
            case ApproveRecovery():
                return await self._reconciler.approve(actor)
        return self._handle_state(command, actor)

    def _handle_state(self, command: Command, actor: Actor) -> CommandResult:
        """The commands that change the trading state or its limits rather than orders."""
        controller = self._risk.controller
        match command:
            case ResetKill(confirmation=text):
                return self._reset_kill(text, actor)
            case SetLimit(name=name, value=value, session_only=session_only):
                refusal = self._risk.set_limit(name, value, actor, session_only=session_only)
                return self._outbox.answer(Action.SET_LIMIT, refusal, name)
            case ResumeStrategy(template=template):
                return self._outbox.answer(
                    Action.RESUME_STRATEGY, controller.unpause(template, actor), template
                )
            case AcknowledgeLive(account=typed):
                return self._acknowledge_live(typed)
        return CommandResult(
            ok=False, message=f"unknown command {type(command).__name__}", code=RefusalCode.UNKNOWN_COMMAND
        )

    def _acknowledge_live(self, typed: str) -> CommandResult:
        if not self._broker.live:
            return CommandResult(ok=False, message="not trading a live account", code=RefusalCode.NOT_LIVE)
        if not self._broker.acknowledge_live(typed):
            return self._outbox.refuse(
                Action.ACKNOWLEDGE_LIVE,
                RefusalCode.LIVE_NOT_ACKNOWLEDGED,
                "that is not the live account's id",
                "",
            )
        self._status.publish()
        return CommandResult(ok=True, message="live trading acknowledged for this run")

    def _reset_kill(self, text: str, actor: Actor) -> CommandResult:
        controller = self._risk.controller
        if controller.state.state is TradingState.ACTIVE:
            return CommandResult(ok=True, message="trading is already active")
        refusal = controller.resume(text, actor)
        if refusal is not None:
            return self._outbox.refuse(Action.RESET_KILL, refusal.code, refusal.message, "")
        # The breakers measure new losses from the moment the operator took responsibility:
        # without this, a breaker would trip again at once on the loss that tripped it.
        self._accounting.restart_measures(self._market.feed.current_day or self._settings.replay.start_date)
        if self._reconciler.unresolved:  # resume never bypasses what reconciliation found
            controller.enter_recovery(
                "a reconciliation waits for approval (position mismatch)", self._clock.now()
            )
            self._risk.publish_risk()
            return CommandResult(
                ok=True, message="halt lifted; RECOVERING: approve the reconciliation (a) before trading"
            )
        self._risk.publish_risk()
        return CommandResult(ok=True, message="trading resumed")


def _fields(command: Command) -> dict[str, Any]:
    data = to_jsonable(command)
    data.pop("type", None)
    return dict(data)
