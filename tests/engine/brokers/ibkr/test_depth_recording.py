"""Market depth is an input a recording keeps: a session on the TWS simulator with ``[ibkr]
depth_symbols`` is recorded (the depth rows among the quotes), and replaying the recording gives
the same depth-imbalance readings, step for step.

Worked numbers: the simulator's 5 rows are the touch's size times 1..5 per side, so a quote
300 x 200 gives (4500 - 3000) / 7500 = +0.2, 100 x 200 gives (1500 - 3000) / 4500 = -1/3, and
200 x 600 gives (3000 - 9000) / 12000 = -0.5.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.api.replay import _apply_next, _Tally, open_replay
from engine.brokers.tws_sim import TwsSimulator
from engine.data.loader import MarketData
from engine.data.recording import RecordingFeed, read_events
from engine.kernel import Engine
from engine.model.events import MarketEvent
from tests.engine.brokers.ibkr.test_engine_ibkr import engine_settings, quote_day, until

SIZES = ((300.0, 200.0), (100.0, 200.0), (200.0, 600.0))


def _depth_readings(events: list[MarketEvent], symbol: str) -> list[float | None]:
    return [f.depth_imbalance for e in events for f in e.flow if f.symbol == symbol]


async def test_a_recorded_session_with_depth_replays_to_the_same_depth_imbalance(
    port: int, tmp_path: Path, sim: TwsSimulator, shipped: MarketData
) -> None:
    """The session runs on the shipped daily bars (given to the engine, as the replay reloads the
    market its settings name and refuses other bars), its quotes and depth from the simulator."""
    shipped_bars = shipped.bars
    settings = engine_settings(port, tmp_path / "bars", ONETAP_IBKR__DEPTH_SYMBOLS='["AAPL"]')
    engine = Engine(settings, database=tmp_path / "onetap.db", market=shipped)
    live: list[MarketEvent] = []
    await engine.start()
    try:
        engine.bus.on(MarketEvent, live.append)
        quote_day(sim, shipped_bars, "2012-06-01")
        await until(lambda: engine.broker.depth_subscribed == ("AAPL",))
        aapl = float(shipped_bars["AAPL"]["open"].loc[pd.Timestamp("2012-06-01")])
        for n, (bid_size, ask_size) in enumerate(SIZES):
            seen = len(_depth_readings(live, "AAPL"))
            bid, ask = round(aapl - 0.01 * (n + 1), 2), round(aapl + 0.01 * (n + 1), 2)
            sim.set_quote("AAPL", bid, ask, aapl, bid_size=bid_size, ask_size=ask_size)
            await until(lambda seen=seen: len(_depth_readings(live, "AAPL")) > seen)
        expected = [0.2, -1 / 3, -0.5]
        await until(lambda: [r for r in _depth_readings(live, "AAPL") if r is not None][-1:] == [-0.5])
    finally:
        await engine.stop()
    recorded = _depth_readings(live, "AAPL")
    for value in expected:
        assert pytest.approx(value, rel=1e-12) in recorded

    (folder,) = [p for p in (tmp_path / "recordings").iterdir() if p.is_dir()]
    depth_rows = [e.depth for e in read_events(folder) if e.kind == "depth"]
    assert depth_rows and {d.symbol for d in depth_rows if d is not None} == {"AAPL"}
    assert any(d is not None and d.bid_sizes == (300.0, 600.0, 900.0, 1200.0, 1500.0) for d in depth_rows)

    replayed: list[MarketEvent] = []
    again, _ = await open_replay(folder, tmp_path / "replay")
    try:
        again.bus.on(MarketEvent, replayed.append)
        feed = again.parts.feed
        assert isinstance(feed, RecordingFeed)
        tally = _Tally()
        while feed.peek() is not None:
            await _apply_next(again, folder, tally)
    finally:
        await again.stop()
    assert _depth_readings(replayed, "AAPL") == recorded
