"""Forex history through ib_insync: MIDPOINT, BID and ASK bars of a CASH pair from the series the
simulator quotes it from, never past how far that series has been played.

Worked numbers (``data/eurusd_1h_ask_head.csv``, asks on the half-pip tick, spread one pip): bar
0 (22:00 UTC, 1 Jan 2017) on the tick is o 1.05235 h 1.05255 l 1.0522 c 1.05225; its midpoint is
half a pip lower (1.0523, 1.0525, 1.05215, 1.0522). Bar 1 plays 1.05225, 1.05225 (open, low),
then 1.05425 (high) and 1.0528 (close): after its first two quotes its bar so far is 1.05225 on
all four prices (ASK), never the series' high 1.05425. 22:00 UTC is 17:00 New York: the bars
belong to IDEALPRO's day of 2 January.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from ib_insync import IB, Forex

from engine.brokers.tws_sim import TwsSimulator
from engine.brokers.tws_sim.fx import FxDriver, read_ask_series

EURUSD_HEAD = Path(__file__).parent / "data" / "eurusd_1h_ask_head.csv"
BAR0 = datetime(2017, 1, 1, 22, tzinfo=UTC)


def ohlc(bars: list[object]) -> list[tuple[float, float, float, float]]:
    return [(b.open, b.high, b.low, b.close) for b in bars]  # type: ignore[attr-defined]


def history(
    ib: IB, what: str, size: str = "1 hour", end: str | datetime = "", duration: str = "2 D"
) -> list[object]:
    pair = Forex("EURUSD")
    ib.qualifyContracts(pair)
    return list(
        ib.reqHistoricalData(
            pair,
            endDateTime=end,
            durationStr=duration,
            barSizeSetting=size,
            whatToShow=what,
            useRTH=False,
            formatDate=2,
        )
    )


def test_fx_history_serves_the_series_as_far_as_played(ib: IB, sim: TwsSimulator) -> None:
    errors: list[tuple[int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
    assert history(ib, "MIDPOINT") == []  # no series yet: error 162
    assert errors[-1][0] == 162 and "no forex series for EUR.USD" in errors[-1][1]
    driver = FxDriver(sim, "EURUSD", read_ask_series(EURUSD_HEAD))
    assert history(ib, "MIDPOINT") == [] and "no data" in errors[-1][1]  # nothing played yet
    for _ in range(6):
        driver.step()

    asks = history(ib, "ASK")
    assert [b.date for b in asks] == [BAR0, datetime(2017, 1, 1, 23, tzinfo=UTC)]  # type: ignore[attr-defined]
    assert ohlc(asks) == [(1.05235, 1.05255, 1.0522, 1.05225), (1.05225, 1.05225, 1.05225, 1.05225)]
    assert asks[0].volume == -1  # type: ignore[attr-defined]
    assert ohlc(history(ib, "MIDPOINT")) == [
        (1.0523, 1.0525, 1.05215, 1.0522),
        (1.0522, 1.0522, 1.0522, 1.0522),
    ]
    assert ohlc(history(ib, "BID"))[1] == (1.05215, 1.05215, 1.05215, 1.05215)
    # an end in the future is clamped to the pair's clock
    assert ohlc(history(ib, "ASK", end=datetime(2030, 1, 1, tzinfo=UTC))) == ohlc(asks)

    (day,) = history(ib, "MIDPOINT", size="1 day", duration="1 W")
    assert str(day.date) == "2017-01-02"  # type: ignore[attr-defined]
    assert ohlc([day]) == [(1.0523, 1.0525, 1.05215, 1.0522)]
    driver.step()  # bar 1's high is shown now: the day's high follows
    (day,) = history(ib, "MIDPOINT", size="1 day", duration="1 W")
    assert day.high == pytest.approx(1.0542)  # type: ignore[attr-defined]
    for _ in range(3):
        driver.step()  # bar 2 (00:00 2 January) in progress
    assert len(history(ib, "ASK")) == 3  # an earlier end: the bars finished by then
    assert ohlc(history(ib, "ASK", end=datetime(2017, 1, 1, 23, tzinfo=UTC))) == ohlc(asks[:1])


def test_fx_history_refuses_trades_and_other_bar_sizes(ib: IB, sim: TwsSimulator) -> None:
    errors: list[str] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append(f"{code} {text}")
    driver = FxDriver(sim, "EURUSD", read_ask_series(EURUSD_HEAD))
    driver.step()
    assert history(ib, "TRADES") == []
    assert "162" in errors[-1] and "IDEALPRO quotes only" in errors[-1]
    assert history(ib, "MIDPOINT", size="5 mins") == []
    assert "1 hour or 1 day" in errors[-1]
    assert len(history(ib, "MIDPOINT")) == 1
