"""``Accounting``: fills become the book: the ledger, the tax lots, settlements, and who owns what.

On every fill it books the ledger and the lots, audits the fill, and publishes ``FillBooked`` so
that the risk monitor (loss streaks, breakers) and the card pipeline react without being called.
It also owns the book's persistence (positions, the day's equity marks, the opening book).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from engine.brokers.base import Broker
from engine.bus import EventBus
from engine.clock import Clock
from engine.execution.order_manager import OrderManager
from engine.model import CommandSource, Fill, Order, Side, contract_multiplier
from engine.model.cash import Currencies
from engine.model.events import OrderEvent
from engine.portfolio.ledger import Ledger
from engine.runtime.outbox import Outbox
from engine.store.audit import FILL_ACTION, fill_payload
from engine.store.repository import Store
from engine.strategies.generator import card_template

LEDGER_KEY = "ledger_day"
ADOPTED_KEY = "adopted_positions"
"""Quantities adopted from the broker when the operator approved a position mismatch: a list of
{"ts", "symbol", "delta", "price"}; folded into the book like fills."""
OPENING_KEY = "opening_book"
"""The broker account's cash and positions when this database first met it (IBKR): the book the
fills then build on, so a fresh database starts from the account as it is, not from paper cash."""


@dataclass(frozen=True, slots=True)
class FillBooked:
    """A fill is in the ledger and the lots (an in-process event: it never crosses the socket).

    ``owner``: the template whose position the fill reduced (loss streaks count there), else the
    fill's own strategy; ``realized``: the P&L the fill realized in the account currency (in its
    own currency when no rate converts it: the sign is what the loss streaks read), None when it
    opened or added.
    """

    fill: Fill
    strategy: str
    owner: str
    realized: float | None


class OrderAttribution:
    """client order id -> the template that proposed it: remembered at submit, else from its card id."""

    def __init__(self, orders: OrderManager) -> None:
        self._orders = orders
        self._strategy_of: dict[str, str] = {}

    def remember(self, client_order_id: str, strategy: str) -> None:
        if strategy:
            self._strategy_of[client_order_id] = strategy

    def strategy(self, client_order_id: str) -> str:
        known = self._strategy_of.get(client_order_id)
        if known is not None:
            return known
        order = self._orders.get(client_order_id)
        return card_template(order.card_id) if order is not None and order.card_id else ""


class Accounting:
    def __init__(
        self,
        *,
        ledger: Ledger,
        store: Store,
        broker: Broker,
        orders: OrderManager,
        attribution: OrderAttribution,
        bus: EventBus,
        clock: Clock,
        outbox: Outbox,
        on_lots: Callable[[Fill, str], None],
    ) -> None:
        self.ledger = ledger
        self._store = store
        self._broker = broker
        self._orders = orders
        self._attribution = attribution
        self._bus = bus
        self._clock = clock
        self._outbox = outbox
        self._on_lots = on_lots
        self.owner: dict[str, str] = {}
        """symbol -> the template whose fills opened the current position (loss streaks count there)."""
        broker.set_settlement_hook(self.record_settlement)

    def on_fill(self, fill: Fill) -> None:
        """Book one fill: ledger, lots, audit, then ``FillBooked`` for the peers."""
        held = self.ledger.quantity(fill.symbol)
        realized_before = self.ledger.realized(fill.symbol)
        self.ledger.apply_fill(fill)
        strategy = self._attribution.strategy(fill.client_order_id)
        self._on_lots(fill, strategy)
        closes = held != 0.0 and (held > 0) != (fill.side.sign > 0)
        owner = self.owner.get(fill.symbol, strategy) if closes else strategy
        if not closes and strategy:
            self.owner[fill.symbol] = strategy
        self._outbox.audit("engine", CommandSource.ENGINE, FILL_ACTION, fill_payload(fill))
        realized = self.ledger.realized(fill.symbol) - realized_before if closes else None
        if realized is not None:  # booked in the fill's currency; the breakers count the account's
            converted = self.ledger.to_account(realized, self.ledger.currency(fill.symbol))
            realized = converted if math.isfinite(converted) else realized
        self._bus.publish(FillBooked(fill, strategy, owner, realized))

    def positions_by_owner(self) -> dict[str, int]:
        held_by: dict[str, int] = {}
        for p in self.ledger.positions(include_flat=False):
            owner = self.owner.get(p.symbol)
            if owner:
                held_by[owner] = held_by.get(owner, 0) + 1
        return held_by

    # ------------------------------------------------------------------ settlements
    def record_settlement(self, order: Order) -> None:
        """The broker's hook: it settled an expired option with an order the engine never placed.

        The order is recorded (as the broker announces it: acknowledged, nothing filled) and
        tracked, so the ``OrderFilled`` that follows lands on a known order and reaches the
        ledger through ``on_fill`` like any fill.
        """
        stored = self._store.get_order(order.client_order_id)
        if stored is None:
            self._store_settlement(order)
        self._orders.track(order if stored is None else stored)

    def record_missed_settlements(self) -> None:
        """Before reconciling: settlement orders the broker made that the database never recorded.

        A crash between the broker's close (journaled) and the engine's record of it leaves the
        settlement's fill among the broker's executions with no order of ours; recorded here,
        reconciliation applies that fill as a missed one instead of calling it external.
        """
        for order in self._broker.settlement_orders():
            if self._store.get_order(order.client_order_id) is None:
                self._store_settlement(order)

    def _store_settlement(self, order: Order) -> None:
        self._store.insert_order(order)
        self._bus.publish(OrderEvent(replace(order)))

    # ------------------------------------------------------------------ the broker is the truth
    def adopt_broker_quantity(self, symbol: str, broker_quantity: float, price: float) -> Fill | None:
        """Make the book hold what the broker holds, as the trade onetap did not see at ``price``.

        A mismatch comes from a trade made elsewhere (typed into TWS, another client) while onetap
        was away: the account's cash moved with it. Booking the difference as a commission-free
        fill at the current mark keeps equity where it was (no false P&L for the breakers to trip
        on) while the position now matches the account. Nothing is sent anywhere. The adjustment
        is stored and folded at every start, so it survives restarts."""
        delta = broker_quantity - self.ledger.quantity(symbol)
        if abs(delta) < 1e-9:
            return None
        now = self._clock.now()
        fill = _adoption_fill(now, symbol, delta, price, len(_adoptions(self._store)))
        raw = [
            *_adoptions(self._store),
            {"ts": now.isoformat(), "symbol": symbol, "delta": delta, "price": price},
        ]
        self._store.set_state(ADOPTED_KEY, json.dumps(raw), now)
        self.ledger.apply_fill(fill)
        self._on_lots(fill, "")
        return fill

    # ------------------------------------------------------------------ persistence
    def persist_book(self) -> None:
        self._store.save_positions(self.ledger.positions())

    def persist_day(self, day: date) -> None:
        payload = {
            "day": day.isoformat(),
            "start_of_day_equity": self.ledger.start_of_day_equity,
            "peak_equity": self.ledger.peak_equity,
        }
        self._store.set_state(LEDGER_KEY, json.dumps(payload), self._clock.now())

    def restore_day(self) -> None:
        raw = self._store.get_state(LEDGER_KEY)
        if raw:
            data = json.loads(raw)
            self.ledger.start_of_day_equity = float(data["start_of_day_equity"])
            self.ledger.peak_equity = max(float(data["peak_equity"]), self.ledger.equity)

    def restart_measures(self, day: date) -> None:
        """The operator took responsibility (resume): breakers measure new losses from now on."""
        self.ledger.start_day()
        self.ledger.peak_equity = self.ledger.equity
        self.persist_day(day)


def fold_ledger(
    store: Store, starting_cash: float, currencies: Currencies | None = None
) -> tuple[Ledger, list[Fill], list[Fill]]:
    """The ledger rebuilt from the opening book (if any), every stored fill and every quantity
    adopted from the broker (in time order), with the last marks.

    Returns the opening fills and the stored fills with the adopted ones in time order too: the
    tax lots fold them next, from the same list (a restart reads the fills once).
    """
    opening = opening_fills(store.get_state(OPENING_KEY))
    adopted = [
        _adoption_fill(datetime.fromisoformat(a["ts"]), a["symbol"], float(a["delta"]), float(a["price"]), i)
        for i, a in enumerate(_adoptions(store))
    ]
    cash = starting_cash if opening is None else opening[0] + sum(_cost(f) for f in opening[1])
    ledger = Ledger(cash, currencies)
    first = opening[1] if opening is not None else []
    stored = store.load_fills()
    if adopted:
        stored = sorted([*stored, *adopted], key=lambda f: f.ts)
    for fill in [*first, *stored]:
        ledger.apply_fill(fill)
    ledger.restore_marks(store.load_positions())
    return ledger, first, stored


def _adoptions(store: Store) -> list[dict[str, Any]]:
    raw = store.get_state(ADOPTED_KEY)
    data = json.loads(raw) if raw else []
    return data if isinstance(data, list) else []


def _adoption_fill(ts: datetime, symbol: str, delta: float, price: float, index: int) -> Fill:
    return Fill(
        exec_id=f"adopted:{index}:{symbol}",
        client_order_id="reconciliation",
        symbol=symbol,
        side=Side.BUY if delta > 0 else Side.SELL,
        quantity=abs(delta),
        price=price,
        commission=0.0,
        ts=ts,
    )


def opening_book_payload(
    now: datetime, cash: float, positions: list[tuple[str, float, float]]
) -> dict[str, Any]:
    return {"ts": now.isoformat(), "cash": cash, "positions": [list(p) for p in positions]}


def opening_fills(raw: str | None) -> tuple[float, list[Fill]] | None:
    """The opening book as (cash, fills at average cost, commission-free) the ledger and lots fold first."""
    if not raw:
        return None
    data = json.loads(raw)
    ts = datetime.fromisoformat(data["ts"])
    fills = [
        Fill(
            exec_id=f"opening:{symbol}",
            client_order_id="opening",
            symbol=symbol,
            side=Side.BUY if quantity > 0 else Side.SELL,
            quantity=abs(float(quantity)),
            price=float(avg_cost),
            commission=0.0,
            ts=ts,
        )
        for symbol, quantity, avg_cost in data["positions"]
    ]
    return float(data["cash"]), fills


def _cost(fill: Fill) -> float:
    """Cash a fill moved (positive for a buy), in money (x the contract multiplier)."""
    return fill.side.sign * fill.quantity * fill.price * contract_multiplier(fill.symbol)
