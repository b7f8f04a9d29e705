"""``Dispatcher``: the lowest rung of trading: send a checked order, cancel one (or a whole algo),
and work algo parents through their children. Everything that sends an order ends here, so the
throttles, the duplicate guard's memory and the strategy attribution see every order once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from engine.clock import Clock
from engine.config import Settings
from engine.data.loader import MarketData
from engine.execution.algos import AlgoParams, AlgoRunner
from engine.execution.order_manager import OrderManager
from engine.model import Leg, Order, OrderRequest, OrderStatus, Quote, StrategyCard
from engine.model.day_boundary import round_the_clock_open
from engine.model.events import OrderEvent
from engine.portfolio.ledger import Ledger
from engine.risk.pretrade import BookView
from engine.runtime.accounting import OrderAttribution
from engine.runtime.market_view import MarketView
from engine.runtime.outbox import Outbox
from engine.runtime.risk_monitor import RiskMonitor
from engine.store.repository import Store


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        *,
        orders: OrderManager,
        risk: RiskMonitor,
        market: MarketView,
        data: MarketData,
        ledger: Ledger,
        store: Store,
        clock: Clock,
        outbox: Outbox,
        attribution: OrderAttribution,
        publish: Callable[[Any], None],
        held_at_broker: Callable[[], Mapping[str, float]],
    ) -> None:
        self._held_at_broker = held_at_broker
        self._settings = settings
        self.orders = orders
        self._risk = risk
        self._market = market
        self._data = data
        self._ledger = ledger
        self._store = store
        self._clock = clock
        self._outbox = outbox
        self._attribution = attribution
        self._publish = publish
        self.algos = AlgoRunner(self._send_child, self._cancel_child, self._on_parent)
        self.before_send: Callable[[OrderRequest], Awaitable[None]] | None = None
        """Set by the kernel: the protection manager shrinks a position's stop and target before
        an order that reduces the position leaves (every order ends here, so none slips by)."""

    # ------------------------------------------------------------------ the pre-trade picture
    def book_view(self, options: Iterable[str] = ()) -> BookView:
        """The engine's half of the pre-trade picture; the risk controller adds its own state.

        ``options``: symbols about to be ordered, priced at the model when they are options.
        """
        account = self._ledger.account()
        prices = self._market.prices(options)
        state = self._risk.controller.state
        instruments = self._data.instruments
        to_account, conversion_problems = self._market.conversions()
        return BookView(
            trading_state=state.state,
            halted_reason=state.reason,
            equity=account.equity,
            cash=self._market.spendable_cash(),
            positions=_safe_positions(
                {p.symbol: p.quantity for p in self._ledger.positions(include_flat=False)},
                self._held_at_broker(),
            ),
            prices=prices,
            # protective orders are kept no larger than the position and shrink before an exit
            # leaves (``before_send``): they never hold back the orders that reduce it
            working=self.orders.working_by_symbol(protective=False),
            working_buy_value=self.orders.working_buy_value(prices),
            gross_exposure=account.gross_exposure,
            tradable=frozenset(
                s
                for s in self._settings.universe.symbols
                if instruments.get(s) is None or instruments[s].tradable
            ),
            market_open=self._market.market_open(),
            quote_problems=self._market.quote_problems(),
            to_account=to_account,
            conversion_problems=conversion_problems,
            specs=self._data.specs,
            open_by_symbol=self._round_the_clock_open(),
        )

    def _round_the_clock_open(self) -> dict[str, bool]:
        """Whether each FX pair's or coin's own market is open now (not the XNYS session's)."""
        now = self._clock.now()
        out: dict[str, bool] = {}
        for symbol, spec in self._data.specs.items():
            open_ = round_the_clock_open(spec.calendar, now)
            if open_ is not None:
                out[symbol] = open_
        return out

    # ------------------------------------------------------------------ orders
    async def send(self, request: OrderRequest) -> Order:
        """Hand a checked order to the order manager, counting it against throttles and duplicates."""
        if self.before_send is not None:
            await self.before_send(request)
        self._risk.controller.sent(request, self._clock.now())
        order = await self.orders.submit(request)
        self._attribution.remember(order.client_order_id, request.strategy or "")
        return order

    async def cancel_any(self, client_order_id: str) -> str:
        """Cancel an order or, for an algo parent, the whole algo (its working child with it)."""
        if self.algos.get(client_order_id) is not None:
            return await self.algos.cancel_parent(client_order_id, now=self._clock.now())
        return await self.orders.cancel(client_order_id)

    # ------------------------------------------------------------------ algos
    async def start_algo(self, request: OrderRequest, leg: Leg, card: StrategyCard) -> Order:
        """Record the parent (write-ahead, like any order) and hand it to the runner."""
        now = self._clock.now()
        quote = self._market.latest_quotes().get(request.symbol)
        instrument = self._data.instruments.get(request.symbol)
        window = max(card.deadline_minutes * 60.0 * 0.8, 120.0)  # leave the sweep time to fill
        params = AlgoParams(
            window_seconds=window,
            timeout_seconds=min(300.0, window),
            tick_size=instrument.tick_size if instrument is not None else 0.01,
            flow_timing=self._settings.engine.algo_flow_timing or None,
        )
        arrival = quote.mid if quote is not None else None
        parent = replace(request, arrival_price=arrival).to_order(
            self._store.next_client_order_id(), now, algo=str(leg.algo)
        )
        self._store.insert_order(parent)
        self._risk.controller.sent(request, now)
        self._attribution.remember(parent.client_order_id, card.template)
        return await self.algos.start(parent, params, now, quote, strategy=card.template)

    async def algo_quotes(self, quotes: Sequence[Quote]) -> None:
        await self.algos.on_quotes(quotes)

    def on_child_order(self, event: OrderEvent) -> None:
        if event.order.parent_id:
            self.algos.on_order(event.order)

    async def _send_child(self, request: OrderRequest) -> Order:
        """An algo's child: through the risk checks like any order (the parent passed the duplicate
        guard already); a refusal comes back as a REJECTED order, as the runner expects."""
        request = replace(request, override_duplicate=True)
        now = self._clock.now()
        refusal = self._risk.controller.check(request, self.book_view((request.symbol,)), now)
        if refusal is not None:
            return Order(
                client_order_id=f"refused-{request.parent_id}",
                symbol=request.symbol,
                side=request.side,
                quantity=request.quantity,
                status=OrderStatus.REJECTED,
                reason=f"[{refusal.code}] {refusal.message}",
                parent_id=request.parent_id,
                created_at=now,
                updated_at=now,
            )
        return await self.send(request)

    async def _cancel_child(self, client_order_id: str) -> str:
        return await self.orders.cancel(client_order_id)

    def _on_parent(self, parent: Order) -> None:
        """A parent order changed (its children filled, it finished): record and show it."""
        self._store.update_order(parent)
        self._publish(OrderEvent(replace(parent)))

    def expire_stored_parents(self) -> None:
        """Algo parents are worked in memory: after a restart their remainder is not worked on."""
        now = self._clock.now()
        for order in self._store.load_orders(open_only=True):
            if order.algo:
                order.status = OrderStatus.EXPIRED
                order.reason = "engine restarted: the algo stopped; its filled part stands"
                order.updated_at = now
                self._store.update_order(order)
                self._outbox.notice(
                    "warning", f"algo order {order.client_order_id} {order.symbol} expired at restart"
                )


def _safe_positions(book: dict[str, float], at_broker: Mapping[str, float]) -> dict[str, float]:
    """The positions the pre-trade checks may count on while a reconciliation mismatch stands:
    for each symbol the two sides disagree on, only what both hold (the smaller, same-signed
    quantity; none when they differ in sign). A reduce-only order (the flatten, an exit) then never
    sells at the broker what the account does not hold."""
    if not at_broker:
        return book
    out = dict(book)
    for symbol, held in at_broker.items():
        mine = out.get(symbol, 0.0)
        same_side = (mine > 0) == (held > 0) and mine != 0 and held != 0
        out[symbol] = (min(abs(mine), abs(held)) * (1 if mine > 0 else -1)) if same_side else 0.0
    return out
