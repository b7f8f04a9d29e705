"""Pre-trade checks: small pure functions over (order, book, limits).

Each returns ``None`` to accept or a ``Refusal`` with a reason code. Limits count working
orders, not only fills, so two orders each under a limit cannot together breach it.
A breach refuses the order; it is never silently shrunk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.model import OrderRequest, OrderType, Side, TradingState


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Limits:
    max_order_value: float
    max_order_quantity: float
    max_position_pct: float
    gross_exposure_limit: float
    allow_short: bool = False


@dataclass(frozen=True, slots=True)
class BookView:
    """What the checks may look at: a read-only picture of the book at the moment of the order."""

    trading_state: TradingState
    halted_reason: str
    equity: float
    cash: float
    positions: Mapping[str, float]
    prices: Mapping[str, float]
    working: Mapping[str, float]
    """symbol -> signed quantity still working at the broker (or in flight)."""
    working_buy_value: float
    gross_exposure: float
    tradable: frozenset[str]


Check = Callable[[OrderRequest, BookView, Limits], Refusal | None]


def _price(order: OrderRequest, book: BookView) -> float:
    if order.order_type in (OrderType.LMT, OrderType.STP_LMT) and order.limit_price:
        return order.limit_price
    if order.order_type is OrderType.STP and order.stop_price:
        return order.stop_price
    return book.prices.get(order.symbol, 0.0)


def check_trading_state(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if book.trading_state is TradingState.HALTED:
        return Refusal("HALTED", f"trading halted ({book.halted_reason}); type RESUME to lift it")
    if book.trading_state is TradingState.REDUCING and _increases(order, book):
        return Refusal("REDUCING", "trading is reduce-only; this order would add exposure")
    return None


def check_symbol(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if order.symbol not in book.tradable:
        return Refusal("SYMBOL_NOT_ALLOWED", f"{order.symbol} is not in the tradable universe")
    if order.quantity <= 0:
        return Refusal("BAD_QUANTITY", f"quantity must be positive, got {order.quantity:g}")
    if book.prices.get(order.symbol, 0.0) <= 0:
        return Refusal("NO_PRICE", f"no market price for {order.symbol} yet")
    return None


def check_order_size(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if order.quantity > limits.max_order_quantity:
        return Refusal(
            "MAX_ORDER_QTY", f"quantity {order.quantity:g} exceeds the limit {limits.max_order_quantity:g}"
        )
    value = order.quantity * _price(order, book)
    if value > limits.max_order_value:
        return Refusal(
            "MAX_ORDER_VALUE", f"order value ${value:,.0f} exceeds the limit ${limits.max_order_value:,.0f}"
        )
    return None


def check_position_limit(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if not _increases(order, book) or book.equity <= 0:
        return None
    price = _price(order, book)
    after = book.positions.get(order.symbol, 0.0) + book.working.get(order.symbol, 0.0)
    after += order.side.sign * order.quantity
    share = abs(after) * price / book.equity
    if share > limits.max_position_pct + 1e-9:
        return Refusal(
            "MAX_POSITION",
            f"{order.symbol} would be {share:.1%} of equity (working orders included); "
            f"limit {limits.max_position_pct:.0%}",
        )
    return None


def check_cash(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """Cash account: a buy must be paid from cash not already promised to working buys."""
    if order.side is Side.BUY:
        need = order.quantity * _price(order, book)
        available = book.cash - book.working_buy_value
        if need > available + 1e-6:
            return Refusal(
                "INSUFFICIENT_CASH",
                f"needs ${need:,.2f}, cash available ${max(available, 0.0):,.2f} (no leverage)",
            )
        return None
    held = book.positions.get(order.symbol, 0.0) + min(book.working.get(order.symbol, 0.0), 0.0)
    if not limits.allow_short and order.quantity > held + 1e-9:
        return Refusal("NO_SHORTING", f"sell {order.quantity:g} {order.symbol} exceeds holding {held:g}")
    return None


def check_gross_exposure(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    if not _increases(order, book) or book.equity <= 0:
        return None
    after = book.gross_exposure + order.quantity * _price(order, book)
    if after / book.equity > limits.gross_exposure_limit + 1e-9:
        return Refusal(
            "GROSS_EXPOSURE",
            f"gross exposure would be {after / book.equity:.0%} of equity; "
            f"limit {limits.gross_exposure_limit:.0%}",
        )
    return None


def _increases(order: OrderRequest, book: BookView) -> bool:
    held = book.positions.get(order.symbol, 0.0)
    return not (held != 0 and (held > 0) != (order.side is Side.BUY) and order.quantity <= abs(held))


CHECKS: tuple[Check, ...] = (
    check_trading_state,
    check_symbol,
    check_order_size,
    check_cash,
    check_position_limit,
    check_gross_exposure,
)


def pre_trade(order: OrderRequest, book: BookView, limits: Limits) -> Refusal | None:
    """The first refusal of the checks, in order of severity, or None."""
    for check in CHECKS:
        refusal = check(order, book, limits)
        if refusal is not None:
            return refusal
    return None
