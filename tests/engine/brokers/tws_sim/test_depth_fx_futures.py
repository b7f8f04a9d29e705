"""Market depth, forex (CASH on IDEALPRO) and futures through the real ib_insync client.

The forex quotes come from the first twelve hourly bars of ``gym_anytrading_FOREX_EURUSD_1H_ASK.csv``
(gym-anytrading 2.0.0, MIT; ``shared/data/README.md``), copied to ``data/eurusd_1h_ask_head.csv``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ib_insync import IB, Forex, Future, LimitOrder, MarketOrder, Stock

from engine.brokers.tws_sim import TwsSimulator
from engine.brokers.tws_sim.depth import ASK, BID, DELETE, INSERT, UPDATE, DepthSubscription, diff
from engine.brokers.tws_sim.events import Quote
from engine.brokers.tws_sim.fx import FxDriver, quotes_of, read_ask_series
from engine.signals.orderflow import depth_imbalance
from tests.engine.brokers.tws_sim.conftest import barrier, wait_for

EURUSD_HEAD = Path(__file__).parent / "data" / "eurusd_1h_ask_head.csv"


def _book(levels: list[object]) -> list[tuple[float, float]]:
    return [(lvl.price, lvl.size) for lvl in levels]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- the book itself
def test_diff_inserts_updates_and_deletes_from_the_end() -> None:
    """Old 3 rows -> new 2 rows: row 0 changed (update), row 1 same (nothing), row 2 gone
    (delete at 2); then 2 rows -> 3 rows: insert at 2."""
    old = [(10.0, 100.0), (9.99, 200.0), (9.98, 300.0)]
    new = [(10.0, 50.0), (9.99, 200.0)]
    ops = diff(old, new, BID)
    assert [(o.position, o.operation, o.price, o.size) for o in ops] == [
        (0, UPDATE, 10.0, 50.0),
        (2, DELETE, 9.98, 0.0),
    ]
    grow = diff(new, old, ASK)
    assert [(o.position, o.operation, o.side) for o in grow] == [(0, UPDATE, ASK), (2, INSERT, ASK)]


def test_synthetic_levels_sit_on_the_tick() -> None:
    """EUR.USD 1.05225/1.05235, tick 0.00005, 3 rows: bids 1.05225, 1.0522, 1.05215 with sizes
    1, 2, 3 times the touch; asks 1.05235, 1.0524, 1.05245."""
    sub = DepthSubscription("EUR.USD", 0.00005, 3)
    sub.update(Quote(1.05225, 1.05235, 0.0, 1e6, 2e6))
    assert sub.bids == [(1.05225, 1e6), (1.0522, 2e6), (1.05215, 3e6)]
    assert sub.asks == [(1.05235, 2e6), (1.0524, 4e6), (1.05245, 6e6)]
    assert [(o.operation, o.side) for o in sub.update(None)].count((DELETE, BID)) == 3


# ---------------------------------------------------------------------- depth through ib_insync
def test_depth_reaches_ib_insync_dom(ib: IB, sim: TwsSimulator) -> None:
    """AAPL 190.00 x 300 / 190.02 x 200, 3 rows: bids 190.00 x 300, 189.99 x 600, 189.98 x 900;
    asks 190.02 x 200, 190.03 x 400, 190.04 x 600; depth imbalance (1800 - 1200) / 3000 = 0.2.
    The bid moves up a cent with 100: every bid row is updated in place; a bid of size 0 empties
    the bid side (three deletes); after cancelMktDepth nothing more arrives."""
    sim.set_quote("AAPL", 190.00, 190.02, 190.01, bid_size=300, ask_size=200)
    contract = Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    ticker = ib.reqMktDepth(contract, numRows=3)
    assert wait_for(ib, lambda: len(ticker.domBids) == 3 and len(ticker.domAsks) == 3)
    assert _book(ticker.domBids) == [(190.00, 300), (189.99, 600), (189.98, 900)]
    assert _book(ticker.domAsks) == [(190.02, 200), (190.03, 400), (190.04, 600)]
    sizes = ([lvl.size for lvl in ticker.domBids], [lvl.size for lvl in ticker.domAsks])
    assert depth_imbalance(*sizes, levels=3) == pytest.approx(0.2, rel=1e-12)

    sim.set_quote("AAPL", 190.01, 190.02, 190.02, bid_size=100, ask_size=200)
    assert wait_for(ib, lambda: ticker.domBids[0].price == 190.01)
    assert _book(ticker.domBids) == [(190.01, 100), (190.00, 200), (189.99, 300)]
    assert _book(ticker.domAsks) == [(190.02, 200), (190.03, 400), (190.04, 600)]

    sim.set_quote("AAPL", 190.01, 190.02, 190.02, bid_size=0, ask_size=200)
    assert wait_for(ib, lambda: not ticker.domBids)
    assert [t.operation for t in ticker.domTicks[-3:]] == [DELETE, DELETE, DELETE]
    ib.cancelMktDepth(contract)
    barrier(ib)
    updates: list[object] = []
    ticker.updateEvent += updates.append
    sim.set_quote("AAPL", 191.0, 191.02, 191.0, bid_size=10, ask_size=10)
    barrier(ib)
    assert updates == [] and ticker.domAsks == []


def test_depth_faults_unknown_contract_and_too_many_requests(ib: IB, sim: TwsSimulator) -> None:
    """Error 200 for a contract the simulator does not list; error 309 for a fourth request."""
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    ib.reqMktDepth(Stock("NOPE", "SMART", "USD"), 3)
    barrier(ib)
    assert codes == [200]
    for symbol in ("AAPL", "MSFT", "IBM"):
        contract = Stock(symbol, "SMART", "USD")
        ib.qualifyContracts(contract)
        ib.reqMktDepth(contract, 3)
    fourth = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(fourth)
    ib.reqMktDepth(fourth, 3)
    barrier(ib)
    assert codes == [200, 309]


# ---------------------------------------------------------------------- forex
def test_eurusd_contract_details(ib: IB) -> None:
    (details,) = ib.reqContractDetails(Forex("EURUSD"))
    c = details.contract
    assert c is not None
    assert (c.secType, c.symbol, c.currency, c.localSymbol, c.exchange) == (
        "CASH",
        "EUR",
        "USD",
        "EUR.USD",
        "IDEALPRO",
    )
    assert details.minTick == 0.00005
    assert details.marketName == "EUR.USD"
    assert details.validExchanges == "IDEALPRO"
    (jpy,) = ib.reqContractDetails(Forex("USDJPY"))
    assert jpy.minTick == 0.005
    pair = Forex("EURUSD")
    assert ib.qualifyContracts(pair) == [pair] and pair.conId > 0


def test_fx_quotes_from_the_series_stream_to_ib_insync(ib: IB, sim: TwsSimulator) -> None:
    """The first bar (o 1.05236, h 1.05253, l 1.05221, c 1.05227; the low is nearer the open) plays
    1.05236 -> 1.05235 on the half-pip tick (21047.2 ticks -> 21047), then the low 1.05221 ->
    1.0522, the high 1.05253 -> 1.05255, the close 1.05227 -> 1.05225; each bid one pip below."""
    bars = read_ask_series(EURUSD_HEAD)
    assert len(bars) == 12
    asks = [q.ask for q in quotes_of(bars.iloc[:1])]
    assert asks == [1.05235, 1.0522, 1.05255, 1.05225]
    pair = Forex("EURUSD")
    ib.qualifyContracts(pair)
    ticker = ib.reqMktData(pair)
    depth = ib.reqMktDepth(pair, numRows=2)
    driver = FxDriver(sim, "EURUSD", bars)
    first = driver.step()
    assert first is not None
    assert wait_for(ib, lambda: ticker.ask == 1.05235 and ticker.bid == 1.05225)
    assert math.isnan(ticker.last)  # forex has no last trade at IB
    assert ticker.marketPrice() == pytest.approx(1.0523)
    assert wait_for(ib, lambda: len(depth.domAsks) == 2)
    assert _book(depth.domAsks) == [(1.05235, 1e6), (1.0524, 2e6)]
    while driver.step() is not None:
        pass
    assert driver.sent == 48
    final = list(quotes_of(bars))[-1]
    assert wait_for(ib, lambda: (ticker.bid, ticker.ask) == (final.bid, final.ask))


def test_read_ask_series_names_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("Date,Close\n2017-01-01,1.0\n")
    with pytest.raises(ValueError, match="missing Time, Open, High, Low"):
        read_ask_series(bad)


def test_fx_fill_in_base_currency_units(ib: IB, sim: TwsSimulator) -> None:
    """Buy 20,000 EUR.USD at the ask 1.05235: value 21,047.00 USD; commission 0.2 bp of it is
    0.42, below the USD 2.00 minimum -> 2.00; cash 1,000,000 - 21,047 - 2 = 978,951; the position
    is +20,000 (euros) at avgCost (21,047 + 2) / 20,000 = 1.05245."""
    sim.set_quote("EUR.USD", 1.05225, 1.05235, None, bid_size=1e6, ask_size=1e6)
    pair = Forex("EURUSD")
    ib.qualifyContracts(pair)
    trade = ib.placeOrder(pair, LimitOrder("BUY", 20_000, 1.0524))
    assert wait_for(ib, lambda: trade.orderStatus.status == "Filled" and bool(trade.fills))
    fill = trade.fills[0]
    assert (fill.execution.shares, fill.execution.price, fill.execution.exchange) == (
        20_000,
        1.05235,
        "IDEALPRO",
    )
    assert wait_for(ib, lambda: fill.commissionReport.commission == 2.0)
    assert wait_for(ib, lambda: any(p.position == 20_000 for p in ib.positions()))
    (pos,) = ib.positions()
    assert pos.contract.localSymbol == "EUR.USD"
    assert pos.avgCost == pytest.approx(1.05245, rel=1e-12)
    cash = sim.exchange.accounts["DU1234567"].cash
    assert cash == pytest.approx(978_951.0, abs=1e-6)


def test_fx_price_off_the_pip_tick_is_rejected(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("EUR.USD", 1.05225, 1.05235, None, bid_size=1e6, ask_size=1e6)
    codes: list[tuple[int, str]] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append((code, msg))
    pair = Forex("EURUSD")
    ib.qualifyContracts(pair)
    trade = ib.placeOrder(pair, LimitOrder("BUY", 20_000, 1.05231))
    assert wait_for(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert codes == [
        (
            201,
            "Order rejected - reason:The price does not conform to the minimum price "
            "variation for this contract (5e-05).",
        )
    ]
    assert sim.exchange.executions == []


# ---------------------------------------------------------------------- futures
def test_future_with_its_multiplier(ib: IB, sim: TwsSimulator) -> None:
    """ES December 2026: multiplier 50, tick 0.25, last trading day the third Friday (18th).
    (Pairs in other currencies than USD: ``test_multicurrency.py``.)
    Buy 1 at 6000.00, sell 1 at 6010.25: 10.25 points x 50 = 512.50, less 2 x 0.85 commission ->
    realized 510.80, and the cash moves by exactly that (a future is not paid for)."""
    es = Future("ES", "202612", "CME")
    assert ib.qualifyContracts(es) == [es]
    assert (es.multiplier, es.localSymbol, es.lastTradeDateOrContractMonth) == ("50", "ESZ6", "20261218")
    (details,) = ib.reqContractDetails(es)
    assert details.minTick == 0.25
    sim.set_quote("ESZ6", 5999.75, 6000.00, 6000.0, bid_size=20, ask_size=20)
    buy = ib.placeOrder(es, MarketOrder("BUY", 1))
    assert wait_for(ib, lambda: buy.orderStatus.status == "Filled")
    sim.set_quote("ESZ6", 6010.25, 6010.50, 6010.25, bid_size=20, ask_size=20)
    sell = ib.placeOrder(es, MarketOrder("SELL", 1))
    assert wait_for(ib, lambda: sell.orderStatus.status == "Filled" and bool(sell.fills))
    assert wait_for(ib, lambda: sell.fills[0].commissionReport.realizedPNL != 0)
    assert sell.fills[0].commissionReport.realizedPNL == pytest.approx(510.80, abs=1e-9)
    assert sim.exchange.accounts["DU1234567"].cash == pytest.approx(1_000_510.80, abs=1e-9)
    off = ib.placeOrder(es, LimitOrder("BUY", 1, 6000.10))
    assert wait_for(ib, lambda: off.orderStatus.status == "Cancelled")


def test_future_net_liquidation_counts_unrealized_pnl_not_notional(sim: TwsSimulator) -> None:
    """Long 2 ES from 6000 (commission 1.70), marked at 6001.00: net liquidation =
    1,000,000 - 1.70 + 2 x 1.00 x 50 = 1,000,098.30."""
    spec = sim.universe.by_key("ESZ26")
    assert spec is not None and spec.key == "ESZ6"
    book = sim.exchange.accounts["DU1234567"]
    book.apply_fill(spec, 2, 6000.0, 1.70)
    quotes = {"ESZ6": Quote(6000.75, 6001.25, 6001.0)}
    assert book.values(quotes.get)["NetLiquidation"] == pytest.approx(1_000_098.30, abs=1e-9)


# ---------------------------------------------------------------------- the command line
def test_cli_quotes_a_pair_from_a_series_and_names_a_bad_one(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.brokers.tws_sim.cli import main

    base = ["--port", "0", "--run-seconds", "0.3", "--seconds-per-day", "1", "--steps-per-day", "10"]
    assert main([*base, "--fx-series", str(EURUSD_HEAD), "--fx-seconds-per-bar", "0.01"]) == 0
    assert "tws-sim listening" in capsys.readouterr().out
    assert main([*base, "--fx-series", str(EURUSD_HEAD), "--fx-pair", "EURSEK"]) == 2
    assert "'EURSEK' is not a forex pair the simulator lists" in capsys.readouterr().out
    assert main([*base, "--fx-series", "/nonexistent/eurusd.csv"]) == 2
    assert "--fx-series:" in capsys.readouterr().out
