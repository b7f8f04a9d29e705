"""Pilot tests of the desk's widgets against a test double of the engine transport.

``FakeClient`` stands in for the transport only (it records commands and lets a test
push events), so these tests check what the widgets draw and send, deterministically:
events are pushed by hand, and the desk is flushed explicitly instead of waiting on the
10 Hz timer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from textual.widgets import Input, Static

from console.app import Hotkeys, OneTapApp
from console.screens import ResumeDialog
from console.widgets import HaltBanner, MessageLine
from engine.model import (
    AccountSnapshot,
    Leg,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    RiskState,
    Side,
    StrategyCard,
    TradingState,
)
from engine.model.events import (
    CancelOrder,
    CardsEvent,
    ExecuteCard,
    Kill,
    MarketEvent,
    RefusalEvent,
    ResetKill,
    RiskEvent,
    SnapshotEvent,
    StatusEvent,
)
from tests.console.helpers import T0, FakeClient, settle, shown_toasts, table_rows


# --------------------------------------------------------------------------- fixtures
def card(
    card_id: str, symbol: str, *, side: Side = Side.BUY, qty: float = 10, conf: float = 0.6
) -> StrategyCard:
    return StrategyCard(
        card_id=card_id,
        template="momentum",
        name=f"Momentum {symbol}",
        legs=(Leg(symbol, side, qty),),
        confidence=conf,
        expected_return=0.021,
        max_risk=250.0,
        reason=f"{symbol} 20-day high with rising volume; trend filter positive",
        asof=T0,
    )


def quote(symbol: str, last: float, ts: datetime = T0) -> Quote:
    return Quote(symbol, ts, last - 0.01, last + 0.01, last, 100, 100, 10, 1000)


def order(coid: str, symbol: str, status: OrderStatus, minute: int, *, filled: float = 0) -> Order:
    return Order(
        client_order_id=coid,
        symbol=symbol,
        side=Side.BUY,
        quantity=10,
        order_type=OrderType.LMT,
        limit_price=100.0,
        status=status,
        filled_quantity=filled,
        avg_fill_price=99.5 if filled else None,
        created_at=T0.replace(minute=minute),
        updated_at=T0.replace(minute=minute),
    )


def risk_state(state: TradingState = TradingState.ACTIVE, reason: str = "") -> RiskState:
    return RiskState(
        trading_state=state,
        gross_exposure=0.42,
        gross_limit=1.0,
        day_loss=0.004,
        day_loss_limit=0.02,
        drawdown=0.01,
        drawdown_limit=0.10,
        var_95=0.017,
        var_limit=0.02,
        halted_reason=reason,
        halted_at=T0 if state is TradingState.HALTED else None,
    )


def snapshot(state: TradingState = TradingState.ACTIVE) -> SnapshotEvent:
    return SnapshotEvent(
        status=StatusEvent(
            T0, broker="paper", mode="paper", feed="running", session_day="2024-03-15", speed=60.0
        ),
        positions=(
            Position("AAPL", 10, 170.0, 172.5, realized_pnl=12.0),
            Position("MSFT", 5, 410.0, 405.0),
        ),
        account=AccountSnapshot(
            cash=96_000.0,
            equity=99_750.0,
            gross_exposure=3_750.0,
            realized_pnl=12.0,
            unrealized_pnl=0.0,
            day_pnl=-250.0,
            start_of_day_equity=100_000.0,
            peak_equity=100_000.0,
        ),
        orders=(
            order("OT-1", "AAPL", OrderStatus.FILLED, 31, filled=10),
            order("OT-2", "MSFT", OrderStatus.ACKNOWLEDGED, 32),
        ),
        cards=(card("C-1", "NVDA"), card("C-2", "AMD", side=Side.SELL), card("C-3", "SPY", conf=0.55)),
        risk=risk_state(state, "operator kill switch" if state is TradingState.HALTED else ""),
        quotes=(quote("AAPL", 172.5), quote("MSFT", 405.0)),
    )


# --------------------------------------------------------------------------- tests
async def test_the_four_panes_render_the_snapshot() -> None:
    app = OneTapApp(FakeClient(snapshot()))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        positions = table_rows(app, "positions-table")
        assert [r[0] for r in positions] == ["AAPL", "MSFT"]
        assert positions[0][1:4] == ["10", "170.00", "172.50"]
        assert positions[0][5] == "+25.00"
        cards = table_rows(app, "cards-table")
        assert [(r[0], r[2], r[3]) for r in cards] == [
            ("1", "NVDA", "BUY 10"),
            ("2", "AMD", "SELL 10"),
            ("3", "SPY", "BUY 10"),
        ]
        assert cards[0][4] == "60%"
        blotter = table_rows(app, "blotter-table")
        assert [r[1] for r in blotter] == ["OT-2", "OT-1"]
        assert blotter[0][0] == "10:32:00"
        assert blotter[0][7] == "WORKING"
        gauges = str(app.screen.query_one("#risk").render())
        assert "ACTIVE" in gauges and "Gross" in gauges and "VaR 95%" in gauges
        status = str(app.screen.query_one("#status-line", Static).render())
        assert "10:30:00 EDT Fri 2024-03-15" in status and "│ paper │" in status
        assert "session" not in status  # the clock's date is the session's: said once
        assert app.focused is not None and app.focused.id == "cards-table"


async def test_x_on_the_second_card_sends_execute_card_with_its_id() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "x")
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-2")]


async def test_hotkeys_are_remappable() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client, hotkeys=Hotkeys(execute="e", down="n"))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("n", "n", "x", "e")
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-3")]


async def test_ctrl_k_sends_kill_even_with_the_resume_dialog_open() -> None:
    client = FakeClient(snapshot(TradingState.HALTED))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ResumeDialog)
        await pilot.press("ctrl+k")
        await settle(pilot)
        assert isinstance(app.screen, ResumeDialog)
        assert client.sent == [Kill()]


async def test_a_wrong_resume_word_is_refused_in_the_dialog_and_escape_closes_it() -> None:
    client = FakeClient(snapshot(TradingState.HALTED))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        await pilot.press(*"resume", "enter")
        await settle(pilot)
        assert client.sent == [ResetKill(confirmation="resume")]
        assert isinstance(app.screen, ResumeDialog)
        error = str(app.screen.query_one("#resume-error", Static).render())
        assert "type RESUME exactly" in error
        assert app.screen.query_one(Input).value == ""
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ResumeDialog)
        assert len(client.sent) == 1


async def test_resume_sends_the_typed_word_and_closes_on_success() -> None:
    client = FakeClient(snapshot(TradingState.HALTED))
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("R", *"RESUME", "enter")
        await settle(pilot)
        assert client.sent == [ResetKill(confirmation="RESUME")]
        assert not isinstance(app.screen, ResumeDialog)


async def test_a_refusal_shows_its_reason_on_the_desk_once() -> None:
    client = FakeClient(snapshot(TradingState.HALTED))
    client.halted = True
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        line = str(app.screen.query_one(MessageLine).render())
        assert "REFUSED execute_card [HALTED]: trading is halted: operator kill switch" in line
        assert app.screen.query_one(MessageLine).has_class("-error")
        toasts = [n for n in shown_toasts(app) if n.severity == "error"]
        assert len(toasts) == 1 and "trading is halted" in toasts[0].message


async def test_a_pushed_refusal_event_shows_on_the_desk() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        client.push(RefusalEvent(T0, "execute_card", "MAX_ORDER_VALUE", "order value 30,000 exceeds 25,000"))
        await settle(pilot)
        assert "order value 30,000 exceeds 25,000" in str(app.screen.query_one(MessageLine).render())


async def test_the_halted_banner_shows_only_while_halted() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        banner = app.screen.query_one(HaltBanner)
        assert not banner.display
        client.push(RiskEvent(risk_state(TradingState.HALTED, "operator kill switch")))
        await settle(pilot)
        assert banner.display
        text = str(banner.render())
        assert text.startswith("HALTED: operator kill switch since 2024-03-15 10:30:00 EDT")
        assert "Press R and type RESUME" in text
        client.push(RiskEvent(risk_state(TradingState.ACTIVE)))
        await settle(pilot)
        assert not banner.display


async def test_card_selection_follows_the_card_when_the_ranking_changes() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j")  # on C-2 (AMD)
        reranked = (card("C-3", "SPY"), card("C-4", "QQQ"), card("C-2", "AMD", side=Side.SELL))
        client.push(CardsEvent(T0, reranked))
        await settle(pilot)
        assert [r[2] for r in table_rows(app, "cards-table")] == ["SPY", "QQQ", "AMD"]
        await pilot.press("x")
        await settle(pilot)
        assert client.sent == [ExecuteCard("C-2")]


async def test_quotes_re_mark_positions_and_totals() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        client.push(MarketEvent(T0.replace(minute=45), (quote("AAPL", 180.0, T0.replace(minute=45)),)))
        await settle(pilot)
        aapl = table_rows(app, "positions-table")[0]
        assert aapl[3] == "180.00" and aapl[5] == "+100.00"
        totals = str(app.screen.query_one("#positions-totals", Static).render())
        assert "Today -175.00" in totals  # -250 + 10 * (180 - 172.5)
        assert "10:45:00" in str(app.screen.query_one("#status-line", Static).render())


async def test_market_messages_coalesce_only_when_nothing_is_lost() -> None:
    from console.messages import EngineEventMessage

    both = EngineEventMessage(MarketEvent(T0, (quote("AAPL", 1), quote("MSFT", 2))))
    one = EngineEventMessage(MarketEvent(T0, (quote("AAPL", 1),)))
    assert one.can_replace(both)
    assert not both.can_replace(one)
    assert not one.can_replace(EngineEventMessage(RiskEvent(risk_state())))


async def test_the_desk_survives_80x24_and_a_halt() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.has_class("-narrow")
        reason = "circuit breaker: today's loss 2.10% exceeds 2.00%"
        client.push(RiskEvent(risk_state(TradingState.HALTED, reason)))
        client.push(replace(snapshot(TradingState.HALTED), cards=()))
        await settle(pilot)
        assert app.screen.query_one(HaltBanner).display
        assert table_rows(app, "cards-table") == []
        await pilot.press("x")
        await settle(pilot)
        assert client.sent == []


async def test_q_closes_the_client_and_exits() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert client.closed


async def test_c_in_the_blotter_cancels_a_working_order_only() -> None:
    client = FakeClient(snapshot())
    app = OneTapApp(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        assert app.focused is not None and app.focused.id == "blotter-table"
        await pilot.press("c", "j", "c")  # OT-2 is working; OT-1 is filled
        await settle(pilot)
        assert client.sent == [CancelOrder("OT-2")]


async def test_the_highlighted_cards_whole_reason_shows_under_the_table() -> None:
    app = OneTapApp(FakeClient(snapshot()))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        reason = app.screen.query_one("#card-reason", Static)
        assert str(reason.render()).startswith(
            "x: BUY 10 NVDA momentum  ·  Momentum NVDA  NVDA 20-day high with rising volume"
        )
        await pilot.press("j")
        await settle(pilot)
        text = str(reason.render())
        assert text.startswith(
            "x: SELL 10 AMD momentum  ·  Momentum AMD  "
            "AMD 20-day high with rising volume; trend filter positive"
        )
        assert "horizon 5 sessions" in text
