"""Futures at the simulator through the real ib_insync client: expiry per root, initial and
maintenance margin, orders refused beyond the available funds, daily settlement (variation margin).

ES margins are the simulator's table (``money.FUTURE_MARGINS``): 16,000 initial, 14,500
maintenance per contract; commission 0.85 a contract. The clock is 2 January 2024 (``T0``).
"""

from __future__ import annotations

import pytest
from ib_insync import IB, Future, MarketOrder

from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator
from engine.brokers.tws_sim.money import FUTURE_MARGINS
from engine.model.instruments import FUTURE_ROOTS
from tests.engine.brokers.tws_sim.conftest import wait_for


def _values(ib: IB, tag: str) -> float:
    (value,) = [float(v.value) for v in ib.accountValues() if v.tag == tag and v.currency == "USD"]
    return value


def _errors(ib: IB) -> list[str]:
    messages: list[str] = []
    ib.errorEvent += lambda req_id, code, msg, contract: messages.append(msg)
    return messages


def test_every_root_has_a_margin() -> None:
    assert set(FUTURE_ROOTS) <= set(FUTURE_MARGINS)


def test_contract_details_carry_the_roots_last_trading_day(ib: IB) -> None:
    """CLF27 (January 2027 delivery) stops trading on 21 December 2026; its contract month is
    still 202701 and its localSymbol CLF7. GC lists only its active months: no GCF27."""
    cl = Future("CL", "202701", "NYMEX")
    assert ib.qualifyContracts(cl) == [cl]
    assert (cl.lastTradeDateOrContractMonth, cl.localSymbol, cl.multiplier) == ("20261221", "CLF7", "1000")
    (details,) = ib.reqContractDetails(cl)
    assert details.contractMonth == "202701"
    gc = Future("GC", "202612", "COMEX")
    ib.qualifyContracts(gc)
    assert gc.lastTradeDateOrContractMonth == "20261229"
    assert ib.reqContractDetails(Future("GC", "202701", "COMEX")) == []


def test_an_expired_contract_is_refused_naming_its_last_day(ib: IB, sim: TwsSimulator) -> None:
    """ESZ3 stopped trading on 15 December 2023; the clock says 2 January 2024."""
    es = Future("ES", "202312", "CME")
    ib.qualifyContracts(es)
    sim.set_quote("ESZ3", 4780.00, 4780.25, 4780.0, bid_size=10, ask_size=10)
    messages = _errors(ib)
    trade = ib.placeOrder(es, MarketOrder("BUY", 1))
    assert wait_for(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert messages == [
        "Order rejected - reason:The contract ESZ3 has expired: its last trading day was 2023-12-15"
    ]
    assert sim.exchange.executions == []


@pytest.mark.parametrize("sim_config", [SimulatorConfig(cash=20_000.0)])
def test_margin_in_account_values_and_an_order_beyond_funds_refused(ib: IB, sim: TwsSimulator) -> None:
    """20,000 USD. Buy 1 ESH4 at 4800.00 (last 4800.00): net liquidation 20,000 - 0.85 =
    19,999.15; InitMarginReq 16,000, MaintMarginReq 14,500; available 3,999.15, excess 5,499.15.
    A second contract needs 16,000 + 0.85 more: refused with TWS's margin text. Selling the one
    held adds no contract: accepted."""
    es = Future("ES", "202403", "CME")
    ib.qualifyContracts(es)
    sim.set_quote("ESH4", 4799.75, 4800.00, 4800.0, bid_size=10, ask_size=10)
    first = ib.placeOrder(es, MarketOrder("BUY", 1))
    assert wait_for(ib, lambda: first.orderStatus.status == "Filled")
    assert wait_for(ib, lambda: _values(ib, "InitMarginReq") == 16_000.0)
    assert _values(ib, "MaintMarginReq") == 14_500.0
    assert _values(ib, "NetLiquidation") == pytest.approx(19_999.15)
    assert _values(ib, "AvailableFunds") == pytest.approx(3_999.15)
    assert _values(ib, "ExcessLiquidity") == pytest.approx(5_499.15)

    messages = _errors(ib)
    second = ib.placeOrder(es, MarketOrder("BUY", 1))
    assert wait_for(ib, lambda: second.orderStatus.status == "Cancelled")
    assert messages == [
        "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION "
        "YOUR EQUITY WITH LOAN VALUE [19999.15 USD] MUST EXCEED THE INITIAL MARGIN [32000.85 USD]"
    ]
    close = ib.placeOrder(es, MarketOrder("SELL", 1))
    assert wait_for(ib, lambda: close.orderStatus.status == "Filled")
    assert wait_for(ib, lambda: _values(ib, "InitMarginReq") == 0.0)


def test_daily_settlement_moves_variation_margin_into_cash(ib: IB, sim: TwsSimulator) -> None:
    """Buy 2 ESH4 at 4800.00 (commission 1.70): cash 999,998.30. The session settles at 4810.00:
    2 x 10 x 50 = 1,000 into cash -> 1,000,998.30; the portfolio keeps avgCost (2 x 240,000 +
    1.70) / 2 = 240,000.85 and shows unrealized 2 x 240,500 - 480,001.70 = 998.30. Next day marked
    at 4805.00: net liquidation 1,000,998.30 + 2 x (4805 - 4810) x 50 = 1,000,498.30. Selling both
    at 4804.75 realizes 2 x (240,237.50 - 240,000.85) - 1.70 = 471.60, and cash ends at
    1,000,000 + 471.60: the settlements and the close add up to the trade's P&L."""
    es = Future("ES", "202403", "CME")
    ib.qualifyContracts(es)
    sim.set_quote("ESH4", 4799.75, 4800.00, 4800.0, bid_size=10, ask_size=10)
    buy = ib.placeOrder(es, MarketOrder("BUY", 2))
    assert wait_for(ib, lambda: buy.orderStatus.status == "Filled")
    assert wait_for(ib, lambda: _values(ib, "TotalCashValue") == pytest.approx(999_998.30))

    sim.set_quote("ESH4", 4809.75, 4810.25, 4810.0, bid_size=10, ask_size=10)
    sim.end_session()
    assert wait_for(ib, lambda: _values(ib, "TotalCashValue") == pytest.approx(1_000_998.30))
    (line,) = ib.portfolio()
    assert line.averageCost == pytest.approx(240_000.85)
    assert line.unrealizedPNL == pytest.approx(998.30)
    assert _values(ib, "NetLiquidation") == pytest.approx(1_000_998.30)

    sim.set_quote("ESH4", 4804.75, 4805.25, 4805.0, bid_size=10, ask_size=10)
    book = sim.exchange.accounts["DU1234567"]  # TWS pushes account values on changes to the book,
    now = sim.call(lambda: book.values(sim.exchange.quote))  # not on every quote: ask the simulator
    assert now["NetLiquidation"] == pytest.approx(1_000_498.30)
    ledger = sim.call(lambda: book.ledger(sim.exchange.quote))
    assert ("FuturesPNL", pytest.approx(-500.0), "USD") in ledger
    sell = ib.placeOrder(es, MarketOrder("SELL", 2))
    assert wait_for(ib, lambda: bool(sell.fills) and sell.fills[0].commissionReport.realizedPNL != 0)
    assert sell.fills[0].commissionReport.realizedPNL == pytest.approx(471.60, abs=1e-6)
    assert book.cash == pytest.approx(1_000_471.60, abs=1e-6)
