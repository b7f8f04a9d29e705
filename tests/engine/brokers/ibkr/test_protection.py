"""Protective orders through the IBKR adapter, ib_insync and the TWS simulator: OCO groups, TRAIL,
native brackets, modify by re-placing, and recognition of the protection after an adapter restart."""

from __future__ import annotations

import pytest

from engine.brokers.base import (
    BrokerError,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderModified,
)
from engine.brokers.ibkr.broker import IbkrBroker
from engine.brokers.tws_sim import SimulatorConfig, TwsSimulator
from engine.brokers.tws_sim.events import SimOrder
from engine.model import Order, OrderType, Side, TimeInForce
from tests.engine.brokers.ibkr.conftest import MakeBroker, Recorder

OCA = "OCA-OT-1"


def protective(coid: str, kind: OrderType, qty: float = 10.0, **terms: object) -> Order:
    given: dict[str, object] = {"tif": TimeInForce.GTC, "oca_group": OCA, "protects": "OT-1", **terms}
    return Order(coid, "AAPL", Side.SELL, qty, kind, **given)  # type: ignore[arg-type]


async def connected(make: MakeBroker) -> IbkrBroker:
    broker = make()
    await broker.connect()
    assert broker.connected, broker.link
    return broker


def at_sim(sim: TwsSimulator) -> dict[str, SimOrder]:
    return sim.call(lambda: {o.order_ref: o for o in sim.exchange.orders.values()})


async def long_position(broker: IbkrBroker, sim: TwsSimulator, recorder: Recorder, qty: float = 10.0) -> None:
    sim.set_quote("AAPL", 99.98, 100.0, 100.0)
    await broker.submit(Order("OT-1", "AAPL", Side.BUY, qty))
    await recorder.wait_for(lambda: sum(r.fill.quantity for r in recorder.of(OrderFilled)) == qty)


async def test_a_protective_oco_reaches_the_simulator_with_its_fields(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker)
    await long_position(broker, sim, recorder)
    await broker.submit(protective("OT-2", OrderType.TRAIL, trail_amount=2.0, stop_price=97.0))
    await broker.submit(protective("OT-3", OrderType.LMT, limit_price=110.0))
    await broker.submit(protective("OT-4", OrderType.STP_LMT, stop_price=96.0, limit_price=95.5))
    await recorder.wait_for(lambda: len(recorder.of(OrderAcknowledged)) == 4)
    sim_orders = at_sim(sim)
    trail, target, stop_limit = sim_orders["OT-2"], sim_orders["OT-3"], sim_orders["OT-4"]
    # placed at 97, the level tightened at once to the last trade (100) less 2
    assert (trail.order_type, trail.aux_price, trail.trail_stop_price) == ("TRAIL", 2.0, 98.0)
    assert (target.order_type, target.lmt_price) == ("LMT", 110.0)
    assert (stop_limit.order_type, stop_limit.aux_price, stop_limit.lmt_price) == ("STP LMT", 96.0, 95.5)
    for placed in (trail, target, stop_limit):
        assert (placed.oca_group, placed.oca_type, placed.tif) == (OCA, 3, "GTC")
    sim.set_quote("AAPL", 110.0, 110.05, 110.0)  # the target fills: the others are cancelled
    await recorder.wait_for(
        lambda: {r.client_order_id for r in recorder.of(OrderCancelled)} == {"OT-2", "OT-4"}
    )
    assert "OT-3" in {r.fill.client_order_id for r in recorder.of(OrderFilled)}


async def test_a_trailing_percent_order_and_modify_order_by_re_placing(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker)
    await long_position(broker, sim, recorder)
    await broker.submit(protective("OT-2", OrderType.TRAIL, trail_percent=5.0))
    await broker.submit(protective("OT-3", OrderType.STP, stop_price=95.0, oca_group=None))
    await recorder.wait_for(lambda: len(recorder.of(OrderAcknowledged)) == 3)
    placed = at_sim(sim)["OT-2"]
    assert (placed.aux_price, placed.trailing_percent, placed.trail_stop_price) == (None, 5.0, 95.0)
    await broker.modify_order("OT-3", stop_price=97.0, quantity=6.0)
    await broker.modify_order("OT-2", trail_amount=1.5)
    await recorder.wait_for(lambda: len(recorder.of(OrderModified)) == 2)
    moved = next(r for r in recorder.of(OrderModified) if r.client_order_id == "OT-3")
    assert (moved.quantity, moved.stop_price) == (6.0, 97.0)
    after = at_sim(sim)
    assert (after["OT-3"].aux_price, after["OT-3"].quantity) == (97.0, 6.0)
    assert (after["OT-2"].aux_price, after["OT-2"].trailing_percent) == (1.5, None)
    assert sim.call(lambda: len(sim.exchange.orders)) == 3  # modified in place, nothing new
    with pytest.raises(BrokerError, match="no limit price"):
        await broker.modify_order("OT-3", limit_price=90.0)


@pytest.mark.parametrize("sim_config", [SimulatorConfig(accounts=("DU1234567",), max_fill_per_quote=4)])
async def test_a_native_bracket_children_follow_the_entry_and_oca_cancels(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    broker = await connected(make_broker)
    sim.set_quote("AAPL", 99.98, 101.0, 100.0)
    entry = Order("OT-1", "AAPL", Side.BUY, 10.0, OrderType.LMT, limit_price=100.0)
    stop = protective("OT-2", OrderType.STP, stop_price=95.0)
    target = protective("OT-3", OrderType.LMT, limit_price=110.0)
    await broker.place_bracket(entry, [stop, target])
    await recorder.wait_for(lambda: len(recorder.of(OrderAcknowledged)) == 3)
    sim_orders = at_sim(sim)
    assert sim_orders["OT-2"].parent_id == sim_orders["OT-1"].order_id
    assert sim_orders["OT-2"].status == "PreSubmitted" and sim_orders["OT-3"].held
    sim.set_quote("AAPL", 99.98, 100.0, 100.0)  # the entry fills 4
    await recorder.wait_for(lambda: len(recorder.of(OrderModified)) == 2)
    assert {(r.client_order_id, r.quantity) for r in recorder.of(OrderModified)} == {
        ("OT-2", 4.0),
        ("OT-3", 4.0),
    }
    sim.set_quote("AAPL", 94.0, 101.0, 94.0)  # the stop fires for the 4 held
    await recorder.wait_for(lambda: bool(recorder.of(OrderCancelled)))
    assert [r.client_order_id for r in recorder.of(OrderCancelled)] == ["OT-3"]
    stop_fills = [r.fill for r in recorder.of(OrderFilled) if r.fill.client_order_id == "OT-2"]
    assert sum(f.quantity for f in stop_fills) == 4.0


async def test_after_an_adapter_restart_the_protection_is_recognised_not_placed_again(
    make_broker: MakeBroker, sim: TwsSimulator, recorder: Recorder
) -> None:
    first = await connected(make_broker)
    await long_position(first, sim, recorder)
    await first.submit(protective("OT-2", OrderType.TRAIL, trail_amount=2.0, stop_price=97.0))
    await first.submit(protective("OT-3", OrderType.LMT, limit_price=110.0))
    await recorder.wait_for(lambda: len(recorder.of(OrderAcknowledged)) == 3)
    await first.disconnect()
    sim.end_session()  # the GTC protection outlives the session and onetap's absence
    sim.set_quote("AAPL", 103.98, 104.0, 104.0)  # the trailing stop moves to 102 meanwhile

    again = await connected(make_broker)
    working = {o.client_order_id: o for o in await again.open_orders()}
    assert set(working) == {"OT-2", "OT-3"}
    trail, target = working["OT-2"], working["OT-3"]
    assert (trail.order_type, trail.trail_amount, trail.stop_price, trail.oca_group) == (
        OrderType.TRAIL,
        2.0,
        102.0,
        OCA,
    )
    assert (target.order_type, target.limit_price, target.tif, target.oca_group) == (
        OrderType.LMT,
        110.0,
        TimeInForce.GTC,
        OCA,
    )
    assert sim.call(lambda: len(sim.exchange.orders)) == 3  # nothing placed twice
    await again.modify_order("OT-3", limit_price=108.0)  # the recognised order is modifiable
    await recorder.wait_for(lambda: any(r.client_order_id == "OT-3" for r in recorder.of(OrderModified)))
    assert at_sim(sim)["OT-3"].lmt_price == 108.0
