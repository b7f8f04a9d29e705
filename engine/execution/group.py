"""One-tap group execution: a card's legs run as one unit, and either all fill or all are undone.

A ``GroupExecution`` is the state of one card's execution: which order works each leg, how much
of it filled, and where the whole stands (PENDING, EXECUTING, COMPLETED, FAILED, ROLLED_BACK).
It decides, the engine acts: ``observe`` takes every order update and returns what must happen
next (nothing, cancel these orders, unwind these fills), so the rules are testable without a
broker and the engine stays the only place that sends anything.

The rules, from the operator's point of view:
- every leg filled: COMPLETED;
- a leg refused, rejected, cancelled, expired or lost before it filled, or the plan's deadline
  passes with a leg unfilled: the working legs are cancelled and the filled quantities are
  unwound with reduce-only market orders; when every unwind has filled: ROLLED_BACK;
- an unwind that itself fails (refused or rejected): FAILED, with the leg named, because the
  book now holds what the card did not intend and the operator must act.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.model import (
    ExecutionStatus,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    RefusalCode,
    Side,
    StrategyCard,
)
from engine.model.events import ExecutionEvent, LegProgress

EPS = 1e-9
NEW_YORK = ZoneInfo("America/New_York")
_FAILED_LEG = frozenset({OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.LOST})


@dataclass(slots=True)
class LegState:
    """One leg: its request, the order working it, and (during a rollback) the unwinding order."""

    request: OrderRequest
    algo: str = "IMMEDIATE"
    order_id: str = ""
    status: str = "PENDING"
    filled: float = 0.0
    avg_price: float | None = None
    unwind_id: str = ""
    unwound: float = 0.0

    @property
    def done(self) -> bool:
        return self.request.quantity - self.filled <= EPS


@dataclass(frozen=True, slots=True)
class Actions:
    """What the engine must do after an update: cancel these orders, send these unwinds."""

    cancel: tuple[str, ...] = ()
    unwind: tuple[tuple[int, OrderRequest], ...] = ()
    """(leg index, reduce-only market order undoing that leg's fills)."""


@dataclass(slots=True)
class GroupExecution:
    execution_id: str
    card: StrategyCard
    deadline: datetime
    legs: list[LegState]
    status: ExecutionStatus = ExecutionStatus.PENDING
    message: str = ""
    rolling_back: bool = False
    _orders: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(
        cls, execution_id: str, card: StrategyCard, requests: list[OrderRequest], deadline: datetime
    ) -> GroupExecution:
        legs = [LegState(req, algo=str(leg.algo)) for req, leg in zip(requests, card.legs, strict=True)]
        return cls(execution_id, card, deadline, legs)

    # ------------------------------------------------------------------ the engine tells
    def sent(self, index: int, order: Order) -> Actions:
        """Leg ``index`` is worked by ``order`` (its own order, or the algo's parent order)."""
        leg = self.legs[index]
        leg.order_id = order.client_order_id
        self._orders[order.client_order_id] = index
        self.status = ExecutionStatus.EXECUTING
        return self.observe(order)

    def observe(self, order: Order) -> Actions:
        """Fold one order update in; returns what the engine must do next."""
        index = self._orders.get(order.client_order_id)
        if index is None or self.finished:
            return Actions()
        leg = self.legs[index]
        if order.client_order_id == leg.unwind_id:
            return self._observe_unwind(leg, order)
        leg.filled = order.filled_quantity
        leg.avg_price = order.avg_fill_price
        if order.status is OrderStatus.FILLED or leg.done:
            leg.status = "FILLED"
        elif order.status in _FAILED_LEG:
            leg.status = order.status.value
            if not self.rolling_back:
                reason = (
                    f"{leg.request.side} {leg.request.quantity:g} {leg.request.symbol} {order.status.value}"
                )
                return self._roll_back(f"{reason}: {order.reason}" if order.reason else reason)
        else:
            leg.status = "WORKING"
        if self.rolling_back:
            return self._unwind_filled()
        if all(leg.status == "FILLED" for leg in self.legs):
            self.status = ExecutionStatus.COMPLETED
            self.message = "every leg filled"
        return Actions()

    def refused(self, index: int, code: RefusalCode, message: str) -> Actions:
        """Leg ``index`` never reached the broker (risk or validation refused it)."""
        self.legs[index].status = "REJECTED"
        return self._roll_back(f"{self.legs[index].request.symbol} refused [{code}]: {message}")

    def tick(self, now: datetime) -> Actions:
        """The market clock moved: past the deadline, an unfilled card is rolled back."""
        if self.finished or self.rolling_back or now < self.deadline:
            return Actions()
        unfilled = [
            f"{leg.request.symbol} {leg.filled:g}/{leg.request.quantity:g}"
            for leg in self.legs
            if not leg.done
        ]
        if not unfilled:
            return Actions()
        deadline = self.deadline.astimezone(NEW_YORK)
        return self._roll_back(f"deadline {deadline:%H:%M} passed with {', '.join(unfilled)} unfilled")

    def unwind_sent(self, index: int, order: Order) -> Actions:
        leg = self.legs[index]
        leg.unwind_id = order.client_order_id
        leg.status = "UNWINDING"
        self._orders[order.client_order_id] = index
        return self.observe(order)

    def unwind_refused(self, index: int, code: RefusalCode, message: str) -> None:
        leg = self.legs[index]
        leg.status = "UNWIND_FAILED"
        self._fail(f"unwinding {leg.request.symbol} was refused [{code}]: {message}")

    # ------------------------------------------------------------------ views
    @property
    def finished(self) -> bool:
        return self.status in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.ROLLED_BACK)

    def event(self, ts: datetime) -> ExecutionEvent:
        return ExecutionEvent(
            ts=ts,
            execution_id=self.execution_id,
            card_id=self.card.card_id,
            name=self.card.name,
            status=self.status,
            legs=tuple(
                LegProgress(
                    symbol=leg.request.symbol,
                    side=leg.request.side,
                    quantity=leg.request.quantity,
                    filled=leg.filled - leg.unwound,
                    avg_price=leg.avg_price,
                    status=leg.status,
                    algo=leg.algo,
                    client_order_id=leg.order_id,
                )
                for leg in self.legs
            ),
            message=self.message,
        )

    # ------------------------------------------------------------------ rollback
    def _roll_back(self, reason: str) -> Actions:
        self.rolling_back = True
        self.message = f"rolled back: {reason}"
        cancel = tuple(
            leg.order_id
            for leg in self.legs
            if leg.order_id and leg.status in ("WORKING", "PENDING") and not leg.done
        )
        for leg in self.legs:
            if leg.status == "PENDING":
                leg.status = "CANCELLED"
        actions = self._unwind_filled()
        return replace(actions, cancel=cancel)

    def _unwind_filled(self) -> Actions:
        """Unwind every leg with fills and no unwind yet; finish when nothing is left to undo."""
        unwind = []
        for i, leg in enumerate(self.legs):
            if leg.filled > EPS and not leg.unwind_id and leg.status != "WORKING":
                unwind.append((i, _reverse(leg)))
                leg.unwind_id = "pending"
        settled = all(
            leg.status != "WORKING" and (not leg.unwind_id or leg.status == "UNWOUND") for leg in self.legs
        )
        if not unwind and settled:
            self.status = ExecutionStatus.ROLLED_BACK
        return Actions(unwind=tuple(unwind))

    def _observe_unwind(self, leg: LegState, order: Order) -> Actions:
        leg.unwound = order.filled_quantity
        if order.status is OrderStatus.FILLED:
            leg.status = "UNWOUND"
            return self._unwind_filled()
        if order.status in _FAILED_LEG:
            leg.status = "UNWIND_FAILED"
            self._fail(f"unwinding {leg.request.symbol} ended {order.status.value}: {order.reason}")
        return Actions()

    def _fail(self, reason: str) -> None:
        self.status = ExecutionStatus.FAILED
        self.message = (
            f"{self.message}; {reason}; the position needs the operator" if self.message else reason
        )


def _reverse(leg: LegState) -> OrderRequest:
    r = leg.request
    return OrderRequest(
        symbol=r.symbol,
        side=Side.SELL if r.side is Side.BUY else Side.BUY,
        quantity=leg.filled,
        order_type=OrderType.MKT,
        card_id=r.card_id,
        execution_id=r.execution_id,
        strategy=r.strategy,
        reduce_only=True,
    )
