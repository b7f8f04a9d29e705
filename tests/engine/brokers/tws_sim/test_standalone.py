"""Standalone mode: the replay drives quotes; the CLI listens and says how to connect; asyncio use."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from ib_insync import IB, Stock

from engine.brokers.tws_sim import TwsSimulator
from engine.brokers.tws_sim.cli import main
from engine.brokers.tws_sim.feed import ReplayDriver
from engine.clock import SimulatedClock
from tests.defaults import replay_feed
from tests.shipped import shipped_subset


def test_replay_driver_sets_the_latest_replay_quotes() -> None:
    data = shipped_subset(["AAPL", "MSFT"])
    clock = SimulatedClock(datetime(2012, 6, 1, 13, 30, tzinfo=UTC))
    sim = TwsSimulator(bars=data.bars, clock=clock.now)
    feed = replay_feed(data, clock, start=date(2012, 6, 1), steps_per_day=10)
    driver = ReplayDriver(sim, feed)
    assert feed.play_steps(driver.push, 3) == 3
    latest = feed.latest_quotes()["AAPL"]
    quote = sim.exchange.quote("AAPL")
    assert quote is not None
    assert (quote.bid, quote.ask, quote.last) == (latest.bid, latest.ask, latest.last)
    assert driver.quotes_sent == 6
    assert sim.now() == clock.now()


def test_cli_listens_prints_how_to_connect_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--port", "0", "--run-seconds", "0.3", "--seconds-per-day", "1", "--steps-per-day", "10"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "tws-sim listening on 127.0.0.1:" in out and "clientId=1" in out


async def test_inside_an_existing_loop(shipped_bars: Mapping[str, pd.DataFrame]) -> None:
    sim = TwsSimulator(bars=shipped_bars)
    port = await sim.start(port=0)
    ib = IB()  # type: ignore[no-untyped-call]
    try:
        await ib.connectAsync("127.0.0.1", port, clientId=9, timeout=2)
        assert ib.managedAccounts() == ["DU1234567"]
        sim.set_quote("AAPL", 100.0, 100.02, 100.01)
        (contract,) = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        (ticker,) = await ib.reqTickersAsync(contract)
        assert ticker.ask == 100.02
    finally:
        ib.disconnect()  # type: ignore[no-untyped-call]
        await sim.stop()


def test_schedule_runs_a_driver_coroutine_on_the_simulator_s_loop(sim: TwsSimulator, port: int) -> None:
    async def driver() -> tuple[int, float]:
        sim.set_quote("AAPL", 99.0, 99.02, 99.01)  # on the simulator's thread, as set_quote requires
        return threading.get_ident(), sim.loop_time()

    thread, loop_time = sim.schedule(driver()).result(timeout=10)
    assert thread != threading.get_ident() and loop_time > 0
    quote = sim.call(lambda: sim.exchange.quote("AAPL"))
    assert quote is not None and (quote.bid, quote.ask) == (99.0, 99.02)


def test_schedule_before_start_is_refused() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError, match="not started: call start"):
        TwsSimulator().schedule(nothing())
