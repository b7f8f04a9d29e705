"""``GroupRunner``: a card's legs as one execution: progress persisted and published, deadlines
kept, and a refused or unfilled leg's siblings cancelled or unwound (``GroupExecution`` decides;
this carries it out)."""

from __future__ import annotations

from collections import deque

from engine.bus import EventBus
from engine.clock import Clock
from engine.execution.group import Actions, GroupExecution
from engine.model import ExecutionStatus, Order, RefusalCode, TradingState
from engine.model.events import ExecutionEvent, OrderEvent
from engine.runtime.dispatch import Dispatcher
from engine.runtime.outbox import Outbox
from engine.runtime.risk_monitor import RiskMonitor
from engine.store.repository import Store


class GroupRunner:
    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        risk: RiskMonitor,
        store: Store,
        bus: EventBus,
        clock: Clock,
        outbox: Outbox,
    ) -> None:
        self._dispatcher = dispatcher
        self._risk = risk
        self._store = store
        self._bus = bus
        self._clock = clock
        self._outbox = outbox
        self.active: dict[str, GroupExecution] = {}
        self._status: dict[str, tuple[ExecutionStatus, str]] = {}
        self.finished: deque[ExecutionEvent] = deque(maxlen=10)

    def events(self) -> tuple[ExecutionEvent, ...]:
        now = self._clock.now()
        return (*self.finished, *(g.event(now) for g in self.active.values()))

    def add(self, group: GroupExecution) -> None:
        self.active[group.execution_id] = group
        self.publish(group)

    def publish(self, group: GroupExecution) -> None:
        """Persist the execution's status when it changed and publish its progress either way."""
        now = self._clock.now()
        persisted = self._status.get(group.execution_id)
        if persisted != (group.status, group.message):
            self._store.update_execution(group.execution_id, group.status, now, group.message)
            self._status[group.execution_id] = (group.status, group.message)
        self._bus.publish(group.event(now))
        if group.finished:
            self.active.pop(group.execution_id, None)
            self._status.pop(group.execution_id, None)
            self.finished.append(group.event(now))
            if group.status is not ExecutionStatus.COMPLETED:
                level = "error" if group.status is ExecutionStatus.FAILED else "warning"
                self._outbox.notice(level, f"{group.card.name}: {group.status.value}: {group.message}")

    async def run_actions(self, group: GroupExecution, actions: Actions) -> None:
        """Carry out what a group execution decided: cancel working legs, unwind filled ones."""
        controller = self._risk.controller
        for coid in actions.cancel:
            await self._dispatcher.cancel_any(coid)
        for index, request in actions.unwind:
            if controller.state.state is TradingState.HALTED and controller.state.kill_level < 2:
                # the kill switch means "send nothing more": the filled part stays for the operator
                # (level 2, flatten, closes it), rather than new orders appearing after the kill
                group.unwind_refused(index, RefusalCode.HALTED, "kill switch engaged: not unwound")
                continue
            refusal = controller.check(request, self._dispatcher.book_view(), self._clock.now())
            if refusal is not None:
                group.unwind_refused(index, refusal.code, refusal.message)
                continue
            order = await self._dispatcher.send(request)
            more = group.unwind_sent(index, order)
            if more.cancel or more.unwind:
                await self.run_actions(group, more)
        self.publish(group)

    def on_order(self, event: OrderEvent) -> None:
        order: Order = event.order
        group = self.active.get(order.execution_id or "")
        if group is None:
            return
        actions = group.observe(order)
        if actions.cancel or actions.unwind:
            self._outbox.spawn(self.run_actions(group, actions), f"group-{group.execution_id}")
        else:
            self.publish(group)

    def check_deadlines(self) -> None:
        if not self.active:
            return
        now = self._clock.now()
        for group in list(self.active.values()):
            actions = group.tick(now)
            if actions.cancel or actions.unwind:
                self._outbox.spawn(self.run_actions(group, actions), f"group-{group.execution_id}")
