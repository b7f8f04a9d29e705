"""reqHistoricalData never looks ahead of the simulator's clock (issue 18 item 6), through ib_insync.

At 15:58 New York on a replayed session, the day's bar carries what has traded so far (the last
trade as its close), not the day's final close; an end date in the future is clamped to the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from ib_insync import IB, Stock

from engine.brokers.tws_sim import TwsSimulator
from engine.clock import FixedClock
from tests.engine.brokers.tws_sim.conftest import barrier

DAY = date(2012, 6, 15)
AT_1558 = datetime(2012, 6, 15, 19, 58, tzinfo=UTC)  # 15:58 New York (EDT)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AT_1558)


def _aapl(ib: IB) -> Stock:
    contract = Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    return contract


def test_the_session_in_progress_carries_the_close_so_far(
    ib: IB, sim: TwsSimulator, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    final = shipped_bars["AAPL"].loc[pd.Timestamp(DAY)]
    so_far = round(float(final["close"]) - 1.23, 2)  # a last trade the final close is not
    sim.set_quote("AAPL", so_far - 0.01, so_far + 0.01, so_far, volume=1_000.0)
    barrier(ib)
    bars = ib.reqHistoricalData(_aapl(ib), "", "5 D", "1 day", "TRADES", True, 1)
    assert bars[-1].date == DAY
    assert bars[-1].close == so_far != float(final["close"])
    assert bars[-1].open == float(final["open"])
    assert bars[-1].volume == 1_000.0
    assert bars[-1].low <= so_far <= bars[-1].high


def test_before_the_first_trade_the_session_has_no_bar(ib: IB) -> None:
    bars = ib.reqHistoricalData(_aapl(ib), "", "5 D", "1 day", "TRADES", True, 1)
    assert bars, "the earlier sessions are served"
    assert bars[-1].date < DAY


def test_an_end_in_the_future_is_clamped_to_the_clock(
    ib: IB, sim: TwsSimulator, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    frame = shipped_bars["AAPL"]
    assert frame.index[-1].date() > DAY + timedelta(days=30), "the data goes on past the clock"
    bars = ib.reqHistoricalData(_aapl(ib), "20121231 23:59:59 UTC", "1 Y", "1 day", "TRADES", True, 1)
    assert bars
    assert max(b.date for b in bars) < DAY  # nothing past the clock; today not yet traded


def test_after_the_close_the_day_is_the_real_bar(
    ib: IB, clock: FixedClock, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    clock.set(AT_1558 + timedelta(minutes=5))
    final = shipped_bars["AAPL"].loc[pd.Timestamp(DAY)]
    bars = ib.reqHistoricalData(_aapl(ib), "", "5 D", "1 day", "TRADES", True, 1)
    assert bars[-1].date == DAY
    assert bars[-1].close == float(final["close"])
