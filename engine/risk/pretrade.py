"""Pre-trade checks: small pure functions over (order, book, limits).

Each returns ``None`` to accept or a ``Refusal`` with a reason code. Limits count working
and in-flight orders, not only fills, so two orders each under a limit cannot together
breach it. A breach refuses the order; it is never silently shrunk.

The checks are pure so that they can be property-tested over random books and run in
microseconds on the order path; everything stateful (message counts, recent orders, the
market clock) is read by the engine into the ``BookView`` before the checks run.

Options (OCC symbols, see ``engine.model.options``) go through the same checks: quantities are
contracts, ``prices`` holds the option's premium per unit of the underlying (the caller's mark,
as for a stock), and every money figure multiplies by ``contract_multiplier``. An option is
tradable when its underlying is, and counts in its underlying's sector; its price band is at
least ``OPTION_BAND_FLOOR`` wide in premium. The only short option allowed is a covered call:
shares of the underlying held (working sells deducted) must cover every short call on it, x the
multiplier; a short put or an uncovered call is refused whatever ``allow_short`` says, and so is
a sale of shares that cover a short call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from engine.model import (
    AssetClass,
    OptionContract,
    OrderRequest,
    OrderType,
    RefusalCode,
    Side,
    TradingState,
    contract_multiplier,
    is_option_symbol,
)
from engine.model.fx import round_to_tick
from engine.model.instruments import InstrumentSpec

EPS = 1e-9
OPTION_BAND_FLOOR = 0.10
"""An option's price band is never narrower than this, in premium: 5% of a 0.40 option is less
than its quoted half-spread, and would refuse a limit at the ask."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a check refused an order: a stable code (the console acts on some) and the operator's words."""

    code: RefusalCode
    message: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The ``[risk]`` limits the checks enforce (see config/default.toml for each one's meaning)."""

    max_order_value: float
    max_order_quantity: float
    max_position_pct: float
    gross_exposure_limit: float
    allow_short: bool = False
    risk_per_trade_pct: float = 0.02
    max_sector_pct: float = 0.30
    price_band_pct: float = 0.05
    max_orders_per_second: int = 5
    max_orders_per_day: int = 100
    duplicate_window_s: float = 10.0
    market_hours_only: bool = True

    @classmethod
    def from_mapping(cls, values: Mapping[str, object], *, allow_short: bool) -> Limits:
        """From the ``[risk]`` settings (a mapping of config key -> value); unknown keys ignored."""
        names = {f.name for f in fields(cls)} - {"allow_short"}
        return cls(allow_short=allow_short, **{k: v for k, v in values.items() if k in names})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class RecentOrder:
    """An order sent shortly before: what the duplicate guard compares against."""

    ts: datetime
    symbol: str
    side: Side
    quantity: float


@dataclass(frozen=True, slots=True)
class BookView:
    """What the checks may look at: a read-only picture of the book at the moment of the order."""

    trading_state: TradingState
    halted_reason: str
    equity: float
    cash: float
    """Cash this order may spend: settled cash (T+1 proceeds excluded), never a loan."""
    positions: Mapping[str, float]
    prices: Mapping[str, float]
    working: Mapping[str, float]
    """symbol -> signed quantity still working at the broker (or in flight)."""
    working_buy_value: float
    gross_exposure: float
    tradable: frozenset[str]
    sectors: Mapping[str, str] = field(default_factory=dict)
    """symbol -> sector; a symbol with none is its own sector."""
    market_open: bool = True
    """The XNYS regular session is on (the engine's own exchange)."""
    own_sessions: Mapping[str, tuple[str, bool]] = field(default_factory=dict)
    """symbol -> (its calendar, in a session now) for a symbol not on XNYS (``market_open`` is not
    its clock)."""
    now: datetime | None = None
    orders_last_second: int = 0
    orders_today: int = 0
    recent: tuple[RecentOrder, ...] = ()
    paused_strategies: frozenset[str] = frozenset()
    quote_problems: Mapping[str, tuple[RefusalCode, str]] = field(default_factory=dict)
    """symbol -> (BAD_QUOTE or STALE_QUOTE, why): no new exposure on data that cannot be trusted."""
    to_account: Mapping[str, float] = field(default_factory=dict)
    """symbol -> account currency per unit of its own currency (``engine.model.fx``); a symbol
    absent is in the account currency (1.0). Every money figure the checks compare is converted."""
    conversion_problems: Mapping[str, tuple[RefusalCode, str]] = field(default_factory=dict)
    """symbol -> (FX_RATE_STALE or FX_RATE_MISSING, why): its currency cannot be converted now."""
    specs: Mapping[str, InstrumentSpec] = field(default_factory=dict)
    """symbol -> its conventions (lots, tick) where the market names them; a pair, a coin or a
    future's quantity and prices are checked against them (``check_lots``)."""


Check = Callable[[OrderRequest, BookView, Limits], Refusal | None]


def _price(order: OrderRequest, book: BookView) -> float:
    if order.order_type in (OrderType.LMT, OrderType.STP_LMT) and order.limit_price:
        return order.limit_price
    if order.order_type is OrderType.STP and order.stop_price:
        return order.stop_price
    return book.prices.get(order.symbol, 0.0)


def _notional(order: OrderRequest, book: BookView) -> float:
    """Money the order trades, in the account currency: quantity x price x the contract multiplier
    (100 for an option, a future's contract size) x the symbol's conversion rate."""
    rate = book.to_account.get(order.symbol, 1.0)
    return order.quantity * _price(order, book) * contract_multiplier(order.symbol) * rate


def _value(book: BookView, symbol: str, quantity: float, price: float) -> float:
    """Absolute money value of ``quantity`` of ``symbol`` at ``price``, in the account currency."""
    return abs(quantity) * price * contract_multiplier(symbol) * book.to_account.get(symbol, 1.0)


def _underlying(symbol: str) -> str | None:
    return OptionContract.parse(symbol).underlying if is_option_symbol(symbol) else None


def _qty(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def increases_exposure(order: OrderRequest, book: BookView) -> bool:
    """False only for an order that shrinks the position it trades against (and does not flip it)."""
    held = book.positions.get(order.symbol, 0.0)
    return not (held != 0 and (held > 0) != (order.side is Side.BUY) and order.quantity <= abs(held) + EPS)


def check_trading_state(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if book.trading_state is TradingState.HALTED:
        if order.reduce_only and not increases_exposure(order, book):
            return None
        return Refusal(RefusalCode.HALTED, f"trading halted ({book.halted_reason}); type RESUME to lift it")
    if book.trading_state is TradingState.RECOVERING and not order.reduce_only:
        return Refusal(
            RefusalCode.RECOVERING,
            "reconciliation with the broker is waiting for approval; review the summary and approve it",
        )
    if book.trading_state is TradingState.REDUCING and increases_exposure(order, book):
        return Refusal(
            RefusalCode.REDUCING,
            f"trading is reduce-only ({book.halted_reason}); this order would add exposure",
        )
    if order.reduce_only and increases_exposure(order, book):
        return Refusal(
            RefusalCode.NOT_REDUCING, f"a reduce-only order would add to the {order.symbol} position"
        )
    return None


def check_strategy(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if order.strategy and order.strategy in book.paused_strategies and increases_exposure(order, book):
        return Refusal(
            RefusalCode.STRATEGY_PAUSED,
            f"strategy {order.strategy} is paused; resume it from the risk screen to trade it again",
        )
    return None


def check_symbol(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if order.symbol not in book.tradable and _underlying(order.symbol) not in book.tradable:
        return Refusal(RefusalCode.SYMBOL_NOT_ALLOWED, f"{order.symbol} is not in the tradable universe")
    if not order.quantity > 0:
        return Refusal(RefusalCode.BAD_QUANTITY, f"quantity must be positive, got {_qty(order.quantity)}")
    if book.prices.get(order.symbol, 0.0) <= 0:
        return Refusal(RefusalCode.NO_PRICE, f"no market price for {order.symbol} yet")
    return None


def check_quote_quality(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """A held-out or stale quote blocks orders on its symbol; the way out (reduce-only) stays open."""
    problem = book.quote_problems.get(order.symbol)
    if problem is None or order.reduce_only:
        return None
    code, why = problem
    return Refusal(code, f"{why}; orders on {order.symbol} wait for a good quote")


def check_conversion(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """An instrument in another currency needs a fresh rate into the account currency for its
    limits: a stale or missing one refuses new exposure (never a guessed rate); the way out stays open."""
    problem = book.conversion_problems.get(order.symbol)
    if problem is None or order.reduce_only:
        return None
    code, why = problem
    return Refusal(code, f"{order.symbol}: {why}; its limits cannot be checked in the account currency")


LOT_CHECKED = frozenset({AssetClass.FX, AssetClass.CRYPTO, AssetClass.FUTURE})
"""Asset classes whose orders must be whole lots and on the tick grid (a stock's share and tick
rules are the broker's to enforce, as they always were)."""


def check_lots(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """A pair, a coin or a future trades in its lots from its minimum, at prices on its tick: an
    order that is not is refused naming the rule (BELOW_MIN_LOT, LOT_SIZE, TICK_SIZE). A
    reduce-only order may close an odd remainder below the minimum (the way out stays open)."""
    spec = book.specs.get(order.symbol)
    if spec is None or spec.asset_class not in LOT_CHECKED:
        return None
    qty, sym = order.quantity, order.symbol
    if not order.reduce_only:
        if qty < spec.min_lot * (1.0 - 1e-9):
            return Refusal(
                RefusalCode.BELOW_MIN_LOT, f"{sym}: {qty:.10g} is below the minimum lot {spec.min_lot:g}"
            )
        steps = qty / spec.lot_size
        if abs(steps - round(steps)) > 1e-6:
            return Refusal(
                RefusalCode.LOT_SIZE, f"{sym}: {qty:.10g} is not a whole number of lots of {spec.lot_size:g}"
            )
    for label, price in (("limit", order.limit_price), ("stop", order.stop_price)):
        if price is not None and not math.isclose(round_to_tick(price, spec.tick_size), price, abs_tol=1e-12):
            return Refusal(
                RefusalCode.TICK_SIZE,
                f"{sym}: {label} price {price:.10g} is off the tick {spec.tick_size:g} "
                f"(nearest {round_to_tick(price, spec.tick_size):.10g})",
            )
    return None


def check_market_hours(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """The way out is never blocked by the clock: reduce-only orders wait at the broker for the open.
    A symbol on its own calendar (a 24/7 coin, a 24/5 pair, a Tokyo index) is open when that
    calendar has a session now, not New York's."""
    if not limits.market_hours_only or order.reduce_only:
        return None
    own = book.own_sessions.get(order.symbol)
    if own is not None:
        code, in_session = own
        if in_session:
            return None
        return Refusal(
            RefusalCode.MARKET_CLOSED,
            f"{order.symbol} trades on the {code} calendar, which has no session now; orders are refused",
        )
    if not book.market_open:
        return Refusal(
            RefusalCode.MARKET_CLOSED, "the exchange is closed (XNYS regular session); orders are refused"
        )
    return None


def check_throttle(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """New-order message throttles. The kill switch's own orders are never throttled."""
    if order.reduce_only:
        return None
    if book.orders_last_second >= limits.max_orders_per_second:
        return Refusal(
            RefusalCode.THROTTLE,
            f"more than {limits.max_orders_per_second} orders in one second; wait a moment",
        )
    if book.orders_today >= limits.max_orders_per_day:
        return Refusal(
            RefusalCode.THROTTLE, f"the daily limit of {limits.max_orders_per_day} orders is reached"
        )
    return None


def check_duplicate(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if order.override_duplicate or order.reduce_only or book.now is None or limits.duplicate_window_s <= 0:
        return None
    for seen in book.recent:
        age = (book.now - seen.ts).total_seconds()
        if (
            0 <= age <= limits.duplicate_window_s
            and seen.symbol == order.symbol
            and seen.side is order.side
            and abs(seen.quantity - order.quantity) <= EPS
        ):
            return Refusal(
                RefusalCode.DUPLICATE,
                f"{order.side} {_qty(order.quantity)} {order.symbol} was sent {age:.0f} s ago; "
                "confirm to send it again",
            )
    return None


def check_order_size(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """A fat finger's guard on new orders. A protective order (``protects``) is sized to a position
    that passed these limits when it was entered; its target rests above that entry's price, so
    its value may exceed the limit the entry met, and refusing it would leave the position without
    its target (found on the IBKR path: 135 AMZN entered at $23,800, a 1R target worth $25,470).
    A currency pair's quantity is units of its base currency (100,000 in a standard lot), so the
    share-count limit means nothing for it: its guard is the order's value (in the account
    currency) alone."""
    if order.protects is not None:
        return None
    spec = book.specs.get(order.symbol)
    in_units = spec is not None and spec.asset_class is AssetClass.FX  # base-currency units, not shares
    if not in_units and order.quantity > limits.max_order_quantity + EPS:
        return Refusal(
            RefusalCode.MAX_ORDER_QTY,
            f"quantity {_qty(order.quantity)} exceeds the limit {_qty(limits.max_order_quantity)}",
        )
    value = _notional(order, book)
    if value > limits.max_order_value + EPS:
        return Refusal(
            RefusalCode.MAX_ORDER_VALUE,
            f"order value ${value:,.0f} exceeds the limit ${limits.max_order_value:,.0f}",
        )
    return None


def check_price_band(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """A fat finger's guard for prices meant to trade now. A protective order (``protects``) rests
    away from the market by design (a stop 2 ATR below, a target 2R above); where an operator
    moves one, the protection manager checks that it stays on its side of the market."""
    if order.protects is not None:
        return None
    reference = book.prices.get(order.symbol, 0.0)
    floor = OPTION_BAND_FLOOR if is_option_symbol(order.symbol) else 0.0
    for label, price in (("limit", order.limit_price), ("stop", order.stop_price)):
        if price is None or reference <= 0:
            continue
        distance = abs(price / reference - 1.0)
        if distance > limits.price_band_pct + EPS and abs(price - reference) > floor + EPS:
            return Refusal(
                RefusalCode.PRICE_BAND,
                f"{label} price {price:,.2f} is {distance:.1%} from the reference {reference:,.2f}; "
                f"band {limits.price_band_pct:.1%}",
            )
    return None


def check_cash(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """Cash account: a buy is paid from settled cash not already promised to working buys."""
    if order.side is Side.BUY:
        if not increases_exposure(order, book):
            return None  # buying back a short releases margin, it does not spend cash
        need = _notional(order, book)
        available = book.cash - book.working_buy_value
        if need > available + 1e-6:
            return Refusal(
                RefusalCode.INSUFFICIENT_CASH,
                f"needs ${need:,.2f}, settled cash available ${max(available, 0.0):,.2f} (no leverage)",
            )
        return None
    held = _held(book, order.symbol)
    if is_option_symbol(order.symbol):
        return _check_option_sale(order, book, held)
    if not limits.allow_short and order.quantity > held + EPS:
        return Refusal(
            RefusalCode.NO_SHORTING,
            f"sell {_qty(order.quantity)} {order.symbol} exceeds the holding {_qty(max(held, 0.0))} "
            "(working sells included)",
        )
    return _check_cover_kept(order, book, held)


def _held(book: BookView, symbol: str) -> float:
    """The position less what working sells may take from it."""
    return book.positions.get(symbol, 0.0) + min(book.working.get(symbol, 0.0), 0.0)


def _short_call_cover(book: BookView, underlying: str, order: OrderRequest | None = None) -> float:
    """Shares of ``underlying`` that its short calls need (working sells, and ``order``, included)."""
    need = 0.0
    for symbol in {*book.positions, *book.working, *([order.symbol] if order else [])}:
        if not is_option_symbol(symbol):
            continue
        contract = OptionContract.parse(symbol)
        if contract.right != "C" or contract.underlying != underlying:
            continue
        after = _held(book, symbol)
        if order is not None and symbol == order.symbol and order.side is Side.SELL:
            after -= order.quantity
        need += max(-after, 0.0) * contract.multiplier
    return need


def _check_option_sale(order: OrderRequest, book: BookView, held: float) -> Refusal | None:
    """Selling what is held is always allowed; writing an option only as a covered call."""
    if order.quantity <= held + EPS:
        return None
    contract = OptionContract.parse(order.symbol)
    short = order.quantity - max(held, 0.0)
    if contract.right == "P":
        return Refusal(
            RefusalCode.NAKED_OPTION,
            f"sell {_qty(order.quantity)} {order.symbol} would write {_qty(short)} puts: only covered "
            "calls may be sold short",
        )
    shares = _held(book, contract.underlying)
    need = _short_call_cover(book, contract.underlying, order)
    if need > shares + EPS:
        return Refusal(
            RefusalCode.NAKED_OPTION,
            f"sell {_qty(order.quantity)} {order.symbol} would leave calls uncovered: they need "
            f"{_qty(need)} {contract.underlying} shares, {_qty(max(shares, 0.0))} are held "
            "(working sells included)",
        )
    return None


def _check_cover_kept(order: OrderRequest, book: BookView, held: float) -> Refusal | None:
    """A sale of shares must leave every short call on them covered."""
    need = _short_call_cover(book, order.symbol)
    if need > EPS and held - order.quantity < need - EPS:
        return Refusal(
            RefusalCode.NAKED_OPTION,
            f"sell {_qty(order.quantity)} {order.symbol} would uncover short calls: they need "
            f"{_qty(need)} shares, {_qty(max(held, 0.0))} are held (working sells included)",
        )
    return None


def _after(order: OrderRequest, book: BookView, symbol: str) -> float:
    """The symbol's signed position if every working order and this one filled."""
    after = book.positions.get(symbol, 0.0) + book.working.get(symbol, 0.0)
    if symbol == order.symbol:
        after += order.side.sign * order.quantity
    return after


def check_position_limit(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if not increases_exposure(order, book) or book.equity <= 0:
        return None
    share = _value(book, order.symbol, _after(order, book, order.symbol), _price(order, book)) / book.equity
    if share > limits.max_position_pct + EPS:
        return Refusal(
            RefusalCode.MAX_POSITION,
            f"{order.symbol} would be {share:.1%} of equity (working orders included); "
            f"limit {limits.max_position_pct:.0%}",
        )
    return None


def check_risk_per_trade(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    stop = order.protective_stop
    if stop is None or not increases_exposure(order, book) or book.equity <= 0:
        return None
    loss = _value(
        book, order.symbol, order.quantity, max(order.side.sign * (_price(order, book) - stop), 0.0)
    )
    share = loss / book.equity
    if share > limits.risk_per_trade_pct + EPS:
        return Refusal(
            RefusalCode.RISK_PER_TRADE,
            f"loss at the stop {stop:,.2f} would be ${loss:,.0f} ({share:.2%} of equity); "
            f"limit {limits.risk_per_trade_pct:.1%}",
        )
    return None


def check_sector(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if not increases_exposure(order, book) or book.equity <= 0:
        return None
    sector = _sector(book, order.symbol)
    exposure = 0.0
    for symbol in {*book.positions, *book.working, order.symbol}:
        if _sector(book, symbol) == sector:
            price = _price(order, book) if symbol == order.symbol else book.prices.get(symbol, 0.0)
            exposure += _value(book, symbol, _after(order, book, symbol), price)
    share = exposure / book.equity
    if share > limits.max_sector_pct + EPS:
        return Refusal(
            RefusalCode.MAX_SECTOR,
            f"{sector} would be {share:.1%} of equity (working orders included); "
            f"limit {limits.max_sector_pct:.0%}",
        )
    return None


def _sector(book: BookView, symbol: str) -> str:
    """The symbol's sector; an option's is its underlying's; a symbol with none is its own."""
    if symbol in book.sectors:
        return book.sectors[symbol]
    underlying = _underlying(symbol)
    if underlying is None:
        return symbol
    return book.sectors.get(underlying, underlying)


def check_gross_exposure(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if not increases_exposure(order, book) or book.equity <= 0:
        return None
    working_value = sum(
        _value(book, sym, qty, book.prices.get(sym, 0.0))
        for sym, qty in book.working.items()
        if sym != order.symbol
    )
    after = book.gross_exposure + working_value
    after += _value(book, order.symbol, _after(order, book, order.symbol), _price(order, book))
    after -= _value(
        book, order.symbol, book.positions.get(order.symbol, 0.0), book.prices.get(order.symbol, 0.0)
    )
    if after / book.equity > limits.gross_exposure_limit + EPS:
        return Refusal(
            RefusalCode.GROSS_EXPOSURE,
            f"gross exposure would be {after / book.equity:.0%} of equity (working orders included); "
            f"limit {limits.gross_exposure_limit:.0%}",
        )
    return None


def with_working(book: BookView, order: OrderRequest) -> BookView:
    """The book as the next order sees it once ``order`` is working (a card's later legs)."""
    working = dict(book.working)
    working[order.symbol] = working.get(order.symbol, 0.0) + order.side.sign * order.quantity
    extra = _notional(order, book) if order.side is Side.BUY else 0.0
    return replace(book, working=working, working_buy_value=book.working_buy_value + extra)


CHECKS: tuple[Check, ...] = (
    check_trading_state,
    check_strategy,
    check_symbol,
    check_quote_quality,
    check_conversion,
    check_lots,
    check_market_hours,
    check_throttle,
    check_duplicate,
    check_order_size,
    check_price_band,
    check_cash,
    check_position_limit,
    check_risk_per_trade,
    check_sector,
    check_gross_exposure,
)
"""In order of severity: the first refusal is the one reported."""


def pre_trade(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """The first refusal of the checks, or None when the order may go to the order manager."""
    for check in CHECKS:
        refusal = check(order, book, limits)
        if refusal is not None:
            return refusal
    return None
