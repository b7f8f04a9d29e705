"""Why the paper broker refuses an order: the checks a cash account makes before it accepts one.

Quantity, order type and prices; market data to trade against; settled cash for a buy (less
what working buys reserved); for a sale, the position (unless short selling is allowed), and
for options the covered-call rule: the only short option allowed is a covered call (the shares
held, less working sells, must cover every short call on them x the multiplier); a short put
or an uncovered call is refused whatever ``allow_short`` says, and so is a sale of shares that
a short call needs. Every check returns the reason in words, or "" when the order may work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace

from engine.brokers.base import BrokerPosition
from engine.brokers.paper.account import EPS
from engine.brokers.paper.commission import Fees
from engine.brokers.paper.matching import is_limited, is_stop, positive, shares
from engine.brokers.paper.options import OptionMarket
from engine.brokers.paper.state import OrderRecord, PaperState
from engine.clock import Clock
from engine.model import OptionContract, Order, OrderType, Quote, Side


def trail_terms(amount: float | None, percent: float | None) -> str:
    """Why a TRAIL order's distance is wrong ("" when exactly one of the two is set and sound)."""
    if (amount is None) == (percent is None):
        return f"TRAIL order needs exactly one of trail_amount and trail_percent, got {amount} and {percent}"
    if amount is not None and not positive(amount):
        return f"TRAIL order's trail_amount must be positive, got {amount}"
    if percent is not None and not (positive(percent) and percent < 100.0):
        return f"TRAIL order's trail_percent must be above 0 and below 100, got {percent}"
    return ""


class Checks:
    def __init__(
        self,
        state: PaperState,
        quotes: Mapping[str, Quote],
        options: OptionMarket,
        clock: Clock,
        *,
        fees: Fees,
        reference_price: Callable[[Order], float],
        allow_short: bool,
        allow_fractional: bool,
    ) -> None:
        self._state = state
        self._quotes = quotes
        self._options = options
        self._clock = clock
        self._fees = fees
        self._reference_price = reference_price
        self.allow_short = allow_short
        self.allow_fractional = allow_fractional

    def validate(self, order: Order) -> str:
        """The reason an order is refused, or "" when it may work."""
        reason = self.shape(order)
        if reason:
            return reason
        if order.side is Side.BUY:
            return self._cash(order)
        return self._position(order)

    def shape(self, order: Order) -> str:
        """The order's own terms and market ("" when sound): all a held bracket child is checked
        for when placed (it protects a position its entry has not bought yet)."""
        qty = order.quantity
        if not (math.isfinite(qty) and qty > 0):
            return f"quantity must be positive, got {shares(qty)}"
        contract = self._options.contract(order.symbol)
        if contract is not None and qty != math.floor(qty):
            return f"options trade in whole contracts: quantity {shares(qty)} is not whole"
        if not self.allow_fractional and qty != math.floor(qty):
            return f"fractional shares are disabled: quantity {shares(qty)} is not a whole number of shares"
        if is_limited(order) and not positive(order.limit_price):
            return f"{order.order_type.value} order needs a positive limit price, got {order.limit_price}"
        if order.order_type is OrderType.TRAIL:
            reason = trail_terms(order.trail_amount, order.trail_percent)
            if reason:
                return reason
            if order.stop_price is not None and not positive(order.stop_price):
                return f"TRAIL order's initial stop must be positive when given, got {order.stop_price}"
        elif is_stop(order) and not positive(order.stop_price):
            return f"{order.order_type.value} order needs a positive stop price, got {order.stop_price}"
        if contract is not None:
            reason = self._option_market(order, contract)
            if reason:
                return reason
        elif order.symbol not in self._quotes:
            return f"no market data for {order.symbol}"
        return ""

    def _option_market(self, order: Order, contract: OptionContract) -> str:
        """Why the option cannot be traded now ("" when it can): expired, or nothing to price it with."""
        now = self._clock.now()
        underlying = self._quotes.get(contract.underlying)
        if now >= contract.expires_at or (underlying is not None and underlying.ts >= contract.expires_at):
            return f"{order.symbol} expired on {contract.expiry.isoformat()}"
        if not self._options.has_volatility(contract.underlying):
            return (
                f"no option quote model for {order.symbol}: no volatility for {contract.underlying} yet "
                "(the engine supplies it daily)"
            )
        if underlying is None:
            return f"no market data for {contract.underlying}, the underlying of {order.symbol}"
        return ""

    def _cash(self, order: Order) -> str:
        price = self._reference_price(order)
        cost = self._fees.cost(order.symbol, order.quantity, price, first=True)
        need = self._state.in_account(order.symbol, cost)
        available = self._state.account.settled - self._state.reserved()
        if math.isinf(need):
            currency = self._state.currencies.of(order.symbol)
            return f"no quote converts {currency} into {self._state.currencies.account}: cannot pay for it"
        if need > available + EPS:
            return f"insufficient settled cash: need ${need:,.2f}, available ${max(available, 0.0):,.2f}"
        return ""

    def _position(self, order: Order) -> str:
        if self.allow_short or self._options.contract(order.symbol) is not None:
            return self.cover(order)
        position = self._state.account.quantity(order.symbol)
        held = self._state.selling(order.symbol, oca=order.oca_group)
        if order.quantity > position - held + EPS:
            held_text = f" ({shares(held)} held by working sells)" if held > EPS else ""
            sell = shares(order.quantity)
            return f"short selling disabled: position {shares(position)}{held_text}, sell {sell}"
        return self.cover(order)

    def cover(self, order: Order, exclude: OrderRecord | None = None) -> str:
        """A sell may write options only as covered calls, and may not uncover the calls written.

        For an option: selling what is held (less working sells) is closing and always fine;
        beyond that a put is refused, and a call only when the underlying's shares, less their
        working sells, cover every short call on it after this order (x the multiplier).
        For shares: the sale must leave those calls covered.
        """
        state = self._state
        contract = self._options.contract(order.symbol)
        if contract is None:
            need = self._call_cover(order.symbol, exclude=exclude)
            if need <= EPS:
                return ""
            free = state.available(order.symbol, exclude)
            if free - order.quantity < need - EPS:
                return (
                    f"the sale would uncover written calls: they need {shares(need)} {order.symbol} "
                    f"shares, {shares(max(free, 0.0))} are free to sell them from"
                )
            return ""
        held = state.available(order.symbol, exclude)
        if order.quantity <= held + EPS:
            return ""
        writes = order.quantity - max(held, 0.0)
        if contract.right == "P":
            return (
                f"naked option selling is not allowed: selling {shares(order.quantity)} {order.symbol} "
                f"would write {shares(writes)} puts; only covered calls may be written"
            )
        need = self._call_cover(contract.underlying, extra=(order.symbol, order.quantity), exclude=exclude)
        free = state.available(contract.underlying, exclude)
        if need > free + EPS:
            return (
                f"naked option selling is not allowed: selling {shares(order.quantity)} {order.symbol} "
                f"would leave calls uncovered: they need {shares(need)} {contract.underlying} shares "
                f"({contract.multiplier:g} per contract), {shares(max(free, 0.0))} are held "
                "(working sells deducted)"
            )
        return ""

    def _call_cover(
        self, underlying: str, *, extra: tuple[str, float] | None = None, exclude: OrderRecord | None = None
    ) -> float:
        """Shares of ``underlying`` its written calls need: every short call (working sells and
        ``extra`` = (symbol, quantity sold) included) x its multiplier."""
        state = self._state
        symbols = {*state.account.holdings, *(r.order.symbol for r in state.working.values())}
        if extra is not None:
            symbols.add(extra[0])
        need = 0.0
        for symbol in symbols:
            contract = self._options.contract(symbol)
            if contract is None or contract.right != "C" or contract.underlying != underlying:
                continue
            after = state.available(symbol, exclude)
            if extra is not None and symbol == extra[0]:
                after -= extra[1]
            need += max(-after, 0.0) * contract.multiplier
        return need

    def modify(self, record: OrderRecord, quantity: float, limit_price: float | None) -> str:
        """Why a working order cannot be changed to ``quantity`` and ``limit_price`` ("" when it can)."""
        order = record.order
        if not (math.isfinite(quantity) and quantity > order.filled_quantity + EPS):
            return (
                f"the new quantity {shares(quantity)} must be above what already filled "
                f"({shares(order.filled_quantity)})"
            )
        if self._options.contract(order.symbol) is not None and quantity != math.floor(quantity):
            return f"options trade in whole contracts: {shares(quantity)} is not whole"
        if not self.allow_fractional and quantity != math.floor(quantity):
            return f"fractional shares are disabled: {shares(quantity)} is not whole"
        limited = is_limited(order)
        if limit_price is not None and not limited:
            return f"a {order.order_type.value} order has no limit price to change"
        if limited and not positive(limit_price):
            return f"a {order.order_type.value} order needs a positive limit price"
        if order.side is Side.BUY:
            price = self._reference_price(replace(order, quantity=quantity, limit_price=limit_price))
            remaining = quantity - order.filled_quantity
            cost = self._fees.cost(order.symbol, remaining, price, first=not record.min_charged)
            need = self._state.in_account(order.symbol, cost)
            available = self._state.account.settled - self._state.reserved(exclude=record)
            if need > available + EPS:
                return (
                    f"insufficient settled cash for the change: need ${need:,.2f}, "
                    f"available ${max(available, 0.0):,.2f}"
                )
        elif quantity > order.quantity + EPS:
            # More to sell may write calls (or leave the ones written uncovered): check it as new.
            return self.cover(replace(order, quantity=quantity - order.filled_quantity), exclude=record)
        return ""

    def terms(
        self,
        record: OrderRecord,
        stop_price: float | None,
        trail_amount: float | None,
        trail_percent: float | None,
    ) -> str:
        """Why a working order's stop or trailing distance cannot change so ("" when it can)."""
        order = record.order
        trailing = order.order_type is OrderType.TRAIL
        if stop_price is not None:
            if not is_stop(order):
                return f"a {order.order_type.value} order has no stop price to change"
            if record.triggered:
                return (
                    f"{order.client_order_id}'s stop already triggered: it works as a market or limit order"
                )
            if not positive(stop_price):
                return f"the new stop price must be positive, got {stop_price}"
        if trail_amount is not None or trail_percent is not None:
            if not trailing:
                return f"a {order.order_type.value} order has no trailing distance to change"
            if trail_amount is not None and trail_percent is not None:
                return "give one of trail_amount and trail_percent, not both"
            return trail_terms(trail_amount, trail_percent)
        return ""

    def book_to_adopt(self, cash: float, settled: float, positions: list[BrokerPosition]) -> str:
        """Why the account cannot take this book now ("" when it can): orders working, or bad numbers."""
        if self._state.working:
            return f"cannot restore the paper ledger while {len(self._state.working)} orders are working"
        if not (math.isfinite(cash) and math.isfinite(settled)):
            return f"cannot restore the paper ledger: cash {cash!r}, settled cash {settled!r}"
        for pos in positions:
            if not (math.isfinite(pos.quantity) and math.isfinite(pos.avg_cost)):
                return (
                    f"cannot restore the paper ledger: position {pos.symbol} "
                    f"quantity {pos.quantity!r} avg cost {pos.avg_cost!r}"
                )
        return ""
