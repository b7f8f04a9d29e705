"""The one place IB types meet the domain model: everything that crosses is converted here.

ib_insync's objects (Contract, Order, Trade, Fill, Ticker, BarData, AccountValue) never leave the
``engine.brokers.ibkr`` package; the rest of the engine sees ``engine.model`` values only.
Conventions: onetap's client order id travels as IB's ``orderRef``; IB's order id is the
broker order id (as text); a fill's exec id is IB's ``execId``, so deduplication works across
reconnects; options are named by their OCC symbol on our side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

import pandas as pd
from ib_insync import BarData, Contract, Option, Stock, Ticker, Trade
from ib_insync import Fill as IbFill
from ib_insync import Order as IbOrder

from engine.brokers.ibkr import contracts
from engine.model import Fill, Order, OrderStatus, OrderType, Quote, Side, TimeInForce
from engine.model.options import OptionContract, is_option_symbol

UNSET_DOUBLE = 1.7976931348623157e308

_IB_STATUS: dict[str, OrderStatus] = {
    "PendingSubmit": OrderStatus.SENT,
    "ApiPending": OrderStatus.SENT,
    "PreSubmitted": OrderStatus.ACKNOWLEDGED,
    "Submitted": OrderStatus.ACKNOWLEDGED,
    "ApiCancelled": OrderStatus.CANCELLED,
    "Cancelled": OrderStatus.CANCELLED,
    "PendingCancel": OrderStatus.PENDING_CANCEL,
    "Filled": OrderStatus.FILLED,
    "Inactive": OrderStatus.REJECTED,
}


def contract_for(symbol: str) -> Contract:
    """The IB contract for one of our symbols: a stock/ETF routed SMART, an OCC-named option, a
    forex pair on IDEALPRO or a future (``contracts``)."""
    other = contracts.contract_of(symbol)
    if other is not None:
        return other
    if is_option_symbol(symbol):
        option = OptionContract.parse(symbol)
        return Option(
            option.underlying,
            f"{option.expiry:%Y%m%d}",
            option.strike,
            option.right,
            "SMART",
            multiplier=f"{option.multiplier:g}",
            currency="USD",
        )
    return Stock(symbol, "SMART", "USD")


def symbol_of(contract: Contract) -> str:
    """Our symbol for an IB contract (the OCC symbol for an option, ``EURUSD`` for a pair)."""
    other = contracts.symbol_of(contract)
    if other is not None:
        return other
    if contract.secType in ("OPT", "FOP"):
        expiry = _yyyymmdd(contract.lastTradeDateOrContractMonth)
        right: Literal["C", "P"] = "C" if contract.right.upper().startswith("C") else "P"
        mult = float(contract.multiplier) if contract.multiplier else 100.0
        return OptionContract(contract.symbol, expiry, float(contract.strike), right, mult).symbol
    return str(contract.symbol)


def _yyyymmdd(text: str) -> date:
    """IB's ``YYYYMMDD`` date (anything after the eighth character, such as a time, is ignored)."""
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise ValueError(f"IBKR sent {text!r} where a YYYYMMDD date belongs") from None


def ib_order(order: Order, *, account: str = "") -> IbOrder:
    """An IB order for ours; ``orderRef`` carries our client order id so reconciliation can match."""
    action = "BUY" if order.side is Side.BUY else "SELL"
    ib = IbOrder(
        action=action,
        totalQuantity=float(order.quantity),
        orderType=order.order_type.value,
        tif=order.tif.value,
        orderRef=order.client_order_id,
        account=account,
        transmit=True,
    )
    if order.order_type in (OrderType.LMT, OrderType.STP_LMT) and order.limit_price is not None:
        ib.lmtPrice = float(order.limit_price)
    if order.order_type in (OrderType.STP, OrderType.STP_LMT) and order.stop_price is not None:
        ib.auxPrice = float(order.stop_price)
    if order.order_type is OrderType.TRAIL:
        # TWS: auxPrice is the trailing amount; trailingPercent is read when auxPrice is unset.
        if order.trail_amount is not None:
            ib.auxPrice = float(order.trail_amount)
        elif order.trail_percent is not None:
            ib.trailingPercent = float(order.trail_percent)
        if order.stop_price is not None:
            ib.trailStopPrice = float(order.stop_price)
    if order.oca_group:
        ib.ocaGroup = order.oca_group
        ib.ocaType = OCA_REDUCE_WITHOUT_BLOCK
    return ib


OCA_REDUCE_WITHOUT_BLOCK = 3
"""IB's ocaType 3: a fill of one member reduces the others by its size (a full fill cancels them);
nothing is blocked meanwhile. The paper broker and the simulator apply the same rule."""


def side_of(action: str) -> Side:
    """IB's BUY/SELL (orders) or BOT/SLD (executions) as our side."""
    if action in ("BUY", "BOT"):
        return Side.BUY
    if action in ("SELL", "SLD", "SSHORT"):
        return Side.SELL
    raise ValueError(f"IBKR sent an unknown order side {action!r}")


def price_or_none(value: float) -> float | None:
    """An IB price field as ours: None when unset (UNSET_DOUBLE), zero or not finite."""
    return _price(value)


def _price(value: float) -> float | None:
    if value is None or not math.isfinite(value) or value >= UNSET_DOUBLE or value == 0.0:
        return None
    return float(value)


def order_from_trade(trade: Trade) -> Order:
    """Our view of an order IB holds (open orders after a reconnect): id from ``orderRef``."""
    ib = trade.order
    status = _IB_STATUS.get(trade.orderStatus.status, OrderStatus.ACKNOWLEDGED)
    filled = float(trade.orderStatus.filled or 0.0)
    try:
        order_type = OrderType(ib.orderType)
    except ValueError:
        order_type = OrderType.MKT
    try:
        tif = TimeInForce(ib.tif) if ib.tif else TimeInForce.DAY
    except ValueError:
        tif = TimeInForce.DAY
    trailing = order_type is OrderType.TRAIL
    stop = ib.auxPrice if order_type in (OrderType.STP, OrderType.STP_LMT) else None
    if trailing:
        stop = ib.trailStopPrice
    return Order(
        client_order_id=ib.orderRef or "",
        symbol=symbol_of(trade.contract),
        side=side_of(ib.action),
        quantity=float(ib.totalQuantity),
        order_type=order_type,
        limit_price=_price(ib.lmtPrice) if order_type in (OrderType.LMT, OrderType.STP_LMT) else None,
        stop_price=_price(stop) if stop is not None else None,
        tif=tif,
        status=OrderStatus.PARTIALLY_FILLED if status is OrderStatus.ACKNOWLEDGED and filled > 0 else status,
        filled_quantity=filled,
        avg_fill_price=_price(trade.orderStatus.avgFillPrice),
        broker_order_id=broker_order_id(trade),
        trail_amount=_price(ib.auxPrice) if trailing else None,
        trail_percent=_price(ib.trailingPercent) if trailing and _price(ib.auxPrice) is None else None,
        oca_group=ib.ocaGroup or None,
    )


def broker_order_id(trade: Trade) -> str:
    """IB's order id as text, or ``perm:<permId>`` for an order placed elsewhere (id 0)."""
    if trade.order.orderId > 0:
        return str(trade.order.orderId)
    return f"perm:{trade.order.permId}"


def fill_from(ib_fill: IbFill, client_order_id: str | None = None) -> Fill:
    """Our fill for an IB execution; the commission is the report's when it has arrived, else 0."""
    execution = ib_fill.execution
    report = ib_fill.commissionReport
    commission = float(report.commission) if report is not None and report.execId else 0.0
    if not math.isfinite(commission) or commission >= UNSET_DOUBLE:
        commission = 0.0
    ts = execution.time if isinstance(execution.time, datetime) else ib_fill.time
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return Fill(
        exec_id=execution.execId,
        client_order_id=client_order_id if client_order_id is not None else (execution.orderRef or ""),
        symbol=symbol_of(ib_fill.contract),
        side=side_of(execution.side),
        quantity=float(execution.shares),
        price=float(execution.price),
        commission=abs(commission),
        ts=ts.astimezone(UTC),
    )


def quote_from(symbol: str, ticker: Ticker, ts: datetime) -> Quote | None:
    """A quote from a ticker's latest values; None until it has a usable price."""
    bid, ask, last = _num(ticker.bid), _num(ticker.ask), _num(ticker.last)
    if last is None:
        last = _num(ticker.close)
    if last is None and bid is not None and ask is not None:
        last = (bid + ask) / 2.0
    if last is None:
        return None
    return Quote(
        symbol=symbol,
        ts=ts,
        bid=bid if bid is not None else last,
        ask=ask if ask is not None else last,
        last=last,
        bid_size=_num(ticker.bidSize) or 0.0,
        ask_size=_num(ticker.askSize) or 0.0,
        last_size=_num(ticker.lastSize) or 0.0,
        volume=_num(ticker.volume) or 0.0,
    )


def _num(value: float | None) -> float | None:
    if value is None or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value <= 0.0 or value >= UNSET_DOUBLE:
        return None
    return float(value)


def bars_frame(bars: list[BarData]) -> pd.DataFrame:
    """Daily bars as raw rows for ``engine.data.validation``: a ``date`` column, then open, high,
    low, close and volume as floats (validation indexes, sorts and checks them)."""
    rows = []
    for bar in bars:
        day = bar.date if isinstance(bar.date, date) else _yyyymmdd(str(bar.date))
        if isinstance(day, datetime):
            day = day.date()
        # IB sends -1 for the volume of quote bars (forex MIDPOINT): none, not negative
        rows.append((day, bar.open, bar.high, bar.low, bar.close, max(0.0, float(bar.volume))))
    frame = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.astype({c: "float64" for c in ("open", "high", "low", "close", "volume")})


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """The account values onetap shows, from IB's account summary (USD)."""

    account: str
    net_liquidation: float
    cash: float
    buying_power: float
    available_funds: float


SUMMARY_TAGS = {
    "NetLiquidation": "net_liquidation",
    "TotalCashValue": "cash",
    "BuyingPower": "buying_power",
    "AvailableFunds": "available_funds",
}


def account_figures(account: str, values: dict[str, str]) -> AccountFigures:
    """From tag -> value text (missing or unparsable values become 0: the line says so elsewhere)."""

    def number(tag: str) -> float:
        try:
            return float(values.get(tag, "") or 0.0)
        except ValueError:
            return 0.0

    return AccountFigures(
        account=account,
        net_liquidation=number("NetLiquidation"),
        cash=number("TotalCashValue"),
        buying_power=number("BuyingPower"),
        available_funds=number("AvailableFunds"),
    )


def cash_balances(rows: Iterable[tuple[str, str, str]]) -> dict[str, float]:
    """Cash per currency from IB's account values, (tag, value, currency) rows: the
    ``TotalCashBalance`` of each currency held, without the converted ``BASE`` total (a
    multi-currency account holds EUR and JPY beside its USD; numbers that do not parse are left
    out)."""
    balances: dict[str, float] = {}
    for tag, value, currency in rows:
        if tag != "TotalCashBalance" or currency in ("", "BASE"):
            continue
        try:
            balances[currency] = float(value)
        except ValueError:
            continue
    return balances
