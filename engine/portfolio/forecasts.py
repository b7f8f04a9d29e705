"""Which fills opened and closed each executed card's position: the outcomes forecasts meet.

``TradeBook`` folds orders and fills, in the order they happened, into one trade per card
execution, and answers a ``ForecastOutcome`` when a trade ends. It is the one code path of both
the running engine (fed one order change and one fill at a time, inside the fill's transaction)
and a restart or an offline report (fed every stored order and fill at once, ``fold``), so a
record computed after a crash is the record the engine would have written.

The rules:

- An **entry** fill is a fill of an order sent by a forecasting card's execution (the order's
  ``execution_id``, an algo child's too) on the side of that symbol's leg. A fill on the other
  side from the same execution is its rollback unwinding it: the outcome is ``VOID``.
- Positions are net per symbol, so every fill first closes what is open the other way and opens
  only the rest. What it closes is chosen like the tax-lot book's rule (``engine.portfolio.lots``):
  the fill's own owner first (a protective stop, target or time exit belongs to the execution of
  the entry it ``protects``; an unwind to its execution), then the other open pieces, oldest
  first (FIFO). Positions opened by nothing tracked (by hand, a rebalance, a close card) are
  anonymous pieces in the same queue, so selling one's own shares by hand closes those first.
- A fill's commission and shortfall are shared by quantity between the pieces it closed (exit
  costs of their trades) and the piece it opened (the entry cost of its trade). Shortfall is
  ``engine.model.quality.shortfall`` against the order's arrival price, the execution report's
  rule; an order without one (a stop, a target) adds none.
- A trade **ends** when everything it opened is closed and no order of its execution is still
  working (more entry fills could come). A partial exit leaves it open: pending, not counted.
  A trade whose execution filled nothing never opened and leaves no outcome.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from engine.model import Fill, Order, Side, StrategyCard, contract_multiplier
from engine.model.forecast import ForecastOutcome, OpenTrade, OutcomeStatus
from engine.model.quality import arrival_price, shortfall

CardLoader = Callable[[str, str], StrategyCard | None]
"""(card_id, execution_id) -> the card as it was executed, None when it is not stored."""

_EPS = 1e-9


def _finite(value: float) -> float:
    """A forecast number as stored: a non-finite one (never on a shown card) is stored as 0, so a
    closing fill's transaction never fails on the record written with it."""
    return value if math.isfinite(value) else 0.0


def makes_forecast(card: StrategyCard) -> bool:
    """Whether a card forecasts anything: a close card, a rebalance's group card and a tax-loss
    harvest make none (their confidence is 0), so their trades are not scored."""
    return bool(card.legs) and card.confidence > 0.0 and card.template != "exit"


@dataclass(slots=True)
class _Piece:
    owner: str | None
    sign: int
    quantity: float
    price: float
    multiplier: float


@dataclass(slots=True)
class _Trade:
    execution_id: str
    card: StrategyCard
    legs: dict[str, Side]
    opened: float = 0.0
    held: float = 0.0
    capital: float = 0.0
    gross_pnl: float = 0.0
    entry_commission: float = 0.0
    exit_commission: float = 0.0
    entry_slippage: float = 0.0
    exit_slippage: float = 0.0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    unwound: bool = False

    def outcome(self) -> ForecastOutcome:
        assert self.first_ts is not None and self.last_ts is not None
        card = self.card
        return ForecastOutcome(
            execution_id=self.execution_id,
            card_id=card.card_id.split("@", 1)[0],
            template=card.template,
            symbols=tuple(dict.fromkeys(leg.symbol for leg in card.legs)),
            status=OutcomeStatus.VOID if self.unwound else OutcomeStatus.CLOSED,
            opened_at=self.first_ts,
            closed_at=self.last_ts,
            confidence=_finite(card.confidence),
            expected_return=_finite(card.expected_return),
            max_risk=_finite(card.max_risk),
            expected_cost=_finite(card.details.get("expected_cost", 0.0)),
            capital=self.capital,
            gross_pnl=self.gross_pnl,
            entry_commission=self.entry_commission,
            exit_commission=self.exit_commission,
            entry_slippage=self.entry_slippage,
            exit_slippage=self.exit_slippage,
        )


@dataclass(slots=True)
class TradeBook:
    """Card trades folded from orders and fills (see the module's rules)."""

    cards: CardLoader
    _orders: dict[str, Order] = field(default_factory=dict)
    _working: dict[str, set[str]] = field(default_factory=dict)
    """execution id -> client order ids of its orders not yet terminal."""
    _card_id: dict[str, str] = field(default_factory=dict)
    _card_of: dict[str, StrategyCard | None] = field(default_factory=dict)
    """execution id -> its card as executed, None when it forecasts nothing (read once)."""
    _trades: dict[str, _Trade] = field(default_factory=dict)
    _pieces: dict[str, list[_Piece]] = field(default_factory=dict)
    _ended: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------ feeding
    def fold(self, orders: Iterable[Order], fills: Iterable[Fill]) -> list[ForecastOutcome]:
        """Every stored order (as stored now), then every stored fill in order: the outcomes of the
        trades that have ended. Ends are judged once everything is fed, so an entry that filled
        in parts around an early exit is judged as a whole, as the live book judged it."""
        for order in orders:
            self._remember(order)
        for fill in fills:
            self._apply(fill)
        return self._settle(list(self._trades))

    def order(self, order: Order) -> list[ForecastOutcome]:
        """An order was placed or changed: a finished entry may end a trade already closed."""
        self._remember(order)
        return self._settle([order.execution_id] if order.execution_id else [])

    def fill(self, fill: Fill) -> list[ForecastOutcome]:
        """A new fill (after its order's change): the trades it ended."""
        return self._settle(self._apply(fill))

    def open_trades(self) -> list[OpenTrade]:
        return [
            OpenTrade(t.execution_id, t.card.template, t.opened, t.held)
            for t in self._trades.values()
            if t.execution_id not in self._ended and t.opened > _EPS
        ]

    # ------------------------------------------------------------------ orders
    def _remember(self, order: Order) -> None:
        self._orders[order.client_order_id] = order
        ex = order.execution_id
        if ex is None:
            return
        working = self._working.setdefault(ex, set())
        if order.status.is_terminal:
            working.discard(order.client_order_id)
        else:
            working.add(order.client_order_id)
        if order.card_id and ex not in self._card_id:
            # the card itself is read at the execution's first fill, never on the send path
            self._card_id[ex] = order.card_id

    def _trade(self, execution_id: str | None) -> _Trade | None:
        if execution_id is None:
            return None
        trade = self._trades.get(execution_id)
        if trade is None:
            if execution_id not in self._card_of:
                card_id = self._card_id.get(execution_id)
                card = self.cards(card_id, execution_id) if card_id else None
                self._card_of[execution_id] = card if card is not None and makes_forecast(card) else None
            card = self._card_of[execution_id]
            if card is None:
                return None
            legs = {leg.symbol: leg.side for leg in card.legs}
            trade = self._trades[execution_id] = _Trade(execution_id, card, legs)
        return trade

    # ------------------------------------------------------------------ fills
    def _apply(self, fill: Fill) -> list[str]:
        """Book one fill; answers the executions it touched."""
        order = self._orders.get(fill.client_order_id)
        if order is None or fill.quantity <= 0:
            return []  # an adoption, an opening position, a foreign order: not a card's trade
        parent = self._orders.get(order.parent_id) if order.parent_id else None
        mult = contract_multiplier(fill.symbol)
        slip = shortfall(fill.side, arrival_price(order, parent), fill.price, fill.quantity, mult) or 0.0
        own = self._trade(order.execution_id)
        opens: _Trade | None = None
        owner: str | None = None
        if order.protects is not None:
            entry = self._orders.get(order.protects)
            owner = entry.execution_id if entry is not None else None
        elif own is not None:
            owner = own.execution_id
            if own.legs.get(fill.symbol) is fill.side:
                opens = own
            else:
                own.unwound = True  # its own execution sold what it bought: a rollback
        touched: list[str] = []
        left = fill.quantity
        pieces = self._pieces.setdefault(fill.symbol, [])
        sign = fill.side.sign
        against = [p for p in pieces if p.sign != sign]
        ordered = [p for p in against if p.owner == owner] + [p for p in against if p.owner != owner]
        for piece in ordered:
            if left <= _EPS:
                break
            take = min(piece.quantity, left)
            piece.quantity -= take
            left -= take
            share = take / fill.quantity
            closed = self._trades.get(piece.owner) if piece.owner is not None else None
            if closed is not None:
                closed.held -= take
                closed.gross_pnl += piece.sign * take * (fill.price - piece.price) * piece.multiplier
                closed.exit_commission += fill.commission * share
                closed.exit_slippage += slip * share
                closed.last_ts = fill.ts
                touched.append(closed.execution_id)
        self._pieces[fill.symbol] = [p for p in pieces if p.quantity > _EPS]
        if left > _EPS:
            self._pieces[fill.symbol].append(
                _Piece(opens.execution_id if opens is not None else None, sign, left, fill.price, mult)
            )
            if opens is not None:
                share = left / fill.quantity
                opens.opened += left
                opens.held += left
                opens.capital += left * fill.price * mult
                opens.entry_commission += fill.commission * share
                opens.entry_slippage += slip * share
                opens.first_ts = opens.first_ts or fill.ts
                opens.last_ts = fill.ts
                touched.append(opens.execution_id)
        return touched

    def _settle(self, executions: Iterable[str | None]) -> list[ForecastOutcome]:
        out: list[ForecastOutcome] = []
        for ex in dict.fromkeys(executions):
            if ex is None or ex in self._ended:
                continue
            trade = self._trades.get(ex)
            if trade is None or trade.opened <= _EPS or trade.held > _EPS * max(1.0, trade.opened):
                continue
            if self._working.get(ex):
                continue  # an entry (or its unwind) is still working: more may fill
            self._ended.add(ex)
            out.append(trade.outcome())
        return out
