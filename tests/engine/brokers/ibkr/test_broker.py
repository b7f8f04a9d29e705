"""The IBKR adapter, for real: ib_insync on this loop, the TWS simulator on its own thread.

Every order type, partial fills, modify, cancel, global cancel, positions and balances, the id
rule, the error mapping and the connection faults, with nothing of ib_insync mocked.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from engine.brokers.base import (
    BrokerError,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderModified,
    OrderRejected,
)
from engine.brokers.ibkr.broker import IbkrBroker
from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator
from engine.clock import SimulatedClock
from engine.model import Order, OrderType, Quote, Side, TimeInForce
from tests.engine.brokers.ibkr.conftest import MakeBroker, Recorder, ibkr_settings


def order(
    coid: str,
    side: Side,
    qty: float,
    kind: OrderType = OrderType.MKT,
    *,
    symbol: str = "AAPL",
    limit_price: float | None = None,
    stop_price: float | None = None,
    tif: TimeInForce = TimeInForce.DAY,
) -> Order:
    return Order(
        client_order_id=coid,
        symbol=symbol,
        side=side,
        quantity=qty,
        order_type=kind,
        limit_price=limit_price,
        stop_price=stop_price,
        tif=tif,
    )


async def connected(make: MakeBroker, **changes: object) -> IbkrBroker:
    broker = make(**changes)
    await broker.connect()
    assert broker.connected, broker.link
    return broker


async def test_connect_reads_the_account_and_links_up(make_broker: MakeBroker) -> None:
    broker = await connected(make_broker)
    link = broker.link
    assert link.state == "connected"
    assert link.account == "DU1234567"
    assert link.server_version == 176  # ib_insync asks for up to 176
    assert link.data_type == "live"
    assert link.last_heartbeat is not None
    figures = broker.figures()
    assert figures.account == "DU1234567"
    assert figures.cash == pytest.approx(100_000.0)
    assert figures.net_liquidation == pytest.approx(100_000.0)
    assert await broker.cash() == pytest.approx(100_000.0)
    assert await broker.positions() == []
    assert broker.server_now() is not None


async def test_market_order_fills_with_commission_and_moves_positions_and_cash(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker)
    sim.set_quote("AAPL", 99.98, 100.02, 100.0, bid_size=500, ask_size=500)
    await broker.submit(order("OT-1", Side.BUY, 10))
    await recorder.wait_for(lambda: bool(recorder.of(OrderFilled)))
    (ack,) = recorder.of(OrderAcknowledged)
    assert (
        isinstance(ack, OrderAcknowledged) and ack.client_order_id == "OT-1" and ack.broker_order_id.isdigit()
    )
    (filled,) = recorder.of(OrderFilled)
    assert isinstance(filled, OrderFilled)
    fill = filled.fill
    assert (fill.client_order_id, fill.symbol, fill.side, fill.quantity) == ("OT-1", "AAPL", Side.BUY, 10.0)
    assert fill.price == pytest.approx(100.02)
    assert fill.commission > 0
    await recorder.wait_for(lambda: any(p.position == 10 for p in broker.ib.positions()))
    (position,) = await broker.positions()
    assert (position.symbol, position.quantity) == ("AAPL", 10.0)
    assert position.avg_cost == pytest.approx(100.02 + fill.commission / 10, rel=1e-3)


async def test_limit_order_rests_is_modified_then_fills_when_the_market_comes(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker)
    sim.set_quote("MSFT", 30.00, 30.02, 30.01)
    await broker.submit(order("OT-2", Side.BUY, 5, OrderType.LMT, symbol="MSFT", limit_price=29.50))
    await recorder.wait_for(lambda: bool(recorder.of(OrderAcknowledged)))
    assert not recorder.of(OrderFilled)
    (working,) = await broker.open_orders()
    assert (working.client_order_id, working.limit_price, working.quantity) == ("OT-2", 29.50, 5.0)
    await broker.modify("OT-2", quantity=8, limit_price=29.60)
    await recorder.wait_for(lambda: bool(recorder.of(OrderModified)))
    (modified,) = recorder.of(OrderModified)
    assert modified == OrderModified("OT-2", 8.0, 29.60)
    sim.set_quote("MSFT", 29.55, 29.58, 29.57)
    await recorder.wait_for(lambda: sum(r.fill.quantity for r in recorder.of(OrderFilled)) == 8)
    prices = [r.fill.price for r in recorder.of(OrderFilled)]
    assert prices == [pytest.approx(29.58)] * len(prices)  # the touch, better than the limit


@pytest.mark.parametrize(
    ("kind", "kw"),
    [
        (OrderType.STP, {"stop_price": 101.0}),
        (OrderType.STP_LMT, {"stop_price": 101.0, "limit_price": 101.5}),
    ],
)
async def test_stop_orders_wait_for_their_trigger(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder, kind: OrderType, kw: dict[str, float]
) -> None:
    broker = await connected(make_broker)
    sim.set_quote("IBM", 99.99, 100.01, 100.0)
    await broker.submit(order("OT-3", Side.BUY, 3, kind, symbol="IBM", **kw))  # type: ignore[arg-type]
    await recorder.wait_for(lambda: bool(recorder.of(OrderAcknowledged)))
    # a round trip to the simulator: whatever it sent before answering has been reported
    (working,) = await broker.open_orders()
    assert working.client_order_id == "OT-3"
    assert not recorder.of(OrderFilled)
    sim.set_quote("IBM", 101.10, 101.20, 101.15)
    await recorder.wait_for(lambda: bool(recorder.of(OrderFilled)))
    (filled,) = recorder.of(OrderFilled)
    assert filled.fill.quantity == 3 and filled.fill.price == pytest.approx(101.20)


@pytest.mark.parametrize("sim_config", [SimulatorConfig(accounts=("DU1234567",), max_fill_per_quote=40)])
async def test_partial_fills_arrive_one_execution_at_a_time(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker)
    sim.set_quote("AAPL", 99.98, 100.02, 100.0)
    await broker.submit(order("OT-4", Side.BUY, 100))
    await recorder.wait_for(lambda: len(recorder.of(OrderFilled)) == 1)
    sim.set_quote("AAPL", 99.99, 100.03, 100.01)
    sim.set_quote("AAPL", 100.00, 100.04, 100.02)
    await recorder.wait_for(lambda: len(recorder.of(OrderFilled)) == 3)
    fills = [r.fill for r in recorder.of(OrderFilled)]
    assert [f.quantity for f in fills] == [40, 40, 20]
    assert len({f.exec_id for f in fills}) == 3


async def test_fractional_quantities_round_trip(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker)
    sim.set_quote("AMZN", 200.0, 200.1, 200.05)
    await broker.submit(order("OT-5", Side.BUY, 0.5, symbol="AMZN"))
    await recorder.wait_for(lambda: bool(recorder.of(OrderFilled)))
    assert recorder.of(OrderFilled)[0].fill.quantity == 0.5


async def test_cancel_and_global_cancel(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker)
    sim.set_quote("AAPL", 99.98, 100.02, 100.0)
    for i in range(3):
        await broker.submit(
            order(f"OT-C{i}", Side.BUY, 1, OrderType.LMT, limit_price=90.0 + i, tif=TimeInForce.GTC)
        )
    await recorder.wait_for(lambda: len(recorder.of(OrderAcknowledged)) == 3)
    await broker.cancel("OT-C0")
    await recorder.wait_for(lambda: len(recorder.of(OrderCancelled)) == 1)
    assert recorder.of(OrderCancelled)[0].client_order_id == "OT-C0"
    await broker.global_cancel()
    await recorder.wait_for(lambda: len(recorder.of(OrderCancelled)) == 3)
    assert await broker.open_orders() == []
    with pytest.raises(BrokerError, match="no working order OT-none"):
        await broker.cancel("OT-none")


async def test_a_rejected_order_says_why(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker)
    sim.set_quote("AAPL", 99.98, 100.02, 100.0)
    sim.faults.reject_next_order("trading halted in this symbol")
    await broker.submit(order("OT-6", Side.BUY, 1))
    await recorder.wait_for(lambda: bool(recorder.of(OrderRejected)))
    (rejected,) = recorder.of(OrderRejected)
    assert isinstance(rejected, OrderRejected)
    assert "201" in rejected.reason and "trading halted in this symbol" in rejected.reason
    assert not recorder.of(OrderFilled)


async def test_unknown_symbol_is_refused_before_sending(make_broker: MakeBroker) -> None:
    broker = await connected(make_broker)
    with pytest.raises(BrokerError, match="200: no security definition"):
        await broker.submit(order("OT-7", Side.BUY, 1, symbol="NOPE"))


async def test_order_ids_are_never_reused_when_next_valid_id_goes_back(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    first = await connected(make_broker)
    sim.set_quote("AAPL", 99.98, 100.02, 100.0)
    await first.submit(order("OT-8", Side.BUY, 1))
    await recorder.wait_for(lambda: bool(recorder.of(OrderFilled)))
    used = int(recorder.of(OrderAcknowledged)[0].broker_order_id)
    await first.disconnect()
    sim.faults.roll_back_next_id(50)
    second = await connected(make_broker, floor=used)
    assert any("not above the highest id onetap used" in text for _, text in recorder.notices)
    await second.submit(order("OT-9", Side.BUY, 1))
    await recorder.wait_for(lambda: len(recorder.of(OrderFilled)) == 2)
    ids = [int(r.broker_order_id) for r in recorder.of(OrderAcknowledged)]
    assert ids[1] > ids[0] == used
    assert not recorder.of(OrderRejected)


async def test_history_is_the_daily_bars_ibkr_serves(make_broker: MakeBroker, shipped_bars: object) -> None:
    broker = await connected(make_broker)
    frame = await broker.history("AAPL", "1 M")
    assert 15 <= len(frame) <= 23
    assert list(frame.columns) == ["date", "open", "high", "low", "close", "volume"]
    shipped = shipped_bars["AAPL"]  # type: ignore[index]
    last = frame.iloc[-1]
    assert last["close"] == pytest.approx(float(shipped.loc[last["date"], "close"]), abs=1e-6)


async def test_quotes_stream_into_the_sink(make_broker: MakeBroker, sim: TwsSimulator) -> None:
    broker = await connected(make_broker)
    seen: list[Quote] = []
    broker.stream_quotes(["AAPL", "MSFT"], lambda quotes: seen.extend(quotes))
    await broker.start_quotes()
    await broker.open_orders()  # a round trip: the simulator has the subscriptions before the quotes
    sim.set_quote("AAPL", 99.98, 100.02, 100.0, bid_size=300, ask_size=200)
    sim.set_quote("MSFT", 29.99, 30.01, 30.0)
    deadline = asyncio.get_running_loop().time() + 5
    while {q.symbol for q in seen if q.last > 0} != {"AAPL", "MSFT"}:
        assert asyncio.get_running_loop().time() < deadline, seen
        await asyncio.sleep(0.01)
    aapl = [q for q in seen if q.symbol == "AAPL"][-1]
    assert (aapl.bid, aapl.ask, aapl.last) == (99.98, 100.02, 100.0)
    assert aapl.bid_size == 300 and aapl.ask_size == 200


async def test_read_only_sends_nothing(make_broker: MakeBroker) -> None:
    broker = await connected(make_broker, read_only=True)
    with pytest.raises(BrokerError, match="read-only"):
        await broker.submit(order("OT-10", Side.BUY, 1))


async def test_tws_not_running_is_a_clear_message_not_a_crash(recorder: Recorder) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    broker = IbkrBroker(
        ibkr_settings(free, connect_timeout_s=0.5),
        on_link=recorder.links.append,
        on_notice=lambda level, text: recorder.notices.append((level, text)),
    )
    try:
        await broker.connect()  # does not raise
        assert not broker.connected
        assert broker.link.state in ("disconnected", "reconnecting")
        (level, text), *_ = recorder.notices
        assert level == "error"
        assert "502" in text and "is TWS or IB Gateway running with the API enabled" in text
        assert f"127.0.0.1:{free}" in text
        with pytest.raises(BrokerError, match="not connected"):
            await broker.submit(order("OT-11", Side.BUY, 1))
    finally:
        await broker.disconnect()


async def test_dropped_connection_reconnects_and_recovers_fills_made_meanwhile(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder, sim_clock: SimulatedClock
) -> None:
    reconnected = asyncio.Event()

    async def on_reconnected() -> None:
        reconnected.set()

    broker = make_broker(on_reconnected=on_reconnected)
    await broker.connect()
    sim.set_quote("AAPL", 99.98, 100.02, 100.0)
    await broker.submit(order("OT-12", Side.BUY, 4, OrderType.LMT, limit_price=99.0, tif=TimeInForce.GTC))
    await recorder.wait_for(lambda: bool(recorder.of(OrderAcknowledged)))
    sim.faults.drop_connections()
    await recorder.wait_for(lambda: broker.link.state == "reconnecting")
    sim_clock.advance(timedelta(minutes=1))
    sim.set_quote("AAPL", 98.90, 98.95, 98.92)  # fills while nobody listens
    await asyncio.wait_for(reconnected.wait(), 10)
    assert broker.reconnects == 1 and broker.connected
    fills = await broker.executions()
    assert [(f.client_order_id, f.quantity) for f in fills] == [("OT-12", 4.0)]
    assert fills[0].ts >= datetime(2012, 6, 1, 15, 0, tzinfo=UTC)
    assert await broker.open_orders() == []
    (position,) = await broker.positions()
    assert position.quantity == 4
    states = [link.state for link in recorder.links]
    assert "reconnecting" in states and states[-1] == "connected"


async def test_a_stalled_tws_is_noticed_by_the_heartbeat(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker, heartbeat_s=0.1, connect_timeout_s=0.3)
    sim.faults.stall(1.0)
    await recorder.wait_for(
        lambda: any("stopped answering heartbeats" in text for _, text in recorder.notices), timeout=5
    )
    await recorder.wait_for(lambda: broker.connected and broker.reconnects >= 1, timeout=10)
    states = [link.state for link in recorder.links]
    assert "reconnecting" in states and states[-1] == "connected"
    assert broker.link.last_heartbeat is not None


async def test_connectivity_notices_move_the_link(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker)
    sim.faults.connectivity(1100)
    await recorder.wait_for(lambda: broker.link.state == "degraded")
    assert "lost its connection to IBKR's servers" in broker.link.detail
    sim.faults.connectivity(1102)
    await recorder.wait_for(lambda: broker.link.state == "connected")


async def test_snapshot_and_an_option_contract(make_broker: MakeBroker, sim: TwsSimulator) -> None:
    broker = await connected(make_broker)
    sim.set_quote("AAPL", 99.98, 100.02, 100.0)
    snap = await broker.snapshot("AAPL")
    assert snap is not None and (snap.bid, snap.ask, snap.last) == (99.98, 100.02, 100.0)
    option = "AAPL  120720C00100000"
    contract = await broker.qualify(option)
    assert (contract.secType, contract.strike, contract.right) == ("OPT", 100.0, "C")
    assert contract.conId > 0


async def test_no_market_data_subscription_is_explained(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    sim.faults.deny_market_data("MSFT")
    broker = await connected(make_broker)
    broker.stream_quotes(["MSFT"], lambda quotes: None)
    await broker.start_quotes()
    await recorder.wait_for(lambda: any("354" in text for _, text in recorder.notices))
    (text,) = [text for _, text in recorder.notices if "354" in text]
    assert "no market data subscription" in text and 'market_data = "delayed"' in text


async def test_bars_are_cached_so_a_restart_does_not_ask_again(
    make_broker: MakeBroker, tmp_path: Path
) -> None:
    from datetime import date

    from engine.brokers.ibkr.history import cache_file, fetch_bars

    broker = await connected(make_broker)
    first, fetched = await fetch_bars(broker, "IBM", duration="3 M", folder=tmp_path, today=date(2012, 6, 1))
    assert fetched > 50 and cache_file(tmp_path, "IBM").is_file()
    assert first["date"].iloc[-1] == pd.Timestamp("2012-05-31")
    again, fetched_again = await fetch_bars(
        broker, "IBM", duration="3 M", folder=tmp_path, today=date(2012, 6, 1)
    )
    assert fetched_again == 0
    pd.testing.assert_frame_equal(
        first.reset_index(drop=True), again.reset_index(drop=True), check_dtype=False
    )
