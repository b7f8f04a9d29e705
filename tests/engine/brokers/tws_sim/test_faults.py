"""Fault injection: drops, stalls, latency, rejections and a rolled-back nextValidId."""

from __future__ import annotations

import time

from ib_insync import IB, ExecutionFilter, LimitOrder, MarketOrder, Stock

from engine.brokers.tws_sim import TwsSimulator
from tests.engine.brokers.tws_sim.conftest import Connect, wait_for


def _aapl(ib: IB) -> Stock:
    contract = Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    return contract


def test_orders_keep_working_while_disconnected(connect: Connect, sim: TwsSimulator) -> None:
    ib = connect(7)
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    resting = ib.placeOrder(_aapl(ib), LimitOrder("BUY", 10, 95.0, orderRef="while-away"))
    other = ib.placeOrder(_aapl(ib), LimitOrder("BUY", 5, 90.0, tif="GTC"))
    assert wait_for(ib, lambda: other.orderStatus.status == "Submitted")
    perm_id = resting.order.permId
    sim.faults.drop_connections()
    assert wait_for(ib, lambda: not ib.isConnected())
    sim.set_quote("AAPL", 94.8, 94.9, 94.85)  # fills the first order while nobody listens

    again = connect(7)
    open_ids = {t.order.orderId for t in again.openTrades()}
    assert open_ids == {other.order.orderId}  # restored through reqOpenOrders at connect
    fills = again.fills()  # restored through reqExecutions at connect
    assert [(f.execution.permId, f.execution.shares, f.execution.price) for f in fills] == [
        (perm_id, 10, 94.9)
    ]
    assert fills[0].execution.orderRef == "while-away"
    assert fills[0].commissionReport.commission == 1.0
    queried = again.reqExecutions(ExecutionFilter(symbol="AAPL"))
    assert [f.execution.execId for f in queried] == [fills[0].execution.execId]
    assert [p.position for p in again.positions()] == [10]


def test_rolled_back_next_id_still_refuses_a_reused_id(connect: Connect, sim: TwsSimulator) -> None:
    ib = connect(4)
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    first = ib.placeOrder(_aapl(ib), MarketOrder("BUY", 1))
    assert wait_for(ib, lambda: first.orderStatus.status == "Filled")
    used = first.order.orderId
    ib.disconnect()  # type: ignore[no-untyped-call]
    sim.faults.roll_back_next_id(sim.exchange.next_valid_id - used)

    again = IB()  # type: ignore[no-untyped-call]
    reported: list[int] = []
    # apiStart fires right after nextValidId was read: the sequence then holds the reported id
    # (ib_insync exposes the id it was given only as its client's private _reqIdSeq)
    again.client.apiStart += lambda: reported.append(again.client._reqIdSeq)
    again.connect("127.0.0.1", sim.port, clientId=4, timeout=2)
    assert reported == [used] and used < sim.exchange.next_valid_id
    codes: list[int] = []
    again.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    reused = again.placeOrder(_aapl(again), MarketOrder("BUY", 1, orderId=used))
    assert wait_for(again, lambda: 103 in codes)
    assert wait_for(again, lambda: reused.orderStatus.status == "Cancelled")
    assert len(sim.exchange.executions) == 1
    again.disconnect()  # type: ignore[no-untyped-call]


def test_reject_next_order_with_a_reason(ib: IB, sim: TwsSimulator) -> None:
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    sim.faults.reject_next_order("Simulated margin violation")
    rejected = ib.placeOrder(_aapl(ib), MarketOrder("BUY", 1))
    assert wait_for(ib, lambda: rejected.orderStatus.status == "Cancelled")
    assert any(
        e.errorCode == 201 and "Order rejected - reason:Simulated margin violation" in e.message
        for e in rejected.log
    )
    accepted = ib.placeOrder(_aapl(ib), MarketOrder("BUY", 1))
    assert wait_for(ib, lambda: accepted.orderStatus.status == "Filled")


def test_latency_delays_every_message(ib: IB, sim: TwsSimulator) -> None:
    sim.faults.set_latency(0.3)
    started = time.perf_counter()
    ib.reqCurrentTime()
    assert time.perf_counter() - started >= 0.3
    sim.faults.set_latency(0.0)
    started = time.perf_counter()
    ib.reqCurrentTime()
    assert time.perf_counter() - started < 0.2


def test_stall_holds_requests_and_answers(ib: IB, sim: TwsSimulator) -> None:
    sim.faults.stall(0.4)
    started = time.perf_counter()
    ib.reqCurrentTime()
    assert time.perf_counter() - started >= 0.35
    assert ib.isConnected()


def test_executions_are_per_client_unless_master(connect: Connect, sim: TwsSimulator) -> None:
    a, b = connect(1), connect(2)
    sim.set_quote("AAPL", 100.0, 100.02, 100.01)
    trade = a.placeOrder(_aapl(a), MarketOrder("BUY", 1))
    assert wait_for(a, lambda: trade.orderStatus.status == "Filled")
    assert len(a.reqExecutions()) == 1
    assert len(b.reqExecutions()) == 0
