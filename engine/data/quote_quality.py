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

import bisect
import itertools
import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from engine.data.calendar import NEW_YORK
from engine.model import Quote

RESCALE_EVERY = 8
"""New returns between two computations of a symbol's spike limit (a median over 64 moves, kept
off the per-quote path)."""
CONFIRM_QUOTES = 3
"""Quotes in a row that must agree at a new level before a jump is believed."""
ROBUST_SCALE = 1.4826
"""Median absolute deviation -> standard deviation for normal returns."""


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


@dataclass(slots=True)
class _SymbolState:
    last_ts: datetime | None = None
    good: Quote | None = None
    good_mid: float = 0.0
    """The mid of ``good`` (the spike rule's reference), kept so it is not recomputed per quote."""
    good_day: date | None = None
    returns: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    pending: list[float] = field(default_factory=list)
    held: QuoteFlag | None = None
    threshold: float | None = None
    """The spike limit as last computed; recomputed every ``RESCALE_EVERY`` new returns."""
    stale_for: int = 0


class QuoteGuard:
    """Screens quotes, keeps each symbol's last good quote and its current verdict."""

    def __init__(self, checks: QuoteChecks | None = None, *, no_book: Iterable[str] = ()) -> None:
        """``no_book``: symbols quoted without a book (indexes: bid = ask = the level), whose
        quotes are not judged crossed or locked."""
        self.checks = checks or QuoteChecks()
        self._no_book = frozenset(no_book)
        self._symbols: dict[str, _SymbolState] = {}
        self._held: dict[str, QuoteFlag] = {}
        """The symbols held out now (kept as they change: a step asks for them twice)."""
        self.counts: Counter[QuoteProblem] = Counter()
        """Quotes held out since start, by problem (for the metrics)."""

    def screen(
        self, quotes: Iterable[Quote], now: datetime
    ) -> tuple[tuple[Quote, ...], tuple[QuoteFlag, ...]]:
        """(the good quotes, the flags of the bad ones), in arrival order.

        One pass with the common case (a good quote within its limit) inline: a step of 500 symbols
        is screened many times a second, so the rules run without a call per rule. The verdicts
        are those of ``_judge``, which the rare branches still use for their messages.
        """
        good: list[Quote] = []
        flags: list[QuoteFlag] = []
        symbols = self._symbols
        no_book = self._no_book
        locked_bad = self.checks.locked_is_bad
        history = self.checks.spike_history
        # A quote stamped after ``edge`` is certainly within max_lag_s; one at or before it is
        # judged exactly, as ``_judge`` does (the microsecond margin covers timedelta rounding).
        edge = now - timedelta(seconds=self.checks.max_lag_s) + _MICROSECOND
        day_ts: datetime | None = None  # the New York date of the last stamp seen (a step shares one)
        day = date.min
        log, isfinite = math.log, math.isfinite
        for quote in quotes:
            symbol, ts, bid, ask, last = quote.symbol, quote.ts, quote.bid, quote.ask, quote.last
            state = symbols.get(symbol)
            if state is None:
                state = symbols[symbol] = _SymbolState()
            flag: QuoteFlag | None = None
            if (
                not (isfinite(bid) and isfinite(ask) and isfinite(last))
                or last <= 0.0
                or bid < 0.0
                or ask < 0.0
                or (
                    bid > 0.0
                    and ask > 0.0
                    and (bid > ask or (bid == ask and locked_bad))
                    and symbol not in no_book
                )
                or (state.last_ts is not None and ts < state.last_ts)
                or ts <= edge
            ):
                flag = self._judge(quote, state, now)  # the rare path: the exact verdict and its words
            else:
                mid = (bid + ask) / 2.0 if bid > 0.0 and ask > 0.0 else last
                if ts is not day_ts:
                    day_ts, day = ts, ts.astimezone(NEW_YORK).date()
                if state.good is None or state.good_day != day:
                    _accept(state, quote, mid, day, None)  # a session's first quote may gap
                else:
                    move = log(mid / state.good_mid)
                    threshold = (
                        state.threshold
                        if state.threshold is not None
                        and state.stale_for < RESCALE_EVERY
                        and len(state.returns) >= history
                        else self._threshold(state)
                    )
                    if threshold is None or abs(move) <= threshold:
                        state.good, state.good_mid = quote, mid  # _accept, inline
                        if state.pending:
                            state.pending.clear()
                        state.returns.append(move)
                        state.stale_for += 1
                    else:
                        flag = self._spike(quote, state)
            if state.last_ts is None or ts > state.last_ts:
                state.last_ts = ts
            if flag is None:
                if state.held is not None:
                    state.held = None
                    del self._held[symbol]
                good.append(quote)
            else:
                state.held = flag
                self._held[symbol] = flag
                self.counts[flag.problem] += 1
                flags.append(flag)
        return tuple(good), tuple(flags)

    def latest(self) -> dict[str, Quote]:
        """Each symbol's last good quote (what marks, signals and prices use)."""
        return {symbol: s.good for symbol, s in self._symbols.items() if s.good is not None}

    def held_out(self) -> dict[str, QuoteFlag]:
        """Symbols whose latest quote was bad: orders on them are refused until a good one comes."""
        return dict(self._held)

    def stale(self, now: datetime, stale_s: float, symbols: Iterable[str] = ()) -> dict[str, float]:
        """symbol -> seconds since its last good quote, for those older than ``stale_s`` (and
        for ``symbols`` never quoted at all, as infinity). The caller decides when staleness
        applies (a live feed, the exchange in session)."""
        out: dict[str, float] = {}
        for symbol in set(symbols) | set(self._symbols):
            state = self._symbols.get(symbol)
            if state is None or state.good is None:
                out[symbol] = math.inf
                continue
            age = (now - state.good.ts).total_seconds()
            if age > stale_s:
                out[symbol] = age
        return out

    # ------------------------------------------------------------------ the rules
    def _judge(self, quote: Quote, state: _SymbolState, now: datetime) -> QuoteFlag | None:
        def flag(problem: QuoteProblem, detail: str) -> QuoteFlag:
            return QuoteFlag(quote.symbol, problem, detail, quote.ts)

        prices = (quote.bid, quote.ask, quote.last)
        if (
            not all(math.isfinite(p) for p in prices)
            or quote.last <= 0.0
            or quote.bid < 0.0
            or quote.ask < 0.0
        ):
            return flag(QuoteProblem.BAD_PRICE, f"bid {quote.bid} ask {quote.ask} last {quote.last}")
        if quote.bid > 0.0 and quote.ask > 0.0 and quote.symbol not in self._no_book:
            if quote.bid > quote.ask:
                return flag(QuoteProblem.CROSSED, f"bid {quote.bid:g} > ask {quote.ask:g}")
            if quote.bid == quote.ask and self.checks.locked_is_bad:
                return flag(QuoteProblem.LOCKED, f"bid = ask = {quote.bid:g}")
        if state.last_ts is not None and quote.ts < state.last_ts:
            return flag(QuoteProblem.OUT_OF_ORDER, f"{quote.ts:%H:%M:%S} after {state.last_ts:%H:%M:%S}")
        lag = (now - quote.ts).total_seconds()
        if lag > self.checks.max_lag_s:
            return flag(
                QuoteProblem.DELAYED, f"{lag:.1f} s old on arrival (limit {self.checks.max_lag_s:g} s)"
            )
        return self._spike(quote, state)

    def _spike(self, quote: Quote, state: _SymbolState) -> QuoteFlag | None:
        mid = _mid(quote)
        day = quote.ts.astimezone(NEW_YORK).date()
        previous = state.good
        if previous is None or state.good_day != day:
            _accept(state, quote, mid, day, None)  # a session's first quote may gap
            return None
        move = math.log(mid / state.good_mid)
        threshold = self._threshold(state)
        if threshold is None or abs(move) <= threshold:
            _accept(state, quote, mid, day, move)
            return None
        state.pending.append(mid)
        recent = state.pending[-CONFIRM_QUOTES:]
        walk = all(abs(math.log(b / a)) <= threshold for a, b in itertools.pairwise(recent))
        if len(recent) == CONFIRM_QUOTES and walk:
            _accept(state, quote, mid, day, None)  # a new level, confirmed: not a return to learn from
            return None
        return QuoteFlag(
            quote.symbol,
            QuoteProblem.SPIKE,
            f"mid {mid:g} is {abs(move) * 1e4:.0f} bps from {_mid(previous):g} "
            f"(limit {threshold * 1e4:.0f} bps)",
            quote.ts,
        )

    def _threshold(self, state: _SymbolState) -> float | None:
        if len(state.returns) < self.checks.spike_history:
            return None
        if state.threshold is not None and state.stale_for < RESCALE_EVERY:
            return state.threshold
        state.stale_for = 0
        moves = sorted(map(abs, state.returns))
        zeros = bisect.bisect_right(moves, 0.0)  # the median of the non-zero moves
        scale = ROBUST_SCALE * moves[zeros + (len(moves) - zeros) // 2] if len(moves) > zeros else 0.0
        state.threshold = max(self.checks.spike_deviations * scale, self.checks.spike_floor_bps / 1e4)
        return state.threshold


def _accept(state: _SymbolState, quote: Quote, mid: float, day: date, move: float | None) -> None:
    state.good = quote
    state.good_mid = mid
    state.good_day = day
    if state.pending:
        state.pending.clear()
    if move is not None:
        state.returns.append(move)
        state.stale_for += 1


def _mid(quote: Quote) -> float:
    if quote.bid > 0.0 and quote.ask > 0.0:
        return (quote.bid + quote.ask) / 2.0
    return quote.last
