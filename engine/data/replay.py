"""Real daily history played back as a live intraday market.

Each session of the real data becomes a stream of quotes from the exchange's open to its close.
The daily bar is the truth the stream must honour: the first trade prints the real open, the last
the real close, the path touches the real high and the real low exactly once each at least, and never
leaves them; the day's traded volume adds up to the real volume. Between those anchors the path is
invented (Brownian bridges), but invented deterministically: the random generator of each
(seed, symbol, day) is seeded from a stable hash, so a replay, a test and a screenshot see the
same quotes on every machine and every run, and changing one symbol leaves the others alone.

The feed never shows the future: ``history`` ends strictly before the day it is asked about.

Mixed calendars (``engine.model.instruments``): the replay plays the union of the days on which
any tradable instrument has a session of its own calendar with a bar, and each instrument quotes
only on its own sessions, from its own open to its own close (an XTKS index quotes 00:00-06:00 UTC,
a 24/7 coin around the clock and on weekends, a New York stock 14:30-21:00 UTC). On a day where
several calendars trade, their steps are merged in time order. A New York session keeps its
``steps_per_day`` over 6.5 hours (an early close has fewer steps); a session of any other calendar
is cut into ``steps_per_day`` steps whatever its length.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.clock import SimulatedClock
from engine.config import ReplaySettings
from engine.data import calendar
from engine.data.loader import MarketData
from engine.model import Quote
from engine.model.quote_batch import LatestQuotes, QuoteBatch, as_batch

FloatArray = npt.NDArray[np.float64]
QuoteSink = Callable[[Sequence[Quote]], None]
DayHook = Callable[[date], None]

CATCH_UP_S = 1.0
"""A paced replay this far behind its schedule starts the schedule again rather than play the
missed steps back to back (a stall is shown as a stall, not hidden by a burst)."""

REGULAR_SESSION = timedelta(hours=6, minutes=30)
"""Length of a full XNYS session; ``steps_per_day`` divides it, so an early close has fewer steps."""

_BRIDGE_VOL = 0.6  # bridge noise per step, as a fraction of the day's range over sqrt(steps)
_VOLUME_NOISE = 0.35  # lognormal sigma of the per-step volume around the U-shaped profile
_LOT = 100.0
NOMINAL_VOLUME = 1_000_000.0
"""The volume the replay plays for a bar that has none (see ``_symbol_arrays``)."""


class IntradayPath(NamedTuple):
    last: FloatArray
    high_at: int
    low_at: int


def stable_seed(seed: int, symbol: str, day: date) -> int:
    """A seed that depends only on its inputs (Python's ``hash()`` changes per process)."""
    digest = hashlib.blake2b(f"{seed}|{symbol}|{day.isoformat()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def intraday_path(
    open_: float,
    high: float,
    low: float,
    close: float,
    n_points: int,
    rng: np.random.Generator,
    tick: float = 0.01,
) -> IntradayPath:
    """Trade prices for one day: exactly O at the first point, C at the last, H and L at random interior
    points (in random order), within ``[low, high]`` everywhere, other points on the tick grid.

    A piecewise Brownian bridge through the four anchors, clipped to the range: the bridge makes the
    anchors exact by construction, the clip makes the range a hard bound.
    """
    if n_points < 4:
        raise ValueError(f"an intraday path needs at least 4 points, got {n_points}")
    if not (0.0 < low <= min(open_, close) and max(open_, close) <= high):
        raise ValueError(f"not a valid bar: open {open_}, high {high}, low {low}, close {close}")
    i1, i2 = np.sort(rng.choice(np.arange(1, n_points - 1), size=2, replace=False))
    high_first = bool(rng.random() < 0.5)
    x1, x2 = (high, low) if high_first else (low, high)
    anchors_at = np.array([0, i1, i2, n_points - 1], dtype=np.float64)
    anchors = np.array([open_, x1, x2, close], dtype=np.float64)
    k = np.arange(n_points, dtype=np.float64)
    sigma = (high - low) * _BRIDGE_VOL / math.sqrt(n_points)
    walk = np.concatenate(([0.0], np.cumsum(rng.normal(0.0, sigma, n_points - 1))))
    path = (
        np.interp(k, anchors_at, anchors) + walk - np.interp(k, anchors_at, walk[anchors_at.astype(np.intp)])
    )
    decimals = _decimals(tick)
    path = np.clip(np.round(np.round(path / tick) * tick, decimals), low, high)
    path[[0, i1, i2, n_points - 1]] = anchors
    high_at, low_at = (int(i1), int(i2)) if high_first else (int(i2), int(i1))
    return IntradayPath(path, high_at, low_at)


def volume_path(volume: float, n_points: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Split a day's volume over its steps: (size traded at each step, cumulative volume).

    U-shaped like real intraday volume (heavy at the open and the close) with seeded noise; whole
    shares; the cumulative volume at the close is exactly the bar's volume.
    """
    x = np.linspace(0.0, 1.0, n_points)
    weights = (0.6 + 2.4 * (2.0 * x - 1.0) ** 2) * rng.lognormal(0.0, _VOLUME_NOISE, n_points)
    share = np.cumsum(weights) / weights.sum()
    cumulative = np.floor(volume * share)
    cumulative[-1] = volume
    sizes = np.diff(cumulative, prepend=0.0)
    return sizes, cumulative


def _decimals(tick: float) -> int:
    exponent = Decimal(str(tick)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 2


def quote_sides(last: FloatArray, spread_bps: float, tick: float) -> tuple[FloatArray, FloatArray]:
    """The replay's quote rule: bid and ask ``spread_bps`` apart around each trade price ``last``.

    Bid rounded down and ask rounded up to the tick, at least one tick apart, straddling ``last``:
    a market order always pays a spread, and every price is one a real book could show.
    """
    half = last * spread_bps / 20_000.0
    bid_ticks = np.floor((last - half) / tick + 1e-9)
    ask_ticks = np.ceil((last + half) / tick - 1e-9)
    ask_ticks = np.maximum(ask_ticks, bid_ticks + 1.0)
    decimals = _decimals(tick)
    return np.round(bid_ticks * tick, decimals), np.round(ask_ticks * tick, decimals)


class _SymbolBars:
    """One symbol's bars as arrays, so a day's lookup is a binary search instead of a pandas ``loc``."""

    __slots__ = ("days", "values")

    def __init__(self, frame: pd.DataFrame) -> None:
        self.days = frame.index.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        self.values = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)

    def on(self, day: date) -> FloatArray | None:
        key = np.datetime64(day, "D")
        i = int(np.searchsorted(self.days, key))
        if i < len(self.days) and self.days[i] == key:
            row: FloatArray = self.values[i]
            return row
        return None


Step = tuple[datetime, Sequence[Quote]]


class ReplayFeed:
    """Plays ``MarketData`` session by session into a sink, driving a ``SimulatedClock``.

    ``resume_after``: the last session an earlier run of the engine finished (from its database);
    the feed then continues with the session after it, and starts the clock and ``latest_quotes``
    at that session's close, so a restarted engine marks its book where it left off.
    """

    def __init__(
        self,
        data: MarketData,
        clock: SimulatedClock,
        *,
        start: date,
        end: date | None,
        seed: int,
        steps_per_day: int,
        spread_bps: float,
        resume_after: date | None = None,
    ) -> None:
        """Every rule is required: its default lives in ``[replay]`` (config/default.toml and its
        schema) only, and ``from_settings`` is the door from there. ``end`` None: to the data's end."""
        if steps_per_day < 4:
            raise ValueError(f"steps_per_day must be at least 4, got {steps_per_day}")
        if spread_bps < 0:
            raise ValueError(f"spread_bps must not be negative, got {spread_bps}")
        self._data = data
        self._clock = clock
        self._seed = seed
        self._steps_per_day = steps_per_day
        self._spread_bps = spread_bps
        self._step_length = REGULAR_SESSION / steps_per_day
        self._bars = {s: _SymbolBars(f) for s, f in data.bars.items() if not f.empty}
        self._calendars = {s: calendar.for_code(data.spec(s).calendar) for s in self._bars}
        self._sessions = self._select_sessions(start, end)
        self._next = 0
        self._day: date | None = None
        self._steps: Sequence[Step] | None = None
        self._step = 0
        self._crowding = 1.0
        """Steps this day has over a New York day's (merged calendars); the pace divides by it."""
        self._cache: tuple[date, Sequence[Step]] | None = None
        self._ahead: _NextDay | None = None
        """The next session's steps, being built on a worker thread while this one plays."""
        self._latest = LatestQuotes()
        self._seconds_per_day = 0.0
        """The pace, set by ``run`` (``[replay] seconds_per_day``) and ``set_speed``; 0: not set yet."""
        self._paused = False
        self._stopping = False
        self._running = False
        self._interval = -1.0
        """The step interval the pacing schedule was set for (-1: none yet)."""
        self.lag_s = 0.0
        """How far behind its schedule the paced replay was at its latest step (0: on time)."""
        self.max_lag_s = 0.0
        """The most it was behind at any step of this run (what the 500-symbol bench reports)."""
        self.stalls = 0
        """Steps that were more than ``CATCH_UP_S`` late (the schedule was set again from them)."""
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        if resume_after is not None:
            self._resume(resume_after)

    @classmethod
    def from_settings(
        cls,
        replay: ReplaySettings,
        data: MarketData,
        clock: SimulatedClock,
        *,
        resume_after: date | None = None,
    ) -> ReplayFeed:
        """The replay ``[replay]`` describes: the one door from the settings to it.

        ``resume_after`` is not a setting: it is the last session an earlier run finished (its database).
        """
        return cls(
            data,
            clock,
            start=replay.start_date,
            end=replay.end_date,
            seed=replay.seed,
            steps_per_day=replay.steps_per_day,
            spread_bps=replay.spread_bps,
            resume_after=resume_after,
        )

    # ------------------------------------------------------------------ sessions
    def _select_sessions(self, start: date, end: date | None) -> list[date]:
        tradable = [s for s in self._data.tradable_symbols if s in self._bars]
        if not tradable:
            raise ValueError("the replay needs at least one tradable symbol with bars; the data has none")
        days = np.unique(np.concatenate([self._bars[s].days for s in tradable]))
        first, last = _as_date(days[0]), _as_date(days[-1])
        if not first <= start <= last:
            raise ValueError(
                f"replay start {start.isoformat()} is outside the data: tradable bars cover "
                f"{first.isoformat()}..{last.isoformat()}"
            )
        stop = last if end is None else end
        if stop < start:
            raise ValueError(f"replay end {stop.isoformat()} is before its start {start.isoformat()}")
        picked = []
        for symbol in tradable:  # each on its own calendar: its bars on its own sessions
            cal = self._calendars[symbol]
            lo, hi = max(start, cal.first), min(stop, cal.last)
            own = self._bars[symbol].days
            window = own[(own >= np.datetime64(lo, "D")) & (own <= np.datetime64(hi, "D"))]
            picked.append(window[np.isin(window, cal.sessions_array(lo, hi))])
        chosen: list[date] = np.unique(np.concatenate(picked)).tolist()
        if not chosen:
            raise ValueError(
                f"no trading session with data between {start.isoformat()} and {stop.isoformat()}"
            )
        return chosen

    def _resume(self, after: date) -> None:
        days = np.array(self._sessions, dtype="datetime64[D]")
        done = int(np.searchsorted(days, np.datetime64(after, "D"), "right"))
        self._next = done
        if done == 0:
            return
        last_played = days[done - 1]
        steps = self.day_quotes(_as_date(last_played))
        if steps:
            self._clock.set(steps[-1][0])
        for symbol, bars in self._bars.items():
            i = int(np.searchsorted(bars.days, last_played, "right")) - 1
            day = _as_date(bars.days[i]) if i >= 0 else None
            cal = self._calendars[symbol]
            if day is None or not cal.first <= day <= cal.last or not cal.is_session(day):
                continue
            # The closing quote of the symbol's last played bar, exactly as the earlier run showed it.
            times = self._symbol_times(symbol, day)
            fields = self._symbol_arrays(symbol, day, bars.values[i], times)
            self._latest[symbol] = Quote(symbol, times[-1], *(float(f[-1]) for f in fields))

    @property
    def sessions(self) -> list[date]:
        """The sessions this feed plays, oldest first (including any an earlier run already played)."""
        return list(self._sessions)

    @property
    def current_day(self) -> date | None:
        """The session being played, or the last one played by this feed; ``None`` before the first."""
        return self._day

    def next_day(self) -> date | None:
        """The next session not yet started; ``None`` at the end."""
        return self._sessions[self._next] if self._next < len(self._sessions) else None

    @property
    def days_done(self) -> int:
        return self._next - (1 if self._steps is not None else 0)

    @property
    def finished(self) -> bool:
        return self._next >= len(self._sessions) and self._steps is None

    @property
    def progress(self) -> float:
        return self.days_done / len(self._sessions)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def seconds_per_day(self) -> float:
        return self._seconds_per_day

    def start_at(self, day: date) -> None:
        """Continue from the first session on or after ``day``; only forward, so the clock stays monotonic."""
        if self._steps is not None:
            raise RuntimeError(f"cannot move the replay while {self._day} is being played")
        target = int(
            np.searchsorted(np.array(self._sessions, dtype="datetime64[D]"), np.datetime64(day, "D"))
        )
        if target < self._next:
            raise ValueError(f"cannot move the replay back to {day.isoformat()}: already played up to it")
        self._next = target

    # ------------------------------------------------------------------ what a strategy may see
    def history(self, symbol: str, before: date) -> pd.DataFrame:
        """The bars strictly before ``before``: everything known at that session's open."""
        return self._data.bars_before(symbol, before)

    def latest_quotes(self) -> dict[str, Quote]:
        return self._latest.as_dict()

    # ------------------------------------------------------------------ the intraday stream
    def day_quotes(self, day: date) -> Sequence[Step]:
        """Every step of the session: its time and the quotes of each symbol with a bar that day."""
        if self._cache is not None and self._cache[0] == day:
            return self._cache[1]
        ahead = self._ahead
        if ahead is not None and ahead.day == day:
            self._ahead = None
            ahead.done.wait()  # built while the previous session played: normally long done
            if ahead.steps is not None:
                self._cache = (day, ahead.steps)
                return ahead.steps
        steps = self._build_day(day)
        self._cache = (day, steps)
        return steps

    def _prepare(self, day: date) -> None:
        """Build ``day``'s steps on a worker thread now: a session of 500 symbols is 195,000
        quotes (seconds of work), which built at the session's start stalled the feed for that
        long (issue 18). The thread only reads the bars; the quotes are the same either way."""
        ahead = _NextDay(day)

        def build() -> None:
            try:
                ahead.steps = self._build_day(day)
            finally:
                ahead.done.set()

        self._ahead = ahead
        threading.Thread(target=build, name="replay-next-day", daemon=True).start()

    async def _ready(self, day: date) -> None:
        """Let the loop run on while ``day``'s steps are built off it (the first session's)."""
        if self._cache is not None and self._cache[0] == day:
            return
        if self._ahead is None or self._ahead.day != day:
            self._prepare(day)
        ahead = self._ahead
        while ahead is not None and not ahead.done.is_set():
            await asyncio.sleep(0.005)

    def _build_day(self, day: date) -> Sequence[Step]:
        """Every symbol with a bar on ``day`` that is a session of its own calendar. One calendar
        (the usual case): one grid, quotes made lazily (``_DaySteps``). Several calendars trading
        this day: their steps merged in time order."""
        grids: list[list[datetime]] = []
        symbols: list[str] = []
        columns: list[tuple[FloatArray, ...]] = []
        for symbol, bars in self._bars.items():
            bar = bars.on(day)
            cal = self._calendars[symbol]
            if bar is None or not cal.first <= day <= cal.last or not cal.is_session(day):
                continue  # no bar, or not a session of this symbol's own calendar
            times = self._symbol_times(symbol, day)
            grids.append(times)
            symbols.append(symbol)
            columns.append(self._symbol_arrays(symbol, day, bar, times))
        if not columns:
            return []
        if all(g == grids[0] for g in grids):
            fields = tuple(np.vstack([col[f] for col in columns]) for f in range(len(columns[0])))
            return _DaySteps(grids[0], symbols, fields)
        by_time: dict[datetime, list[Quote]] = {}
        for symbol, times, col in zip(symbols, grids, columns, strict=True):
            for k, ts in enumerate(times):
                by_time.setdefault(ts, []).append(Quote(symbol, ts, *(float(f[k]) for f in col)))
        return [(ts, QuoteBatch.of(by_time[ts])) for ts in sorted(by_time)]

    def _symbol_times(self, symbol: str, day: date) -> list[datetime]:
        """The step times of ``symbol`` on ``day``, a session of its own calendar."""
        cal = self._calendars[symbol]
        opens_at, closes_at = cal.session_open_close(day)
        if cal.code == calendar.EXCHANGE:
            return self._step_times(opens_at, closes_at)
        return self._step_times(opens_at, closes_at, (closes_at - opens_at) / self._steps_per_day)

    def _step_times(
        self, opens_at: datetime, closes_at: datetime, step: timedelta | None = None
    ) -> list[datetime]:
        step_length = step if step is not None else self._step_length
        length = closes_at - opens_at
        n = max(3, math.ceil(length / step_length - 1e-9))
        return [min(opens_at + step_length * k, closes_at) for k in range(n)] + [closes_at]

    def _symbol_arrays(
        self, symbol: str, day: date, bar: FloatArray, times: list[datetime]
    ) -> tuple[FloatArray, ...]:
        """One symbol's session as arrays over the steps: bid, ask, last, bid and ask sizes, the
        size traded since the previous step, the session's cumulative volume."""
        instrument = self._data.instruments[symbol]
        rng = np.random.default_rng(stable_seed(self._seed, symbol, day))
        o, h, lo, c, v = (float(x) for x in bar)
        if not v > 0:
            # a series without volume (an index, a commodity, a closes-only file): the replay invents
            # a nominal volume so that paper fills (capped at a share of what traded) can happen
            v = NOMINAL_VOLUME
        m = len(times)
        last = intraday_path(o, h, lo, c, m, rng, instrument.tick_size).last
        sizes, cumulative = volume_path(v, m, rng)
        if instrument.tradable:
            bid, ask = quote_sides(last, self._spread_bps, instrument.tick_size)
            depth = float(np.clip(v / m / 1000.0, 1.0, 100.0))
            bid_size = _LOT * rng.integers(1, int(depth) + 1, size=m).astype(np.float64)
            ask_size = _LOT * rng.integers(1, int(depth) + 1, size=m).astype(np.float64)
        else:
            bid = ask = last
            bid_size = ask_size = np.zeros(m)
        return bid, ask, last, bid_size, ask_size, sizes, cumulative

    # ------------------------------------------------------------------ playing
    def _begin_day(self, on_day_start: DayHook | None) -> None:
        day = self._sessions[self._next]
        self._next += 1
        self._day = day
        self._steps = self.day_quotes(day)
        self._step = 0
        # a day on which several calendars trade has their steps merged: it keeps one day's time
        self._crowding = max(1.0, len(self._steps) / (self._steps_per_day + 1))
        self._clock.set(self._steps[0][0])
        if on_day_start is not None:
            on_day_start(day)
        if self._next < len(self._sessions):
            self._prepare(self._sessions[self._next])

    def _emit(self, sink: QuoteSink) -> None:
        assert self._steps is not None
        ts, quotes = self._steps[self._step]
        self._step += 1
        self._clock.set(ts)
        self._latest.add(as_batch(quotes))
        sink(quotes)

    def _end_day(self, on_day_end: DayHook | None) -> None:
        day = self._day
        self._steps = None
        self._step = 0
        if on_day_end is not None and day is not None:
            on_day_end(day)

    def _day_over(self) -> bool:
        return self._steps is not None and self._step >= len(self._steps)

    def play_day(
        self,
        sink: QuoteSink,
        *,
        on_day_start: DayHook | None = None,
        on_day_end: DayHook | None = None,
    ) -> date | None:
        """Play one whole session at once (tests, benchmarks, stepping by hand); ``None`` at the end.

        Finishes a session that ``run`` left half-played, else plays the next one.
        """
        if self._running:
            raise RuntimeError("the replay is running; stop it before stepping by hand")
        if self._steps is None:
            if self._next >= len(self._sessions):
                return None
            self._begin_day(on_day_start)
        while not self._day_over():
            self._emit(sink)
        day = self._day
        self._end_day(on_day_end)
        return day

    def play_steps(
        self,
        sink: QuoteSink,
        steps: int,
        *,
        on_day_start: DayHook | None = None,
        on_day_end: DayHook | None = None,
    ) -> int:
        """Play up to ``steps`` quote steps, crossing into the next session as needed; returns how many.

        A session whose last step is played ends at once (``on_day_end``), exactly as ``run`` does.
        """
        if self._running:
            raise RuntimeError("the replay is running; stop it before stepping by hand")
        played = 0
        while played < steps:
            if self._steps is None:
                if self._next >= len(self._sessions):
                    break
                self._begin_day(on_day_start)
            self._emit(sink)
            played += 1
            if self._day_over():
                self._end_day(on_day_end)
        return played

    async def run(
        self,
        sink: QuoteSink,
        *,
        seconds_per_day: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        on_day_start: DayHook | None = None,
        on_day_end: DayHook | None = None,
    ) -> None:
        """Play session after session until the end of the data or ``stop()``.

        Every step sets the clock to the step's time, then hands the quotes to ``sink``; steps are
        due every ``seconds_per_day / steps_per_day`` (on ``monotonic``), so an early-close session
        takes proportionally less time on screen, and the time a step takes is part of its interval,
        not added to it (see ``_wait``). After ``stop()`` a later ``run`` continues where this one
        stopped.
        """
        self.set_speed(seconds_per_day)
        if self._running:
            raise RuntimeError("the replay is already running")
        self._running = True
        self._stopping = False
        due: float | None = None  # when the next step is due on ``monotonic``; None: from now
        try:
            while not self._stopping:
                if self._steps is None:
                    if self._next >= len(self._sessions):
                        break
                    await self._ready(self._sessions[self._next])
                    self._begin_day(on_day_start)
                while not self._stopping and not self._day_over():
                    if self._paused:
                        await self._unpaused.wait()
                        due = None  # a pause is not caught up afterwards
                        continue
                    interval = self._seconds_per_day / self._steps_per_day / self._crowding
                    if due is None or interval != self._interval:
                        due, self._interval = monotonic(), interval
                    self._emit(sink)
                    await sleep(self._wait(due + interval, monotonic()))
                    due += interval
                if self._day_over():
                    self._end_day(on_day_end)
        finally:
            self._running = False

    def _wait(self, due: float, now: float) -> float:
        """Seconds to wait for the next step, due at ``due``: the steps keep to the market clock's
        schedule (a step's own work is not added to its wait), so the replay does not drift behind
        while each step takes less than its interval. Behind schedule, the next step comes at once
        (``lag_s`` says how far behind); a stall longer than ``CATCH_UP_S`` is not played back
        as a burst (the schedule starts again from now, and ``stalls`` counts it)."""
        lag = max(0.0, now - due)
        self.lag_s = lag
        self.max_lag_s = max(self.max_lag_s, lag)
        if lag > CATCH_UP_S:
            self.stalls += 1
            self._interval = -1.0  # the next step sets the schedule again from its own time
        return max(0.0, due - now)

    def pause(self) -> None:
        self._paused = True
        self._unpaused.clear()

    def resume(self) -> None:
        self._paused = False
        self._unpaused.set()

    def set_speed(self, seconds_per_day: float) -> None:
        if not seconds_per_day > 0:
            raise ValueError(f"seconds_per_day must be positive, got {seconds_per_day}")
        self._seconds_per_day = float(seconds_per_day)

    def stop(self) -> None:
        """Make ``run`` return after the current step; a paused feed stops too."""
        self._stopping = True
        self._paused = False
        self._unpaused.set()


def first_open(data: MarketData, start: date) -> datetime | None:
    """The earliest moment the replay from ``start`` can quote: the first own-calendar session open
    of any tradable symbol on or after ``start``. The engine's clock starts no later than this, so a
    Tokyo or 24/7 instrument's first quotes are not older than the clock (New York opens later)."""
    best: datetime | None = None
    for symbol in data.tradable_symbols:
        frame = data.bars.get(symbol)
        if frame is None or frame.empty:
            continue
        cal = calendar.for_code(data.spec(symbol).calendar)
        days = frame.index.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        lo = max(start, cal.first)
        mine = days[days >= np.datetime64(lo, "D")]
        open_days = mine[np.isin(mine, cal.sessions_array(lo, cal.last))]
        if len(open_days):
            opens_at = cal.session_open_close(_as_date(open_days[0]))[0]
            best = opens_at if best is None else min(best, opens_at)
    return best


class _DaySteps(Sequence[Step]):
    """A session's steps, each step's quotes made when it is first read.

    The session is drawn as arrays at once (cheap); each step is handed on as a ``QuoteBatch`` of
    its columns, whose quote objects are made only if someone reads them (390 steps x 500 symbols
    is 195,000 of them, seconds of work). All steps share one ``symbols`` tuple, so readers keyed
    on it find their slots at once. Equal, step for step, to the list of quotes they used to be."""

    def __init__(self, times: list[datetime], symbols: list[str], fields: tuple[FloatArray, ...]) -> None:
        self._times = times
        self._symbols = tuple(symbols)
        self._index = {s: i for i, s in enumerate(self._symbols)}
        self._fields = np.stack(fields)  # (field, symbol, step)
        self._made: list[QuoteBatch | None] = [None] * len(times)

    def __len__(self) -> int:
        return len(self._times)

    @overload
    def __getitem__(self, k: int) -> Step: ...

    @overload
    def __getitem__(self, k: slice) -> list[Step]: ...

    def __getitem__(self, k: int | slice) -> Step | list[Step]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        ts = self._times[k]
        quotes = self._made[k]
        if quotes is None:
            values = np.ascontiguousarray(self._fields[:, :, k])
            quotes = self._made[k] = QuoteBatch(self._symbols, ts, values, positions=self._index)
        return ts, quotes

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]


class _NextDay:
    """A session's steps being built ahead on a worker thread (``ReplayFeed._prepare``)."""

    def __init__(self, day: date) -> None:
        self.day = day
        self.steps: Sequence[Step] | None = None
        self.done = threading.Event()


def _as_date(value: np.datetime64) -> date:
    out = value.astype("datetime64[D]").item()
    assert isinstance(out, date)
    return out
