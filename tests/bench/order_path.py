"""The order path on the paper broker, one order at a time, with SQLite at synchronous=FULL.

Stages of each order, measured from the command: risk checks done -> the INTENT row committed
(write-ahead) -> handed to the broker -> acknowledged; then, when the next quote arrives, the
fill applied (deduplicated, stored, on the ledger). 1,000 orders alternate buying and selling one
share so no limit interferes; throttles are opened wide for the measurement.

Commits are counted too (SQLAlchemy's ``commit`` event on every engine): each one is an fsync
under ``synchronous=FULL``, so they are the order path's cost floor. The fill is timed to the end of
the handling of its broker report (stored and committed, on the ledger, audited).

Run with ``python -m tests.bench.order_path [N]`` (N orders, 1,000 by default). Figures are printed,
not asserted.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from statistics import median, quantiles

from sqlalchemy import Connection, event
from sqlalchemy import Engine as SqlEngine

from engine.brokers.base import BrokerReport, OrderFilled
from engine.config import load_settings
from engine.kernel import Engine
from engine.model import Order, OrderRequest, OrderStatus, Side
from engine.model.events import OrderEvent

TARGET_MS = 2.0


def _p99(values: list[float]) -> float:
    return quantiles(values, n=100)[98]


async def measure(n: int = 1000) -> dict[str, list[float]]:
    commits = [0]

    def count(_conn: Connection) -> None:
        commits[0] += 1

    event.listen(SqlEngine, "commit", count)
    try:
        return await _measure(n, commits)
    finally:
        event.remove(SqlEngine, "commit", count)


async def _measure(n: int, commits: list[int]) -> dict[str, list[float]]:
    env = {
        "ONETAP_REPLAY__STEPS_PER_DAY": "390",
        "ONETAP_RISK__MAX_ORDERS_PER_DAY": "1000000",
        "ONETAP_RISK__MAX_ORDERS_PER_SECOND": "10000",
        "ONETAP_RISK__DUPLICATE_WINDOW_S": "0",
        "ONETAP_RISK__REPEAT_FILL_MAX": "10000",
    }
    with tempfile.TemporaryDirectory() as d:
        engine = Engine(load_settings(environ=env), database=Path(d) / "onetap.db", paced=False)
        await engine.start()
        await engine.step(2)
        marks: dict[str, float] = {}
        real_insert, real_submit = engine.store.insert_order, engine.broker.submit

        def timed_insert(order: Order) -> None:
            real_insert(order)
            marks["persisted"] = time.perf_counter()

        async def timed_submit(order: Order) -> None:
            marks["sent"] = time.perf_counter()
            await real_submit(order)

        engine.store.insert_order = timed_insert  # type: ignore[method-assign]
        engine.broker.submit = timed_submit  # type: ignore[method-assign]
        engine.bus.on(
            OrderEvent,
            lambda e: (
                marks.setdefault("acknowledged", time.perf_counter())
                if e.order.status is OrderStatus.ACKNOWLEDGED
                else None
            ),
        )
        apply_report = engine.orders.on_report

        def timed_report(report: BrokerReport) -> None:
            apply_report(report)
            if isinstance(report, OrderFilled):  # handled: stored, committed, on the ledger
                marks.setdefault("filled", time.perf_counter())

        engine.broker.set_reporter(timed_report)
        out: dict[str, list[float]] = {
            k: []
            for k in ("risk", "persisted", "sent", "acknowledged", "fill", "order commits", "fill commits")
        }
        try:
            for i in range(n):
                marks.clear()
                request = OrderRequest("AAPL", Side.BUY if i % 2 == 0 else Side.SELL, 1.0)
                t0 = time.perf_counter()
                refusal = engine.risk.check(request, engine.parts.dispatcher.book_view(), engine.clock.now())
                assert refusal is None, refusal
                t_risk = time.perf_counter()
                c0 = commits[0]
                await engine.parts.dispatcher.send(request)
                q0 = time.perf_counter()
                c1 = commits[0]
                await engine.step(1)  # the next quote fills it
                out["order commits"].append(c1 - c0)
                out["fill commits"].append(commits[0] - c1)
                for key, start, end in (
                    ("risk", t0, t_risk),
                    ("persisted", t0, marks["persisted"]),
                    ("sent", t0, marks["sent"]),
                    ("acknowledged", t0, marks["acknowledged"]),
                    ("fill", q0, marks["filled"]),
                ):
                    out[key].append((end - start) * 1000)
        finally:
            await engine.stop()
        return out


def main() -> None:
    out = asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
    labels = {
        "risk": "command -> risk checked",
        "persisted": "command -> INTENT committed",
        "sent": "command -> sent to the broker",
        "acknowledged": "command -> acknowledged",
        "fill": "quote -> fill report handled",
    }
    for key, label in labels.items():
        values = out[key]
        target = (
            f"  target p99 {TARGET_MS:.0f} ms  ratio {_p99(values) / TARGET_MS:.2f}" if key == "sent" else ""
        )
        print(
            f"orders: {label:34s} median {median(values):6.2f} ms  p99 {_p99(values):6.2f} ms  "
            f"({len(values)} orders, paper broker, synchronous=FULL){target}"
        )
    for key, label in (
        ("order commits", "command -> acknowledged"),
        ("fill commits", "quote step with the fill"),
    ):
        values = out[key]
        print(
            f"commits: {label:33s} median {median(values):4.0f}  max {max(values):4.0f}  "
            f"({len(values)} orders; each commit is an fsync)"
        )


if __name__ == "__main__":
    main()
