"""Forecast tracking: how fast the trade book folds fills (every start folds them all), and how
the drift tests behave: their false-alarm rate on calibrated sequences and their power on biased
ones, by sample size. Run with ``python -m tests.bench.forecast``. Figures are printed, not asserted.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from engine.model import Fill, Leg, Order, OrderStatus, OrderType, Side, StrategyCard
from engine.portfolio.forecasts import TradeBook
from engine.portfolio.ledger import Ledger
from engine.portfolio.scoreboard import hit_test, return_test, scoreboard

T0 = datetime(2024, 1, 2, 15, tzinfo=UTC)


def _history(trades: int) -> tuple[dict[str, StrategyCard], list[Order], list[Fill]]:
    """Card trades over 20 symbols: an entry of 10, a target selling 4, a sale by hand of 6."""
    rng = random.Random(1)
    cards: dict[str, StrategyCard] = {}
    orders: list[Order] = []
    fills: list[Fill] = []
    for i in range(trades):
        sym, ex = f"S{i % 20}", f"X-{i}"
        cards[ex] = StrategyCard(
            f"m-{sym}-{i}@{ex}", "momentum", "m", (Leg(sym, Side.BUY, 10),), 0.6, 0.01, 50.0, "r", T0,
            details={"expected_cost": 1.0},
        )  # fmt: skip
        entry = Order(f"E{i}", sym, Side.BUY, 10, card_id=f"m-{sym}-{i}", execution_id=ex, arrival_price=100)
        target = Order(f"T{i}", sym, Side.SELL, 10, order_type=OrderType.LMT, protects=f"E{i}")
        sale = Order(f"M{i}", sym, Side.SELL, 6, arrival_price=101)
        for o in (entry, target, sale):
            o.status = OrderStatus.FILLED
        orders += [entry, target, sale]
        ts = T0 + timedelta(minutes=i)
        fills += [
            Fill(f"f{3 * i}", entry.client_order_id, sym, Side.BUY, 10, 100 + rng.random(), 1.0, ts),
            Fill(f"f{3 * i + 1}", target.client_order_id, sym, Side.SELL, 4, 101 + rng.random(), 0.4, ts),
            Fill(f"f{3 * i + 2}", sale.client_order_id, sym, Side.SELL, 6, 100 + rng.random(), 0.6, ts),
        ]
    return cards, orders, fills


def fold_speed(trades: int = 5_000) -> None:
    cards, orders, fills = _history(trades)
    started = time.perf_counter()
    ledger = Ledger(1e9)
    for f in fills:
        ledger.apply_fill(f)
    ledger_s = time.perf_counter() - started
    started = time.perf_counter()
    outcomes = TradeBook(lambda _c, x: cards.get(x)).fold(orders, fills)
    fold_s = time.perf_counter() - started
    book = TradeBook(lambda _c, x: cards.get(x))
    started = time.perf_counter()
    for o, f in zip(orders, fills, strict=True):
        book.order(o)
        book.fill(f)
    live_s = time.perf_counter() - started
    scoreboard(outcomes[:10], asof=T0)  # scipy.stats warm (the engine imports it at start anyway)
    started = time.perf_counter()
    scoreboard(outcomes, asof=T0)
    board_s = time.perf_counter() - started
    print(
        f"forecast: fold {len(fills):,} fills -> {len(outcomes):,} outcomes in {fold_s * 1000:.0f} ms "
        f"(the ledger's fold of the same fills: {ledger_s * 1000:.0f} ms); "
        f"live {live_s / len(fills) * 1e6:.1f} us per order+fill; "
        f"scoreboard of {len(outcomes):,} outcomes {board_s * 1000:.0f} ms"
    )


def drift_size_and_power(runs: int = 1_000) -> None:
    for n in (20, 40, 100):
        for label, hit_bias, ret_bias in (
            ("calibrated", 0.0, 0.0),
            ("biased -15pt wins, -1pt return", 0.15, 0.01),
        ):
            fired_hits = fired_returns = 0
            for seed in range(runs):
                rng = random.Random(10_000 + seed)
                p = [rng.uniform(0.5, 0.7) for _ in range(n)]
                y = [rng.random() < pi - hit_bias for pi in p]
                e = [rng.uniform(0.005, 0.02) for _ in range(n)]
                r = [rng.gauss(ei - ret_bias, 0.03) for ei in e]
                fired_hits += hit_test(y, p).significant
                fired_returns += return_test(r, e).significant
            print(
                f"forecast drift: n={n:<3} {label:<32} hits test fires {fired_hits / runs:.1%}, "
                f"returns test {fired_returns / runs:.1%} ({runs} seeded runs, alpha 1%)"
            )


def main() -> None:
    fold_speed()
    drift_size_and_power()


if __name__ == "__main__":
    main()
