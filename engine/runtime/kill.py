"""``KillSwitch``: level 1 halts and cancels everything; level 2 (flatten) also closes every position.

Never throttled, never behind a card or a check: the halt comes first, then every working order
(ours, and at the broker everyone's) is cancelled, algos stop between slices, and a flatten's
positions that cannot close now are retried at the next session's open.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.actor import Actor
from engine.brokers.base import Broker, BrokerError
from engine.clock import Clock
from engine.model import AlertCode, OptionContract, Order, OrderRequest, Side, is_option_symbol
from engine.model.events import CommandResult
from engine.portfolio.ledger import Ledger
from engine.runtime.accounting import FillBooked
from engine.runtime.dispatch import Dispatcher
from engine.runtime.health import WRITE_ERRORS, StoreHealth
from engine.runtime.outbox import Outbox
from engine.runtime.protection import is_protective
from engine.runtime.risk_monitor import RiskMonitor
from engine.store.repository import Store


class KillSwitch:
    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        broker: Broker,
        risk: RiskMonitor,
        ledger: Ledger,
        store: Store,
        clock: Clock,
        outbox: Outbox,
        health: StoreHealth,
        keep_protection: bool = False,
    ) -> None:
        self._health = health
        self._keep_protection = keep_protection
        """``[kill] level1_cancels_protection = false``: level 1 leaves protective orders working."""
        self._level_seen = risk.controller.state.kill_level if risk.controller.state.halted else 0
        self._dispatcher = dispatcher
        self._broker = broker
        self._risk = risk
        self._ledger = ledger
        self._store = store
        self._clock = clock
        self._outbox = outbox
        self.flatten_due = risk.controller.state.kill_level >= 2
        """Kill level 2 is in force: send the flatten orders with the next quotes (a session opened)."""
        self._flatten_after_buyback = False
        """A flatten held shares back until their short calls are bought back: flatten again on that fill."""

    async def kill(self, reason: str, actor: Actor, *, level: int) -> CommandResult:
        """HALTED at once, then every working order cancelled (never throttled).

        Level 2 then closes every position with reduce-only market orders; positions that cannot
        be closed now (the market is shut) are retried at the next session's open.
        """
        controller = self._risk.controller
        orders = self._dispatcher.orders
        code = AlertCode.KILL if level < 2 else AlertCode.FLATTEN
        with self._risk.records_after():  # act first: the halt's records follow the cancels
            controller.halt(reason, actor, self._clock.now(), level=level, code=code)
            self._level_seen = controller.state.kill_level
            # Level 1 keeps the positions' stops and targets working unless the operator chose
            # cancel-all; a flatten cancels them first of all (its own orders close the positions).
            keep = is_protective if self._keep_protection and controller.state.kill_level < 2 else None
            n = len(orders.open_orders())
            try:
                with self._store.batch("kill switch"):  # one fsync for the whole burst, not four per order
                    n = await orders.cancel_all(keep)  # every request leaves before the first write
            except WRITE_ERRORS as exc:  # sent, not recorded: reconciliation restores the record
                self._health.failed("kill switch: recording the cancels", exc)
            # also every order the engine does not know (at IBKR: typed into TWS, another client's)
            try:
                if keep is None:
                    await self._broker.global_cancel()
                else:  # a global cancel would take the stops too: every other order, one by one
                    await self._cancel_unknown(keep)
            except BrokerError as exc:
                self._outbox.notice("error", f"kill switch: global cancel not sent: {exc}")
            algos = self._dispatcher.algos
            for parent in algos.parents():  # between slices a parent has no child to cancel
                with self._health.guard("kill switch: recording an algo's stop"):
                    await algos.cancel_parent(parent.client_order_id, "kill switch", now=self._clock.now())
        if controller.state.kill_level >= 2:
            sent = await self.flatten()
            return CommandResult(ok=True, message=f"HALTED; cancel sent for {n} open order(s); {sent}")
        return CommandResult(ok=True, message=f"HALTED; cancel sent for {n} open order(s)")

    async def _cancel_unknown(self, keep: Callable[[Order], bool]) -> None:
        """Every order working at the broker that the engine does not keep (level 1, keep-stops)."""
        mine = self._dispatcher.orders
        for order in await self._broker.open_orders():
            known = mine.get(order.client_order_id)
            if known is not None and keep(known):
                continue
            if known is None or known.status.is_terminal:
                try:
                    await self._broker.cancel(order.client_order_id)
                except BrokerError as exc:
                    self._outbox.notice(
                        "error", f"kill switch: cancel of {order.client_order_id} not sent: {exc}"
                    )

    def on_session_open(self) -> None:
        self.flatten_due = self._risk.controller.state.kill_level >= 2

    def on_quotes(self) -> None:
        state = self._risk.controller.state
        level = state.kill_level if state.halted else 0
        if level >= 2 > self._level_seen:  # a breaker raised the halt to flatten (daily_loss_flatten)
            self.flatten_due = True
        self._level_seen = level
        if self.flatten_due:
            self.flatten_due = False
            self._outbox.spawn(self.flatten(), "flatten")

    def on_fill_booked(self, booked: FillBooked) -> None:
        fill = booked.fill
        if self._flatten_after_buyback and fill.side is Side.BUY and is_option_symbol(fill.symbol):
            # The shares a flatten held back for this call can go now: at the next quotes.
            self._flatten_after_buyback = False
            self.flatten_due = self._risk.controller.state.kill_level >= 2

    async def flatten(self) -> str:
        """Send a reduce-only market order for every position that has none working.

        Options go first. Shares that written calls still need as cover are held back (the
        broker, and the pre-trade checks, refuse a sale that would leave a call naked) until the
        calls are bought back: the fill of that buy-back flattens again at the next quotes.
        """
        book = self._dispatcher.book_view()
        now = self._clock.now()
        working = self._dispatcher.orders.working_by_symbol()
        positions = sorted(
            self._ledger.positions(include_flat=False), key=lambda p: not is_option_symbol(p.symbol)
        )
        covering = {
            contract.underlying
            for contract, quantity in (
                (OptionContract.parse(p.symbol), p.quantity) for p in positions if is_option_symbol(p.symbol)
            )
            if contract.right == "C" and quantity < 0
        }
        sent: list[str] = []
        refused: list[str] = []
        waiting: list[str] = []
        for pos in positions:
            if abs(working.get(pos.symbol, 0.0)) > 1e-9:
                continue
            if pos.symbol in covering and pos.quantity > 0:
                waiting.append(pos.symbol)
                continue
            req = OrderRequest(
                symbol=pos.symbol,
                side=Side.SELL if pos.quantity > 0 else Side.BUY,
                quantity=abs(pos.quantity),
                reduce_only=True,
            )
            refusal = self._risk.controller.check(req, book, now)
            if refusal is not None:
                refused.append(f"{pos.symbol} ({refusal.code})")
                continue
            try:
                await self._dispatcher.send(req)
            except WRITE_ERRORS as exc:  # no order leaves unless it is written first
                self._health.failed("flatten: writing an order", exc)
                refused.append(f"{pos.symbol} (not written: {exc})")
                continue
            sent.append(f"{req.side} {req.quantity:g} {req.symbol}")
        if refused:
            self._outbox.notice(
                "warning", f"flatten: not sent now, retried at the next open: {', '.join(refused)}"
            )
        self._flatten_after_buyback = bool(waiting)
        held = (
            f"; {', '.join(waiting)} held until the calls written on them are bought back" if waiting else ""
        )
        return (f"flatten sent {', '.join(sent)}" if sent else "flatten: nothing to send now") + held
