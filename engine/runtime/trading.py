"""``Trading``: a card (or a rebalance plan) becomes checked, persisted, sent orders; and the
operator's changes to working orders (modify, cancel) meet the same checks a new order does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from engine.actor import Actor
from engine.brokers.base import Broker
from engine.clock import Clock
from engine.data.loader import MarketData
from engine.execution.costs import CommissionSchedule
from engine.execution.group import GroupExecution
from engine.execution.plan import executed_card_id
from engine.execution.validation import prepare
from engine.model import (
    Action,
    Algo,
    CommandSource,
    ExecutionStatus,
    Leg,
    OrderRequest,
    RefusalCode,
    StrategyCard,
    is_option_symbol,
)
from engine.model.events import CommandResult
from engine.model.rebalance import RebalancePlan
from engine.portfolio.ledger import Ledger
from engine.portfolio.rebalance import RebalanceCosts, plan_rebalance
from engine.risk.pretrade import Refusal, check_price_band, with_working
from engine.runtime.accounting import OrderAttribution
from engine.runtime.cards import CardPipeline
from engine.runtime.dispatch import Dispatcher
from engine.runtime.groups import GroupRunner
from engine.runtime.health import StoreHealth
from engine.runtime.market_view import MarketView
from engine.runtime.outbox import Outbox
from engine.runtime.risk_monitor import RiskMonitor
from engine.store.repository import Store


class Trading:
    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        groups: GroupRunner,
        cards: CardPipeline,
        risk: RiskMonitor,
        market: MarketView,
        data: MarketData,
        broker: Broker,
        store: Store,
        clock: Clock,
        outbox: Outbox,
        attribution: OrderAttribution,
        ledger: Ledger,
        commissions: CommissionSchedule,
        health: StoreHealth,
    ) -> None:
        self._health = health
        self._ledger = ledger
        self._commissions = commissions
        self._dispatcher = dispatcher
        self._groups = groups
        self._cards = cards
        self._risk = risk
        self._market = market
        self._data = data
        self._broker = broker
        self._store = store
        self._clock = clock
        self._outbox = outbox
        self._attribution = attribution

    async def execute_card(self, card_id: str, actor: Actor, *, override: bool = False) -> CommandResult:
        card = self._cards.find(card_id)
        if card is None:
            return self._outbox.refuse(
                Action.EXECUTE_CARD,
                RefusalCode.CARD_STALE,
                f"card {card_id} is no longer offered (the market moved on)",
                card_id,
            )
        return await self.execute(card, actor, override=override)

    async def rebalance_to(
        self, weights: Mapping[str, float], actor: Actor, *, strategy: str, min_value: float = 0.0
    ) -> CommandResult:
        """Trade the book toward target weights of equity (symbols not named are left alone), as one
        group execution, sized by the rebalancer's own rule (``plan_rebalance``): research's
        walk-forward and permutation targets trade through here, as the autopilot's plans do."""
        prices = self._market.prices()
        missing = sorted(sym for sym in weights if not prices.get(sym, 0.0) > 0)
        if missing:
            return self._outbox.refuse(
                Action.REBALANCE, RefusalCode.NO_PRICE, f"no price for {', '.join(missing)}", strategy
            )
        account = self._ledger.account()
        plan = plan_rebalance(
            {p.symbol: p.quantity for p in self._ledger.positions(include_flat=False)},
            prices,
            account.equity,
            account.cash,
            weights,
            RebalanceCosts(commission=self._commissions),
            asof=self._clock.now(),
            min_trade_value=min_value,
            sell_unlisted=False,
            fractional=True,
        )
        if plan.empty:
            return CommandResult(ok=True, message=f"{strategy}: already at its targets")
        return await self.execute_plan(plan, actor, strategy=strategy)

    async def execute_plan(self, plan: RebalancePlan, actor: Actor, *, strategy: str) -> CommandResult:
        """Send a ``RebalancePlan``'s orders as they are, as one group execution.

        The planner already sized, costed and cash-scaled them and put the sells first, so
        nothing is recomputed here: the operator (preview) or the autopilot decided on exactly
        these orders. They go through the same card path: atomic (a leg refused or unfilled
        rolls the group back), risk-checked leg by leg, persisted and audited.
        """
        if plan.empty:
            return CommandResult(ok=True, message=f"{strategy}: the plan has no order")
        legs = [Leg(o.symbol, o.side, o.quantity) for o in plan.orders]
        prices = {o.symbol: o.price for o in plan.orders}
        # an operator's rebalance (the preview's x) is "Rebalance"; the scheduled one says whose it is
        name = f"Rebalance {strategy}" if actor.source is CommandSource.SCHEDULE else "Rebalance"
        card = self._group_card(strategy, legs, prices, reason=f"rebalance plan ({plan.trigger})", name=name)
        return await self.execute(card, actor, action=Action.EXECUTE_REBALANCE)

    def _group_card(
        self, strategy: str, legs: list[Leg], prices: Mapping[str, float], *, reason: str, name: str = ""
    ) -> StrategyCard:
        """One card holding a rebalance's legs, saved so its id names its template after a restart:
        rebalances get the same atomicity, checks and audit trail as a card the operator picks."""
        now = self._clock.now()
        card = StrategyCard(
            card_id=f"rebalance-{strategy}-{now:%Y%m%d%H%M%S}",
            template=strategy,
            name=name or f"Rebalance {strategy}",
            legs=tuple(legs),
            confidence=0.0,
            expected_return=0.0,
            max_risk=0.0,
            reason=reason,
            asof=now,
            details={f"ref_price:{leg.symbol}": prices[leg.symbol] for leg in legs},
        )
        self._store.save_cards([card])
        return card

    def _requests(self, card: StrategyCard, override: bool) -> list[OrderRequest]:
        return [
            OrderRequest(
                symbol=leg.symbol,
                side=leg.side,
                quantity=leg.quantity,
                order_type=leg.order_type,
                limit_price=leg.limit_price,
                card_id=card.card_id,
                strategy=card.template,
                # the card's stop is a price of the stock: never a stop for an option's premium
                protective_stop=(
                    card.stop_price if len(card.legs) == 1 and not is_option_symbol(leg.symbol) else None
                ),
                override_duplicate=override,
                arrival_price=self._market.arrival_price(leg.symbol),
            )
            for leg in card.legs
        ]

    async def execute(
        self,
        card: StrategyCard,
        actor: Actor,
        *,
        override: bool = False,
        action: Action = Action.EXECUTE_CARD,
    ) -> CommandResult:
        """Check, persist and send a card's legs as one group (see ``GroupExecution``). ``action``
        names what a refusal refused: a rebalance's group card is refused as the rebalance."""
        card_id = card.card_id
        if self._health.degraded:  # write-ahead is impossible: nothing may be sent
            return self._outbox.refuse(
                action,
                RefusalCode.STORE_DEGRADED,
                f"{card.name}: the database cannot be written",
                card_id,
            )
        closed = self._broker.sending_refused()
        if closed:  # read-only, or a live account not yet acknowledged: refused before any order exists
            return self._outbox.refuse(action, RefusalCode.BROKER_CLOSED, f"{card.name}: {closed}", card_id)
        now = self._clock.now()
        book = self._dispatcher.book_view(leg.symbol for leg in card.legs)
        requests: list[OrderRequest] = []
        for req in self._requests(card, override):  # tick grid, lot rules, order types: before risk
            ready = prepare(req, self._data.instruments.get(req.symbol))
            if isinstance(ready, Refusal):
                return self._outbox.refuse(action, ready.code, f"{card.name}: {ready.message}", card_id)
            requests.append(ready)
        for req in requests:  # every leg is checked with the legs before it counted as working
            refusal = self._risk.controller.check(req, book, now)
            if refusal is not None:
                self._store.record_risk_event(
                    now,
                    "pre_trade",
                    refusal.code,
                    refusal.message,
                    {"card_id": card_id, "symbol": req.symbol},
                )
                return self._outbox.refuse(action, refusal.code, f"{card.name}: {refusal.message}", card_id)
            book = with_working(book, req)
        execution_id = f"X-{self._store.next_client_order_id()}"
        self._store.insert_execution(execution_id, card.card_id, ExecutionStatus.PENDING, now)
        # the card as sent, for the execution report's expected cost (the card's own row is re-sized)
        self._store.save_cards([replace(card, card_id=executed_card_id(card_id, execution_id))])
        self._outbox.audit(
            actor.user, actor.source, "execute_card", {"card_id": card_id, "execution_id": execution_id}
        )
        deadline = now + timedelta(minutes=card.deadline_minutes)
        group = GroupExecution.start(
            execution_id, card, [replace(req, execution_id=execution_id) for req in requests], deadline
        )
        self._groups.add(group)
        for index, (state, leg) in enumerate(zip(group.legs, card.legs, strict=True)):
            if group.finished or group.rolling_back:
                break  # an earlier leg was refused: the rest are never sent
            if leg.algo is Algo.IMMEDIATE:
                order = await self._dispatcher.send(state.request)
            else:
                order = await self._dispatcher.start_algo(state.request, leg, card)
            await self._groups.run_actions(group, group.sent(index, order))
        legs = ", ".join(f"{leg.side} {leg.quantity:g} {leg.symbol}" for leg in card.legs)
        return CommandResult(ok=True, message=f"{card.name}: sent {legs}")

    async def modify(self, coid: str, quantity: float | None, limit: float | None) -> CommandResult:
        """Change a working order in place, through the same checks a new order meets."""
        now = self._clock.now()
        orders = self._dispatcher.orders
        order = next((o for o in orders.open_orders() if o.client_order_id == coid), None)
        if order is None:
            return self._outbox.refuse(
                Action.MODIFY_ORDER, RefusalCode.NOT_OPEN, f"{coid} is not a working order", coid
            )
        new = OrderRequest(
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity if quantity is None else quantity,
            order_type=order.order_type,
            limit_price=order.limit_price if limit is None else limit,
            stop_price=order.stop_price,
            tif=order.tif,
            strategy=self._attribution.strategy(coid),
            override_duplicate=True,
            reduce_only=False,
        )
        ready = prepare(new, self._data.instruments.get(order.symbol))
        if isinstance(ready, Refusal):
            return self._outbox.refuse(Action.MODIFY_ORDER, ready.code, ready.message, coid)
        controller = self._risk.controller
        view = self._dispatcher.book_view()
        refusal = controller.check_modify(now) or check_price_band(ready, view, controller.limits)
        added = ready.quantity - order.quantity
        if refusal is None and added > 0:  # more size: the added part meets every limit
            refusal = controller.check(replace(ready, quantity=added), self._dispatcher.book_view(), now)
        if refusal is not None:
            return self._outbox.refuse(Action.MODIFY_ORDER, refusal.code, refusal.message, coid)
        err = await orders.modify(coid, ready.quantity, ready.limit_price)
        if err:
            return self._outbox.refuse(Action.MODIFY_ORDER, RefusalCode.MODIFY_FAILED, err, coid)
        controller.modify_sent(now)
        price = f" @ {ready.limit_price:g}" if ready.limit_price is not None else ""
        return CommandResult(
            ok=True, message=f"{coid} now {ready.side} {ready.quantity:g} {ready.symbol}{price}"
        )

    async def cancel(self, coid: str) -> CommandResult:
        now = self._clock.now()
        refusal = self._risk.controller.check_cancel(now)
        if refusal is not None:
            return self._outbox.refuse(Action.CANCEL_ORDER, refusal.code, refusal.message, coid)
        err = await self._dispatcher.cancel_any(coid)
        if err:
            return CommandResult(ok=False, message=err, code=RefusalCode.CANCEL_FAILED)
        self._risk.controller.cancel_sent(now)
        return CommandResult(ok=True, message=f"cancel sent for {coid}")
