"""The order-flow book's batched path (``engine.signals.orderflow_book``, a numba walk over a
batch) against ``OrderFlowTracker`` fed the same quotes one at a time: bit-for-bit equal readings,
including batches that quote one symbol several times, quotes the features refuse, and depth that
came before a symbol's first quote. And, through the tracker, the pure functions' window figures."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from engine.model import Quote
from engine.model.flow import FlowReading
from engine.runtime.order_flow import OrderFlowBook
from engine.signals import orderflow as of

T = datetime(2024, 1, 2, 15, tzinfo=UTC)
SYMBOLS = ("AAA", "BBB", "CCC")


def _random_batches(seed: int, steps: int) -> list[list[Quote]]:
    """Quotes on a tick grid (CCC off it: its sums round, so the running sums' rounding is
    tested too), 1-6 per batch drawn with replacement (a symbol often twice), trades
    at the bid, the ask or the mid, a cumulative volume that sometimes restarts (a new session)
    or is absent (the trade comes through last_size), and now and then a quote the features
    refuse (no bid, a negative size) or skip (crossed)."""
    rng = np.random.default_rng(seed)
    mid = dict.fromkeys(SYMBOLS, 100.0)
    volume = dict.fromkeys(SYMBOLS, 0.0)
    batches = []
    for _ in range(steps):
        batch = []
        for _ in range(int(rng.integers(1, 7))):
            sym = SYMBOLS[int(rng.integers(0, len(SYMBOLS)))]
            places = 9 if sym == "CCC" else 2
            mid[sym] = round(mid[sym] * math.exp(rng.normal(0.0, 0.002)), places)
            bid = round(mid[sym] - 0.01 * int(rng.integers(1, 3)) * rng.uniform(0.5, 1.5), places)
            ask = round(mid[sym] + 0.01 * int(rng.integers(1, 3)) * rng.uniform(0.5, 1.5), places)
            last = float(rng.choice([bid, ask, mid[sym], round((bid + ask) / 2, 3)]))
            volume[sym] = volume[sym] + 100.0 * int(rng.integers(0, 3)) if rng.random() > 0.02 else 0.0
            sizes = [100.0 * int(rng.integers(0, 5)) for _ in range(3)]
            odd = rng.random()
            if odd < 0.02:
                bid = 0.0  # no two-sided book: skipped
            elif odd < 0.04:
                sizes[0] = -100.0  # refused by the tracker
            elif odd < 0.05:
                bid, ask = ask, bid  # crossed: skipped
            batch.append(Quote(sym, T, bid, ask, last, *sizes, volume[sym] if rng.random() > 0.3 else 0.0))
        batches.append(batch)
    return batches


def _figures(t: of.OrderFlowTracker) -> tuple[float, ...]:
    f = t.figures()
    return (
        f.updates,
        f.ofi,
        f.quote_imbalance,
        f.last_sign,
        f.signed_volume,
        f.realized_spread,
        f.realized_vol,
        f.depth_imbalance,
    )


def _reading(r: FlowReading) -> tuple[float, ...]:
    def nan(v: float | None) -> float:
        return math.nan if v is None else v

    return (
        r.updates,
        r.ofi,
        nan(r.quote_imbalance),
        r.last_sign,
        r.signed_volume,
        nan(r.realized_spread),
        nan(r.realized_vol),
        nan(r.depth_imbalance),
    )


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Bit for bit (NaN equal to NaN)."""
    return all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_read_exactly_as_a_tracker_fed_one_quote_at_a_time(seed: int) -> None:
    window, horizon = 7, 3  # short: the windows roll over and are recomputed many times
    book = OrderFlowBook(sizes_invented=True, window=window, horizon=horizon)
    book.on_depth("CCC", [300.0, 200.0], [100.0, 100.0])  # before its first quote
    trackers: dict[str, of.OrderFlowTracker] = {}
    compared = repeats = 0
    for batch in _random_batches(seed, 2500):
        readings = book.update(batch)
        expected: dict[str, tuple[float, ...]] = {}
        for q in batch:
            if not (q.bid > 0 and q.ask > 0 and q.bid <= q.ask):
                continue
            tracker = trackers.get(q.symbol)
            if tracker is None:
                tracker = trackers[q.symbol] = of.OrderFlowTracker(window, horizon)
                if q.symbol == "CCC":
                    tracker.on_depth([300.0, 200.0], [100.0, 100.0])
            try:
                tracker.on_quote(q.bid, q.ask, q.bid_size, q.ask_size, q.last, q.last_size, q.volume)
            except ValueError:
                continue
            expected[q.symbol] = _figures(tracker)
        assert [r.symbol for r in readings] == list(expected)  # each symbol once, where it first moved
        for r in readings:
            assert _same(_reading(r), expected[r.symbol]), (r, expected[r.symbol])
            compared += 1
        repeats += len(batch) - len({q.symbol for q in batch})
    assert compared > 4000 and repeats > 2000, "the batches must exercise repeats within a batch"
    for sym in SYMBOLS:  # and what the book reads between steps
        reading = book.reading(sym)
        assert reading is not None and _same(_reading(reading), _figures(trackers[sym]))
    assert book.reading("ZZZ") is None


def test_the_batched_book_agrees_with_the_pure_functions() -> None:
    """One symbol, 400 quotes in batches of 1-9: the window OFI and realized volatility are the
    pure functions' over the last ``window`` updates."""
    rng = np.random.default_rng(11)
    n, w = 400, 25
    bid = 100 + 0.01 * np.cumsum(rng.integers(-1, 2, n))
    ask = bid + 0.01 * rng.integers(1, 4, n)
    qb, qa = 100.0 * rng.integers(0, 9, n), 100.0 * rng.integers(0, 9, n)
    book = OrderFlowBook(sizes_invented=False, window=w, horizon=3)
    quotes = [
        Quote("X", T, float(bid[i]), float(ask[i]), 0.0, float(qb[i]), float(qa[i]), 0.0, 0.0)
        for i in range(n)
    ]
    at = 0
    while at < n:
        k = int(rng.integers(1, 10))
        book.update(quotes[at : at + k])
        at += k
    r = book.reading("X")
    assert r is not None and r.updates == n
    assert r.ofi == pytest.approx(float(np.sum(of.ofi_increments(bid, qb, ask, qa)[-w:])), abs=1e-9)
    assert r.realized_vol == pytest.approx(of.realized_volatility((bid + ask) / 2, window=w), rel=1e-12)


def test_an_infinite_trade_size_is_skipped_for_flow() -> None:
    """The tracker would carry an infinite size through its window sums; the book skips the quote."""
    book = OrderFlowBook(sizes_invented=False)
    assert book.update([Quote("X", T, 9.0, 10.0, 10.0, 1.0, 1.0, math.inf, 0.0)]) == ()
    (ok,) = book.update([Quote("X", T, 9.0, 10.0, 10.0, 3.0, 1.0, 5.0, 0.0)])
    assert ok.updates == 1 and ok.quote_imbalance == 0.5
