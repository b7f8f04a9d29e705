"""Market depth from IBKR into the engine: ``[ibkr] depth_symbols`` -> reqMktDepth (real ib_insync,
the TWS simulator's synthetic book) -> ``DepthSnapshot`` -> the order-flow book -> the depth
imbalance in a ``MarketEvent``. Unsubscribed on stop, subscribed again after a reconnect; the
paper broker has none (the reading is absent, not zero); more than IB's 3 depth requests is a
config error naming the key.

Worked numbers: AAPL 190.00 x 300 / 190.02 x 200 gives the simulator's 5 rows bids 300, 600, 900,
1200, 1500 (4500) and asks 200 ... 1000 (3000): depth imbalance (4500 - 3000) / 7500 = +0.2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from engine.brokers.base import DepthSnapshot
from engine.brokers.tws_sim import TwsSimulator
from engine.clock import FixedClock
from engine.config import ConfigError, IbkrSettings, load_settings
from engine.kernel import Engine
from engine.model import Quote
from engine.model.events import MarketEvent
from engine.runtime.order_flow import OrderFlowBook
from tests.defaults import paper_broker
from tests.engine.brokers.ibkr.conftest import MakeBroker, Recorder
from tests.engine.brokers.ibkr.test_engine_ibkr import engine_settings, quote_day, until

BIDS = (300.0, 600.0, 900.0, 1200.0, 1500.0)
ASKS = (200.0, 400.0, 600.0, 800.0, 1000.0)


def depth_subscriptions(sim: TwsSimulator) -> int:
    """Depth requests the simulator holds, over every client session."""
    return sim.call(lambda: sum(len(s.subs.depth) for s in sim._started()))


# ---------------------------------------------------------------------- settings
def test_more_than_three_depth_symbols_is_refused_naming_the_key() -> None:
    assert IbkrSettings(depth_symbols=["aapl", "MSFT", "AAPL"]).depth_symbols == ["AAPL", "MSFT"]
    with pytest.raises(ValueError, match=r"\[ibkr\] depth_symbols names 4 symbols .*IB allows 3"):
        IbkrSettings(depth_symbols=["AAPL", "MSFT", "GOOG", "IBM"])


def test_the_config_file_error_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "onetap.toml"
    path.write_text('[ibkr]\ndepth_symbols = ["AAPL", "MSFT", "GOOG", "IBM"]\n')
    with pytest.raises(ConfigError, match="depth_symbols") as caught:
        load_settings(path, environ={})
    assert "3" in str(caught.value)
    assert load_settings(environ={}).ibkr.depth_symbols == []  # the default: none


# ---------------------------------------------------------------------- the adapter
async def test_depth_streams_stops_and_follows_a_reconnect(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    sim.set_quote("AAPL", 190.00, 190.02, 190.01, bid_size=300, ask_size=200)
    broker = make_broker(depth_symbols=["AAPL"])
    got: list[DepthSnapshot] = []
    await broker.connect()
    assert broker.depth_subscribed == ()  # nobody asked for depth yet
    broker.set_depth_sink(got.append)
    await recorder.wait_for(lambda: bool(got) and got[-1].bid_sizes == BIDS)
    assert got[-1] == DepthSnapshot("AAPL", BIDS, ASKS)
    assert list(broker.depth_subscribed) == ["AAPL"] and depth_subscriptions(sim) == 1

    sim.set_quote("AAPL", 190.01, 190.02, 190.02, bid_size=100, ask_size=200)
    await recorder.wait_for(lambda: got[-1].bid_sizes[0] == 100.0)
    assert got[-1].bid_sizes == (100.0, 200.0, 300.0, 400.0, 500.0)

    sim.faults.drop_connections()
    await recorder.wait_for(lambda: broker.link.state == "reconnecting")
    await recorder.wait_for(lambda: broker.connected and depth_subscriptions(sim) == 1, timeout=10)
    seen = len(got)
    sim.set_quote("AAPL", 190.00, 190.03, 190.01, bid_size=300, ask_size=200)
    await recorder.wait_for(lambda: len(got) > seen and got[-1].bid_sizes == BIDS)
    assert list(broker.depth_subscribed) == ["AAPL"]

    broker.set_depth_sink(None)  # nobody wants it: cancelMktDepth
    await recorder.wait_for(lambda: depth_subscriptions(sim) == 0)
    assert broker.depth_subscribed == ()
    seen = len(got)
    sim.set_quote("AAPL", 190.00, 190.02, 190.01, bid_size=700, ask_size=200)
    await broker.open_orders()  # a round trip: anything the simulator sent has arrived
    assert len(got) == seen


async def test_disconnect_cancels_the_depth_first(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    sim.set_quote("MSFT", 30.00, 30.01, 30.0, bid_size=100, ask_size=100)
    broker = make_broker(depth_symbols=["MSFT"])
    got: list[DepthSnapshot] = []
    broker.set_depth_sink(got.append)  # before the connection: it subscribes on connecting
    await broker.connect()
    await recorder.wait_for(lambda: bool(got))
    assert list(broker.depth_subscribed) == ["MSFT"]
    cancels: list[int] = []

    def cancel(req_id: int, smart: bool = False) -> None:
        cancels.append(req_id)

    broker.ib.client.cancelMktDepth = cancel  # type: ignore[method-assign]
    await broker.disconnect()
    assert len(cancels) == 1 and broker.depth_subscribed == ()


async def test_a_depth_request_tws_refuses_is_told(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = make_broker(depth_symbols=["NOSUCH"])
    broker.set_depth_sink(lambda snapshot: None)
    await broker.connect()
    await recorder.wait_for(lambda: any("no market depth for NOSUCH" in t for _, t in recorder.notices))
    assert broker.depth_subscribed == ()


# ---------------------------------------------------------------------- paper and the book
def test_paper_has_no_depth_and_the_reading_is_absent_not_zero() -> None:
    broker = paper_broker(FixedClock(datetime(2024, 3, 1, 15, tzinfo=UTC)))
    got: list[DepthSnapshot] = []
    broker.set_depth_sink(got.append)  # a no-op: depth is not available on paper
    quote = Quote("AAPL", datetime(2024, 3, 1, 15, tzinfo=UTC), 99.0, 101.0, 100.0, 300.0, 200.0, 0.0, 0.0)
    broker.on_quote(quote)
    book = OrderFlowBook(sizes_invented=True)
    (reading,) = book.update([quote])
    assert reading.quote_imbalance == pytest.approx(0.2)
    assert reading.depth_imbalance is None and got == []


def test_depth_before_the_first_quote_is_kept_for_it() -> None:
    book = OrderFlowBook(sizes_invented=False)
    book.on_depth_snapshot(DepthSnapshot("AAPL", BIDS, ASKS))
    book.on_depth_snapshot(DepthSnapshot("MSFT", (-1.0,), (1.0,)))  # refused, dropped
    quote = Quote("AAPL", datetime(2024, 3, 1, 15, tzinfo=UTC), 99.0, 101.0, 100.0, 300.0, 200.0, 0.0, 0.0)
    (reading,) = book.update([quote])
    assert reading.depth_imbalance == pytest.approx(0.2, rel=1e-12)
    assert book.reading("MSFT") is None


# ---------------------------------------------------------------------- the whole engine
async def test_the_engine_shows_the_depth_imbalance_of_a_depth_symbol(
    port: int, tmp_path: Path, sim: TwsSimulator, shipped_bars: Mapping[str, pd.DataFrame]
) -> None:
    settings = engine_settings(port, tmp_path / "bars", ONETAP_IBKR__DEPTH_SYMBOLS='["AAPL"]')
    engine = Engine(settings, database=tmp_path / "onetap.db")
    events: list[MarketEvent] = []
    await engine.start()
    try:
        engine.bus.on(MarketEvent, events.append)
        quote_day(sim, shipped_bars, "2012-06-01")
        await until(lambda: engine.broker.depth_subscribed == ("AAPL",))
        aapl = float(shipped_bars["AAPL"]["open"].loc[pd.Timestamp("2012-06-01")])
        sim.set_quote("AAPL", round(aapl - 0.01, 2), round(aapl + 0.01, 2), aapl, bid_size=300, ask_size=200)

        def depth_of(symbol: str) -> list[float | None]:
            return [f.depth_imbalance for e in events for f in e.flow if f.symbol == symbol]

        await until(lambda: pytest.approx(0.2, rel=1e-9) in depth_of("AAPL"))
        assert depth_of("MSFT") and set(depth_of("MSFT")) == {None}  # no depth asked: absent
        assert not any(f.sizes_invented for e in events for f in e.flow)  # IBKR's sizes
    finally:
        await engine.stop()
    assert engine.broker.depth_subscribed == ()
    await asyncio.sleep(0)


async def test_quotes_follow_a_reconnect_too(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    """Found with the depth: ib_insync forgets its tickers when the socket closes, so a reconnect
    must ask for the quotes again, not take them for subscribed."""
    got: list[Quote] = []
    broker = make_broker()
    broker.stream_quotes(["AAPL"], got.extend)
    await broker.connect()
    sim.set_quote("AAPL", 99.98, 100.02, 100.0)
    await recorder.wait_for(lambda: bool(got))
    sim.faults.drop_connections()
    await recorder.wait_for(lambda: broker.link.state == "reconnecting")
    await recorder.wait_for(lambda: broker.connected, timeout=10)
    seen = len(got)
    sim.set_quote("AAPL", 98.98, 99.02, 99.0)
    await recorder.wait_for(lambda: len(got) > seen and got[-1].bid == 98.98)
    assert broker.connected and len(got) > seen  # a quote after the reconnect: subscribed again
    assert (got[-1].bid, got[-1].ask) == (98.98, 99.02)
