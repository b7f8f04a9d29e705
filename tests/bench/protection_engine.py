"""From an entry's fill to its protection acknowledged, through the whole engine, on the paper broker.

Each round buys one share of AAPL for a stored card with an exit policy (a 5% stop, a 2R target),
plays the quote that fills it, and times from the moment the fill is booked (``FillBooked``, the
event the protection manager hears) to the moment the broker acknowledged the second leg of the
OCO group (both legs written ahead, risk-checked, audited, sent and acknowledged). The position is
then sold by hand, which cancels the protection first, so every round starts flat. SQLite runs at
synchronous=FULL, as in production; throttles are opened wide for the measurement.

Run with ``python -m tests.bench.protection_engine [N]`` (N entries, 100 by default). Figures are
printed, not asserted.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from statistics import median, quantiles

from engine.actor import Actor
from engine.config import load_settings
from engine.kernel import Engine
from engine.model import CommandSource, ExitPolicy, Leg, OrderRequest, OrderStatus, Side, StopRule
from engine.model.events import OrderEvent
from engine.runtime.accounting import FillBooked

OPERATOR = Actor("bench", CommandSource.HOTKEY)


def _p99(values: list[float]) -> float:
    return quantiles(values, n=100)[98]


async def measure(n: int = 100) -> list[float]:
    env = {
        "ONETAP_REPLAY__STEPS_PER_DAY": "390",
        "ONETAP_RISK__MAX_ORDERS_PER_DAY": "1000000",
        "ONETAP_RISK__MAX_ORDERS_PER_SECOND": "10000",
        "ONETAP_RISK__MAX_CANCELS_PER_DAY": "1000000",
        "ONETAP_RISK__MAX_CANCELS_PER_SECOND": "10000",
        "ONETAP_RISK__DUPLICATE_WINDOW_S": "0",
        "ONETAP_RISK__REPEAT_FILL_MAX": "10000",
        "ONETAP_RISK__MAX_CONSECUTIVE_LOSSES": "1000",
    }
    with tempfile.TemporaryDirectory() as d:
        engine = Engine(load_settings(environ=env), database=Path(d) / "onetap.db", paced=False)
        await engine.start()
        try:
            await engine.step(2)
            base = next(c for c in engine.cards if len(c.legs) == 1)
            card = replace(
                base,
                card_id="bench-protected",
                legs=(Leg("AAPL", Side.BUY, 1.0),),
                exit_policy=ExitPolicy(stop=StopRule.PERCENT, stop_value=5.0, target_r=2.0),
            )
            engine.store.save_cards([card])
            entry: list[str] = []
            booked: dict[str, float] = {}
            acked: dict[str, list[float]] = {}

            def on_booked(b: FillBooked) -> None:
                if entry and b.fill.client_order_id == entry[-1]:
                    booked.setdefault(entry[-1], time.perf_counter())

            def on_order(e: OrderEvent) -> None:
                o = e.order
                if o.protects is not None and o.status is OrderStatus.ACKNOWLEDGED:
                    acked.setdefault(o.protects, []).append(time.perf_counter())

            engine.bus.on(FillBooked, on_booked)
            engine.bus.on(OrderEvent, on_order)
            out: list[float] = []
            for _ in range(n):
                order = await engine.parts.dispatcher.send(
                    OrderRequest("AAPL", Side.BUY, 1.0, card_id=card.card_id, strategy=card.template)
                )
                entry.append(order.client_order_id)
                for _ in range(20):
                    await engine.step(1)
                    if len(acked.get(order.client_order_id, [])) >= 2:
                        break
                times = acked[order.client_order_id]
                assert len(times) == 2, f"{order.client_order_id}: the protection was not acknowledged"
                out.append((times[1] - booked[order.client_order_id]) * 1000)
                await engine.parts.dispatcher.send(OrderRequest("AAPL", Side.SELL, 1.0, reduce_only=True))
                for _ in range(20):
                    await engine.step(1)
                    if abs(engine.ledger.quantity("AAPL")) < 1e-9:
                        break
            assert engine.parts.protection.placed == 2 * n
            return out
        finally:
            await engine.stop()


def main() -> None:
    values = asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
    print(
        f"protection: entry fill booked -> stop and target acknowledged  median {median(values):6.2f} ms  "
        f"p99 {_p99(values):6.2f} ms  ({len(values)} entries, paper broker, synchronous=FULL)"
    )


if __name__ == "__main__":
    main()
