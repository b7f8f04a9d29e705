from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clock import SimulatedClock
from engine.config import ReplaySettings
from engine.data import calendar
from engine.data.loader import MarketData
from engine.data.replay import ReplayFeed, intraday_path, quote_sides, stable_seed, volume_path
from engine.model import Quote
from tests.defaults import replay_feed

from .conftest import SMALL_DAYS, SMALL_START


def make_feed(
    market: MarketData,
    *,
    start: date = SMALL_START,
    end: date | None = None,
    resume_after: date | None = None,
    **overrides: Any,
) -> tuple[ReplayFeed, SimulatedClock]:
    """The shipped ``[replay]`` over ``market`` from ``start`` to ``end`` (None: the data's end)."""
    clock = SimulatedClock(datetime(2000, 1, 1, tzinfo=UTC))
    feed = replay_feed(market, clock, start=start, end=end, resume_after=resume_after, **overrides)
    return feed, clock


def per_symbol(steps: list[tuple[datetime, tuple[Quote, ...]]], symbol: str) -> list[Quote]:
    return [q for _, quotes in steps for q in quotes if q.symbol == symbol]


# ---------------------------------------------------------------------------------------- sessions


def test_the_feed_is_built_from_the_replay_settings_alone(small: MarketData) -> None:
    """``from_settings``: the sessions, the steps, the seed and the spread all come from ``[replay]``."""
    replay = ReplaySettings(start="2012-11-20", end="2012-11-23", seed=8, steps_per_day=39, spread_bps=50.0)
    feed = ReplayFeed.from_settings(replay, small, SimulatedClock(datetime(2000, 1, 1, tzinfo=UTC)))
    assert feed.sessions == [date(2012, 11, 20), date(2012, 11, 21), date(2012, 11, 23)]
    steps = feed.day_quotes(date(2012, 11, 20))
    assert len(steps) == 40  # 39 steps and the open
    other, _ = make_feed(small, start=date(2012, 11, 20), seed=7, steps_per_day=39, spread_bps=50.0)
    assert per_symbol(steps, "AAA") != per_symbol(other.day_quotes(date(2012, 11, 20)), "AAA")
    wide = [q for q in per_symbol(steps, "AAA") if q.last > 0]
    narrow, _ = make_feed(small, start=date(2012, 11, 20), seed=8, steps_per_day=39, spread_bps=2.0)
    assert sum(q.ask - q.bid for q in wide) > sum(
        q.ask - q.bid for q in per_symbol(narrow.day_quotes(date(2012, 11, 20)), "AAA")
    )


def test_sessions_are_calendar_days_with_tradable_bars(small: MarketData) -> None:
    feed, _ = make_feed(small)
    assert [d.isoformat() for d in feed.sessions] == SMALL_DAYS
    assert feed.next_day() == SMALL_START and feed.current_day is None
    assert feed.progress == 0.0 and not feed.finished
    feed, _ = make_feed(small, start=date(2012, 11, 20), end=date(2012, 11, 23))
    assert feed.sessions == [date(2012, 11, 20), date(2012, 11, 21), date(2012, 11, 23)]


def test_start_outside_the_data_is_refused(small: MarketData) -> None:
    with pytest.raises(
        ValueError,
        match=r"replay start 2013-01-02 is outside the data: tradable bars cover "
        r"2012-11-19..2012-11-27",
    ):
        make_feed(small, start=date(2013, 1, 2))
    with pytest.raises(ValueError, match="before its start"):
        make_feed(small, end=date(2012, 11, 1))


# ---------------------------------------------------------------------------------------- quotes


def test_day_quotes_honour_the_bar(small: MarketData) -> None:
    feed, _ = make_feed(small)
    for day in feed.sessions:
        steps = feed.day_quotes(day)
        opens, closes = calendar.session_open_close(day)
        assert steps[0][0] == opens and steps[-1][0] == closes
        times = [ts for ts, _ in steps]
        assert times == sorted(times) and len(set(times)) == len(times)
        for symbol in small.bars:
            bar = small.bar(symbol, day)
            quotes = per_symbol(steps, symbol)
            if bar is None:
                assert quotes == []
                continue
            last = np.array([q.last for q in quotes])
            assert last[0] == bar.open and last[-1] == bar.close
            assert last.max() == bar.high and last.min() == bar.low
            assert np.all((last >= bar.low) & (last <= bar.high))
            assert quotes[-1].volume == bar.volume
            assert sum(q.last_size for q in quotes) == bar.volume
            assert all(q.ts == ts for q, ts in zip(quotes, times, strict=True))
            if small.instruments[symbol].tradable:
                assert all(q.bid < q.ask and q.bid <= q.last <= q.ask for q in quotes)
                assert all(round(q.bid * 100) == pytest.approx(q.bid * 100, abs=1e-6) for q in quotes)
                assert all(q.bid_size > 0 and q.ask_size > 0 for q in quotes)
            else:
                assert all(q.bid == q.ask == q.last for q in quotes)


def test_full_day_has_a_step_per_minute_and_early_close_fewer(small: MarketData) -> None:
    feed, _ = make_feed(small, steps_per_day=390)
    assert len(feed.day_quotes(date(2012, 11, 21))) == 391  # 09:30 .. 16:00, one a minute
    assert len(feed.day_quotes(date(2012, 11, 23))) == 211  # 09:30 .. 13:00
    assert feed.day_quotes(date(2012, 11, 22)) == []  # Thanksgiving
    nov21 = feed.day_quotes(date(2012, 11, 21))
    assert {q.symbol for q in nov21[0][1]} == {"AAA", "IDX"}  # BBB has no bar that day


def test_quotes_are_deterministic_per_seed(small: MarketData) -> None:
    a, _ = make_feed(small, seed=7)
    b, _ = make_feed(small, seed=7)
    c, _ = make_feed(small, seed=8)
    day = date(2012, 11, 20)
    assert a.day_quotes(day) == b.day_quotes(day)
    assert per_symbol(a.day_quotes(day), "AAA") != per_symbol(c.day_quotes(day), "AAA")
    # One symbol's path depends on (seed, symbol, day) only, not on which other symbols exist.
    alone = MarketData({"AAA": small.bars["AAA"]}, {"AAA": small.instruments["AAA"]})
    d, _ = make_feed(alone, seed=7)
    assert per_symbol(d.day_quotes(day), "AAA") == per_symbol(a.day_quotes(day), "AAA")


def test_stable_seed_does_not_depend_on_the_process() -> None:
    # A fixed value: Python's hash() of a str changes per process, this must not.
    assert stable_seed(7, "AAPL", date(2012, 1, 3)) == stable_seed(7, "AAPL", date(2012, 1, 3))
    assert stable_seed(7, "AAPL", date(2012, 1, 3)) == 16209329440061694895
    assert stable_seed(7, "AAPL", date(2012, 1, 4)) != stable_seed(7, "AAPL", date(2012, 1, 3))


def test_shipped_day_all_symbols(shipped: MarketData) -> None:
    feed, _ = make_feed(shipped, start=date(2012, 1, 3), steps_per_day=390)
    steps = feed.day_quotes(date(2012, 1, 3))
    assert len(steps) == 391
    assert [q.symbol for q in steps[0][1]] == ["AAPL", "MSFT", "GOOG", "IBM", "AMZN", "SPX"]
    aapl = per_symbol(steps, "AAPL")
    assert (aapl[0].last, aapl[-1].last, aapl[-1].volume) == (409.4, 411.23, 10793600.0)


# ---------------------------------------------------------------------------------------- no look-ahead


def test_history_ends_before_the_day(small: MarketData) -> None:
    feed, _ = make_feed(small)
    hist = feed.history("AAA", before=date(2012, 11, 23))
    assert [ts.date().isoformat() for ts in hist.index] == ["2012-11-19", "2012-11-20", "2012-11-21"]
    assert feed.history("AAA", before=SMALL_START).empty
    assert len(feed.history("BBB", before=date(2013, 1, 1))) == 5
    with pytest.raises(KeyError, match="no bars for symbol ZZZ "):
        feed.history("ZZZ", before=SMALL_START)


# ---------------------------------------------------------------------------------------- playing


async def test_run_drives_the_clock_and_finishes(small: MarketData) -> None:
    feed, clock = make_feed(small, steps_per_day=39)
    seen: list[tuple[datetime, tuple[Quote, ...]]] = []
    sleeps: list[float] = []
    events: list[tuple[str, date]] = []

    def sink(quotes: tuple[Quote, ...]) -> None:
        assert all(q.ts == clock.now() for q in quotes)
        seen.append((clock.now(), quotes))

    elapsed = [0.0]

    async def instant(seconds: float) -> None:
        sleeps.append(seconds)
        elapsed[0] += seconds  # a clock that moves only by the waits: each step takes no time

    await feed.run(
        sink,
        seconds_per_day=39.0,
        sleep=instant,
        monotonic=lambda: elapsed[0],
        on_day_start=lambda d: events.append(("start", d)),
        on_day_end=lambda d: events.append(("end", d)),
    )
    assert feed.finished and feed.progress == 1.0
    assert feed.current_day == date(2012, 11, 27) and feed.next_day() is None
    times = [ts for ts, _ in seen]
    assert all(a < b for a, b in itertools.pairwise(times))
    assert clock.now() == calendar.session_open_close(date(2012, 11, 27))[1]
    assert set(sleeps) == {1.0} and len(sleeps) == len(seen)
    days = [date.fromisoformat(d) for d in SMALL_DAYS]
    assert events == [e for d in days for e in (("start", d), ("end", d))]
    assert feed.latest_quotes()["AAA"].last == small.bars["AAA"]["close"].iloc[-1]
    # 5 full days of 40 steps and the 13:00 close of 11-23 with 22.
    assert len(seen) == 5 * 40 + 22


async def test_pause_resume_stop_and_continue(small: MarketData) -> None:
    feed, _ = make_feed(small, steps_per_day=10)
    seen: list[tuple[Quote, ...]] = []
    ticks_done: list[float] = []

    async def tick(seconds: float) -> None:
        await asyncio.sleep(0)
        ticks_done.append(seconds)  # the step's wait is over: run() checks the pause next, without yielding

    task = asyncio.create_task(feed.run(seen.append, seconds_per_day=1.0, sleep=tick))
    while len(seen) < 5:
        await asyncio.sleep(0)
    feed.pause()
    assert feed.paused
    held, waits = len(seen), len(ticks_done)
    # The barrier: the step in flight ends its wait, and run() has then either emitted another
    # step (a pause that does not hold) or blocked on the pause; both happen before it yields.
    while len(ticks_done) == waits:
        await asyncio.sleep(0)
    assert not task.done()
    assert len(seen) == held
    feed.resume()
    feed.set_speed(10.0)
    assert feed.seconds_per_day == 10.0
    while len(seen) < held + 5:
        await asyncio.sleep(0)
    feed.stop()
    await task
    assert not feed.finished
    stopped_at = len(seen)
    await feed.run(seen.append, seconds_per_day=1.0, sleep=tick)
    assert feed.finished
    total = sum(len(feed.day_quotes(d)) for d in feed.sessions)
    assert len(seen) == total and stopped_at < total
    stamps = [q.ts for quotes in seen for q in quotes if q.symbol == "AAA"]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    with pytest.raises(ValueError, match="seconds_per_day must be positive"):
        feed.set_speed(0)


def test_play_day_steps_by_hand(small: MarketData) -> None:
    feed, clock = make_feed(small)
    seen: list[tuple[Quote, ...]] = []
    assert feed.play_day(seen.append) == SMALL_START
    assert feed.current_day == SMALL_START and feed.days_done == 1
    assert clock.now() == calendar.session_open_close(SMALL_START)[1]
    assert feed.next_day() == date(2012, 11, 20)
    while feed.play_day(seen.append) is not None:
        assert feed.progress <= 1.0
    assert feed.finished and feed.play_day(seen.append) is None


def test_resume_after_continues_from_the_next_session(small: MarketData) -> None:
    feed, clock = make_feed(small, resume_after=date(2012, 11, 21))
    assert feed.next_day() == date(2012, 11, 23)
    assert feed.days_done == 3 and feed.progress == 0.5
    assert feed.current_day is None
    # The clock and the last quotes start at the close of the last replayed session.
    assert clock.now() == calendar.session_open_close(date(2012, 11, 21))[1]
    assert feed.latest_quotes()["AAA"].last == 10.8
    assert feed.latest_quotes()["BBB"].last == 50.5  # BBB's last bar (no bar on 11-21)
    done, _ = make_feed(small, resume_after=date(2012, 12, 31))
    assert done.finished and done.progress == 1.0
    fresh, _ = make_feed(small, resume_after=date(2012, 11, 1))
    assert fresh.next_day() == SMALL_START


def test_start_at_moves_forward_only(small: MarketData) -> None:
    feed, _ = make_feed(small)
    feed.start_at(date(2012, 11, 22))
    assert feed.next_day() == date(2012, 11, 23)
    with pytest.raises(ValueError, match="cannot move the replay back"):
        feed.start_at(SMALL_START)


# ---------------------------------------------------------------------------------------- properties


@st.composite
def bars(draw: st.DrawFn) -> tuple[float, float, float, float]:
    low = draw(st.floats(0.01, 5000.0, allow_nan=False))
    span = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.5)))
    high = low * (1.0 + span)
    o = low + (high - low) * draw(st.floats(0.0, 1.0))
    c = low + (high - low) * draw(st.floats(0.0, 1.0))
    return o, min(high, max(o, c, high)), low, c


@settings(max_examples=300, deadline=None)
@given(bar=bars(), n=st.integers(4, 800), seed=st.integers(0, 2**32))
def test_path_property(bar: tuple[float, float, float, float], n: int, seed: int) -> None:
    o, h, lo, c = bar
    path = intraday_path(o, h, lo, c, n, np.random.default_rng(seed))
    last = path.last
    assert len(last) == n
    assert last[0] == o and last[-1] == c
    assert last[path.high_at] == h and last[path.low_at] == lo
    assert 0 < path.high_at < n - 1 and 0 < path.low_at < n - 1 and path.high_at != path.low_at
    assert last.max() == h and last.min() == lo
    assert np.all((last >= lo) & (last <= h))
    again = intraday_path(o, h, lo, c, n, np.random.default_rng(seed))
    assert np.array_equal(again.last, last)


@settings(max_examples=200, deadline=None)
@given(volume=st.integers(0, 10**10), n=st.integers(4, 800), seed=st.integers(0, 2**32))
def test_volume_property(volume: int, n: int, seed: int) -> None:
    sizes, cumulative = volume_path(float(volume), n, np.random.default_rng(seed))
    assert cumulative[-1] == volume
    assert np.all(sizes >= 0) and np.all(np.diff(cumulative) >= 0)
    assert np.all(sizes == np.floor(sizes))


@settings(max_examples=200, deadline=None)
@given(last=st.floats(0.01, 10_000.0), bps=st.floats(0.0, 100.0))
def test_spread_property(last: float, bps: float) -> None:
    bid, ask = quote_sides(np.array([last]), bps, 0.01)
    assert bid[0] < ask[0]
    assert bid[0] <= last + 1e-9 and ask[0] >= last - 1e-9
    assert ask[0] - bid[0] >= 0.01 - 1e-9
    assert round(bid[0], 2) == bid[0] and round(ask[0], 2) == ask[0]


def test_invalid_bar_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid bar"):
        intraday_path(10.0, 9.0, 11.0, 10.0, 10, np.random.default_rng(0))


def test_steps_are_timed_in_exchange_minutes(small: MarketData) -> None:
    feed, _ = make_feed(small)
    steps = feed.day_quotes(date(2012, 11, 20))
    assert steps[1][0] - steps[0][0] == timedelta(minutes=1)


async def test_paced_steps_keep_to_the_schedule_and_report_lag(small: MarketData) -> None:
    """A step's own work is part of its interval (the replay does not drift behind), a late step
    is reported as lag and followed at once, and a stall is not played back as a burst."""
    feed, _ = make_feed(small, steps_per_day=10)
    now = [0.0]
    sleeps: list[float] = []
    work = iter([0.3, 0.0, 2.0, 0.0, 0.0, 1.5, 0.0, 0.0])  # seconds each step's sink takes

    def sink(_quotes: tuple[Quote, ...]) -> None:
        now[0] += next(work, 0.0)
        if len(sleeps) == 7:
            feed.stop()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    await feed.run(sink, seconds_per_day=10.0, sleep=sleep, monotonic=lambda: now[0])
    # Interval 1 s: 0.3 s of work leaves 0.7 s to wait; a 2 s step is 1 s late: no wait, lag 1 s
    # (within CATCH_UP_S: the next step catches up); 1.5 s of work is 0.5 s late and caught up.
    assert sleeps[:7] == pytest.approx([0.7, 1.0, 0.0, 0.0, 1.0, 0.0, 0.5])
    assert feed.max_lag_s == pytest.approx(1.0)
    assert feed.stalls == 0
