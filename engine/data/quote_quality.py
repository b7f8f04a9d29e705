"""Live quote quality: every quote is screened before it may mark a position, feed a signal or
fill an order.

Why a guard and not a filter in each feed: the replay and the IBKR feed (and any later one) must
hold out the same bad quotes for the same reasons, counted the same way, so the desk, the metrics
and the pre-trade checks read one verdict per symbol. The rules:

- **crossed** (bid > ask) and **locked** (bid == ask) books, and non-positive or non-finite prices;
- **spike**: the mid moved more than ``spike_deviations`` robust deviations of the symbol's recent
  quote-to-quote log returns (1.4826 x the median of the non-zero absolute ones; never less than
  ``spike_floor_bps``) since its last good quote, within one session (the first quote of a session
  may gap). Three quotes in a row, each within the limit of the one before, confirm a new level:
  a real move is accepted after three quotes, a lone bad print never;
- **out of order**: older than the symbol's previous quote;
- **delayed**: older than ``max_lag_s`` on arrival (the quote's own time against the engine's
  clock, which for IBKR is the broker's time base).

A held-out symbol stays held out until a good quote arrives; a **stale** symbol (no good quote
for ``stale_s`` while its exchange is in session, live feeds only) is reported by ``stale``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from engine.data.calendar import NEW_YORK
from engine.data.quote_screen import (
    BAD_PRICE,
    CROSSED,
    GOOD,
    LAST_TS,
    LIMIT,
    LOCKED,
    MID,
    MOVE,
    OUT_OF_ORDER,
    PREVIOUS_MID,
    SPIKE,
    FloatArray,
    ScreenArrays,
)
from engine.data.quote_screen import (
    DELAYED as DELAYED_QUOTE,
)
from engine.data.quote_screen import screen as screen_batch
from engine.model import Quote
from engine.model.quote_batch import LatestQuotes, QuoteBatch, SlotTable, as_batch

_MICROSECOND = timedelta(microseconds=1)


class QuoteProblem(StrEnum):
    CROSSED = "crossed"
    LOCKED = "locked"
    BAD_PRICE = "bad_price"
    SPIKE = "spike"
    OUT_OF_ORDER = "out_of_order"
    DELAYED = "delayed"


@dataclass(frozen=True, slots=True)
class QuoteChecks:
    """Thresholds (``[quotes]`` in the config)."""

    spike_deviations: float = 12.0
    spike_history: int = 20
    """Quote-to-quote returns a symbol needs before its spikes are judged."""
    spike_floor_bps: float = 400.0
    """No move smaller than this is a spike, however quiet the symbol was (4%: bad prints are
    usually far larger; a quiet stock's ordinary 2% move is not one)."""
    max_lag_s: float = 10.0
    locked_is_bad: bool = True


@dataclass(frozen=True, slots=True)
class QuoteFlag:
    """Why one quote was held out."""

    symbol: str
    problem: QuoteProblem
    detail: str
    ts: datetime

    def describe(self) -> str:
        return f"{self.symbol} {self.problem.value}: {self.detail}"


class QuoteGuard:
    """Screens quotes, keeps each symbol's last good quote and its current verdict.

    The rules run over a whole step at once (``engine.data.quote_screen``: a numba walk of the
    batch in arrival order over per-symbol state arrays); only a held-out quote costs Python
    work here (its flag and message)."""

    def __init__(self, checks: QuoteChecks | None = None, *, no_book: Iterable[str] = ()) -> None:
        """``no_book``: symbols quoted without a book (indexes: bid = ask = the level), whose
        quotes are not judged crossed or locked."""
        self.checks = checks or QuoteChecks()
        self._no_book = frozenset(no_book)
        self._slots = SlotTable()
        self._state = ScreenArrays()
        self._good = LatestQuotes()
        """Each symbol's last good quote (kept as the good part of each step)."""
        self._held: dict[str, QuoteFlag] = {}
        """The symbols held out now (kept as they change: a step asks for them twice)."""
        self._days: tuple[datetime, int] | None = None
        """The last stamp seen and its New York date (an ordinal): a step shares one stamp."""
        self.counts: Counter[QuoteProblem] = Counter()
        """Quotes held out since start, by problem (for the metrics)."""

    def screen(self, quotes: Iterable[Quote], now: datetime) -> tuple[QuoteBatch, tuple[QuoteFlag, ...]]:
        """(the good quotes, the flags of the bad ones), in arrival order."""
        batch = as_batch(quotes)
        n = len(batch)
        known = len(self._slots)
        slots = self._slots.of(batch.symbols)
        if len(self._slots) > known:
            self._state.reserve(len(self._slots))
            for slot in range(known, len(self._slots)):
                if self._slots.names[slot] in self._no_book:
                    self._state.set_no_book(slot)
        if batch.stamp is not None:
            ts = np.full(n, _micros(batch.stamp), dtype=np.int64)
            days = np.full(n, self._day(batch.stamp), dtype=np.int64)
        else:
            stamps = batch.stamps or ()
            ts = np.fromiter((_micros(t) for t in stamps), dtype=np.int64, count=n)
            days = np.fromiter((self._day(t) for t in stamps), dtype=np.int64, count=n)
        verdict = np.zeros(n, dtype=np.int8)
        why = np.zeros((5, n))
        c = self.checks
        st = self._state
        screen_batch(
            st.fs,
            st.ints,
            st.returns,
            st.pending,
            slots,
            batch.values,
            ts,
            days,
            _micros(now),
            c.max_lag_s,
            c.locked_is_bad,
            c.spike_history,
            c.spike_deviations,
            c.spike_floor_bps / 1e4,
            verdict,
            why,
        )
        good = verdict == GOOD
        flags: tuple[QuoteFlag, ...] = ()
        if not good.all():
            flags = tuple(
                self._flag(batch, i, int(verdict[i]), why[:, i], now) for i in np.flatnonzero(~good).tolist()
            )
            self.counts.update(f.problem for f in flags)
        if flags or self._held:
            self._hold(batch, good, flags)
        kept = batch.take(good)
        self._good.add(kept)
        return kept, flags

    def _hold(self, batch: QuoteBatch, good: npt.NDArray[np.bool_], flags: tuple[QuoteFlag, ...]) -> None:
        """The held-out symbols after this batch, changed quote by quote in arrival order (the
        dict's order is the order they went bad in)."""
        held, symbols = self._held, batch.symbols
        flag_of = iter(flags)
        for i in batch.in_order({*held, *(f.symbol for f in flags)}):
            if good[i]:
                held.pop(symbols[i], None)
            else:
                flag = next(flag_of)
                held[flag.symbol] = flag

    def latest(self) -> dict[str, Quote]:
        """Each symbol's last good quote (what marks, signals and prices use)."""
        return self._good.as_dict()

    def latest_view(self) -> Mapping[str, Quote]:
        """``latest`` without the copy (a live view: read it now, do not keep it)."""
        return self._good

    def held_out(self) -> dict[str, QuoteFlag]:
        """Symbols whose latest quote was bad: orders on them are refused until a good one comes."""
        return dict(self._held)

    def stale(self, now: datetime, stale_s: float, symbols: Iterable[str] = ()) -> dict[str, float]:
        """symbol -> seconds since its last good quote, for those older than ``stale_s`` (and
        for ``symbols`` never quoted at all, as infinity). The caller decides when staleness
        applies (a live feed, the exchange in session)."""
        out: dict[str, float] = {}
        for symbol in set(symbols) | set(self._slots.names):
            good = self._good.get(symbol)
            if good is None:
                out[symbol] = math.inf
                continue
            age = (now - good.ts).total_seconds()
            if age > stale_s:
                out[symbol] = age
        return out

    # ------------------------------------------------------------------ the messages
    def _day(self, ts: datetime) -> int:
        if self._days is None or self._days[0] is not ts:
            self._days = (ts, ts.astimezone(NEW_YORK).date().toordinal())
        return self._days[1]

    def _flag(self, batch: QuoteBatch, i: int, verdict: int, why: FloatArray, now: datetime) -> QuoteFlag:
        """A held-out quote's flag, in the words its rule uses."""
        symbol, ts = batch.symbols[i], batch.ts(i)
        bid, ask, last = (float(v) for v in batch.values[:3, i])
        problem = _PROBLEMS[verdict]
        if problem is QuoteProblem.BAD_PRICE:
            detail = f"bid {bid} ask {ask} last {last}"
        elif problem is QuoteProblem.CROSSED:
            detail = f"bid {bid:g} > ask {ask:g}"
        elif problem is QuoteProblem.LOCKED:
            detail = f"bid = ask = {bid:g}"
        elif problem is QuoteProblem.OUT_OF_ORDER:
            before = (_EPOCH + timedelta(microseconds=int(why[LAST_TS]))).astimezone(ts.tzinfo)
            detail = f"{ts:%H:%M:%S} after {before:%H:%M:%S}"
        elif problem is QuoteProblem.DELAYED:
            lag = (now - ts).total_seconds()
            detail = f"{lag:.1f} s old on arrival (limit {self.checks.max_lag_s:g} s)"
        else:
            detail = (
                f"mid {why[MID]:g} is {abs(why[MOVE]) * 1e4:.0f} bps from {why[PREVIOUS_MID]:g} "
                f"(limit {why[LIMIT] * 1e4:.0f} bps)"
            )
        return QuoteFlag(symbol, problem, detail, ts)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PROBLEMS = {
    BAD_PRICE: QuoteProblem.BAD_PRICE,
    CROSSED: QuoteProblem.CROSSED,
    LOCKED: QuoteProblem.LOCKED,
    OUT_OF_ORDER: QuoteProblem.OUT_OF_ORDER,
    DELAYED_QUOTE: QuoteProblem.DELAYED,
    SPIKE: QuoteProblem.SPIKE,
}


def _micros(ts: datetime) -> int:
    """Microseconds since the epoch (exact: a datetime has microseconds)."""
    return (ts - _EPOCH) // _MICROSECOND
