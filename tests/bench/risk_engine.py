"""The risk engine on the order path: pre-trade check latency and the kill switch's reaction time.

- pre-trade: every check for one order, as the engine runs them (``RiskController.check``,
  which completes the book view and runs all thirteen checks), over a book of 50 positions
  with working orders and a full duplicate-guard window; and the same plus the engine
  building its book view from the live ledger (the whole pre-trade step of a key press).
- kill switch: a real engine on the paper broker with 100 working orders; from the Kill
  command to the last cancel request handed to the broker, and to the last cancel confirmed.

Run with ``python -m tests.bench.risk_engine``. Figures are printed, not asserted.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median, quantiles

from engine.actor import Actor
from engine.config import RiskSettings, load_settings
from engine.kernel import Engine
from engine.model import CommandSource, OrderRequest, OrderStatus, OrderType, Side, TradingState
from engine.model.events import Kill, OrderEvent
from engine.risk.controller import RiskController
from engine.risk.killswitch import HaltState
from engine.risk.pretrade import BookView

PRETRADE_TARGET_US = 50.0
KILL_TARGET_MS = 50.0


def _p99(values: list[float]) -> float:
    return quantiles(values, n=100)[98]


def pretrade_latency(n: int = 20_000) -> list[float]:
    symbols = [f"S{i:02d}" for i in range(50)]
    book = BookView(
        trading_state=TradingState.ACTIVE,
        halted_reason="",
        equity=1_000_000.0,
        cash=400_000.0,
        positions={s: 100.0 for s in symbols},
        prices={s: 50.0 + i for i, s in enumerate(symbols)},
        working={s: 10.0 for s in symbols[:20]},
        working_buy_value=20 * 10 * 60.0,
        gross_exposure=sum(100.0 * (50.0 + i) for i in range(50)),
        tradable=frozenset(symbols),
    )
    ctl = RiskController(
        RiskSettings(max_orders_per_second=10_000, max_orders_per_day=1_000_000),
        allow_short=False,
        sectors={s: f"sector {i % 8}" for i, s in enumerate(symbols)},
        state=HaltState(),
        persist=lambda _s: None,
        on_event=lambda _e: None,
    )
    t0 = datetime(2012, 3, 1, 15, 0, tzinfo=UTC)
    for i in range(40):  # a full duplicate-guard window to compare against
        ctl.sent(OrderRequest(symbols[i], Side.BUY, 1.0 + i), t0 + timedelta(milliseconds=100 * i))
    now = t0 + timedelta(seconds=5)
    order = OrderRequest(
        "S07",
        Side.BUY,
        25.0,
        order_type=OrderType.LMT,
        limit_price=57.5,
        protective_stop=55.0,
        strategy="momentum",
    )
    out = []
    for _ in range(n):
        start = time.perf_counter_ns()
        refusal = ctl.check(order, book, now)
        out.append((time.perf_counter_ns() - start) / 1000.0)
        assert refusal is None, refusal
    return out[n // 10 :]


async def _engine(tmp: Path) -> Engine:
    settings = load_settings(environ={"ONETAP_REPLAY__STEPS_PER_DAY": "30"})
    engine = Engine(settings, database=tmp / "onetap.db", paced=False)
    await engine.start()
    await engine.step(3)
    return engine


async def engine_pretrade_latency(n: int = 5_000) -> list[float]:
    with tempfile.TemporaryDirectory() as d:
        engine = await _engine(Path(d))
        try:
            order = OrderRequest("AAPL", Side.BUY, 1.0, strategy="momentum")
            out = []
            for _ in range(n):
                start = time.perf_counter_ns()
                engine.risk.check(order, engine.parts.dispatcher.book_view(), engine.clock.now())
                out.append((time.perf_counter_ns() - start) / 1000.0)
            return out[n // 10 :]
        finally:
            await engine.stop()


async def kill_switch(working: int = 100) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as d:
        engine = await _engine(Path(d))
        try:
            price = engine.feed.latest_quotes()["AAPL"].bid * 0.97  # resting: never reached in a few steps
            for _ in range(working):
                await engine.orders.submit(
                    OrderRequest("AAPL", Side.BUY, 1.0, order_type=OrderType.LMT, limit_price=round(price, 2))
                )
            assert len(engine.orders.open_orders()) == working
            sent: list[float] = []
            confirmed: list[float] = []
            real_cancel = engine.broker.cancel

            async def timed_cancel(coid: str) -> None:
                sent.append(time.perf_counter())
                await real_cancel(coid)

            engine.broker.cancel = timed_cancel  # type: ignore[method-assign]
            engine.bus.on(
                OrderEvent,
                lambda e: (
                    confirmed.append(time.perf_counter()) if e.order.status is OrderStatus.CANCELLED else None
                ),
            )
            t0 = time.perf_counter()
            result = await engine.handle(Kill(), Actor("bench", CommandSource.HOTKEY))
            assert result.ok and not engine.orders.open_orders()
            return (max(sent) - t0) * 1000, (max(confirmed) - t0) * 1000, len(confirmed)
        finally:
            await engine.stop()


def main() -> None:
    checks = pretrade_latency()
    print(
        f"risk: pre-trade, all checks (controller)  median {median(checks):.1f} us  "
        f"p99 {_p99(checks):.1f} us  "
        f"({len(checks)} orders, 50-position book)  target p99 {PRETRADE_TARGET_US:.0f} us  "
        f"ratio {_p99(checks) / PRETRADE_TARGET_US:.2f}"
    )
    full = asyncio.run(engine_pretrade_latency())
    print(
        f"risk: pre-trade incl. the engine's book view  median {median(full):.1f} us  "
        f"p99 {_p99(full):.1f} us  "
        f"({len(full)} orders, live engine)  target p99 {PRETRADE_TARGET_US:.0f} us  "
        f"ratio {_p99(full) / PRETRADE_TARGET_US:.2f}"
    )
    runs = [asyncio.run(kill_switch()) for _ in range(5)]
    to_sent = [r[0] for r in runs]
    to_confirmed = [r[1] for r in runs]
    print(
        f"risk: kill switch, 100 working orders  last cancel sent median {median(to_sent):.1f} ms "
        f"(max {max(to_sent):.1f})  last confirmed median {median(to_confirmed):.1f} ms "
        f"(max {max(to_confirmed):.1f})  ({len(runs)} runs, {runs[0][2]} cancels each)  "
        f"target sent {KILL_TARGET_MS:.0f} ms  ratio {median(to_sent) / KILL_TARGET_MS:.2f}"
    )


if __name__ == "__main__":
    main()
