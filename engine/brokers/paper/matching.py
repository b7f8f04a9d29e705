"""The paper fill model: at what price a quote fills an order, and how much of it.

Shares: a market buy pays the ask plus ``slippage`` (a fraction), a sell gets the bid less it,
rounded to a hundredth of a cent; a limit fills only when the touch reaches it and never
beyond it. Each quote fills at most ``max_participation`` of the size that traded (the quote's
``last_size``; whole shares unless fractional shares are allowed). A stop triggers when the
last trade reaches it, and then fills against that same quote: a session that opens beyond the
stop (a gap) fills it at the open's price, not at the stop (a stop-limit gapped through its
limit rests as a limit). Options fill at the model ask (buy) or bid (sell), always in full (no
option volume is modelled), a sell with a zero bid waits; the spread is the cost, no slippage.
Pure functions: the broker decides what to do with the answers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from engine.brokers.paper.account import EPS
from engine.brokers.paper.commission import Fees
from engine.brokers.paper.options import PRICE_DECIMALS, OptionMarket
from engine.model import Order, OrderType, Quote, Side, TimeInForce

if TYPE_CHECKING:
    from engine.brokers.paper.state import OrderRecord, PaperState


def is_stop(order: Order) -> bool:
    """Waits for its stop to trigger first (a TRAIL order is a stop whose level moves)."""
    return order.order_type in (OrderType.STP, OrderType.STP_LMT, OrderType.TRAIL)


def out_of_reach(record: OrderRecord, quote: Quote) -> bool:
    """A resting share limit (DAY or GTC, no stop) this quote's touch does not reach: ``decide``
    would answer nothing and nothing else happens to it, so matching skips it in one test (a
    symbol with many working limits costs a comparison per order per quote, not a decision)."""
    order = record.order
    limit = order.limit_price
    if order.order_type is not OrderType.LMT or limit is None or not record.triggered:
        return False
    if order.tif is TimeInForce.IOC:
        return False  # cancelled after its first quote, reached or not
    return quote.ask > limit if order.side is Side.BUY else quote.bid < limit


def reach(records: Iterable[OrderRecord]) -> tuple[float, float] | None:
    """(the highest buy limit, the lowest sell limit) of ``records`` when every one is a resting
    share limit that ``out_of_reach`` could skip (held or not), else None."""
    buy, sell = -math.inf, math.inf
    for record in records:
        order = record.order
        limit = order.limit_price
        if (
            order.order_type is not OrderType.LMT
            or limit is None
            or not record.triggered
            or order.tif is TimeInForce.IOC
        ):
            return None
        if order.side is Side.BUY:
            buy = max(buy, limit)
        else:
            sell = min(sell, limit)
    return buy, sell


def is_limited(order: Order) -> bool:
    return order.order_type in (OrderType.LMT, OrderType.STP_LMT)


def stop_hit(order: Order, quote: Quote) -> bool:
    """A buy stop triggers at or above its stop, a sell stop at or below it (on the last trade)."""
    stop = order.stop_price or 0.0
    return quote.last >= stop if order.side is Side.BUY else quote.last <= stop


def share_fill_price(order: Order, quote: Quote, slippage: float) -> float | None:
    """The price this quote fills a share order at, or None when the limit is not reached."""
    limited = is_limited(order)
    limit = order.limit_price or 0.0
    if order.side is Side.BUY:
        if limited and quote.ask > limit:
            return None
        price = round(quote.ask * (1.0 + slippage), PRICE_DECIMALS)
        return min(price, limit) if limited else price
    if limited and quote.bid < limit:
        return None
    price = round(quote.bid * (1.0 - slippage), PRICE_DECIMALS)
    return max(price, limit) if limited else price


def option_fill_price(order: Order, quote: Quote) -> float | None:
    """The model ask for a buy, the model bid for a sell (none when the bid is zero), or the limit's
    side of it; None when the limit is not reached."""
    limited = is_limited(order)
    limit = order.limit_price or 0.0
    if order.side is Side.BUY:
        if limited and quote.ask > limit + EPS:
            return None
        return quote.ask
    if quote.bid <= 0.0 or (limited and quote.bid < limit - EPS):
        return None
    return quote.bid


def participation(quote: Quote, max_participation: float, *, fractional: bool) -> float:
    """The most of a share order this quote may fill: a share of the size that traded."""
    size = quote.last_size if math.isfinite(quote.last_size) else 0.0
    cap = max(max_participation * size, 0.0)
    return cap if fractional else math.floor(cap)


def reference_price(order: Order, market: Quote | None, slippage: float) -> float:
    """The per-unit price a buy's cash is checked and reserved at.

    A limit caps the price, so the limit is exact. A market order would pay the current ask
    plus slippage (options: the model ask, ``slippage`` 0); a buy stop fires at or above its
    stop, so the higher of the two is used. Sells reserve no cash, but the value is kept for
    symmetry of the record.
    """
    if is_limited(order) and order.limit_price is not None:
        return order.limit_price
    ask = market.ask if market is not None else 0.0
    stops = (OrderType.STP, OrderType.TRAIL)
    if order.order_type in stops and order.stop_price is not None and order.side is Side.BUY:
        ask = max(ask, order.stop_price)
    return ask * (1.0 + slippage)


@dataclass(frozen=True, slots=True)
class Match:
    """What a quote does to one working order, in the order the broker must record it."""

    trigger: bool
    """The stop triggered now (journaled first, whether or not anything fills)."""
    quantity: float = 0.0
    """How much fills now (0: nothing)."""
    price: float = 0.0
    unpaid_budget: float | None = None
    """Not None: a buy met a price settled cash cannot pay; the rest is cancelled after the fill."""


class Matcher:
    """Decides fills from quotes for the broker: prices, participation, what settled cash can pay."""

    def __init__(
        self,
        state: PaperState,
        quotes: Mapping[str, Quote],
        options: OptionMarket,
        fees: Fees,
        *,
        slippage: float,
        max_participation: float,
        allow_fractional: bool,
    ) -> None:
        self._state = state
        self._quotes = quotes
        self._options = options
        self._fees = fees
        self.slippage = slippage
        self.max_participation = max_participation
        self.allow_fractional = allow_fractional

    def market(self, symbol: str) -> Quote | None:
        """The quote an order on ``symbol`` trades against now: the last one, or the option model's."""
        if self._options.contract(symbol) is None:
            return self._quotes.get(symbol)
        return self._options.quote(symbol, self._quotes)

    def reference_price(self, order: Order) -> float:
        """The per-unit price a buy's cash is checked and reserved at (see ``reference_price``)."""
        option = self._options.contract(order.symbol) is not None
        return reference_price(order, self.market(order.symbol), 0.0 if option else self.slippage)

    def decide(self, record: OrderRecord, quote: Quote) -> Match | None:
        """What ``quote`` does to the working order of ``record``; None: nothing at all."""
        order = record.order
        trigger = not record.triggered
        if trigger and not stop_hit(order, quote):
            return None
        option = self._options.contract(order.symbol) is not None
        price = option_fill_price(order, quote) if option else share_fill_price(order, quote, self.slippage)
        if price is None:
            return Match(trigger) if trigger else None
        fractional = self.allow_fractional
        qty = (
            order.remaining
            if option
            else min(order.remaining, participation(quote, self.max_participation, fractional=fractional))
        )
        if qty <= EPS:
            return Match(trigger) if trigger else None
        if order.side is Side.BUY:
            budget = self._state.budget_in(
                order.symbol, self._state.account.settled - self._state.reserved(exclude=record)
            )
            first = not record.min_charged
            if self._fees.cost(order.symbol, qty, price, first=first) > budget + EPS:
                payable = self._fees.affordable(
                    order.symbol, budget, price, first=first, fractional=fractional
                )
                payable = min(payable, qty)
                if payable < qty - EPS:
                    return Match(trigger, payable if payable > EPS else 0.0, price, unpaid_budget=budget)
        return Match(trigger, qty, price)


def unpaid_reason(order: Order, price: float, budget: float) -> str:
    """Why the rest of a buy was cancelled: a market or stop buy reserved cash at the price when it
    was placed and met a higher one; a cash account cannot go negative, so it traded what it
    could pay for and dropped the remainder rather than wait on prices that may never come back."""
    return (
        f"insufficient settled cash: {shares(order.remaining)} {order.symbol} at ${price:,.4f} "
        f"cannot be paid from ${max(budget, 0.0):,.2f}; the remainder was cancelled"
    )


def expiring(records: Iterable[OrderRecord], options: OptionMarket, day: date) -> list[tuple[str, str]]:
    """(client order id, reason) of every working order the close of ``day`` expires: all but GTC,
    and every order on an option expiring by then."""
    out: list[tuple[str, str]] = []
    for record in records:
        order = record.order
        if options.expires_by(order.symbol, day):
            out.append((order.client_order_id, f"{order.symbol} expired at the close of {day.isoformat()}"))
        elif order.tif is not TimeInForce.GTC:
            reason = f"{order.tif.value} order expired at the close of {day.isoformat()}"
            out.append((order.client_order_id, reason))
    return out


def shares(qty: float) -> str:
    """A share count as a trader writes it: 100, 2.5, 1234567 (never 1.23457e+06)."""
    text = f"{qty:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0
