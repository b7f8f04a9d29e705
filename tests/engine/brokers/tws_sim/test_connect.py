"""Connecting real ib_insync clients: handshake, sync requests, accounts, client ids."""

from __future__ import annotations

import time

import pytest
from ib_insync import IB

from engine.brokers.tws_sim import TwsSimulator
from tests.engine.brokers.tws_sim.conftest import T0, Connect, wait_for


def test_connect_negotiates_176_and_syncs_quickly(connect: Connect, sim: TwsSimulator) -> None:
    started = time.perf_counter()
    ib = connect(1)
    elapsed = time.perf_counter() - started
    assert ib.isConnected()
    assert ib.client.serverVersion() == 176
    assert elapsed < 1.0  # every connect-time request got its End message (no 2 s timeouts)
    assert ib.managedAccounts() == ["DU1234567"]
    assert sim.connected_client_ids() == [1]


def test_two_clients_and_current_time(connect: Connect, sim: TwsSimulator) -> None:
    a, b = connect(1), connect(2)
    assert a.isConnected() and b.isConnected()
    assert sim.connected_client_ids() == [1, 2]
    assert a.reqCurrentTime() == T0


def test_duplicate_client_id_is_refused_with_326(connect: Connect, sim: TwsSimulator) -> None:
    connect(5)
    second = IB()  # type: ignore[no-untyped-call]
    codes: list[int] = []
    second.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    with pytest.raises(TimeoutError):
        second.connect("127.0.0.1", sim.port, clientId=5, timeout=0.5)
    assert 326 in codes
    assert sim.connected_client_ids() == [5]


def test_reconnect_with_the_same_client_id_after_a_drop(connect: Connect, sim: TwsSimulator) -> None:
    ib = connect(3)
    sim.faults.drop_connections()
    assert wait_for(ib, lambda: not ib.isConnected())
    again = connect(3)
    assert again.isConnected()
    assert sim.connected_client_ids() == [3]


def test_account_summary_and_values(ib: IB) -> None:
    summary = {v.tag: v for v in ib.accountSummary()}
    for tag in ("NetLiquidation", "TotalCashValue", "BuyingPower", "AvailableFunds", "GrossPositionValue"):
        assert tag in summary
    assert float(summary["NetLiquidation"].value) == 1_000_000.0
    assert summary["TotalCashValue"].currency == "USD"
    assert summary["NetLiquidation"].account == "DU1234567"
    values = {v.tag: v.value for v in ib.accountValues()}
    assert float(values["TotalCashValue"]) == 1_000_000.0


def test_connectivity_notices_reach_the_client(ib: IB, sim: TwsSimulator) -> None:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
    for code in (1100, 1101, 1102):
        sim.faults.connectivity(code)
    assert wait_for(ib, lambda: codes == [1100, 1101, 1102])
