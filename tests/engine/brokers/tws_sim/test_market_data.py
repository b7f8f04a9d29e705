"""Contracts, quotes (streaming, snapshot, delayed, not subscribed) and historical bars."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date

import pandas as pd
import pytest
from ib_insync import IB, Option, Stock

from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator
from engine.brokers.tws_sim.contracts import stable_con_id
from tests.engine.brokers.tws_sim.conftest import barrier, wait_for


def test_qualify_known_stock_etf_and_option(ib: IB) -> None:
    aapl, spy = Stock("AAPL", "SMART", "USD"), Stock("SPY", "SMART", "USD")
    opt = Option("AAPL", "20240119", 150.0, "C", "SMART")
    assert len(ib.qualifyContracts(aapl, spy, opt)) == 3
    assert aapl.conId == stable_con_id("AAPL")
    assert aapl.primaryExchange == "NASDAQ"
    assert spy.primaryExchange == "ARCA"
    assert opt.localSymbol == "AAPL  240119C00150000"
    assert opt.multiplier == "100"
    details = ib.reqContractDetails(Stock("IBM", "SMART", "USD"))
    assert details[0].longName == "INTL BUSINESS MACHINES CORP"
    assert details[0].stockType == "COMMON"


def test_unknown_symbol_gets_error_200(ib: IB) -> None:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    assert ib.qualifyContracts(Stock("NOPE", "SMART", "USD")) == []
    assert codes == [200]


def test_streaming_quotes_update_the_ticker(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("MSFT", 370.0, 370.05, 370.02, bid_size=300, ask_size=200)
    contract = Stock("MSFT", "SMART", "USD")
    ib.qualifyContracts(contract)
    ticker = ib.reqMktData(contract)
    assert wait_for(ib, lambda: ticker.bid == 370.0 and ticker.askSize == 200 and ticker.last == 370.02)
    assert (ticker.ask, ticker.bidSize) == (370.05, 300)
    assert ticker.marketDataType == 1
    sim.set_quote("MSFT", 371.0, 371.1, 371.05, last_size=50, volume=12345)
    assert wait_for(ib, lambda: ticker.volume == 12345)
    assert (ticker.bid, ticker.lastSize) == (371.0, 50)
    ib.cancelMktData(contract)
    barrier(ib)  # the simulator has the cancel
    sim.set_quote("MSFT", 372.0, 372.1, 372.05)
    barrier(ib)  # and any tick it sent for this quote has arrived
    assert ticker.bid == 371.0  # no ticks after cancelMktData


def test_snapshot_ends_with_tick_snapshot_end(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 190.0, 190.02, 190.01)
    contract = Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    (ticker,) = ib.reqTickers(contract)
    assert (ticker.bid, ticker.ask, ticker.last) == (190.0, 190.02, 190.01)


def test_delayed_market_data_type(ib: IB, sim: TwsSimulator) -> None:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    seen: set[int] = set()  # ticker.ticks holds one batch only: collect every batch's tick types
    ib.pendingTickersEvent += lambda tickers: seen.update(t.tickType for tk in tickers for t in tk.ticks)
    sim.set_quote("IBM", 160.0, 160.1, 160.05)
    ib.reqMarketDataType(3)
    contract = Stock("IBM", "SMART", "USD")
    ib.qualifyContracts(contract)
    ticker = ib.reqMktData(contract)
    assert wait_for(ib, lambda: ticker.last == 160.05 and seen >= {66, 67, 68})
    assert ticker.marketDataType == 3
    assert (ticker.bid, ticker.ask) == (160.0, 160.1)
    assert 10167 in codes


def test_not_subscribed_symbol_gets_354(ib: IB, sim: TwsSimulator) -> None:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    sim.faults.deny_market_data("GOOG")
    sim.set_quote("GOOG", 100.0, 100.1, 100.05)
    contract = Stock("GOOG", "SMART", "USD")
    ib.qualifyContracts(contract)
    ticker = ib.reqMktData(contract)
    assert wait_for(ib, lambda: 354 in codes)
    assert math.isnan(ticker.bid)


@pytest.mark.parametrize("sim_config", [SimulatorConfig(delayed=True)])
def test_delayed_only_simulator_serves_delayed_to_live_requests(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AMZN", 150.0, 150.1, 150.05)
    contract = Stock("AMZN", "SMART", "USD")
    ib.qualifyContracts(contract)
    ticker = ib.reqMktData(contract)
    assert wait_for(ib, lambda: ticker.bid == 150.0)
    assert ticker.marketDataType == 3


def test_historical_daily_bars_equal_the_shipped_bars(
    ib: IB, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    contract = Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    bars = ib.reqHistoricalData(contract, "20121231 23:59:59 UTC", "3 M", "1 day", "TRADES", True, 1)
    frame = shipped_bars["AAPL"]
    expected = frame[(frame.index > pd.Timestamp("2012-09-30")) & (frame.index <= pd.Timestamp("2012-12-31"))]
    assert len(bars) == len(expected) > 55
    assert bars[0].date == date(2012, 10, 1)
    assert bars[-1].date == date(2012, 12, 31)
    got = [(b.open, b.high, b.low, b.close, b.volume) for b in bars]
    want = [
        tuple(float(x) for x in row)
        for row in expected[["open", "high", "low", "close", "volume"]].to_numpy()
    ]
    assert got == want


def test_historical_weeks_and_years(ib: IB) -> None:
    contract = Stock("MSFT", "SMART", "USD")
    ib.qualifyContracts(contract)
    weeks = ib.reqHistoricalData(contract, "20121228 23:59:59 UTC", "2 W", "1 day", "TRADES", True, 1)
    assert weeks[0].date == date(2012, 12, 17)
    year = ib.reqHistoricalData(contract, "20121231 23:59:59 UTC", "1 Y", "1 day", "TRADES", True, 1)
    assert 245 <= len(year) <= 255


def test_nonsense_historical_request_gets_162(ib: IB) -> None:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    contract = Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    assert len(ib.reqHistoricalData(contract, "", "3 Q", "1 day", "TRADES", True, 1)) == 0
    assert len(ib.reqHistoricalData(contract, "", "1 M", "5 mins", "TRADES", True, 1)) == 0
    assert codes == [162, 162]
