"""Orders through the real ib_insync client: types, partial fills, modify, cancel, books."""

from __future__ import annotations

import pytest
from ib_insync import IB, LimitOrder, MarketOrder, Order, Stock, StopLimitOrder, StopOrder, Trade

from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator
from tests.engine.brokers.tws_sim.conftest import Connect, barrier, wait_for


def _stock(ib: IB, symbol: str = "AAPL") -> Stock:
    contract = Stock(symbol, "SMART", "USD")
    ib.qualifyContracts(contract)
    return contract


def _done(trade: Trade) -> bool:
    return trade.orderStatus.status in ("Filled", "Cancelled", "Inactive")


def test_market_order_fills_at_the_ask_with_commission(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    trade = ib.placeOrder(_stock(ib), MarketOrder("BUY", 100, orderRef="mkt-1"))
    assert wait_for(
        ib, lambda: _done(trade) and bool(trade.fills) and trade.fills[0].commissionReport.execId != ""
    )
    assert trade.orderStatus.status == "Filled"
    assert trade.orderStatus.avgFillPrice == 100.02
    fill = trade.fills[0]
    assert fill.execution.side == "BOT" and fill.execution.shares == 100
    assert fill.execution.orderRef == "mkt-1"
    assert fill.execution.clientId == 1
    assert fill.execution.execId.startswith("0000e1a7.")
    assert fill.commissionReport.commission == 1.0  # 100 x $0.005 = $0.50, minimum $1
    assert trade.order.permId == fill.execution.permId > 0


def test_sell_market_order_fills_at_the_bid(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    trade = ib.placeOrder(_stock(ib), MarketOrder("SELL", 10))
    assert wait_for(ib, lambda: _done(trade))
    assert trade.orderStatus.avgFillPrice == 100.0


def test_limit_order_rests_then_fills_when_a_quote_crosses(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("MSFT", 300.0, 300.10, 300.05)
    trade = ib.placeOrder(_stock(ib, "MSFT"), LimitOrder("BUY", 50, 299.50, orderRef="lmt"))
    assert wait_for(ib, lambda: trade.orderStatus.status == "Submitted")
    assert trade.orderStatus.remaining == 50
    assert ib.openTrades() == [trade]
    sim.set_quote("MSFT", 299.30, 299.40, 299.35)
    assert wait_for(ib, lambda: _done(trade))
    assert trade.orderStatus.status == "Filled"
    assert trade.orderStatus.avgFillPrice == 299.40  # the better of the limit and the touch
    assert trade.order.orderRef == "lmt"


def test_marketable_limit_fills_at_the_touch(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("MSFT", 300.0, 300.10, 300.05)
    trade = ib.placeOrder(_stock(ib, "MSFT"), LimitOrder("BUY", 5, 301.0))
    assert wait_for(ib, lambda: _done(trade))
    assert trade.orderStatus.avgFillPrice == 300.10


def test_stop_order_triggers_on_the_last_and_fills_as_market(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("IBM", 150.0, 150.1, 150.05)
    trade = ib.placeOrder(_stock(ib, "IBM"), StopOrder("SELL", 20, 149.0))
    assert wait_for(ib, lambda: trade.orderStatus.status == "Submitted")
    sim.set_quote("IBM", 149.5, 149.6, 149.55)  # above the stop: no trigger
    barrier(ib)
    assert trade.orderStatus.status == "Submitted" and not trade.fills
    sim.set_quote("IBM", 148.9, 149.0, 148.95)
    assert wait_for(ib, lambda: _done(trade))
    assert trade.orderStatus.avgFillPrice == 148.9


def test_stop_limit_becomes_a_limit(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("IBM", 150.0, 150.1, 150.05)
    trade = ib.placeOrder(_stock(ib, "IBM"), StopLimitOrder("BUY", 10, 151.0, 151.0))
    assert wait_for(ib, lambda: trade.orderStatus.status == "Submitted")
    sim.set_quote("IBM", 151.0, 151.2, 151.1)  # triggered, but the ask is above the limit
    barrier(ib)
    assert trade.orderStatus.status == "Submitted" and not trade.fills
    sim.set_quote("IBM", 150.8, 150.9, 151.0)
    assert wait_for(ib, lambda: _done(trade))
    assert trade.orderStatus.avgFillPrice == 150.9


@pytest.mark.parametrize("sim_config", [SimulatorConfig(fill_at_displayed_size=True)])
def test_partial_fills_accumulate_over_quote_updates(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.02, 100.01, ask_size=100)
    trade = ib.placeOrder(_stock(ib), MarketOrder("BUY", 250))
    assert wait_for(ib, lambda: trade.orderStatus.filled == 100)
    assert trade.orderStatus.remaining == 150 and trade.orderStatus.status == "Submitted"
    sim.set_quote("AAPL", 100.0, 100.04, 100.03, ask_size=100)
    assert wait_for(ib, lambda: trade.orderStatus.filled == 200)
    sim.set_quote("AAPL", 100.0, 100.06, 100.05, ask_size=300)
    assert wait_for(ib, lambda: len(trade.fills) == 3 and trade.fills[-1].commissionReport.execId != "")
    assert [f.execution.shares for f in trade.fills] == [100, 100, 50]
    assert [f.execution.cumQty for f in trade.fills] == [100, 200, 250]
    assert trade.orderStatus.avgFillPrice == pytest.approx((100 * 100.02 + 100 * 100.04 + 50 * 100.06) / 250)
    assert len({f.execution.execId for f in trade.fills}) == 3
    # $0.005 x 250 = $1.25 for the order, minimum $1 charged once
    assert sum(f.commissionReport.commission for f in trade.fills) == pytest.approx(1.25)


def test_fractional_quantity_round_trips(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    trade = ib.placeOrder(_stock(ib), MarketOrder("BUY", 2.5))
    assert wait_for(ib, lambda: _done(trade) and bool(trade.fills))
    assert trade.orderStatus.filled == 2.5
    assert trade.fills[0].execution.shares == 2.5
    assert wait_for(ib, lambda: [p.position for p in ib.positions()] == [2.5])


def test_modify_quantity_and_price(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    order = LimitOrder("BUY", 10, 95.0)
    trade = ib.placeOrder(_stock(ib), order)
    assert wait_for(ib, lambda: trade.orderStatus.status == "Submitted")
    order.totalQuantity = 30
    order.lmtPrice = 96.0
    ib.placeOrder(trade.contract, order)
    assert wait_for(ib, lambda: trade.orderStatus.remaining == 30)
    assert ib.openTrades()[0].order.lmtPrice == 96.0
    order.lmtPrice = 101.0
    ib.placeOrder(trade.contract, order)
    assert wait_for(ib, lambda: _done(trade))
    assert trade.orderStatus.filled == 30 and trade.orderStatus.avgFillPrice == 100.02


def test_cancel_and_cancel_unknown(ib: IB, sim: TwsSimulator) -> None:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    trade = ib.placeOrder(_stock(ib), LimitOrder("BUY", 10, 90.0))
    assert wait_for(ib, lambda: trade.orderStatus.status == "Submitted")
    ib.cancelOrder(trade.order)
    assert wait_for(ib, lambda: trade.orderStatus.status == "Cancelled" and 202 in codes)
    ib.client.cancelOrder(987654)  # type: ignore[no-untyped-call]
    assert wait_for(ib, lambda: 10147 in codes)


def test_global_cancel_reaches_every_client(connect: Connect, sim: TwsSimulator) -> None:
    a, b = connect(1), connect(2)
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    ta = a.placeOrder(_stock(a), LimitOrder("BUY", 1, 90.0))
    tb = b.placeOrder(_stock(b), LimitOrder("SELL", 1, 110.0))
    assert wait_for(a, lambda: ta.orderStatus.status == "Submitted")
    assert wait_for(b, lambda: tb.orderStatus.status == "Submitted")
    a.reqGlobalCancel()  # type: ignore[no-untyped-call]
    assert wait_for(a, lambda: ta.orderStatus.status == "Cancelled")
    assert wait_for(b, lambda: tb.orderStatus.status == "Cancelled")
    assert len(a.reqAllOpenOrders()) == 0


def test_positions_and_balances_after_fills(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.0, 100.0)
    buy = ib.placeOrder(_stock(ib), MarketOrder("BUY", 1000))
    assert wait_for(ib, lambda: _done(buy))
    assert wait_for(ib, lambda: [p.position for p in ib.positions()] == [1000])
    (pos,) = ib.positions()
    assert pos.avgCost == pytest.approx(100.005)  # $5 commission in the average cost, like IB
    values = {
        v.tag: float(v.value) for v in ib.accountValues() if v.currency == "USD" and v.tag != "Currency"
    }
    assert values["TotalCashValue"] == pytest.approx(1_000_000 - 100_000 - 5)
    summary = {v.tag: float(v.value) for v in ib.accountSummary() if v.tag == "NetLiquidation"}
    assert summary["NetLiquidation"] == pytest.approx(1_000_000 - 5)
    sim.set_quote("AAPL", 110.0, 110.0, 110.0)
    sell = ib.placeOrder(_stock(ib), MarketOrder("SELL", 400))
    assert wait_for(
        ib, lambda: _done(sell) and bool(sell.fills) and sell.fills[0].commissionReport.execId != ""
    )
    assert sell.fills[0].commissionReport.realizedPNL == pytest.approx(400 * (110 - 100.005) - 2.0)
    assert wait_for(ib, lambda: [p.position for p in ib.positions()] == [600])
    assert wait_for(ib, lambda: [p.position for p in ib.portfolio()] == [600])
    (item,) = ib.portfolio()
    assert item.position == 600 and item.marketPrice == 110.0
    assert item.realizedPNL == pytest.approx(400 * (110 - 100.005) - 2.0)


@pytest.mark.parametrize("sim_config", [SimulatorConfig(cash=10_000.0)])
def test_insufficient_cash_is_rejected_with_201(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    trade = ib.placeOrder(_stock(ib), MarketOrder("BUY", 1000))
    assert wait_for(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert any(e.errorCode == 201 and "Insufficient funds" in e.message for e in trade.log)


def test_ioc_cancels_the_unfilled_rest(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    trade = ib.placeOrder(_stock(ib), LimitOrder("BUY", 10, 99.0, tif="IOC"))
    assert wait_for(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert trade.orderStatus.filled == 0


def test_day_orders_expire_at_the_close_gtc_orders_stay(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    day = ib.placeOrder(_stock(ib), LimitOrder("BUY", 1, 90.0))
    gtc = ib.placeOrder(_stock(ib), LimitOrder("BUY", 1, 90.0, tif="GTC"))
    assert wait_for(ib, lambda: gtc.orderStatus.status == "Submitted")
    sim.end_session()
    assert wait_for(ib, lambda: day.orderStatus.status == "Cancelled")
    assert gtc.orderStatus.status == "Submitted"


def test_order_for_an_option_uses_the_multiplier(ib: IB, sim: TwsSimulator) -> None:
    from ib_insync import Option

    opt = Option("AAPL", "20240119", 150.0, "C", "SMART")
    ib.qualifyContracts(opt)
    sim.set_quote("AAPL  240119C00150000", 2.0, 2.1, 2.05)
    trade = ib.placeOrder(opt, MarketOrder("BUY", 3))
    assert wait_for(
        ib, lambda: _done(trade) and bool(trade.fills) and trade.fills[0].commissionReport.execId != ""
    )
    assert trade.fills[0].commissionReport.commission == pytest.approx(1.95)  # 3 x $0.65
    assert wait_for(ib, lambda: len(ib.positions()) == 1)
    assert ib.positions()[0].avgCost == pytest.approx((3 * 210 + 1.95) / 3)


def test_order_with_an_unknown_contract_gets_200(ib: IB) -> None:
    trade = ib.placeOrder(
        Stock("NOPE", "SMART", "USD"), Order(action="BUY", totalQuantity=1, orderType="MKT")
    )
    assert wait_for(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert any(e.errorCode == 200 for e in trade.log)


def test_what_if_previews_without_placing(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    state = ib.whatIfOrder(_stock(ib), MarketOrder("BUY", 1000))
    assert state.commission == pytest.approx(5.0)
    assert float(state.initMarginChange) == pytest.approx(100_020.0)
    assert float(state.equityWithLoanBefore) == pytest.approx(1_000_000.0)
    assert sim.exchange.orders == {} and ib.openTrades() == []


def test_reqallopenorders_shows_every_client(connect: Connect, sim: TwsSimulator) -> None:
    a, b = connect(1), connect(2)
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    tb = b.placeOrder(_stock(b), LimitOrder("SELL", 1, 110.0))
    assert wait_for(b, lambda: tb.orderStatus.status == "Submitted")
    assert [(t.order.clientId, t.order.permId) for t in a.reqAllOpenOrders()] == [(2, tb.order.permId)]
    assert a.reqOpenOrders() == []
