"""Orders, fills and what a card asks to trade."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine.model.enums import Algo, OrderStatus, OrderType, Side, TimeInForce
from engine.model.exits import ExitPolicy
from engine.model.options import contract_multiplier


@dataclass(slots=True)
class Order:
    """An order as the engine knows it. Mutable: its status and fills change over its life.

    ``client_order_id`` is unique forever (persisted sequence) and is what the broker
    sees as its order reference, so reconciliation can always match the two.
    """

    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.MKT
    limit_price: float | None = None
    stop_price: float | None = None
    tif: TimeInForce = TimeInForce.DAY
    status: OrderStatus = OrderStatus.INTENT
    filled_quantity: float = 0.0
    avg_fill_price: float | None = None
    broker_order_id: str | None = None
    card_id: str | None = None
    execution_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    reason: str = ""
    parent_id: str | None = None
    """The algo (parent) order this child order works for; None for an order sent as it is."""
    algo: str = ""
    """On a parent order: the Algo working it. Parents are never sent to a broker themselves."""
    arrival_price: float | None = None
    """The mid when the order was decided: implementation shortfall is measured from it."""
    trail_amount: float | None = None
    """TRAIL orders: the stop follows the best price at this distance (money per share)."""
    trail_percent: float | None = None
    """TRAIL orders: the stop follows the best price at this distance (percent, 1.5 = 1.5%)."""
    oca_group: str | None = None
    """One-cancels-all group: when one order of the group fills, the broker cancels the rest
    (a protective stop and its target). Named ``OCA-<entry client_order_id>`` by the engine."""
    protects: str | None = None
    """On a protective order (stop, target, time exit): the client_order_id of the entry order
    whose filled quantity it protects. None on every other order."""

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled_quantity, 0.0)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``exec_id`` is the broker's id: fills are deduplicated by it."""

    exec_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    commission: float
    ts: datetime
    currency: str = ""
    """The currency its price and commission are in (the instrument's quote currency), stamped
    by the broker; "" in fills from before issue 20: the instrument's currency as configured."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a caller asks the order manager for; it becomes an Order once it has an id."""

    symbol: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.MKT
    limit_price: float | None = None
    stop_price: float | None = None
    tif: TimeInForce = TimeInForce.DAY
    card_id: str | None = None
    execution_id: str | None = None
    strategy: str = ""
    """The template that proposed it ("" for manual orders): breakers and throttles pause by it."""
    protective_stop: float | None = None
    """The price at which the plan exits at a loss: the per-trade risk limit is measured to it."""
    reduce_only: bool = False
    """May only shrink a position (the kill switch's flatten orders): allowed while HALTED."""
    override_duplicate: bool = False
    """The operator confirmed it although the duplicate guard refused it once."""
    parent_id: str | None = None
    """Set on an algo's child orders: the parent order they work for."""
    arrival_price: float | None = None
    """The mid when the order was decided (for implementation shortfall)."""
    trail_amount: float | None = None
    """TRAIL orders: trailing distance in money per share."""
    trail_percent: float | None = None
    """TRAIL orders: trailing distance in percent."""
    oca_group: str | None = None
    """One-cancels-all group shared by a position's protective orders."""
    protects: str | None = None
    """On a protective order: the client_order_id of the entry order it protects."""

    def to_order(self, client_order_id: str, now: datetime, *, algo: str = "") -> Order:
        """The order this request becomes once it has its id (an INTENT, or an algo's parent)."""
        return Order(
            client_order_id=client_order_id,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            order_type=self.order_type,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            tif=self.tif,
            card_id=self.card_id,
            execution_id=self.execution_id,
            created_at=now,
            updated_at=now,
            parent_id=self.parent_id,
            algo=algo,
            arrival_price=self.arrival_price,
            trail_amount=self.trail_amount,
            trail_percent=self.trail_percent,
            oca_group=self.oca_group,
            protects=self.protects,
        )


@dataclass(frozen=True, slots=True)
class Leg:
    """One instrument a card trades."""

    symbol: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.MKT
    limit_price: float | None = None
    algo: Algo = Algo.IMMEDIATE


RANKING_FORMULA = (
    "score = (E[r] - cost) / sigma_h x (1 - lambda x max(0, rho_book))   "
    "E[r]: expected horizon return from the template's history; cost: expected execution cost "
    "as a share of the capital; sigma_h: std of the horizon return; rho_book: correlation of the "
    "card's daily returns with the current book's (90 days); lambda: [cards] correlation_penalty"
)
"""How cards are ranked, in words: shown on the card detail screen next to the card's own terms."""


@dataclass(frozen=True, slots=True)
class StrategyCard:
    """A proposal the trader can execute with one key.

    ``confidence`` is the estimated probability that the card's return over its horizon is
    positive, measured on history before ``asof`` only; ``expected_return`` is a fraction
    of the capital the card commits; ``max_risk`` is money lost if every stop is hit.

    ``details`` holds the numbers behind the card, namespaced so screens can group them:

    - ``ref_price:SYM``: the reference price of each leg's symbol when the card was sized;
    - ``signal:NAME``: the signal values at the as-of bar that went into the score;
      ``score:composite`` is the template's composite score;
    - ``size:*``: ``capital`` (money committed, gross), ``risk_budget`` (money at the stop allowed),
      the capital caps ``by_risk``, ``by_vol``, ``by_kelly``, ``by_limits`` (the smallest binds),
      ``kelly`` (capped fractional Kelly, a share of equity) and ``vol_annual`` (the card's
      annualised volatility);
    - ``limit:KIND[:SUBJECT]``: the one limit that set ``by_limits`` (its value is that cap), e.g.
      ``limit:sector_limit:Technology``, ``limit:position_limit:AAPL``, ``limit:buying_power``;
    - ``bt:*``: the template's track record before ``asof``: ``n`` past signals, ``win_rate``,
      ``mean`` and ``std`` of their horizon returns, ``avg_win``, ``avg_loss`` (a positive
      fraction), ``symbol_n`` and
      ``symbol_win_rate`` (this card's own symbols), and the calibration check ``brier`` against
      ``brier_base`` (the base-rate forecast) on the held-out tail of that history;
    - ``meta:*``: the confidence's meta-label model (``engine.strategies.meta_label.card_details``):
      ``edge`` (1: its out-of-sample Brier skill interval lies above 0; 0: "no measured edge", the
      confidence is the template's ``base_rate``), ``model`` (the confidence's: 0 base rate,
      1 logistic, 2 gradient boosting, 3 logistic on the score alone) and ``tested`` (the held-out
      one's), the held-out ``skill`` with its ``skill_lo`` .. ``skill_hi`` interval at ``level``
      on ``n_test`` trades, and the reliability bands ``rel{i}:lo``/``pred``/``obs``/``n``;
    - ``risk:*``: ``max_loss`` (money, at the stop, with costs), ``reward_risk`` (average winning
      return over the stop distance), ``spread`` (std of the horizon return);
    - ``rank:*``: the terms of ``RANKING_FORMULA``: ``expected_net``, ``sigma``, ``book_corr``,
      ``penalty`` and ``score``;
    - ``greek:*``: ``delta``, ``gamma``, ``vega``, ``theta`` of an option card, in money;
    - ``expected_cost`` and friends: what executing the card should cost (execution plan).
    - ``exit:*``: ``atr`` (the ATR(14) at the signal bar the exit levels are measured in),
      ``trail_amount`` / ``trail_percent`` (a trailing stop's distance).
    """

    card_id: str
    template: str
    name: str
    legs: tuple[Leg, ...]
    confidence: float
    expected_return: float
    max_risk: float
    reason: str
    asof: datetime
    horizon_days: int = 5
    stop_price: float | None = None
    target_price: float | None = None
    score: float = 0.0
    details: dict[str, float] = field(default_factory=dict)
    deadline_minutes: float = 30.0
    """Market minutes the execution plan allows: a leg unfilled by then rolls the card back."""
    plan: tuple[str, ...] = ()
    """The execution plan in words, one step per line (leg order, order types, timing, deadline)."""
    notes: tuple[str, ...] = ()
    """Assumptions and caveats the trader should read (e.g. how an option leg was priced)."""
    exit_policy: ExitPolicy | None = None
    """How the position this card opens is protected once filled (stop, target, time exit);
    None for cards that open nothing to protect (exits, rebalances)."""

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(leg.symbol for leg in self.legs)

    @property
    def notional(self) -> float:
        """Money committed at the card's reference prices (``details['ref_price:SYM']``), options
        x their contract multiplier."""
        return sum(
            leg.quantity * self.details.get(f"ref_price:{leg.symbol}", 0.0) * contract_multiplier(leg.symbol)
            for leg in self.legs
        )
