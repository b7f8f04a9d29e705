"""The scan of a one-stock template over a whole universe at once (``Template.panel``).

What ``engine.strategies.scan.scan_template`` does setup by setup, done over every symbol's bars
laid end to end (``FlatBars``): the template's series in one pass of segmented kernels, every past
trade of every symbol walked in one compiled call (the very ``_walk`` of ``engine.strategies.exits``
on each symbol's own bars), and a ``Setup`` built only for today's candidates, over their last
``CANDIDATE_BARS`` bars. The track record sees the same trades in the same order, so the cards are
the same, number for number (tested against the per-setup path); the scan of 5,000 symbols takes
seconds and keeps what the cards need, not every setup of every symbol (about 2.7 MB a symbol).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numba
import numpy as np
from numpy.typing import NDArray

from engine.model.exits import ExitPolicy, StopRule
from engine.strategies.exits import _TIME_CODES, _at_close, _stop_level, _touched, protects, resolve_arrays
from engine.strategies.meta_features import (
    FEATURES,
    choose_trades,
    daily_returns,
    own_features,
    signal_windows,
)
from engine.strategies.meta_windows import STATS
from engine.strategies.outcomes import Outcomes
from engine.strategies.templates.base import Array, Bars, Params, Setup, Template
from engine.strategies.templates.panel import Family, FlatBars

CHUNK_BARS = 1_500_000
"""Bars per slice of the universe the panel path holds at once (a few hundred symbols of ten
years): every template's intermediate series are this long, so memory stays flat however many
symbols there are, and each slice is long enough that the per-slice Python costs nothing."""

Ints = NDArray[np.int64]
WINDOW_ROWS = "window_stats"
"""``FlatBars.memo`` key of the slice's meta-label window rows computed so far (``_window_rows``)."""
FEATURE_BLOCK = 4096
"""Signals whose meta-label features are computed at once (each reads a 250-day window)."""


@dataclass(frozen=True, slots=True)
class Trades:
    """A template's completed past trades over one slice, in the per-setup path's order."""

    segment: Ints
    """The symbol (index into the slice) each trade belongs to."""
    entries: Ints
    """Signal bars (flat indices into the slice)."""
    exits: Ints
    returns: Array
    scores: Array
    dates: NDArray[np.datetime64]
    exit_dates: NDArray[np.datetime64]
    own: Array
    """Each trade's ``meta_label.own_features`` row (``[n, 9]``; NaN rows for trades no fit reads)
    when the scan meta-labels (``scan_slice(..., meta=...)``), else ``[n, 0]``."""


@dataclass(frozen=True, slots=True)
class MetaNeeds:
    """What a meta-labelled panel scan computes features for: the trades a fit may read (those
    ended before ``ended_before``, the ``most_recent`` of them in each slice, a superset of the
    universe's ``most_recent``) and today's candidates."""

    policy: ExitPolicy
    ended_before: np.datetime64 | None
    most_recent: int
    entered_from: np.datetime64 | None = None
    """No trade entered before this day is among the universe's ``most_recent`` (the slices before
    this one already hold that many entered since: ``RecentFloor``), so none gets features."""


class RecentFloor:
    """The entry day of the ``most_recent``-th most recent trade seen so far (ended before the
    cut-off), over the slices already scanned: a trade entered before it cannot be among the
    universe's most recent, so later slices skip its features (a 5,000-symbol universe's slices
    each computed their own 20,000 rows per family, most of them never read)."""

    def __init__(self, needs: MetaNeeds) -> None:
        self._needs = needs
        self._kept = np.empty(0, dtype=np.int64)

    def add(self, trades: Trades) -> None:
        cut = self._needs.ended_before
        entered = trades.dates if cut is None else trades.dates[trades.exit_dates < cut]
        days = np.concatenate([self._kept, entered.astype("datetime64[D]").view(np.int64)])
        want = self._needs.most_recent
        self._kept = np.partition(days, len(days) - want)[len(days) - want :] if len(days) > want else days

    def needs(self) -> MetaNeeds:
        """The needs of the next slice, with the floor found so far."""
        if len(self._kept) < self._needs.most_recent:
            return self._needs
        return replace(self._needs, entered_from=self._kept.min().astype("datetime64[D]"))


@dataclass(frozen=True, slots=True)
class Found:
    """What one slice gives a template: its trades, and today's candidates with their own trades."""

    trades: Trades
    candidates: list[tuple[Setup, Outcomes]]
    candidate_own: Array
    """Each candidate's ``own_features`` row at its last bar (``[c, 9]``; ``[c, 0]`` without meta)."""


def chunks(bars: Sequence[Bars], budget: int = CHUNK_BARS) -> list[FlatBars]:
    """The universe in slices of about ``budget`` bars each (symbols in their order)."""
    out: list[FlatBars] = []
    start, size = 0, 0
    for i, b in enumerate(bars):
        size += len(b)
        if size >= budget:
            out.append(FlatBars.of(bars[start : i + 1]))
            start, size = i + 1, 0
    if start < len(bars):
        out.append(FlatBars.of(bars[start:]))
    return out


@numba.njit(cache=True, nogil=True)
def _walk_one(
    open_: Array,
    high: Array,
    low: Array,
    close: Array,
    exit_rule: NDArray[np.bool_],
    lo: int,
    hi: int,
    f: int,
    last: int,
    stop: float,
    target: float,
    trail_r: float,
    trail_pct: float,
    rule_stop: float,
    rule_target: float,
    time_exit: int,
) -> tuple[int, float]:
    """``exits._walk`` of a long one-stock trade (weight 1, filled at the open of flat bar ``f``)
    on its symbol's bars ``[lo, hi)``: (exit bar, flat; -1 while open) and return. The same
    operations in the same order as ``_walk`` with ``w = [1.0]`` (each return ``0.0 + 1.0 * x``
    spelled ``0.0 + x``, which is the same bits), without its per-trade buffer and its ``[T, k]``
    indexing: the walk of every past trade is the panel scan's largest kernel."""
    px = open_[f]
    best = 0.0
    r_close = 0.0
    for j in range(f, hi):
        r_open = 0.0 + (open_[j] / px - 1.0)
        r_close = 0.0 + (close[j] / px - 1.0)
        r_lo = 0.0 + (low[j] / px - 1.0)
        r_hi = 0.0 + (high[j] / px - 1.0)
        if j == f:
            r_open = 0.0  # an open fill: the fill is the open
        level, code = _stop_level(stop, trail_r, trail_pct, best, 1.0)
        reason, r = _touched(r_open, r_lo, r_hi, level, code, target)
        if reason != 0:
            return j, r
        best = max(best, r_hi)  # the trailing stop ratchets after the bar's checks
        if time_exit == 1 and j >= last:
            return j, r_close
        reason = _at_close(r_close, rule_stop, rule_target, exit_rule[j], time_exit, j >= last)
        if reason != 0:
            if j + 1 >= hi:
                return -1, r_close
            return j + 1, 0.0 + (open_[j + 1] / px - 1.0)
    return -1, r_close


@numba.njit(cache=True, nogil=True)
def _exit_kernel(
    open_: Array,
    high: Array,
    low: Array,
    close: Array,
    entries: Ints,
    seg_lo: Ints,
    seg_hi: Ints,
    stop: Array,
    target: Array,
    trail_r: Array,
    trail_pct: Array,
    rule_stop: Array,
    rule_target: Array,
    exit_rule: NDArray[np.bool_],
    horizon: int,
    time_exit: int,
) -> tuple[Ints, Array]:
    """``exits._exit_kernel`` for long one-stock trades filled at the next open, each walked on its
    own symbol's bars (``[seg_lo, seg_hi)``, ``_walk_one``); exit bars are flat indices, -1 while
    still open. Each trade's levels: its stop and target as returns, trailing distance and percent,
    close-checked rule stop and target (``exits.resolve_arrays``)."""
    n = len(entries)
    out_bar = np.full(n, -1, dtype=np.int64)
    out_ret = np.full(n, np.nan)
    for e in range(n):
        lo, hi = seg_lo[e], seg_hi[e]
        f = entries[e] + 1
        if f >= hi:
            continue
        last = f + horizon - 1 if horizon > 0 else hi + 1
        bar, r = _walk_one(
            open_,
            high,
            low,
            close,
            exit_rule,
            lo,
            hi,
            f,
            last,
            stop[e],
            target[e],
            trail_r[e],
            trail_pct[e],
            rule_stop[e],
            rule_target[e],
            time_exit,
        )
        out_ret[e] = r
        out_bar[e] = bar
    return out_bar, out_ret


def _card_stops(flat: FlatBars, distance: Array | None, signals: Ints) -> Array:
    """``Setup.stop_price`` at each signal bar (``round(close - distance, 2)``; NaN where none),
    the same to the last bit as Python's ``round`` (``cents``)."""
    if distance is None:
        return np.full(len(signals), np.nan)
    d = distance[signals]
    out = cents(flat.close[signals] - d)
    out[~np.isfinite(d)] = np.nan
    return out


ROUND_GUARD = 1e-6
"""How near a half cent ``cents`` leaves a value to Python's ``round``."""


def cents(x: Array) -> Array:
    """``[round(v, 2) for v in x]``, vectorised: ``rint(100 x) / 100``. Python rounds ``v``'s exact
    decimal value to the nearest cent and returns the double nearest that cent; ``100 x`` is
    within an ulp of ``100 v`` exactly, so wherever it is not within ``ROUND_GUARD`` of a half
    cent both round to the same cent ``k``, and ``k / 100`` (one correctly rounded division of
    exact integers) is that nearest double. The few values near a half cent (and any beyond
    2**52 cents or not finite) get Python's ``round`` itself."""
    y = np.asarray(x, dtype=np.float64) * 100.0
    k = np.rint(y)
    out: Array = k / 100.0
    with np.errstate(invalid="ignore"):
        near = ~(np.abs(y - k) < 0.5 - ROUND_GUARD) | ~(np.abs(y) < 2.0**52)
    for i in np.flatnonzero(near).tolist():
        out[i] = round(float(x[i]), 2)
    return out


def _outcomes(template: Template, flat: FlatBars, family: Family, signals: Ints) -> tuple[Array, Ints]:
    """Each trade's return and exit bar (NaN / -1: not complete), as ``setup_outcomes`` gives them."""
    if family.outcome is not None:
        return family.outcome(flat, family, signals)
    policy, horizon = template.exit_policy, template.horizon_days
    n = len(signals)
    seg = np.searchsorted(flat.starts, signals, side="right") - 1
    lo, hi = flat.starts[seg], flat.starts[seg + 1]
    f = signals + 1
    entry = flat.open[f]
    w0 = np.ones(n)
    rule_stop = rule_target = np.full(n, np.inf)
    if protects(policy):  # a one-stock setup under a protecting policy: its resolved levels
        atr = family.atr[signals] if family.atr is not None else np.full(n, np.nan)
        card_stop = (
            _card_stops(flat, family.stop_distance, signals) if policy.stop is StopRule.PRICE else None
        )
        lv = resolve_arrays(
            policy, w0, entry, atr=atr, card_stop=np.full(n, np.nan) if card_stop is None else card_stop
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            stop_r = w0 * (lv.stop / entry - 1.0)
            target_r = w0 * (lv.target / entry - 1.0)
            trail_r = np.abs(w0) * lv.trail_amount / entry
        trail_pct = np.asarray(lv.trail_percent, dtype=np.float64)
    else:  # no resting levels: the setup's own stop and target, checked on closes
        stop_r = target_r = trail_r = trail_pct = np.full(n, np.nan)
        rule_stop, rule_target = family.stop[signals], family.target[signals]
    bar, ret = _exit_kernel(
        flat.open,
        flat.high,
        flat.low,
        flat.close,
        signals,
        lo,
        hi,
        _per_trade(stop_r, n),
        _per_trade(target_r, n),
        _per_trade(trail_r, n),
        _per_trade(trail_pct, n),
        _per_trade(rule_stop, n),
        _per_trade(rule_target, n),
        np.ascontiguousarray(family.exit),
        int(horizon),
        _TIME_CODES[policy.time_exit],
    )
    return np.where(bar >= 0, ret, np.nan), bar


def _per_trade(x: Array, n: int) -> Array:
    """One float64 value per trade, contiguous (a level given once for all is repeated)."""
    out: Array = np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=np.float64), (n,)))
    return out


def _own_rows(flat: FlatBars, rets: Array, family: Family, bars: Ints, policy: ExitPolicy) -> Array:
    """``own_features`` of signals at flat ``bars``, each read on its own symbol's bars only, in
    blocks (a 250-day window per signal). A one-stock signal's window statistics depend on its bar
    alone (weight 1 on the symbol's own returns), so each bar's are computed once per slice,
    whichever templates signal there (``_window_rows``)."""
    out = np.full((len(bars), len(FEATURES)), np.nan)
    seg = np.searchsorted(flat.starts, bars, side="right") - 1
    first = flat.starts[seg] + 1
    close = flat.close.reshape(-1, 1)
    ones = np.broadcast_to(np.ones((1, 1)), close.shape)  # one-stock setups: weight 1 every bar
    stats = _window_rows(flat, rets, bars, first)
    for a in range(0, len(bars), FEATURE_BLOCK):
        b = min(a + FEATURE_BLOCK, len(bars))
        out[a:b] = own_features(
            close,
            rets,
            ones,
            family.score,
            family.stop,
            family.atr,
            bars[a:b],
            first[a:b],
            policy,
            stats=stats[a:b],
        )
    return out


def _window_rows(flat: FlatBars, rets: Array, bars: Ints, first: Ints) -> Array:
    """``meta_windows.window_stats`` rows of one-stock signals at flat ``bars``: those of bars an
    earlier template of this scan signalled at are looked up (the slice's ``memo``), the rest
    computed and added to it."""
    known_bars, known = flat.memo.get(WINDOW_ROWS, (np.empty(0, np.int64), np.empty((0, STATS))))
    at = np.minimum(np.searchsorted(known_bars, bars), max(len(known_bars) - 1, 0))
    hit = known_bars[at] == bars if len(known_bars) else np.zeros(len(bars), dtype=np.bool_)
    out = np.empty((len(bars), STATS))
    out[hit] = known[at[hit]]
    miss = np.flatnonzero(~hit)
    if len(miss):
        fresh_bars, pick = np.unique(bars[miss], return_index=True)
        fresh = signal_windows(rets, np.ones((len(fresh_bars), 1)), fresh_bars, first[miss][pick])
        out[miss] = fresh[np.searchsorted(fresh_bars, bars[miss])]
        merged = np.concatenate([known_bars, fresh_bars])
        order = np.argsort(merged, kind="stable")
        flat.memo[WINDOW_ROWS] = (merged[order], np.concatenate([known, fresh])[order])
    return out


def scan_slice(
    template: Template, params: Params, flat: FlatBars, keep_bars: int, meta: MetaNeeds | None = None
) -> Found:
    """A template's trades and today's candidates over one slice of the universe (``meta``: with
    the ``own_features`` a meta-label reads)."""
    assert template.panel is not None
    lengths = np.diff(flat.starts)
    eligible = lengths >= template.min_history
    last = np.zeros(len(flat.close), dtype=np.bool_)
    last[flat.starts[1:][lengths > 0] - 1] = True
    usable = np.repeat(eligible, lengths) & ~last
    families = template.panel(flat, params) if eligible.any() else []
    parts: list[Trades] = []
    picks: list[tuple[int, int, Setup, Outcomes, Array]] = []
    width = len(FEATURES) if meta is not None else 0
    day_rets = (
        flat.shared("daily_returns", lambda: daily_returns(flat.close.reshape(-1, 1), flat.starts[:-1]))
        if meta is not None
        else None
    )
    for k, family in enumerate(families):
        signals = np.flatnonzero(family.entry & usable).astype(np.int64)
        rets, exits = _outcomes(template, flat, family, signals)
        done = np.isfinite(rets)
        entries = signals[done]
        ends = exits[done]
        part = Trades(
            np.searchsorted(flat.starts, entries, side="right") - 1,
            entries,
            ends,
            rets[done],
            family.score[entries],
            flat.dates[entries],
            flat.dates[ends],
            np.full((len(entries), width), np.nan),
        )
        parts.append(part)
        today = np.flatnonzero(eligible & (lengths > 0) & family.entry[np.maximum(flat.starts[1:] - 1, 0)])
        today_own = np.full((len(today), width), np.nan)
        if meta is not None and day_rets is not None:
            # a fit reads the universe's most recent trades; those of this family are among its own
            # most recent (the order within it is the universe's), so only these get features
            fit = choose_trades(part.dates, part.exit_dates, meta.ended_before, meta.most_recent)
            if meta.entered_from is not None:
                fit = fit[part.dates[fit] >= meta.entered_from]
            part.own[fit] = _own_rows(flat, day_rets, family, part.entries[fit], meta.policy)
            today_own = _own_rows(flat, day_rets, family, flat.starts[1:][today] - 1, meta.policy)
        bounds = (
            np.searchsorted(part.segment, today, side="left"),
            np.searchsorted(part.segment, today, side="right"),
        )
        for c, (i, a, b) in enumerate(
            zip(today.tolist(), bounds[0].tolist(), bounds[1].tolist(), strict=True)
        ):
            lo = int(flat.starts[i])
            own = Outcomes(part.entries[a:b] - lo, part.exits[a:b] - lo, part.returns[a:b], part.scores[a:b])
            picks.append((i, k, family.make(i, keep_bars), own, today_own[c]))
    picks.sort(key=lambda p: (p[0], p[1]))
    own_rows = np.array([p[4] for p in picks]).reshape(len(picks), width)
    return Found(_merge(parts, width), [(setup, own) for _i, _k, setup, own, _x in picks], own_rows)


def _merge(parts: list[Trades], width: int) -> Trades:
    """Several families' trades in the per-setup order: symbol by symbol, each family in turn."""
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        days = np.empty(0, "datetime64[D]")
        return Trades(empty, empty, empty, np.empty(0), np.empty(0), days, days, np.empty((0, width)))
    if len(parts) == 1:
        return parts[0]
    cat = Trades(*(np.concatenate([getattr(p, f) for p in parts]) for f in Trades.__slots__))
    order = np.argsort(cat.segment, kind="stable")
    return Trades(*(getattr(cat, f)[order] for f in Trades.__slots__))
