"""The IBKR adapter's daily history for a forex pair: MIDPOINT bars from the TWS simulator's
series (real ib_insync), never past how far the series has been played.

Worked numbers (the twelve hourly asks of ``eurusd_1h_ask_head.csv`` on the half-pip tick, all in
IDEALPRO's day of 2 January 2017): open 1.05235, high 1.05425 (bar 1), low 1.0478 (bar 11),
close 1.04875; the midpoint half a pip lower: 1.0523, 1.0542, 1.04775, 1.0487. After the first
bar only: 1.0523, 1.0525, 1.05215, 1.0522.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.brokers.base import BrokerError
from engine.brokers.tws_sim import TwsSimulator
from engine.brokers.tws_sim.fx import FxDriver, read_ask_series
from tests.engine.brokers.ibkr.conftest import MakeBroker

EURUSD_HEAD = Path(__file__).parents[1] / "tws_sim" / "data" / "eurusd_1h_ask_head.csv"


async def test_the_adapter_reads_forex_history_as_far_as_played(
    make_broker: MakeBroker, sim: TwsSimulator
) -> None:
    broker = make_broker()
    await broker.connect()
    with pytest.raises(BrokerError, match="162"):  # no series loaded for the pair
        await broker.history("EURUSD", "1 W")
    driver = FxDriver(sim, "EURUSD", read_ask_series(EURUSD_HEAD))
    for _ in range(4):
        driver.step()
    frame = await broker.history("EURUSD", "1 W")
    assert [str(d.date()) for d in frame["date"]] == ["2017-01-02"]
    row = frame.iloc[0]
    assert (row["open"], row["high"], row["low"], row["close"]) == pytest.approx(
        (1.0523, 1.0525, 1.05215, 1.0522)
    )
    assert row["volume"] == 0.0  # IB's -1 for quote bars: no volume
    while driver.step() is not None:
        pass
    row = (await broker.history("EURUSD", "1 W")).iloc[-1]
    assert (row["open"], row["high"], row["low"], row["close"]) == pytest.approx(
        (1.0523, 1.0542, 1.04775, 1.0487)
    )
