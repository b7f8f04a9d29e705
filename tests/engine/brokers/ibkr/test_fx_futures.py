"""The IBKR adapter's forex and futures contracts: our symbols to IB contracts and back, and an
EURUSD order through the adapter, ib_insync and the TWS simulator."""

from __future__ import annotations

import pytest
from ib_insync import Contract, Forex, Future

from engine.brokers.base import OrderFilled
from engine.brokers.ibkr import contracts, parse
from engine.brokers.tws_sim import TwsSimulator
from engine.model import Order, OrderType, Side
from tests.engine.brokers.ibkr.conftest import MakeBroker, Recorder


@pytest.mark.parametrize("symbol", ["EURUSD", "EUR.USD", "EUR/USD"])
def test_a_pair_maps_to_a_cash_contract_on_idealpro(symbol: str) -> None:
    c = parse.contract_for(symbol)
    assert isinstance(c, Forex)
    assert (c.secType, c.symbol, c.currency, c.exchange) == ("CASH", "EUR", "USD", "IDEALPRO")
    assert c.pair() == "EURUSD"
    assert parse.symbol_of(c) == "EURUSD"


def test_ib_contracts_map_back_to_our_symbols() -> None:
    """A CASH contract as IB sends it (symbol GBP, currency USD) is GBPUSD; an ES future with
    localSymbol ESZ6 expiring 2026-12-18 is ESZ26; a CL January 2027 contract, whose last trading
    day is in December 2026 (localSymbol CLF7), is CLF27, not CLF26."""
    cash = Contract(secType="CASH", symbol="GBP", currency="USD", exchange="IDEALPRO", localSymbol="GBP.USD")
    assert parse.symbol_of(cash) == "GBPUSD"
    es = Contract(secType="FUT", symbol="ES", lastTradeDateOrContractMonth="20261218", localSymbol="ESZ6")
    assert parse.symbol_of(es) == "ESZ26"
    cl = Contract(secType="FUT", symbol="CL", lastTradeDateOrContractMonth="20261217", localSymbol="CLF7")
    assert parse.symbol_of(cl) == "CLF27"
    with pytest.raises(ValueError, match="without its contract month"):
        parse.symbol_of(Contract(secType="FUT", symbol="ES"))


def test_a_future_maps_to_its_exchange_and_multiplier() -> None:
    c = parse.contract_for("ESZ26")
    assert isinstance(c, Future)
    assert (c.symbol, c.lastTradeDateOrContractMonth, c.exchange, c.multiplier) == (
        "ES",
        "202612",
        "CME",
        "50",
    )
    assert parse.symbol_of(c) == "ESZ26"


def test_stocks_and_unknown_six_letter_symbols_stay_stocks() -> None:
    """GOOGLX is six letters but not two currencies; ABCZ26 has no known futures root."""
    for symbol in ("AAPL", "GOOGLX", "ABCZ26", "USDUSD"):
        assert contracts.contract_of(symbol) is None
        assert parse.contract_for(symbol).secType == "STK"


async def test_an_eurusd_order_through_the_adapter(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    """Buy 25,000 EURUSD at market: ask 1.10005, the fill is 25,000 euros at 1.10005 named EURUSD,
    and the position comes back as EURUSD +25,000."""
    broker = make_broker()
    await broker.connect()
    sim.set_quote("EUR.USD", 1.09995, 1.10005, None, bid_size=1e6, ask_size=1e6)
    order = Order(
        client_order_id="FX-1", symbol="EURUSD", side=Side.BUY, quantity=25_000, order_type=OrderType.MKT
    )
    await broker.submit(order)
    await recorder.wait_for(lambda: bool(recorder.of(OrderFilled)))
    (filled,) = recorder.of(OrderFilled)
    assert (filled.fill.symbol, filled.fill.quantity, filled.fill.price) == ("EURUSD", 25_000.0, 1.10005)
    await recorder.wait_for(lambda: any(p.position == 25_000 for p in broker.ib.positions()))
    (position,) = await broker.positions()
    assert (position.symbol, position.quantity) == ("EURUSD", 25_000.0)


async def test_cash_per_currency_through_the_adapter(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    """Buy 6,000 USD.JPY at 150.01 (900,060 JPY sold for USD): the account holds 6,000 more USD
    less the 2.00 commission, and -900,060 JPY; the adapter reads both balances."""
    broker = make_broker()
    await broker.connect()
    start = broker.figures().cash
    sim.set_quote("USD.JPY", 150.00, 150.01, None, bid_size=1e6, ask_size=1e6)
    order = Order(
        client_order_id="FX-2", symbol="USDJPY", side=Side.BUY, quantity=6_000, order_type=OrderType.MKT
    )
    await broker.submit(order)
    await recorder.wait_for(lambda: "JPY" in broker.cash_balances())
    assert broker.cash_balances() == {"USD": pytest.approx(start + 6_000 - 2.0), "JPY": -900_060.0}


def test_forex_history_asks_for_the_midpoint() -> None:
    """IDEALPRO has no trades: a pair's daily bars are MIDPOINT bars, a stock's TRADES."""
    from engine.brokers.ibkr.quotes import what_to_show

    assert what_to_show(parse.contract_for("EURUSD")) == "MIDPOINT"
    assert what_to_show(parse.contract_for("AAPL")) == "TRADES"


async def test_an_es_future_order_through_the_adapter(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    """Buy 1 ESZ26 at market: qualified as ES 202612 on CME with multiplier 50 (localSymbol ESZ6),
    filled at the ask 6000.25 and reported under our symbol ESZ26."""
    broker = make_broker()
    await broker.connect()
    sim.set_quote("ESZ6", 6000.00, 6000.25, 6000.0, bid_size=20, ask_size=20)
    order = Order(
        client_order_id="FUT-1", symbol="ESZ26", side=Side.BUY, quantity=1, order_type=OrderType.MKT
    )
    await broker.submit(order)
    await recorder.wait_for(lambda: bool(recorder.of(OrderFilled)))
    (filled,) = recorder.of(OrderFilled)
    assert (filled.fill.symbol, filled.fill.quantity, filled.fill.price) == ("ESZ26", 1.0, 6000.25)
    contract = await broker.qualify("ESZ26")
    assert (contract.localSymbol, contract.multiplier, contract.exchange) == ("ESZ6", "50", "CME")


async def test_a_crude_future_whose_last_day_is_in_the_month_before(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    """CLF27 stops trading on 21 December 2026 (the simulator's lastTradeDate, from the instrument
    model's rule): bought through the adapter, the fill and the position are named CLF27 again."""
    broker = make_broker()
    await broker.connect()
    sim.set_quote("CLF27", 70.00, 70.01, 70.0, bid_size=50, ask_size=50)
    order = Order(client_order_id="CL-1", symbol="CLF27", side=Side.BUY, quantity=1, order_type=OrderType.MKT)
    await broker.submit(order)
    await recorder.wait_for(lambda: bool(recorder.of(OrderFilled)))
    (filled,) = recorder.of(OrderFilled)
    assert (filled.fill.symbol, filled.fill.quantity, filled.fill.price) == ("CLF27", 1.0, 70.01)
    await recorder.wait_for(lambda: any(p.position == 1 for p in broker.ib.positions()))
    (position,) = await broker.positions()
    assert position.symbol == "CLF27"
    (held,) = broker.ib.positions()
    assert held.contract.lastTradeDateOrContractMonth == "20261221"
