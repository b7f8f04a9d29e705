"""The quote step is one batch (issue 18): the batched path must give exactly the fills, marks,
order outcomes and breaker trips of matching every quote on its own.

The same scenario runs twice on the shipped data through the whole engine (real store, real paper
broker): once with ``SessionDriver.per_quote`` (the reference: every quote marked and matched on
its own, as before batching), once batched. The scenario puts stops and limits on several symbols
so that more than one of them is touched within one step (mid-batch), trips the daily-loss breaker
with a tight limit, and kills the engine in the middle of a burst of steps with orders working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.actor import Actor
from engine.config import load_settings
from engine.data.loader import MarketData
from engine.kernel import Engine
from engine.model import CommandSource, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from engine.model.events import Kill

OPERATOR = Actor("alice", CommandSource.HOTKEY)
SYMBOLS = ("AAPL", "MSFT", "GOOG", "IBM", "AMZN")


async def _scenario(db: Path, shipped: MarketData, *, per_quote: bool) -> dict[str, Any]:
    settings = load_settings(
        environ={
            "ONETAP_REPLAY__STEPS_PER_DAY": "60",
            "ONETAP_RISK__MAX_ORDERS_PER_SECOND": "1000",
            "ONETAP_RISK__DUPLICATE_WINDOW_S": "0",
            "ONETAP_RISK__DAILY_LOSS_LIMIT_PCT": "0.0005",  # $50 of $100,000: trips in the scenario
        }
    )
    engine = Engine(settings, database=db, market=shipped, paced=False)
    await engine.start()
    engine.parts.driver.per_quote = per_quote
    send = engine.parts.dispatcher.send
    try:
        await engine.step(2)
        for sym in SYMBOLS:
            await send(OrderRequest(sym, Side.BUY, 10.0))
        await engine.step(1)  # the buys fill on the next quotes
        last = {s: q.last for s, q in engine.parts.market.latest_quotes().items()}
        for sym in SYMBOLS:  # a stop just under and a buy limit just under every symbol's price
            await send(
                OrderRequest(sym, Side.SELL, 5.0, OrderType.STP, stop_price=round(last[sym] * 0.999, 2))
            )
            await send(
                OrderRequest(
                    sym,
                    Side.BUY,
                    3.0,
                    OrderType.LMT,
                    limit_price=round(last[sym] * 0.998, 2),
                    tif=TimeInForce.GTC,
                )
            )
        await engine.step(20)
        for sym in SYMBOLS:  # a burst: more orders working, then the kill while it runs
            price = engine.parts.market.latest_quotes()[sym].last
            await send(
                OrderRequest(
                    sym,
                    Side.BUY,
                    2.0,
                    OrderType.LMT,
                    limit_price=round(price * 0.9995, 2),
                    tif=TimeInForce.GTC,
                )
            )
        await engine.step(3)
        await engine.handle(Kill("burst kill"), OPERATOR)
        await engine.step(10)
        fills = [(f.symbol, f.side, f.quantity, f.price, f.ts) for f in engine.store.load_fills()]
        orders = sorted(
            (o.client_order_id, o.symbol, o.status, o.filled_quantity) for o in engine.store.load_orders()
        )
        marks = [(p.symbol, p.quantity, p.last) for p in engine.parts.ledger.positions()]
        risk = [(r.kind, r.code, r.ts) for r in engine.store.load_risk_events(limit=1000)]
        state = engine.parts.risk.controller.state.state
        equity = engine.parts.ledger.equity
    finally:
        await engine.stop()
    return {"fills": fills, "orders": orders, "marks": marks, "risk": risk, "state": state, "equity": equity}


async def test_batched_step_fills_marks_and_trips_as_per_quote(tmp_path: Path, shipped: MarketData) -> None:
    reference = await _scenario(tmp_path / "each" / "onetap.db", shipped, per_quote=True)
    batched = await _scenario(tmp_path / "batch" / "onetap.db", shipped, per_quote=False)
    # The scenario did what it is for: stops and limits filled, two in one step, a breaker tripped.
    stop_fills = [f for f in reference["fills"] if f[1] is Side.SELL]
    assert stop_fills, "no stop triggered"
    times = [f[4] for f in reference["fills"]]
    assert len(times) > len(set(times)), "no two fills in one step"
    assert reference["risk"], "no risk event recorded"
    assert any(status is OrderStatus.CANCELLED for _, _, status, _ in reference["orders"]), (
        "the kill cancelled nothing"
    )
    # ... and batching changed none of it.
    assert batched["fills"] == reference["fills"]
    assert batched["orders"] == reference["orders"]
    assert batched["marks"] == reference["marks"]
    assert batched["risk"] == reference["risk"]
    assert batched["state"] == reference["state"]
    assert batched["equity"] == reference["equity"]
