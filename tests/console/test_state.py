"""DeskState: folding hand-built engine events into what the desk shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from console.state import MAX_NOTICES, DeskState
from engine.model import (
    AccountSnapshot,
    Action,
    DeskArea,
    Fill,
    Leg,
    Order,
    OrderStatus,
    Position,
    Quote,
    RefusalCode,
    RiskState,
    Side,
    StrategyCard,
    TradingState,
)
from engine.model.events import (
    CardsEvent,
    CommandResult,
    FillEvent,
    MarketEvent,
    NoticeEvent,
    OrderEvent,
    PortfolioEvent,
    RefusalEvent,
    RiskEvent,
    SnapshotEvent,
    StatusEvent,
)

T0 = datetime(2024, 3, 15, 14, 30, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def quote(symbol: str, last: float, ts: datetime = T0) -> Quote:
    return Quote(symbol, ts, last - 0.01, last + 0.01, last, 100, 100, 10, 1000)


def account(**kw: float) -> AccountSnapshot:
    figures = dict(
        cash=90_000.0,
        equity=101_000.0,
        gross_exposure=11_000.0,
        realized_pnl=50.0,
        unrealized_pnl=950.0,
        day_pnl=300.0,
        start_of_day_equity=100_700.0,
        peak_equity=101_000.0,
    )
    figures.update(kw)
    return AccountSnapshot(**figures)


def order(coid: str, minute: int, status: OrderStatus = OrderStatus.SENT, filled: float = 0.0) -> Order:
    return Order(
        coid,
        "AAPL",
        Side.BUY,
        10,
        status=status,
        filled_quantity=filled,
        created_at=at(minute),
        updated_at=at(minute),
    )


def risk(state: TradingState = TradingState.ACTIVE) -> RiskState:
    return RiskState(
        state,
        0.1,
        1.0,
        0.0,
        0.02,
        0.0,
        0.1,
        0.005,
        0.02,
        halted_reason="kill" if state is TradingState.HALTED else "",
    )


def card(card_id: str) -> StrategyCard:
    legs = (Leg("AAPL", Side.BUY, 10),)
    return StrategyCard(card_id, "momentum", card_id, legs, 0.6, 0.02, 100.0, "why", T0)


def snapshot() -> SnapshotEvent:
    return SnapshotEvent(
        status=StatusEvent(T0, "paper", "paper", "running", "2024-03-15", 60.0),
        positions=(Position("AAPL", 10, 100.0, 110.0), Position("MSFT", 10, 1000.0, 1000.0)),
        account=account(),
        orders=(order("OT-2", 2), order("OT-1", 1), order("OT-3", 3)),
        cards=(card("C-1"), card("C-2")),
        risk=risk(),
        quotes=(quote("AAPL", 110.0), quote("MSFT", 1000.0)),
    )


@pytest.fixture
def desk() -> DeskState:
    state = DeskState()
    state.apply(snapshot())
    return state


def test_a_snapshot_fills_every_area(desk: DeskState) -> None:
    assert DeskState().apply(snapshot()) == {
        "quotes",
        "positions",
        "orders",
        "cards",
        "risk",
        "report",
        "limits",
        "status",
        "executions",
        "reconciliation",
    }
    assert desk.connected
    assert [p.symbol for p in desk.positions_sorted()] == ["AAPL", "MSFT"]
    assert [o.client_order_id for o in desk.orders_newest_first()] == ["OT-3", "OT-2", "OT-1"]
    assert [c.card_id for c in desk.cards] == ["C-1", "C-2"]
    assert desk.market_time == T0
    assert desk.status is not None and desk.status.broker == "paper"
    assert not desk.halted


def test_a_snapshot_replaces_the_engine_state_but_keeps_the_operators_log(desk: DeskState) -> None:
    desk.apply(OrderEvent(order("OT-9", 9)))
    desk.apply(RefusalEvent(at(9), Action.EXECUTE_CARD, RefusalCode.HALTED, "halted"))
    desk.apply(NoticeEvent(at(9), "info", "hello"))
    desk.apply(
        replace(snapshot(), positions=(), orders=(), cards=(), quotes=(), risk=risk(TradingState.HALTED))
    )
    assert desk.positions == {} and desk.orders == {} and desk.cards == () and desk.quotes == {}
    assert desk.halted
    assert desk.last_refusal is not None and desk.last_refusal.code == "HALTED"
    assert [n.message for n in desk.notices] == ["hello"]


def test_order_updates_keep_their_place_and_new_orders_come_first(desk: DeskState) -> None:
    assert desk.apply(OrderEvent(order("OT-4", 4))) == {"orders"}
    assert desk.apply(OrderEvent(order("OT-2", 2, OrderStatus.FILLED, filled=10))) == {"orders"}
    assert [o.client_order_id for o in desk.orders_newest_first()] == ["OT-4", "OT-3", "OT-2", "OT-1"]
    assert desk.orders["OT-2"].status is OrderStatus.FILLED
    assert desk.orders["OT-2"].filled_quantity == 10


def test_fills_are_announced_once_and_do_not_touch_order_quantities(desk: DeskState) -> None:
    fill = Fill("E-1", "OT-1", "AAPL", Side.BUY, 10, 110.5, 1.0, at(5))
    assert desk.apply(FillEvent(fill)) == {"notice", "fills"}
    assert desk.line is not None and desk.line.text == "filled BUY 10 AAPL @ 110.50 (OT-1)"
    assert desk.apply(FillEvent(fill)) == set()
    assert list(desk.fills) == [fill]
    assert desk.orders["OT-1"].filled_quantity == 0
    assert desk.market_time == at(5)


@pytest.mark.parametrize(
    ("symbol", "fill_price", "shown"),
    [
        ("EURUSD", 1.17236, "1.17236"),  # tick 0.00001: in cents the pip (4th place) would vanish
        ("USDJPY", 112.4567, "112.457"),  # tick 0.001
        ("AAPL", 1234.5, "1,234.50"),  # a stock: cents
    ],
)
def test_a_fills_message_line_shows_its_price_to_the_instruments_tick(
    desk: DeskState, symbol: str, fill_price: float, shown: str
) -> None:
    """The message line spells a fill's price as the quotes, positions and blotter do."""
    desk.apply(FillEvent(Fill("E-9", "OT-9", symbol, Side.SELL, 1000, fill_price, 2.0, at(6))))
    assert desk.line is not None and desk.line.text == f"filled SELL 1000 {symbol} @ {shown} (OT-9)"


def test_quotes_re_mark_positions_and_move_the_totals(desk: DeskState) -> None:
    before = desk.totals()
    assert before is not None and before.day_pnl == 300.0 and before.market_value == 11_100.0
    changed = desk.apply(MarketEvent(at(1), (quote("AAPL", 112.0, at(1)), quote("SPY", 500.0, at(1)))))
    assert changed == {"quotes", "positions"}
    assert desk.positions["AAPL"].last == 112.0
    assert desk.positions["AAPL"].unrealized_pnl == 120.0
    after = desk.totals()
    assert after is not None
    assert after.market_value == 11_120.0
    assert after.equity == 101_020.0 and after.day_pnl == 320.0 and after.unrealized == 970.0
    assert after.realized == 50.0 and after.cash == 90_000.0
    assert desk.quotes["SPY"].last == 500.0
    assert desk.market_time == at(1)


def test_a_quote_without_a_position_or_change_repaints_only_quotes(desk: DeskState) -> None:
    assert desk.apply(MarketEvent(at(1), (quote("SPY", 500.0, at(1)),))) == {"quotes"}
    assert desk.apply(MarketEvent(at(2), (quote("AAPL", 110.0, at(2)),))) == {"quotes"}


def test_a_portfolio_event_resets_the_mark_baseline(desk: DeskState) -> None:
    desk.apply(MarketEvent(at(1), (quote("AAPL", 112.0, at(1)),)))
    books = (Position("AAPL", 10, 100.0, 112.0), Position("MSFT", 10, 1000.0, 1000.0))
    assert desk.apply(PortfolioEvent(books, account(equity=101_020.0, day_pnl=320.0))) == {"positions"}
    totals = desk.totals()
    assert totals is not None and totals.equity == 101_020.0 and totals.day_pnl == 320.0


def test_market_time_never_goes_backwards(desk: DeskState) -> None:
    desk.apply(MarketEvent(at(5), (quote("SPY", 1.0, at(5)),)))
    desk.apply(StatusEvent(at(3), "paper", "paper", "running", "2024-03-15", 60.0))
    assert desk.market_time == at(5)


def test_cards_and_risk_are_taken_as_sent(desk: DeskState) -> None:
    assert desk.apply(CardsEvent(T0, (card("C-2"), card("C-3")))) == {"cards"}
    assert [c.card_id for c in desk.cards] == ["C-2", "C-3"]
    assert desk.apply(RiskEvent(risk(TradingState.HALTED))) == {"risk"}
    assert desk.halted


def test_a_refusal_event_is_recorded_with_its_reason(desk: DeskState) -> None:
    changed = desk.apply(
        RefusalEvent(at(2), Action.EXECUTE_CARD, RefusalCode.MAX_ORDER_VALUE, "too big", "C-1")
    )
    assert changed == {"refusal"}
    assert desk.last_refusal is not None and desk.last_refusal.message == "too big"
    assert desk.line is not None and desk.line.level == "error"
    assert desk.line.text == "REFUSED execute_card [MAX_ORDER_VALUE]: too big"


@pytest.mark.parametrize("event_first", [True, False])
def test_a_refusal_seen_as_event_and_result_counts_once(desk: DeskState, event_first: bool) -> None:
    event = RefusalEvent(at(2), Action.EXECUTE_CARD, RefusalCode.HALTED, "trading is halted")
    result = CommandResult(ok=False, message="trading is halted", code=RefusalCode.HALTED)

    def via_event() -> set[DeskArea]:
        return desk.apply(event)

    def via_result() -> set[DeskArea]:
        return desk.apply_result(Action.EXECUTE_CARD, result)

    steps = [via_event, via_result] if event_first else [via_result, via_event]
    assert [bool(step()) for step in steps] == [True, False]
    # a second press is a second refusal
    assert [bool(step()) for step in steps] == [True, False]


def test_refusals_from_another_console_each_show(desk: DeskState) -> None:
    event = RefusalEvent(at(2), Action.EXECUTE_CARD, RefusalCode.HALTED, "trading is halted")
    assert desk.apply(event) == {"refusal"}
    assert desk.apply(replace(event, ts=at(3))) == {"refusal"}


def test_a_result_the_engine_did_not_broadcast_still_shows(desk: DeskState) -> None:
    lost = CommandResult(ok=False, message="not connected to an engine", code=RefusalCode.DISCONNECTED)
    assert desk.apply_result(Action.KILL, lost) == {"refusal"}
    assert desk.line is not None and "not connected" in desk.line.text
    assert desk.line.ts == T0  # stamped with market time, not the wall clock


def test_successful_results_reach_the_message_line(desk: DeskState) -> None:
    assert desk.apply_result(Action.KILL, CommandResult(ok=True)) == set()
    assert desk.apply_result(Action.KILL, CommandResult(ok=True, message="HALTED")) == {"notice"}
    assert desk.line is not None and desk.line.level == "info" and desk.line.text == "HALTED"


def test_notices_are_bounded(desk: DeskState) -> None:
    for i in range(MAX_NOTICES + 5):
        desk.apply(NoticeEvent(T0, "info", f"n{i}"))
    assert len(desk.notices) == MAX_NOTICES
    assert desk.notices[-1].message == f"n{MAX_NOTICES + 4}"
