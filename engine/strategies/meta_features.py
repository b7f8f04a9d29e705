"""What meta-labelling knows at a signal: the features (``meta_label``'s table of them), the
trades a fit reads, and the purged, embargoed K-fold that keeps overlapping labels apart.

Numpy only: the scan's panel path (``panel_scan``) computes the same rows over the whole
universe at once, and the console imports none of it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.model.exits import ExitPolicy, StopRule
from engine.strategies.meta_windows import breadth_sums, day_order, window_stats
from engine.strategies.outcomes import Outcomes
from engine.strategies.templates.base import Array, Bars, Panel, Setup

FEATURES: tuple[str, ...] = (
    "score",
    "vol_regime",
    "trend_regime",
    "stop_atr",
    "hit_rate",
    "breadth",
    "bench_trend",
    "bench_momentum",
    "cost",
)
SHORT_VOL, LONG_VOL, TREND_DAYS = 20, 250, 60
HIT_WINDOW = 100
"""Trades in the recent hit rate: enough that one trade moves it by 1%, recent enough to move."""
BREADTH_DAYS, BENCH_TREND_DAYS = 50, 200
PER_SHARE, SLIPPAGE = 0.005, 1e-4
"""The research backtester's default costs (``engine.research.backtest.Costs``): $0.005 a share
and 1 bp of slippage each way. Strategies may not import research, so they are repeated here."""

MAX_TRADES = 20_000
"""At most this many of the most recent trades are used to fit (as the score calibrator does)."""

DayArray = NDArray[np.datetime64]
FOLDS = 4
"""Folds of the purged cross-validation that chooses the model."""
# --------------------------------------------------------------------------------------------
# Purged, embargoed cross-validation


def purged_kfold(
    entry: DayArray, exit_: DayArray, n_splits: int = FOLDS, embargo_days: int = 0
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """K contiguous test folds in entry order, each with the training trades that do not leak.

    A trade's label is known only at its exit, so a training trade whose ``[entry, exit]`` overlaps
    the test fold's span ``[first entry, last exit]`` shares information with it (the same days'
    prices decide both) and is purged. Trades entered within ``embargo_days`` after the fold's
    span are dropped as well (serial correlation of the features right after it). Training trades
    may come from before or after the fold (Lopez de Prado's purged K-fold); every trade is in
    exactly one test fold. Returns ``(train, test)`` index pairs into the inputs.
    """
    entry = np.asarray(entry, dtype="datetime64[D]")
    exit_ = np.asarray(exit_, dtype="datetime64[D]")
    if entry.shape != exit_.shape or entry.ndim != 1:
        raise ValueError(f"entry and exit must be 1-D of equal length, got {entry.shape} and {exit_.shape}")
    if n_splits < 2 or n_splits > len(entry):
        raise ValueError(f"n_splits must be between 2 and the {len(entry)} trades, got {n_splits}")
    if embargo_days < 0:
        raise ValueError(f"embargo_days must be >= 0, got {embargo_days}")
    if np.any(exit_ < entry):
        raise ValueError("a trade exits before it enters")
    order = day_order(entry)
    out = []
    for fold in np.array_split(order, n_splits):
        start, end = entry[fold].min(), exit_[fold].max()
        embargo_end = end + np.timedelta64(embargo_days, "D")
        keep = (exit_ < start) | (entry > embargo_end)
        keep[fold] = False
        out.append((np.flatnonzero(keep).astype(np.int64), np.sort(fold).astype(np.int64)))
    return out


# --------------------------------------------------------------------------------------------
# Features


@dataclass(frozen=True, slots=True)
class MarketState:
    """Market-wide context per session, each value using closes up to that session only."""

    dates: DayArray
    breadth: Array
    bench_trend: Array
    bench_momentum: Array

    def at(self, days: DayArray) -> tuple[Array, Array, Array]:
        """The values of the last session on or before each day (NaN before the first)."""
        i = np.searchsorted(self.dates, np.asarray(days, dtype="datetime64[D]"), side="right") - 1
        ok = i >= 0
        j = np.where(ok, i, 0)

        def pick(a: Array) -> Array:
            return np.where(ok, a[j], np.nan) if len(a) else np.full(len(i), np.nan)

        return pick(self.breadth), pick(self.bench_trend), pick(self.bench_momentum)


def _sma(x: Array, n: int) -> Array:
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        c = np.cumsum(np.r_[0.0, x])
        out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def market_state(panel: Panel, benchmark: Bars | None = None) -> MarketState:
    """Breadth of ``panel`` and the benchmark's trend and momentum on the union of sessions.

    Without a benchmark series the universe's equal-weighted index stands in for it (what the
    universe itself did), built from each day's mean close-to-close return of the symbols quoted.
    """
    days = (
        np.unique(np.concatenate([b.dates for b in panel.values()]))
        if panel
        else np.array([], "datetime64[D]")
    )
    series = list(panel.values())
    above, counted, ret_sum, ret_n = breadth_sums(
        [b.close for b in series], [b.dates for b in series], days, BREADTH_DAYS
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        breadth = np.where(counted > 0, above / counted, np.nan)
    if benchmark is not None and len(benchmark):
        b_days, b_close = benchmark.dates, benchmark.close
    else:
        mean_ret = np.where(ret_n > 0, ret_sum / np.maximum(ret_n, 1.0), 0.0)
        b_days, b_close = days, np.cumprod(1.0 + mean_ret).astype(np.float64)
    trend = b_close / _sma(b_close, BENCH_TREND_DAYS) - 1.0
    mom = np.full(len(b_close), np.nan)
    mom[TREND_DAYS:] = b_close[TREND_DAYS:] / b_close[:-TREND_DAYS] - 1.0
    bench = MarketState(b_days, np.array([]), trend, mom)
    _, b_trend, b_mom = bench.at(days)
    return MarketState(days, breadth, b_trend, b_mom)


@dataclass(frozen=True, slots=True)
class HitHistory:
    """A template's completed trades by exit day, for the hit rate of those ended before a day."""

    exit_days: DayArray
    cum_wins: Array
    """``cum_wins[j]``: wins among the first ``j`` trades in exit order (length n + 1)."""

    @classmethod
    def of(cls, exit_days: DayArray, wins: Array) -> HitHistory:
        order = day_order(exit_days)
        return cls(np.asarray(exit_days)[order], np.r_[0.0, np.cumsum(np.asarray(wins, float)[order])])

    def before(self, days: DayArray) -> Array:
        """Laplace-smoothed hit rate of the last ``HIT_WINDOW`` trades exited strictly before each day."""
        j = np.searchsorted(self.exit_days, np.asarray(days, dtype="datetime64[D]"), side="left")
        lo = np.maximum(j - HIT_WINDOW, 0)
        out: Array = (self.cum_wins[j] - self.cum_wins[lo] + 1.0) / (j - lo + 2.0)
        return out


def _stop_atr(
    close: Array,
    stop: Array,
    atr: Array | None,
    bars: NDArray[np.int64],
    policy: ExitPolicy,
    vol_price: Array,
) -> Array:
    """Distance to the stop at each signal, in ATRs (baskets: in daily volatilities of the basket)."""
    if atr is not None and close.shape[1] == 1:
        atr_b = atr[bars]
        close_b = close[bars, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            rule = policy.stop
            if rule in (StopRule.ATR, StopRule.TRAIL_ATR):
                return np.where(atr_b > 0, policy.stop_value, np.nan)
            if rule in (StopRule.PERCENT, StopRule.TRAIL_PERCENT):
                out: Array = policy.stop_value / 100.0 * close_b / atr_b
                return out
            if rule is StopRule.TRAIL_AMOUNT:
                out = policy.stop_value / atr_b
                return out
            stop_b = stop[bars]
            out = np.where(np.isfinite(stop_b), stop_b * close_b / atr_b, np.nan)
            return out
    stop_b = stop[bars]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(np.isfinite(stop_b), stop_b / vol_price, np.nan)
    return out


def daily_returns(close: Array, starts: NDArray[np.int64] | None = None) -> Array:
    """Close-to-close returns (``[T, k]``), NaN on each series' first bar (``starts``: the first
    bars of several symbols' series laid end to end; None: one series)."""
    rets = np.full(close.shape, np.nan)
    rets[1:] = close[1:] / close[:-1] - 1.0
    if starts is not None:
        rets[starts[starts < len(close)]] = np.nan
    return rets


def signal_windows(rets: Array, weights: Array, bars: NDArray[np.int64], first: NDArray[np.int64]) -> Array:
    """``window_stats`` rows of signals at ``bars`` (weights ``[m, k]`` at each signal): the
    windows ``own_features`` reads (``LONG_VOL`` days, the last ``SHORT_VOL`` and ``TREND_DAYS``)."""
    return window_stats(
        rets,
        weights,
        bars,
        first,
        length=LONG_VOL,
        short=SHORT_VOL,
        trend=TREND_DAYS,
        min_short=SHORT_VOL // 2,
        min_long=SHORT_VOL,
    )


def own_features(
    close: Array,
    rets: Array,
    weights: Array,
    score: Array,
    stop: Array,
    atr: Array | None,
    bars: NDArray[np.int64],
    first: NDArray[np.int64],
    policy: ExitPolicy,
    *,
    stats: Array | None = None,
) -> Array:
    """``[m, len(FEATURES)]`` features of the signals at ``bars`` that the signal's own series give
    (``score``, ``vol_regime``, ``trend_regime``, ``stop_atr``, ``cost``; the rest NaN: ``context``
    fills them). ``close``, ``rets`` (``daily_returns``) and ``weights`` are ``[T, k]``, ``score``,
    ``stop`` and ``atr`` ``[T]``: one setup's arrays, or several one-stock setups' laid end to end,
    each signal's own series starting at bar ``first - 1``. Row by row the same numbers either way,
    which is what lets the panel scan meta-label without a setup per symbol. ``stats``: the
    signals' ``window_stats`` rows when the caller has them already (the panel scan's, shared by
    templates signalling at the same bar)."""
    out = np.full((len(bars), len(FEATURES)), np.nan)
    if len(bars) == 0:
        return out
    wb = weights[bars]
    if stats is None:
        stats = signal_windows(rets, wb, bars, first)
    short_sd, long_sd = stats[:, 0], stats[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 1] = np.log(short_sd / long_sd)
        out[:, 2] = stats[:, 2] / (stats[:, 3] * math.sqrt(TREND_DAYS))
        gross = np.abs(wb)
        cost = 2.0 * np.sum(gross * (PER_SHARE / close[bars] + SLIPPAGE), axis=1)
        out[:, 8] = cost / short_sd
    out[:, 0] = score[bars]
    out[:, 3] = _stop_atr(close, stop, atr, bars, policy, short_sd)
    return out


def context(own: Array, days: DayArray, market: MarketState, hits: HitHistory) -> Array:
    """``own_features`` rows with the features of their day filled in: the template's recent hit
    rate and the market's state (breadth, the benchmark's trend and momentum)."""
    out = np.array(own, dtype=np.float64, copy=True)
    if len(out) == 0:
        return out
    out[:, 4] = hits.before(days)
    out[:, 5], out[:, 6], out[:, 7] = market.at(days)
    out[~np.isfinite(out)] = np.nan
    return out


def signal_features(
    setup: Setup, bars: NDArray[np.int64], policy: ExitPolicy, market: MarketState, hits: HitHistory
) -> Array:
    """``[m, len(FEATURES)]`` features of signals at ``bars`` (each from data up to its close)."""
    bars = np.asarray(bars, dtype=np.int64)
    if len(bars) == 0:
        return np.full((0, len(FEATURES)), np.nan)
    own = own_features(
        setup.close,
        daily_returns(setup.close),
        setup.weights,
        setup.score,
        setup.stop,
        setup.atr,
        bars,
        np.ones(len(bars), dtype=np.int64),
        policy,
    )
    return context(own, setup.dates[bars], market, hits)


@dataclass(frozen=True, slots=True)
class TradeSet:
    """A template's completed trades, oldest entry first: features, outcome, entry and exit day."""

    x: Array
    y: Array
    entry: DayArray
    exit: DayArray
    score: Array

    def __len__(self) -> int:
        return len(self.y)

    def take(self, mask: NDArray[np.bool_] | NDArray[np.int64]) -> TradeSet:
        return TradeSet(self.x[mask], self.y[mask], self.entry[mask], self.exit[mask], self.score[mask])


def hit_history(measured: Sequence[tuple[Setup, Outcomes]]) -> HitHistory:
    """The template's completed trades by exit day (what the ``hit_rate`` feature reads)."""
    if not measured:
        return HitHistory.of(np.array([], "datetime64[D]"), np.array([]))
    exits = np.concatenate([s.dates[o.exits] for s, o in measured])
    wins = np.concatenate([(o.returns > 0).astype(float) for _s, o in measured])
    return HitHistory.of(exits, wins)


def choose_trades(
    entry: DayArray, exit_: DayArray, ended_before: np.datetime64 | None, most_recent: int | None
) -> NDArray[np.int64]:
    """Indices of the trades a fit reads, oldest entry first (ties: in the order given): those
    that ended before ``ended_before`` (all: None), the ``most_recent`` of them (all: None)."""
    chosen = np.flatnonzero(exit_ < ended_before) if ended_before is not None else np.arange(len(entry))
    chosen = chosen[day_order(entry[chosen])]
    if most_recent is not None:
        chosen = chosen[max(0, len(chosen) - most_recent) :]
    return chosen.astype(np.int64)


def template_trades(
    measured: Sequence[tuple[Setup, Outcomes]],
    policy: ExitPolicy,
    market: MarketState,
    hits: HitHistory,
    *,
    ended_before: np.datetime64 | None = None,
    most_recent: int | None = None,
) -> TradeSet:
    """The template's completed trades with their features, sorted by entry day: those that ended
    before ``ended_before`` (all: None), the ``most_recent`` of them by entry (all: None).

    The trades are chosen before any feature is computed, so a large universe's hundred thousand
    overlapping trades cost only the ones a fit will read."""
    live = [(s, o) for s, o in measured if o.n]
    if not live:
        empty = np.array([], "datetime64[D]")
        return TradeSet(np.empty((0, len(FEATURES))), np.array([]), empty, empty, np.array([]))
    entry = np.concatenate([s.dates[o.entries] for s, o in live])
    exit_ = np.concatenate([s.dates[o.exits] for s, o in live])
    which = np.concatenate([np.full(o.n, i) for i, (_s, o) in enumerate(live)])
    pos = np.concatenate([np.arange(o.n) for _s, o in live])
    chosen = choose_trades(entry, exit_, ended_before, most_recent)
    x = np.full((len(chosen), len(FEATURES)), np.nan)
    y, score = np.empty(len(chosen)), np.empty(len(chosen))
    for i in np.unique(which[chosen]).tolist():
        rows = np.flatnonzero(which[chosen] == i)
        s, o = live[i]
        k = pos[chosen[rows]]
        x[rows] = signal_features(s, o.entries[k], policy, market, hits)
        y[rows] = (o.returns[k] > 0).astype(float)
        score[rows] = o.scores[k]
    return TradeSet(x, y, entry[chosen], exit_[chosen], score)
