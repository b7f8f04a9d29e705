"""Pre-trade checks: each limit refuses with its code; working orders count; nothing is shrunk."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model import OrderRequest, OrderType, Side, TradingState
from engine.risk.killswitch import HaltState, resume_allowed
from engine.risk.pretrade import BookView, Limits, RecentOrder, pre_trade, with_working

LIMITS = Limits(
    max_order_value=25_000, max_order_quantity=5_000, max_position_pct=0.15, gross_exposure_limit=1.0
)
BOOK = BookView(
    trading_state=TradingState.ACTIVE,
    halted_reason="",
    equity=100_000.0,
    cash=100_000.0,
    positions={},
    prices={"AAPL": 100.0, "MSFT": 30.0},
    working={},
    working_buy_value=0.0,
    gross_exposure=0.0,
    tradable=frozenset({"AAPL", "MSFT"}),
)


def buy(sym: str, qty: float, **kw: object) -> OrderRequest:
    return OrderRequest(sym, Side.BUY, qty, **kw)  # type: ignore[arg-type]


def code(req: OrderRequest, book: BookView = BOOK, limits: Limits = LIMITS) -> str | None:
    r = pre_trade(req, book, limits)
    return r.code if r else None


def test_accepts_a_normal_order() -> None:
    assert code(buy("AAPL", 100)) is None


@pytest.mark.parametrize(
    ("req", "book", "expected"),
    [
        (buy("AAPL", 10), replace(BOOK, trading_state=TradingState.HALTED, halted_reason="kill"), "HALTED"),
        (buy("TSLA", 10), BOOK, "SYMBOL_NOT_ALLOWED"),
        (buy("AAPL", 6000), BOOK, "MAX_ORDER_QTY"),
        (buy("AAPL", 300), BOOK, "MAX_ORDER_VALUE"),
        (buy("AAPL", 160), BOOK, "MAX_POSITION"),
        (buy("AAPL", 100), replace(BOOK, cash=5_000.0), "INSUFFICIENT_CASH"),
        (OrderRequest("AAPL", Side.SELL, 1), BOOK, "NO_SHORTING"),
        (buy("AAPL", 10, order_type=OrderType.LMT, limit_price=3000.0), BOOK, "MAX_ORDER_VALUE"),
    ],
)
def test_each_limit_refuses_with_its_code(req: OrderRequest, book: BookView, expected: str) -> None:
    assert code(req, book) == expected


def test_working_orders_count_toward_the_position_limit() -> None:
    """Two orders each under the limit whose sum exceeds it: the second is refused."""
    first = buy("AAPL", 100)
    assert code(first) is None
    after_first = replace(BOOK, working={"AAPL": 100.0}, working_buy_value=10_000.0)
    assert code(buy("AAPL", 100), after_first) == "MAX_POSITION"


def test_working_buys_reserve_cash() -> None:
    book = replace(BOOK, cash=20_000.0, working={"MSFT": 300}, working_buy_value=9_000.0)
    assert code(buy("AAPL", 120), book) == "INSUFFICIENT_CASH"


def test_reducing_sell_passes_even_when_over_limit() -> None:
    book = replace(BOOK, positions={"AAPL": 200.0}, gross_exposure=20_000.0)
    assert code(OrderRequest("AAPL", Side.SELL, 200), book) is None


def test_halt_message_says_how_to_resume() -> None:
    r = pre_trade(
        buy("AAPL", 1), replace(BOOK, trading_state=TradingState.HALTED, halted_reason="operator"), LIMITS
    )
    assert r is not None and r.message == "trading halted (operator); type RESUME to lift it"


@given(qty=st.floats(0.01, 10_000), price=st.floats(1.0, 1_000.0), held=st.floats(0, 1_000))
def test_accepted_buys_never_breach_position_or_value_limits(qty: float, price: float, held: float) -> None:
    book = replace(
        BOOK,
        prices={"AAPL": price, "MSFT": 30.0},
        positions={"AAPL": held} if held else {},
        gross_exposure=held * price,
    )
    if pre_trade(buy("AAPL", qty), book, LIMITS) is None:
        assert qty * price <= LIMITS.max_order_value
        assert (held + qty) * price <= LIMITS.max_position_pct * book.equity + 1e-6


def test_kill_state_round_trips_and_fails_safe() -> None:
    assert HaltState.from_json(HaltState(TradingState.HALTED, "x").to_json()).halted
    assert HaltState.from_json("{not json").halted
    assert not HaltState.from_json(None).halted
    assert resume_allowed("RESUME") and not resume_allowed("resume") and not resume_allowed("RESUM")


# --------------------------------------------------------------------------- the full set of controls
NOW = datetime(2012, 3, 1, 15, 0, tzinfo=UTC)
FULL = Limits(
    max_order_value=25_000,
    max_order_quantity=5_000,
    max_position_pct=0.15,
    gross_exposure_limit=1.0,
    risk_per_trade_pct=0.02,
    max_sector_pct=0.30,
    price_band_pct=0.05,
    max_orders_per_second=5,
    max_orders_per_day=100,
    duplicate_window_s=10.0,
)
TECH = replace(
    BOOK,
    now=NOW,
    prices={"AAPL": 100.0, "MSFT": 30.0, "AMZN": 50.0, "IBM": 50.0},
    tradable=frozenset({"AAPL", "MSFT", "AMZN", "IBM"}),
    sectors={"AAPL": "Tech", "MSFT": "Tech", "AMZN": "Retail", "IBM": "Tech"},
)


@pytest.mark.parametrize(
    ("req", "book", "expected"),
    [
        (buy("AAPL", 10, order_type=OrderType.LMT, limit_price=106.0), TECH, "PRICE_BAND"),
        (buy("AAPL", 10, order_type=OrderType.LMT, limit_price=104.0), TECH, None),
        (OrderRequest("AAPL", Side.BUY, 100, protective_stop=70.0), TECH, "RISK_PER_TRADE"),
        (OrderRequest("AAPL", Side.BUY, 100, protective_stop=85.0), TECH, None),
        (
            buy("IBM", 100),
            replace(TECH, positions={"AAPL": 140.0, "MSFT": 400.0}, gross_exposure=26e3),
            "MAX_SECTOR",
        ),
        (
            buy("AMZN", 100),
            replace(TECH, positions={"AAPL": 140.0, "MSFT": 400.0}, gross_exposure=26e3),
            None,
        ),
        (buy("AAPL", 10), replace(TECH, market_open=False), "MARKET_CLOSED"),
        (buy("AAPL", 10), replace(TECH, orders_last_second=5), "THROTTLE"),
        (buy("AAPL", 10), replace(TECH, orders_today=100), "THROTTLE"),
        (
            buy("AAPL", 10, strategy="momentum"),
            replace(TECH, paused_strategies=frozenset({"momentum"})),
            "STRATEGY_PAUSED",
        ),
        (buy("AAPL", 10), replace(TECH, trading_state=TradingState.REDUCING, halted_reason="dd"), "REDUCING"),
    ],
)
def test_each_control_refuses_with_its_code(req: OrderRequest, book: BookView, expected: str | None) -> None:
    assert code(req, book, FULL) == expected


def test_duplicate_needs_an_override_within_the_window() -> None:
    recent = (RecentOrder(NOW - timedelta(seconds=4), "AAPL", Side.BUY, 10.0),)
    book = replace(TECH, recent=recent)
    assert code(buy("AAPL", 10), book, FULL) == "DUPLICATE"
    assert code(buy("AAPL", 10, override_duplicate=True), book, FULL) is None
    assert code(buy("AAPL", 11), book, FULL) is None
    assert code(buy("AAPL", 10), replace(book, now=NOW + timedelta(seconds=7)), FULL) is None


def test_the_kill_switchs_reduce_only_orders_pass_a_halt_and_never_add() -> None:
    halted = replace(TECH, trading_state=TradingState.HALTED, halted_reason="kill", positions={"AAPL": 50.0})
    assert code(OrderRequest("AAPL", Side.SELL, 50, reduce_only=True), halted, FULL) is None
    assert code(OrderRequest("AAPL", Side.SELL, 60, reduce_only=True), halted, FULL) == "HALTED"
    assert code(OrderRequest("AAPL", Side.SELL, 50), halted, FULL) == "HALTED"
    throttled = replace(halted, orders_last_second=99, orders_today=10_000)
    assert code(OrderRequest("AAPL", Side.SELL, 50, reduce_only=True), throttled, FULL) is None


def test_a_protective_target_worth_more_than_the_order_limit_is_not_refused() -> None:
    held = replace(BOOK, positions={"AAPL": 200.0})
    target = OrderRequest(
        "AAPL", Side.SELL, 200, order_type=OrderType.LMT, limit_price=130.0, reduce_only=True
    )
    assert code(target, held) == "MAX_ORDER_VALUE", "an exit over the limit is refused as any order is"
    assert code(replace(target, protects="OT-1", oca_group="OCA-OT-1"), held) is None


def test_a_cards_second_leg_sees_the_first_as_working() -> None:
    first = buy("AAPL", 100)
    assert code(first, TECH, FULL) is None
    assert code(buy("AAPL", 100), with_working(TECH, first), FULL) == "MAX_POSITION"


KNOWN_CODES = {
    "HALTED", "REDUCING", "RECOVERING", "NOT_REDUCING", "STRATEGY_PAUSED", "SYMBOL_NOT_ALLOWED",
    "BAD_QUANTITY", "NO_PRICE",
    "MARKET_CLOSED", "THROTTLE", "DUPLICATE", "MAX_ORDER_QTY", "MAX_ORDER_VALUE", "PRICE_BAND",
    "INSUFFICIENT_CASH", "NO_SHORTING", "MAX_POSITION", "RISK_PER_TRADE", "MAX_SECTOR", "GROSS_EXPOSURE",
}  # fmt: skip

SYMBOLS = ["AAPL", "MSFT", "AMZN", "IBM"]
books = st.builds(
    lambda prices, held, working, cash, state: replace(
        TECH,
        prices=dict(zip(SYMBOLS, prices, strict=True)),
        positions={s: q for s, q in zip(SYMBOLS, held, strict=True) if q},
        working={s: q for s, q in zip(SYMBOLS, working, strict=True) if q},
        working_buy_value=sum(max(q, 0.0) * p for q, p in zip(working, prices, strict=True)),
        gross_exposure=sum(abs(q) * p for q, p in zip(held, prices, strict=True)),
        equity=cash + sum(q * p for q, p in zip(held, prices, strict=True)),
        cash=cash,
        trading_state=state,
        halted_reason="test",
    ),
    st.lists(st.floats(1.0, 500.0), min_size=4, max_size=4),
    st.lists(st.floats(0.0, 300.0), min_size=4, max_size=4),
    st.lists(st.floats(-50.0, 50.0), min_size=4, max_size=4),
    st.floats(0.0, 200_000.0),
    st.sampled_from(list(TradingState)),
)
orders = st.builds(
    OrderRequest,
    symbol=st.sampled_from(SYMBOLS),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    quantity=st.floats(0.01, 6_000.0),
    order_type=st.sampled_from([OrderType.MKT, OrderType.LMT]),
    limit_price=st.none() | st.floats(1.0, 600.0),
    protective_stop=st.none() | st.floats(0.5, 600.0),
)


def test_no_accepted_order_breaches_a_limit_and_every_refusal_has_a_code() -> None:
    """Over random orders and books; counts both outcomes, so a generator that only ever produces
    refusals (and so checks no accepted order at all) fails instead of passing vacuously."""
    seen: Counter[str] = Counter()
    check_one(seen)
    assert seen["accepted"] > 0 and seen["refused"] > 0, seen


@settings(max_examples=400, deadline=None, derandomize=True)  # the same 400 cases every run
@given(order=orders, book=books)
def check_one(seen: Counter[str], order: OrderRequest, book: BookView) -> None:
    refusal = pre_trade(order, book, FULL)
    if refusal is not None:
        seen["refused"] += 1
        assert refusal.code in KNOWN_CODES and refusal.message
        return
    seen["accepted"] += 1
    price = (
        order.limit_price
        if order.order_type is OrderType.LMT and order.limit_price
        else book.prices[order.symbol]
    )
    held = book.positions.get(order.symbol, 0.0)
    adds = not (held > 0 and order.side is Side.SELL and order.quantity <= held)
    assert book.trading_state is TradingState.ACTIVE or (
        book.trading_state is TradingState.REDUCING and not adds
    )
    assert order.quantity <= FULL.max_order_quantity + 1e-9
    assert order.quantity * price <= FULL.max_order_value + 1e-6
    if order.order_type is OrderType.LMT and order.limit_price:
        assert abs(order.limit_price / book.prices[order.symbol] - 1) <= FULL.price_band_pct + 1e-9
    if order.side is Side.BUY:
        assert order.quantity * price <= book.cash - book.working_buy_value + 1e-6
    else:
        assert order.quantity <= held + min(book.working.get(order.symbol, 0.0), 0.0) + 1e-9
    if adds:
        after = held + book.working.get(order.symbol, 0.0) + order.side.sign * order.quantity
        assert abs(after) * price <= FULL.max_position_pct * book.equity + 1e-6
        exposure = {
            sym: abs(book.positions.get(sym, 0.0) + book.working.get(sym, 0.0)) * book.prices[sym]
            for sym in book.prices
        }
        exposure[order.symbol] = abs(after) * price
        assert sum(exposure.values()) <= FULL.gross_exposure_limit * book.equity + 1e-6
        sector = book.sectors[order.symbol]
        in_sector = sum(v for sym, v in exposure.items() if book.sectors[sym] == sector)
        assert in_sector <= FULL.max_sector_pct * book.equity + 1e-6
        if order.protective_stop is not None:
            loss = order.quantity * max(order.side.sign * (price - order.protective_stop), 0.0)
            assert loss <= FULL.risk_per_trade_pct * book.equity + 1e-6


# --------------------------------------------------------------------------- options
CALL = "AAPL  240315C00105000"
PUT = "AAPL  240315P00100000"
OPTIONS = replace(BOOK, prices={**BOOK.prices, CALL: 2.0, PUT: 4.0})
WIDE = Limits(
    max_order_value=25_000,
    max_order_quantity=5_000,
    max_position_pct=1.0,
    gross_exposure_limit=2.0,
    max_sector_pct=1.0,
)


def sell(sym: str, qty: float, **kw: object) -> OrderRequest:
    return OrderRequest(sym, Side.SELL, qty, **kw)  # type: ignore[arg-type]


def test_an_option_is_tradable_through_its_underlying_and_needs_its_own_price() -> None:
    assert code(buy(PUT, 1), OPTIONS, WIDE) is None
    assert code(buy("MSFT  240315C00030000", 1), OPTIONS, WIDE) == "NO_PRICE"
    assert code(buy("TSLA  240315C00200000", 1), OPTIONS, WIDE) == "SYMBOL_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("req", "book", "limits", "expected"),
    [
        (buy(PUT, 62), OPTIONS, WIDE, None),  # 62 x 4.00 x 100 = 24,800
        (buy(PUT, 63), OPTIONS, WIDE, "MAX_ORDER_VALUE"),  # 25,200: the multiplier counts
        (buy(PUT, 30), replace(OPTIONS, cash=11_000.0), WIDE, "INSUFFICIENT_CASH"),  # 12,000 needed
        (buy(PUT, 40), OPTIONS, replace(WIDE, max_position_pct=0.15), "MAX_POSITION"),  # 16% of equity
        (
            buy(PUT, 10),
            replace(OPTIONS, positions={"AAPL": 100.0}),
            replace(WIDE, max_sector_pct=0.10),
            "MAX_SECTOR",
        ),
        (
            buy(PUT, 50),
            replace(OPTIONS, positions={"MSFT": 3_000.0}, gross_exposure=90_000.0),
            replace(WIDE, gross_exposure_limit=1.0),
            "GROSS_EXPOSURE",  # 90,000 + 20,000 over 100,000
        ),
        (
            buy(PUT, 50, protective_stop=2.0),
            OPTIONS,
            replace(WIDE, risk_per_trade_pct=0.005),
            "RISK_PER_TRADE",
        ),
    ],
)
def test_option_money_checks_use_the_multiplier(
    req: OrderRequest, book: BookView, limits: Limits, expected: str | None
) -> None:
    assert code(req, book, limits) == expected


def test_a_card_s_option_leg_reserves_cash_x100() -> None:
    first = buy(PUT, 20)  # 8,000
    after = with_working(OPTIONS, first)
    assert after.working_buy_value == pytest.approx(8_000.0)
    assert code(buy(PUT, 20), replace(after, cash=15_000.0), WIDE) == "INSUFFICIENT_CASH"


def test_only_covered_calls_may_be_written() -> None:
    covered = replace(OPTIONS, positions={"AAPL": 200.0})
    assert code(sell(CALL, 2), covered, WIDE) is None
    refusal = pre_trade(sell(CALL, 3), covered, WIDE)
    assert refusal is not None and refusal.code == "NAKED_OPTION" and "300 AAPL shares" in refusal.message
    assert code(sell(CALL, 1), OPTIONS, WIDE) == "NAKED_OPTION"
    assert code(sell(PUT, 1), covered, WIDE) == "NAKED_OPTION"  # a put is never covered
    assert code(sell(PUT, 1), covered, replace(WIDE, allow_short=True)) == "NAKED_OPTION"
    # Working share sales take the cover away; calls already written use it up.
    assert code(sell(CALL, 2), replace(covered, working={"AAPL": -150.0}), WIDE) == "NAKED_OPTION"
    assert (
        code(sell(CALL, 1), replace(covered, positions={"AAPL": 200.0, CALL: -2.0}), WIDE) == "NAKED_OPTION"
    )
    # Selling options held is closing them, not writing.
    assert code(sell(PUT, 3), replace(OPTIONS, positions={PUT: 3.0}), WIDE) is None


def test_shares_that_cover_written_calls_cannot_be_sold() -> None:
    written = replace(OPTIONS, positions={"AAPL": 150.0, CALL: -1.0})
    assert code(sell("AAPL", 50), written, WIDE) is None
    assert code(sell("AAPL", 51), written, WIDE) == "NAKED_OPTION"
    assert code(sell("AAPL", 51), written, replace(WIDE, allow_short=True)) == "NAKED_OPTION"
    assert (
        code(sell("AAPL", 51), replace(OPTIONS, positions={"AAPL": 150.0}), replace(WIDE, allow_short=True))
        is None
    )


def test_a_cheap_option_s_price_band_is_at_least_ten_cents_wide() -> None:
    cheap = replace(OPTIONS, prices={**OPTIONS.prices, PUT: 0.40})
    assert code(buy(PUT, 1, order_type=OrderType.LMT, limit_price=0.43), cheap, WIDE) is None  # 7.5% off
    assert code(buy(PUT, 1, order_type=OrderType.LMT, limit_price=0.51), cheap, WIDE) == "PRICE_BAND"
    assert code(buy(PUT, 1, order_type=OrderType.LMT, limit_price=4.30), OPTIONS, WIDE) == "PRICE_BAND"
    assert code(buy("AAPL", 1, order_type=OrderType.LMT, limit_price=105.1), OPTIONS, WIDE) == "PRICE_BAND"
