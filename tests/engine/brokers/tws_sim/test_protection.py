"""Protective orders at the simulator through the real ib_insync client: brackets with ``transmit``,
OCA groups, trailing stops, and a bracket that keeps working across a client disconnect."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ib_insync import IB, LimitOrder, Order, Stock, StopOrder, Trade

from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator
from tests.engine.brokers.tws_sim.conftest import Connect, barrier
from tests.engine.brokers.tws_sim.conftest import wait_for as _wait_for


def _stock(ib: IB, symbol: str = "AAPL") -> Stock:
    contract = Stock(symbol, "SMART", "USD")
    ib.qualifyContracts(contract)
    return contract


def _bracket(
    ib: IB, contract: Stock, *, limit: float = 100.0, target: float = 110.0, stop: float = 95.0
) -> list[Trade]:
    bracket = ib.bracketOrder("BUY", 100, limit, target, stop, tif="GTC")
    for n, order in enumerate(bracket):
        order.orderRef = f"OT-{n + 1}"
        order.ocaGroup = "OCA-OT-1" if n else ""
        order.ocaType = 3 if n else 0
    return [ib.placeOrder(contract, order) for order in bracket]


def wait_for(ib: IB, predicate: Callable[[], bool]) -> bool:
    """The conftest's wait, with room for a machine shared with other test runs."""
    return _wait_for(ib, predicate, timeout=10.0)


FORTY_A_QUOTE = pytest.mark.parametrize("sim_config", [SimulatorConfig(max_fill_per_quote=40)])


@FORTY_A_QUOTE
def test_a_bracket_is_held_until_transmitted_then_children_wait_for_the_parent(
    ib: IB, sim: TwsSimulator
) -> None:
    contract = _stock(ib)
    sim.set_quote("AAPL", 100.5, 100.6, 100.55)
    bracket = ib.bracketOrder("BUY", 100, 100.0, 110.0, 95.0)
    parent = ib.placeOrder(contract, bracket.parent)
    take = ib.placeOrder(contract, bracket.takeProfit)
    barrier(ib)
    assert sim.call(lambda: len(sim.exchange.orders)) == 0  # transmit unset: held, unseen
    assert parent.orderStatus.status == "PendingSubmit"
    stop = ib.placeOrder(contract, bracket.stopLoss)  # transmit set: the chain goes
    assert wait_for(ib, lambda: stop.orderStatus.status == "PreSubmitted")
    assert parent.orderStatus.status == "Submitted"
    assert take.orderStatus.status == "PreSubmitted"
    assert stop.order.parentId == parent.order.orderId
    sim.set_quote("AAPL", 94.0, 101.0, 94.0)  # the held stop must not fire before its parent fills
    barrier(ib)
    assert stop.orderStatus.status == "PreSubmitted" and not stop.fills
    sim.set_quote("AAPL", 99.9, 100.0, 100.0)  # the parent fills 40 (the simulator's liquidity)
    assert wait_for(ib, lambda: stop.orderStatus.status == "Submitted")
    assert parent.orderStatus.filled == 40
    assert stop.order.totalQuantity == 40 and take.order.totalQuantity == 40
    sim.set_quote("AAPL", 99.9, 100.0, 100.0)
    assert wait_for(ib, lambda: stop.order.totalQuantity == 80)
    assert take.order.totalQuantity == 80


def test_oca_the_stop_fills_and_the_target_is_cancelled(ib: IB, sim: TwsSimulator) -> None:
    contract = _stock(ib)
    sim.set_quote("AAPL", 99.9, 100.0, 100.0)
    parent, target, stop = _bracket(ib, contract)
    assert wait_for(ib, lambda: parent.orderStatus.status == "Filled")
    assert wait_for(ib, lambda: stop.orderStatus.status == "Submitted")
    assert target.order.ocaGroup == "OCA-OT-1" and target.order.ocaType == 3
    sim.set_quote("AAPL", 94.5, 94.6, 94.5)
    assert wait_for(ib, lambda: stop.orderStatus.status == "Filled")
    assert wait_for(ib, lambda: target.orderStatus.status == "Cancelled")
    assert sum(f.execution.shares for f in stop.fills) == 100 and not target.fills


@FORTY_A_QUOTE
def test_oca_type_3_a_partial_fill_reduces_the_others(ib: IB, sim: TwsSimulator) -> None:
    contract = _stock(ib)
    sim.set_quote("AAPL", 99.9, 100.0, 100.0)
    buy = ib.placeOrder(contract, LimitOrder("BUY", 100, 100.0))
    assert wait_for(ib, lambda: buy.orderStatus.filled == 40)
    sim.set_quote("AAPL", 99.9, 100.0, 100.0)
    sim.set_quote("AAPL", 99.9, 100.0, 100.0)
    assert wait_for(ib, lambda: buy.orderStatus.status == "Filled")
    stop = StopOrder("SELL", 100, 95.0, ocaGroup="G", ocaType=3, tif="GTC")
    target = LimitOrder("SELL", 100, 110.0, ocaGroup="G", ocaType=3, tif="GTC")
    stop_trade, target_trade = ib.placeOrder(contract, stop), ib.placeOrder(contract, target)
    barrier(ib)  # both are at the simulator before the quote that moves them
    sim.set_quote("AAPL", 94.5, 94.6, 94.5)  # the stop sells 40
    assert wait_for(ib, lambda: stop_trade.orderStatus.filled == 40)
    assert wait_for(ib, lambda: target_trade.order.totalQuantity == 60)
    assert target_trade.orderStatus.status == "Submitted"


def test_a_trailing_stop_ratchets_and_fires(ib: IB, sim: TwsSimulator, connect: Connect) -> None:
    contract = _stock(ib)
    sim.set_quote("AAPL", 99.9, 100.0, 100.0)
    buy = ib.placeOrder(contract, LimitOrder("BUY", 10, 100.0))
    assert wait_for(ib, lambda: buy.orderStatus.status == "Filled")
    trail = Order(
        action="SELL", totalQuantity=10, orderType="TRAIL", auxPrice=2.0, trailStopPrice=97.0, tif="GTC"
    )
    trade = ib.placeOrder(contract, trail)
    assert wait_for(ib, lambda: trade.orderStatus.status == "Submitted")
    sim.set_quote("AAPL", 104.9, 105.0, 105.0)
    # ib_insync keeps its own Trade's trailStopPrice as placed; another client reads the level
    (seen,) = connect(2).reqAllOpenOrders()
    assert (seen.order.orderType, seen.order.auxPrice, seen.order.trailStopPrice) == ("TRAIL", 2.0, 103.0)
    sim.set_quote("AAPL", 101.9, 102.0, 102.0)  # 100 would loosen it: stays at 103, and 102 is below it
    assert wait_for(ib, lambda: trade.orderStatus.status == "Filled")
    assert trade.fills[0].execution.price == 101.9


def test_a_trailing_percent_stop_without_an_initial_level_starts_from_the_market(
    ib: IB, sim: TwsSimulator, connect: Connect
) -> None:
    contract = _stock(ib)
    sim.set_quote("AAPL", 99.9, 100.0, 100.0)
    buy = ib.placeOrder(contract, LimitOrder("BUY", 10, 100.0))
    assert wait_for(ib, lambda: buy.orderStatus.status == "Filled")
    trail = Order(action="SELL", totalQuantity=10, orderType="TRAIL", trailingPercent=5.0, tif="GTC")
    trade = ib.placeOrder(contract, trail)
    assert wait_for(ib, lambda: trade.orderStatus.status == "Submitted")
    (seen,) = connect(2).reqAllOpenOrders()
    assert (seen.order.trailStopPrice, seen.order.trailingPercent) == (95.0, 5.0)


def test_the_bracket_keeps_working_across_a_client_disconnect(connect: Connect, sim: TwsSimulator) -> None:
    ib = connect(1)
    contract = _stock(ib)
    sim.set_quote("AAPL", 99.9, 100.0, 100.0)
    parent, _target, stop = _bracket(ib, contract)
    assert wait_for(ib, lambda: stop.orderStatus.status == "Submitted")
    ib.disconnect()  # type: ignore[no-untyped-call]
    sim.end_session()  # GTC protection survives the close while onetap is down
    sim.set_quote("AAPL", 104.0, 104.1, 104.0)

    again = connect(1)
    trades = {t.order.orderRef: t for t in again.openTrades()}
    assert set(trades) == {"OT-2", "OT-3"}
    assert trades["OT-3"].order.orderType == "STP" and trades["OT-3"].order.auxPrice == 95.0
    assert trades["OT-2"].order.ocaGroup == "OCA-OT-1"
    assert trades["OT-3"].order.parentId == parent.order.orderId
    again.reqOpenOrders()
    assert {t.order.orderRef for t in again.openTrades()} == {"OT-2", "OT-3"}
    assert sim.call(lambda: len(sim.exchange.orders)) == 3  # nothing placed twice
    sim.set_quote("AAPL", 110.0, 110.1, 110.0)
    assert wait_for(again, lambda: trades["OT-2"].orderStatus.status == "Filled")
    assert wait_for(again, lambda: trades["OT-3"].orderStatus.status == "Cancelled")


@FORTY_A_QUOTE
def test_oca_type_1_any_fill_cancels_the_others(ib: IB, sim: TwsSimulator) -> None:
    contract = _stock(ib)
    sim.set_quote("AAPL", 99.9, 100.0, 100.0)
    buy = ib.placeOrder(contract, LimitOrder("BUY", 40, 100.0))
    assert wait_for(ib, lambda: buy.orderStatus.status == "Filled")
    stop = ib.placeOrder(contract, StopOrder("SELL", 100, 95.0, ocaGroup="G1", ocaType=1, tif="GTC"))
    target = ib.placeOrder(contract, LimitOrder("SELL", 100, 110.0, ocaGroup="G1", ocaType=1, tif="GTC"))
    barrier(ib)
    sim.set_quote("AAPL", 94.5, 94.6, 94.5)  # the stop sells 40 of 100: type 1 cancels the target anyway
    assert wait_for(ib, lambda: target.orderStatus.status == "Cancelled")
    assert stop.orderStatus.filled == 40
