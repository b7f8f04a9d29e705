"""Options on the paper broker: model quotes, fills x100, covered calls only, expiry settlement, restart."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.brokers.base import (
    BrokerError,
    BrokerPosition,
    OrderAcknowledged,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from engine.brokers.paper import SETTLEMENT_PREFIX, PaperBroker, read_journal
from engine.clock import FixedClock
from engine.model import Fill, OptionContract, Order, OrderStatus, OrderType, Quote, Side, TimeInForce
from engine.portfolio.ledger import Ledger
from engine.risk.greeks import black_scholes, book_greeks, option_positions
from tests.defaults import paper_broker
from tests.engine.brokers.test_paper import DAY, T0, Harness
from tests.engine.brokers.test_paper_journal import state

VOL = 0.30
RATE = 0.04
PUT = "AAPL  240315P00100000"  # expires Friday 15 March 2024, struck at the money
CALL = "AAPL  240315C00105000"
TODAY_PUT = "AAPL  240304P00105000"  # expires at the close of DAY (4 March 2024)
TODAY_CALL = "AAPL  240304C00110000"


async def options_harness(**kwargs: Any) -> Harness:
    kwargs.setdefault("option_rate", RATE)
    h = await Harness(**kwargs).connect()
    h.broker.set_option_volatility("AAPL", VOL)
    return h


def model_quote(symbol: str, underlying: Quote) -> tuple[float, float, float]:
    """(bid, ask, price) worked out here from the rule, independently of the broker's code."""
    contract = OptionContract.parse(symbol)
    years = (contract.expires_at - underlying.ts).total_seconds() / (365 * 86_400)
    price = black_scholes(
        contract.right,
        underlying_price=(underlying.bid + underlying.ask) / 2,
        strike=contract.strike,
        expiry_years=max(years, 0.0),
        volatility=VOL,
        rate=RATE,
    ).price
    half = max(0.025, 0.01 * price)
    bid = max(math.floor(round((price - half) * 100, 6)) / 100, 0.0)
    ask = math.ceil(round((price + half) * 100, 6)) / 100
    return bid, ask, price


def rejection(h: Harness) -> str:
    """The reason of the last report, which must be a rejection."""
    last = h.last()
    assert isinstance(last, OrderRejected), last
    return last.reason


def fills_of(h: Harness) -> list[Fill]:
    return [r.fill for r in h.reports if isinstance(r, OrderFilled)]


def book_from(fills: list[Fill], starting_cash: float = 100_000.0) -> Ledger:
    ledger = Ledger(starting_cash)
    for fill in fills:
        ledger.apply_fill(fill)
    return ledger


async def buy_shares(h: Harness, qty: float) -> None:
    await h.submit(Side.BUY, qty)
    h.quote()
    assert await h.broker.open_orders() == []


# --------------------------------------------------------------------------- quotes and fills
async def test_a_bought_put_fills_at_the_model_ask_and_cash_moves_by_100_per_contract() -> None:
    h = await options_harness()
    h.quote(bid=99.98, ask=100.00)
    order = await h.submit(Side.BUY, 2, symbol=PUT)
    assert h.reports == [OrderAcknowledged(order.client_order_id, "P1")]  # nothing fills inside submit
    underlying = h.quote(bid=99.98, ask=100.00)  # the underlying's next quote fills it
    bid, ask, price = model_quote(PUT, underlying)
    assert 0 < bid < price < ask and ask - bid >= 0.05
    quote = h.broker.option_quote(PUT)
    assert quote is not None and (quote.bid, quote.ask) == (bid, ask) and quote.ts == underlying.ts
    (fill,) = fills_of(h)
    assert (fill.symbol, fill.side, fill.quantity, fill.price) == (PUT, Side.BUY, 2, ask)
    assert fill.commission == pytest.approx(1.30)  # 2 x 0.65, above the 1.00 minimum
    assert await h.broker.cash() == pytest.approx(100_000.0 - 2 * ask * 100 - 1.30)
    (position,) = await h.broker.positions()
    assert (position.symbol, position.quantity, position.avg_cost) == (PUT, 2, ask)
    assert h.broker.account_summary().positions_value == pytest.approx(2 * 100 * quote.last)

    # The engine's ledger, fed the same fill and marked with the model, values the position x100 ...
    ledger = book_from([fill])
    assert ledger.cash == pytest.approx(await h.broker.cash())
    for symbol, mark in h.broker.option_marks().items():
        ledger.mark(symbol, mark)
    mark = round(price, 4)  # the model price, to a hundredth of a cent
    assert ledger.market_value(PUT) == pytest.approx(2 * 100 * mark)
    assert ledger.unrealized(PUT) == pytest.approx(2 * 100 * (mark - ask))  # the spread paid
    # ... and follows the underlying: down 10%, the put gains.
    lower = h.quote(bid=89.98, ask=90.00)
    new_mark = round(model_quote(PUT, lower)[2], 4)
    ledger.mark(PUT, h.broker.option_marks()[PUT])
    assert new_mark > 9.0
    assert ledger.market_value(PUT) == pytest.approx(2 * 100 * new_mark)
    assert ledger.unrealized(PUT) == pytest.approx(2 * 100 * (new_mark - ask))
    assert ledger.account().unrealized_pnl == pytest.approx(2 * 100 * (new_mark - ask))
    assert ledger.account().equity == pytest.approx(ledger.cash + 2 * 100 * new_mark)
    assert ledger.market_values() == {PUT: pytest.approx(2 * 100 * new_mark)}


async def test_a_sold_option_fills_at_the_model_bid_and_a_limit_waits_for_the_model_to_cross() -> None:
    h = await options_harness(settlement_days=1)
    h.quote()
    await h.submit(Side.BUY, 1, symbol=PUT)
    first = h.quote()
    _bid, ask, _price = model_quote(PUT, first)
    cash = await h.broker.cash()
    limit = await h.submit(Side.SELL, 1, OrderType.LMT, symbol=PUT, limit=ask + 2.0)
    h.quote()  # the model bid is far below the limit
    assert len(fills_of(h)) == 1
    higher = h.quote(bid=95.98, ask=96.00)  # the put is worth 4 more: its bid crosses the limit
    bid, _ask, _price = model_quote(PUT, higher)
    assert bid >= ask + 2.0
    sale = fills_of(h)[-1]
    assert sale.client_order_id == limit.client_order_id and sale.price == bid
    assert await h.broker.cash() == pytest.approx(cash + bid * 100 - 1.00)  # the minimum
    account = h.broker.account_summary()
    assert account.unsettled_cash == pytest.approx(bid * 100 - 1.00)  # proceeds settle T+1


async def test_option_orders_need_the_model_and_whole_contracts() -> None:
    h = await Harness().connect()  # no volatility given for AAPL
    h.quote()
    await h.submit(Side.BUY, 1, symbol=PUT)
    assert "no option quote model" in rejection(h)
    h.broker.set_option_volatility("AAPL", VOL)
    await h.submit(Side.BUY, 1.5, symbol=PUT)
    assert "whole contracts" in rejection(h)
    await h.submit(Side.BUY, 1, symbol="MSFT  240315C00400000")
    assert "no option quote model" in rejection(h)
    with pytest.raises(ValueError, match="volatility"):
        h.broker.set_option_volatility("AAPL", -0.1)
    await h.submit(Side.BUY, 10_000, symbol=PUT)  # 10,000 contracts: far more than the cash
    assert "insufficient settled cash" in rejection(h)


async def test_stock_quotes_commissions_and_fills_are_unchanged_by_an_option_book() -> None:
    plain = await Harness().connect()
    mixed = await options_harness()
    for h in (plain, mixed):
        h.quote()
        await h.submit(Side.BUY, 100)
        h.quote()
    await mixed.submit(Side.BUY, 1, symbol=PUT)
    mixed.quote()
    stock = [f for f in fills_of(mixed) if f.symbol == "AAPL"]
    assert [(f.price, f.quantity, f.commission) for f in stock] == [
        (f.price, f.quantity, f.commission) for f in fills_of(plain)
    ]


# --------------------------------------------------------------------------- covered calls only
async def test_a_covered_call_is_accepted_with_100_shares_and_refused_without() -> None:
    h = await options_harness()
    h.quote()
    await h.submit(Side.SELL, 1, symbol=CALL)
    naked = h.last()
    assert isinstance(naked, OrderRejected)
    assert "naked option selling is not allowed" in naked.reason and "100 AAPL shares" in naked.reason

    await buy_shares(h, 100)
    covered = await h.submit(Side.SELL, 1, symbol=CALL)
    assert h.last() == OrderAcknowledged(covered.client_order_id, "P2")
    underlying = h.quote()
    bid, _ask, _price = model_quote(CALL, underlying)
    written = fills_of(h)[-1]
    assert (written.symbol, written.side, written.price) == (CALL, Side.SELL, bid)
    assert (await h.broker.positions())[1].quantity == -1  # AAPL 100, then the call

    await h.submit(Side.SELL, 1, symbol=CALL)  # a second call would need 200 shares
    assert "need 200 AAPL shares" in rejection(h)
    await h.submit(Side.SELL, 1, symbol="AAPL")  # the shares are the call's cover now
    assert "uncover written calls" in rejection(h)
    await h.submit(Side.SELL, 1, symbol=PUT)  # a short put is never covered
    assert "puts" in rejection(h)

    buy_back = await h.submit(Side.BUY, 1, symbol=CALL)  # closing the call frees the shares
    h.quote()
    assert fills_of(h)[-1].client_order_id == buy_back.client_order_id
    await h.submit(Side.SELL, 100, symbol="AAPL")
    assert isinstance(h.last(), OrderAcknowledged)


async def test_naked_options_are_refused_even_when_stock_shorting_is_allowed() -> None:
    h = await options_harness(allow_short=True)
    h.quote()
    await h.submit(Side.SELL, 1, symbol=CALL)
    assert isinstance(h.last(), OrderRejected)
    await h.submit(Side.SELL, 1, symbol=PUT)
    assert isinstance(h.last(), OrderRejected)
    await h.submit(Side.SELL, 10, symbol="AAPL")  # the stock itself may still be sold short
    assert isinstance(h.last(), OrderAcknowledged)


async def test_working_share_sales_and_a_bigger_call_sale_cannot_uncover_calls() -> None:
    h = await options_harness()
    h.quote()
    await buy_shares(h, 150)
    await h.submit(Side.SELL, 60, OrderType.LMT, symbol="AAPL", limit=150.0)
    await h.submit(Side.SELL, 1, symbol=CALL)  # 90 shares left free: not enough
    assert "90 are held" in rejection(h)
    h.broker.on_session_close(DAY)  # the DAY share sale expires: 150 shares free again
    resting = await h.submit(Side.SELL, 1, OrderType.LMT, symbol=CALL, limit=50.0, tif=TimeInForce.GTC)
    assert isinstance(h.last(), OrderAcknowledged)
    with pytest.raises(BrokerError, match="naked option selling"):
        await h.broker.modify(resting.client_order_id, quantity=2, limit_price=50.0)


# --------------------------------------------------------------------------- expiry
async def test_expiry_settles_in_the_money_at_intrinsic_and_out_of_the_money_at_zero() -> None:
    h = await options_harness()
    announced: list[Order] = []
    h.broker.set_settlement_hook(announced.append)
    h.quote()
    await buy_shares(h, 100)
    await h.submit(Side.BUY, 2, symbol=TODAY_PUT)  # strike 105 over a 100 stock: in the money
    await h.submit(Side.BUY, 1, symbol=TODAY_CALL)  # strike 110: out of the money
    await h.submit(Side.SELL, 1, symbol="AAPL  240304C00095000")  # covered, in the money
    h.quote()
    gtc = await h.submit(Side.BUY, 1, OrderType.LMT, symbol=TODAY_CALL, limit=0.01, tif=TimeInForce.GTC)
    h.quote(bid=101.00, ask=101.02, last=101.0)  # the day's last trade: the close
    cash = await h.broker.cash()
    reports = len(h.reports)

    h.broker.on_session_close(DAY)

    settled = [r.fill for r in h.reports[reports:] if isinstance(r, OrderFilled)]
    by_symbol = {f.symbol: f for f in settled}
    assert set(by_symbol) == {TODAY_PUT, TODAY_CALL, "AAPL  240304C00095000"}
    assert (by_symbol[TODAY_PUT].side, by_symbol[TODAY_PUT].quantity) == (Side.SELL, 2)
    assert by_symbol[TODAY_PUT].price == pytest.approx(4.0)  # 105 - 101
    assert by_symbol[TODAY_CALL].price == 0.0
    written = by_symbol["AAPL  240304C00095000"]
    assert written.side is Side.BUY and written.price == pytest.approx(6.0)  # 101 - 95, paid back
    assert all(f.commission == 0.0 and f.client_order_id.startswith(SETTLEMENT_PREFIX) for f in settled)
    assert await h.broker.cash() == pytest.approx(cash + 2 * 4.0 * 100 - 1 * 6.0 * 100)
    assert [p.symbol for p in await h.broker.positions()] == ["AAPL"]  # the shares stay
    assert OrderExpired(gtc.client_order_id, f"{TODAY_CALL} expired at the close of 2024-03-04") in h.reports
    # The engine hears of each settlement order before its fill, unfilled, and can record it.
    assert [o.client_order_id for o in announced] == [f.client_order_id for f in settled]
    assert all(o.status is OrderStatus.ACKNOWLEDGED and o.filled_quantity == 0 for o in announced)
    assert h.broker.settlement_orders() == announced
    (first,) = [o for o in announced if o.client_order_id == settled[0].client_order_id]
    assert "cash-settled at expiry" in first.reason
    # The engine's ledger, fed every fill, ends flat in options and agrees with the broker's cash.
    ledger = book_from(fills_of(h))
    assert ledger.cash == pytest.approx(await h.broker.cash())
    assert {p.symbol: p.quantity for p in ledger.positions(include_flat=False)} == {"AAPL": 100}
    # Idempotent: a retried close settles nothing twice.
    done = len(h.reports)
    h.broker.on_session_close(DAY)
    assert len(h.reports) == done


async def test_the_engine_may_pass_the_official_close_and_an_option_without_one_waits() -> None:
    h = await options_harness()
    h.quote()
    await h.submit(Side.BUY, 1, symbol=TODAY_PUT)
    h.quote()
    h.broker.on_session_close(DAY, closes={"AAPL": 98.0})
    assert fills_of(h)[-1].price == pytest.approx(7.0)  # 105 - 98, not 105 - the last trade 99.99

    lone = await Harness(option_rate=RATE).connect()
    # as after a restart: the put is held, and no price for the underlying has come yet
    lone.broker.adopt_book(cash=10_000.0, positions=[BrokerPosition(TODAY_PUT, 1, 5.0)])
    lone.broker.set_option_volatility("AAPL", VOL)
    lone.broker.on_session_close(DAY)
    assert [p.symbol for p in await lone.broker.positions()] == [TODAY_PUT]  # left open, logged
    lone.broker.on_session_close(DAY + timedelta(days=1), closes={"AAPL": 110.0})
    assert fills_of(lone)[-1].price == 0.0 and await lone.broker.positions() == []


async def test_an_expired_option_cannot_be_traded() -> None:
    h = await options_harness()
    h.clock.set(datetime(2024, 3, 4, 21, 0, 1, tzinfo=UTC))  # after the 16:00 New York close
    h.quote()
    await h.submit(Side.BUY, 1, symbol=TODAY_PUT)
    assert "expired on 2024-03-04" in rejection(h)


# --------------------------------------------------------------------------- restart
async def _scenario(path: Path, *, restart_at: int | None) -> tuple[PaperBroker, list[Fill]]:
    """Shares, a covered call, a put, an expiring put; the broker dies after step ``restart_at``."""
    clock = FixedClock(T0)
    fills: list[Fill] = []

    def start() -> PaperBroker:
        broker = paper_broker(clock, journal=path, option_rate=RATE)
        broker.set_reporter(lambda r: fills.append(r.fill) if isinstance(r, OrderFilled) else None)
        broker.set_option_volatility("AAPL", VOL)  # market data: the engine gives it again
        return broker

    def quote(broker: PaperBroker, mid: float) -> None:
        clock.advance(timedelta(minutes=5))
        broker.on_quote(Quote("AAPL", clock.now(), mid - 0.01, mid + 0.01, mid, 500, 500, 1_000, 10_000))

    def order(n: int, symbol: str, side: Side, qty: float, **kw: Any) -> Order:
        return Order(f"OT-{n}", symbol, side, qty, status=OrderStatus.SENT, created_at=clock.now(), **kw)

    steps: list[tuple[str, Any]] = [
        ("submit", order(1, "AAPL", Side.BUY, 200)),
        ("submit", order(2, CALL, Side.SELL, 2)),
        ("submit", order(3, PUT, Side.BUY, 3)),
        ("submit", order(4, TODAY_PUT, Side.BUY, 1)),
        (
            "submit",
            order(5, PUT, Side.SELL, 1, order_type=OrderType.LMT, limit_price=3.0, tif=TimeInForce.GTC),
        ),
        ("close", DAY),
        ("submit", order(6, PUT, Side.SELL, 1)),
        ("close", DAY + timedelta(days=1)),
    ]
    broker = start()
    await broker.connect()
    mid = 100.0
    for n, (kind, arg) in enumerate(steps):
        quote(broker, mid)
        if kind == "submit":
            await broker.submit(arg)
            mid -= 0.7
            quote(broker, mid)  # fills it
        else:
            clock.set(datetime.combine(arg, datetime.min.time(), UTC) + timedelta(hours=21))
            quote(broker, mid)
            broker.on_session_close(arg)
            clock.set(
                datetime.combine(arg, datetime.min.time(), UTC) + timedelta(days=1, hours=14, minutes=30)
            )
        if n == restart_at:
            broker.close()  # the process dies here: only the journal is left
            broker = start()
            await broker.connect()
    return broker, fills


@pytest.mark.parametrize("restart_at", [1, 3, 5, 6])
async def test_a_restart_mid_way_reproduces_the_same_account(tmp_path: Path, restart_at: int) -> None:
    straight, straight_fills = await _scenario(tmp_path / "a.jsonl", restart_at=None)
    broken, broken_fills = await _scenario(tmp_path / "b.jsonl", restart_at=restart_at)
    assert await state(broken) == await state(straight)
    assert broken_fills == straight_fills
    assert any(f.client_order_id.startswith(SETTLEMENT_PREFIX) for f in straight_fills)
    assert {p.symbol: p.quantity for p in await straight.positions()} == {"AAPL": 200, CALL: -2, PUT: 1}
    expected = await state(straight)
    straight.close()
    broken.close()
    # And a broker built over the finished journal is that account too, settlements included.
    again = paper_broker(FixedClock(T0 + timedelta(days=3)), journal=tmp_path / "b.jsonl")
    assert await state(again) == expected
    assert again.settlement_orders() == straight.settlement_orders()
    records = read_journal(tmp_path / "b.jsonl")
    assert [r["e"] for r in records].count("close") == 2
    assert sum(len(r.get("settlements", [])) for r in records) == 1
    again.close()


# --------------------------------------------------------------------------- greeks
async def test_option_positions_give_book_greeks_with_the_right_signs() -> None:
    h = await options_harness()
    h.quote()
    await buy_shares(h, 100)
    await h.submit(Side.BUY, 2, symbol=PUT)
    h.quote()
    ledger = book_from(fills_of(h))
    quantities = {p.symbol: p.quantity for p in ledger.positions(include_flat=False)}
    asof = h.clock.now()

    puts = option_positions(quantities, {"AAPL": 100.0}, {"AAPL": VOL}, asof, RATE)
    assert [(p.symbol, p.quantity, p.right, p.strike, p.multiplier) for p in puts] == [
        (PUT, 2, "P", 100.0, 100.0)
    ]
    assert puts[0].expiry_years == pytest.approx(OptionContract.parse(PUT).years_to_expiry(asof))
    long_put = book_greeks(puts)
    assert long_put.delta < 0  # about -0.47 x 200 shares
    assert -100 < long_put.delta < -80
    assert long_put.gamma > 0 and long_put.vega > 0 and long_put.theta < 0 and long_put.rho < 0

    await h.submit(Side.SELL, 1, symbol=CALL)
    h.quote()
    quantities = {p.symbol: p.quantity for p in book_from(fills_of(h)).positions(include_flat=False)}
    book = option_positions(quantities, {"AAPL": 100.0}, {"AAPL": VOL}, asof, RATE)
    short_call = book_greeks([p for p in book if p.symbol == CALL])
    assert short_call.delta < 0 and short_call.gamma < 0 and short_call.vega < 0 and short_call.theta > 0
    assert book_greeks(book).delta == pytest.approx(long_put.delta + short_call.delta)


def test_option_positions_skip_stocks_and_flat_lines_and_refuse_missing_inputs() -> None:
    asof = datetime(2024, 3, 4, 15, tzinfo=UTC)
    assert option_positions({"AAPL": 100.0, PUT: 0.0}, {}, {}, asof, 0.0) == []
    with pytest.raises(ValueError, match="no price for its underlying AAPL"):
        option_positions({PUT: 1.0}, {}, {"AAPL": VOL}, asof, 0.0)
    with pytest.raises(ValueError, match="no volatility for its underlying AAPL"):
        option_positions({PUT: 1.0}, {"AAPL": 100.0}, {}, asof, 0.0)
    with pytest.raises(ValueError, match="zone"):
        option_positions({PUT: 1.0}, {"AAPL": 100.0}, {"AAPL": VOL}, datetime(2024, 3, 4), 0.0)
    expired = option_positions(
        {TODAY_PUT: 1.0}, {"AAPL": 100.0}, {"AAPL": VOL}, asof + timedelta(days=2), 0.0
    )
    assert expired[0].expiry_years == 0.0 and book_greeks(expired).delta == pytest.approx(-100.0)


def test_the_test_dates_are_what_they_say() -> None:
    assert OptionContract.parse(TODAY_PUT).expiry == DAY == date(2024, 3, 4)
    assert OptionContract.parse(TODAY_PUT).expires_at > T0
