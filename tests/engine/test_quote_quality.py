"""Live quote quality: each bad-quote kind held out, counted and named; a real move accepted; no
false alarm on the shipped replay; in the engine a bad quote blocks new orders on its symbol (not
the way out) and never marks the book; through the TWS simulator and ib_insync the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.actor import Actor
from engine.data.loader import MarketData
from engine.data.quote_quality import QuoteChecks, QuoteGuard, QuoteProblem
from engine.kernel import Engine
from engine.model import CommandSource, OrderRequest, Quote, RefusalCode, Side
from engine.model.events import NoticeEvent

T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)  # 10:00 New York
OPERATOR = Actor("tester", CommandSource.HOTKEY)


def q(symbol: str, seconds: float, bid: float, ask: float, last: float | None = None) -> Quote:
    ts = T0 + timedelta(seconds=seconds)
    return Quote(symbol, ts, bid, ask, last if last is not None else (bid + ask) / 2, 100.0, 100.0, 0.0, 0.0)


def _warm(guard: QuoteGuard, symbol: str = "AAPL", n: int = 25, start: float = 100.0) -> float:
    """n quiet quotes moving 1-2 bps each (so spikes can be judged); returns the last time."""
    price = start
    for i in range(n):
        price *= 1.0 + (0.0002 if i % 2 else -0.0001)
        good, flags = guard.screen([q(symbol, i, price - 0.01, price + 0.01)], T0 + timedelta(seconds=i))
        assert good and not flags
    return float(n - 1)


@pytest.mark.parametrize(
    ("quote", "problem"),
    [
        (q("AAPL", 0, 101.0, 100.0), QuoteProblem.CROSSED),
        (q("AAPL", 0, 100.0, 100.0), QuoteProblem.LOCKED),
        (q("AAPL", 0, 100.0, 100.1, last=0.0), QuoteProblem.BAD_PRICE),
        (q("AAPL", 0, float("nan"), 100.1), QuoteProblem.BAD_PRICE),
    ],
    ids=["crossed", "locked", "zero-last", "nan-bid"],
)
def test_a_broken_book_is_held_out_and_counted(quote: Quote, problem: QuoteProblem) -> None:
    guard = QuoteGuard()
    good, flags = guard.screen([quote], T0)
    assert good == () and [f.problem for f in flags] == [problem]
    assert guard.held_out()["AAPL"].problem is problem
    assert guard.counts[problem] == 1 and guard.latest() == {}


def test_an_index_quotes_bid_equal_ask_and_is_not_locked() -> None:
    guard = QuoteGuard(no_book=["SPX"])
    good, flags = guard.screen([q("SPX", 0, 4000.0, 4000.0)], T0)
    assert len(good) == 1 and flags == ()


def test_out_of_order_and_delayed_quotes_are_held_out() -> None:
    guard = QuoteGuard(QuoteChecks(max_lag_s=5.0))
    guard.screen([q("AAPL", 10, 99.9, 100.1)], T0 + timedelta(seconds=10))
    _, flags = guard.screen([q("AAPL", 5, 99.9, 100.1)], T0 + timedelta(seconds=11))
    assert [f.problem for f in flags] == [QuoteProblem.OUT_OF_ORDER]
    _, flags = guard.screen([q("AAPL", 12, 99.9, 100.1)], T0 + timedelta(seconds=30))
    assert [f.problem for f in flags] == [QuoteProblem.DELAYED]
    assert "18.0 s old on arrival" in flags[0].detail


def test_a_lone_bad_print_is_held_out_and_the_next_good_quote_clears_it() -> None:
    guard = QuoteGuard()
    t = _warm(guard)
    level = guard.latest()["AAPL"].mid
    _, flags = guard.screen([q("AAPL", t + 1, 89.99, 90.01)], T0 + timedelta(seconds=t + 1))
    assert [f.problem for f in flags] == [QuoteProblem.SPIKE]
    assert guard.latest()["AAPL"].mid == pytest.approx(level), "the bad print never became the price"
    good, flags = guard.screen([q("AAPL", t + 2, level - 0.01, level + 0.01)], T0 + timedelta(seconds=t + 2))
    assert good and not flags and guard.held_out() == {}


def test_a_real_jump_is_believed_after_three_agreeing_quotes() -> None:
    guard = QuoteGuard()
    t = _warm(guard)
    verdicts = []
    for i in range(1, 4):  # the market really gapped 8% and stays there
        _, flags = guard.screen([q("AAPL", t + i, 107.99, 108.01 + i * 0.01)], T0 + timedelta(seconds=t + i))
        verdicts.append(bool(flags))
    assert verdicts == [True, True, False]
    assert guard.latest()["AAPL"].mid == pytest.approx(108.02, abs=0.02)


def test_the_shipped_replay_raises_no_false_alarm(engine: Engine) -> None:
    """Twenty sessions of the shipped replay, every quote screened: nothing held out."""
    guard = QuoteGuard(no_book=engine.parts.market.quotes._no_book)  # the engine's own index list
    screened = 0

    def screen(quotes: tuple[Quote, ...]) -> None:
        nonlocal screened
        screened += len(quotes)
        _, flags = guard.screen(quotes, max(x.ts for x in quotes))
        assert not flags, [f.describe() for f in flags]

    for _ in range(20):
        engine.feed.play_steps(screen, 30)
    assert screened > 3000


async def test_in_the_engine_a_bad_quote_blocks_new_orders_but_not_the_way_out(engine: Engine) -> None:
    notices: list[NoticeEvent] = []
    engine.bus.on(NoticeEvent, notices.append)
    await engine.step_day()
    good = engine.parts.market.latest_quotes()["AAPL"]
    marked = {p.symbol: p.last for p in engine.ledger.positions()}.get("AAPL")
    now = engine.parts.clock.now()
    crossed = Quote("AAPL", now, good.ask + 1.0, good.bid, good.last * 1.5, 100.0, 100.0, 100.0, good.volume)
    engine.parts.driver.on_quotes((crossed,))
    assert engine.parts.market.latest_quotes()["AAPL"] == good, "the crossed quote never became the price"
    assert {p.symbol: p.last for p in engine.ledger.positions()}.get("AAPL") == marked
    assert any("quote held out: AAPL crossed" in n.message for n in notices)
    assert "AAPL crossed" in engine.parts.status.event().data_health
    vitals = engine.vitals()
    assert vitals.health.name == "DEGRADED" and "AAPL" in vitals.held_out

    book = engine.parts.dispatcher.book_view()
    refusal = engine.parts.risk.controller.check(OrderRequest("AAPL", Side.BUY, 1.0), book, now)
    assert refusal is not None and refusal.code is RefusalCode.BAD_QUOTE
    assert "AAPL crossed" in refusal.message
    way_out = OrderRequest("AAPL", Side.SELL, 1.0, reduce_only=True)
    assert engine.parts.risk.controller.check(way_out, book, now) is None or (
        engine.parts.risk.controller.check(way_out, book, now).code is not RefusalCode.BAD_QUOTE  # type: ignore[union-attr]
    )

    engine.parts.driver.on_quotes((good.__class__(**{**_fields(good), "ts": now}),))
    assert "AAPL" not in engine.parts.market.quote_problems()
    assert any(n.message == "AAPL: good quotes again" for n in notices)


def _fields(quote: Quote) -> dict[str, object]:
    return {name: getattr(quote, name) for name in quote.__slots__}  # type: ignore[attr-defined]


def test_stale_applies_only_to_a_live_feed(engine: Engine, shipped: MarketData) -> None:
    assert engine.broker.simulated
    assert all(
        code is not RefusalCode.STALE_QUOTE for code, _ in engine.parts.market.quote_problems().values()
    )
    guard = QuoteGuard()
    guard.screen([q("AAPL", 0, 99.9, 100.1)], T0)
    assert guard.stale(T0 + timedelta(seconds=300), 120.0, ["AAPL", "MSFT"]) == {
        "AAPL": 300.0,
        "MSFT": float("inf"),
    }


def _stream(seed: int, steps: int) -> list[tuple[list[Quote], datetime]]:
    """Seeded steps of 1-7 quotes over four symbols (drawn with replacement: a symbol often twice
    in one step), with every kind of bad quote, real jumps, session gaps and late stamps."""
    import math

    import numpy as np

    rng = np.random.default_rng(seed)
    syms = ("A", "B", "C", "SPX")
    px = dict.fromkeys(syms, 100.0)
    t = T0
    out = []
    for _ in range(steps):
        t += timedelta(hours=20) if rng.random() < 0.005 else timedelta(seconds=1)
        batch = []
        for _ in range(int(rng.integers(1, 8))):
            s = syms[int(rng.integers(0, 4))]
            px[s] *= math.exp(rng.normal(0.0, 0.001)) * (1.1 if rng.random() < 0.01 else 1.0)
            p = round(px[s], 2)
            bid, ask, last = p - 0.01, p + 0.01, p
            r = rng.random()
            if r < 0.02:
                bid, ask = ask, bid
            elif r < 0.04:
                bid = ask
            elif r < 0.05:
                last = float("nan")
            elif r < 0.07:
                last = p * 1.5
                bid, ask = last - 0.01, last + 0.01
            if s == "SPX":
                bid = ask = last
            late = timedelta(seconds=float(rng.integers(1, 30))) if rng.random() < 0.03 else timedelta(0)
            batch.append(Quote(s, t - late, bid, ask, last, 100.0, 100.0, 10.0, 0.0))
        out.append((batch, t + timedelta(microseconds=int(rng.integers(0, 12_000_000)))))
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_a_batch_is_judged_as_its_quotes_one_at_a_time(seed: int) -> None:
    """The guard walks a batch in arrival order: the same good quotes, flags (words included),
    held-out symbols (in the same order), last good quotes and counts as screening each quote on
    its own. Every problem kind occurs."""
    checks = QuoteChecks(spike_history=10, spike_floor_bps=50.0)
    batched, single = QuoteGuard(checks, no_book=["SPX"]), QuoteGuard(checks, no_book=["SPX"])
    for quotes, now in _stream(seed, 3000):
        good, flags = batched.screen(quotes, now)
        one_by_one = [single.screen([q], now) for q in quotes]
        assert tuple(good) == tuple(q for g, _ in one_by_one for q in g)
        assert flags == tuple(f for _, fs in one_by_one for f in fs)
        assert list(batched.held_out().items()) == list(single.held_out().items())
        assert batched.latest() == single.latest()
    assert batched.counts == single.counts and set(batched.counts) == set(QuoteProblem)
