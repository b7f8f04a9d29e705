"""The once-a-day part of card generation: setups, their track records, calibrated confidence.

Everything here depends only on bars before the session the cards are shown in, so it runs
once per session (and is what research and ``onetap cards --asof`` compute too). Sizing at
live prices, validation and ranking (``engine.strategies.generator``) run on every refresh.

Honesty rules:
- a template's track record is every completed past trade of its setups (entry at the next
  open, exit by stop, target, exit rule or horizon; ``engine.strategies.outcomes``), pooled
  across the universe; an entry whose horizon has not ended by the as-of date is not used;
- confidence is the template's meta-label model (``engine.strategies.meta_label``: features known
  at the signal, a model chosen by purged cross-validation, calibrated) where its out-of-sample
  Brier skill's interval lies above zero, and the template's base rate where it does not ("no
  measured edge"); with meta-labelling off, the score calibrator (``engine.strategies.calibration``)
  applied to today's score. Either's quality is reported on the held-out last quarter of that
  history (Brier score against the base rate);
- expected return and its spread are the template's pooled horizon returns, the symbol's own
  mean shrunk toward the pooled mean with a pseudo-count of ``SHRINK`` trades.
Nothing is clipped or floored to look good.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine.data.bar_size import daily_periods_of
from engine.strategies.calibration import (
    CalibrationReport,
    Calibrator,
    Method,
    fit_calibrator,
    holdout_report,
)
from engine.strategies.meta_label import (
    FEATURES,
    MAX_TRADES,
    MarketState,
    MetaLabel,
    market_state,
    meta_cutoff,
    meta_label,
    meta_label_rows,
)
from engine.strategies.meta_windows import day_order
from engine.strategies.outcomes import Outcomes, setup_outcomes
from engine.strategies.panel_scan import WINDOW_ROWS, Found, MetaNeeds, RecentFloor, chunks, scan_slice
from engine.strategies.scan_pool import run_in_order
from engine.strategies.templates.base import Array, Bars, Panel, Params, Setup, Template, TemplateUnavailable
from engine.strategies.templates.panel import FlatBars

SHRINK = 20.0
"""Pseudo-count pulling a setup's own mean return toward its template's pooled mean."""

MAX_FIT = 20_000
"""Calibration is fitted on at most this many of the most recent past trades: enough for a
two-parameter curve, recent enough to describe the market now, and a 500-symbol universe's
hundreds of thousands of overlapping trades would cost seconds and add no information."""

MIN_FIT = 100
"""Fewer past trades than this and confidence is the template's (smoothed) win rate: a curve
fitted to a few dozen trades reads noise as skill (measured: rotation's 52 trades gave a Brier
score 40% worse than the base rate out of sample)."""

BOOK_DAYS = 90
"""Days of daily returns kept per candidate for its correlation with the book."""

CANDIDATE_BARS = BOOK_DAYS + 1
"""Bars a candidate's setup keeps: its last bar's values and the ``BOOK_DAYS`` returns behind its
correlation with the book (and the 60 behind its volatility) are all the cards read of it."""


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """A template's completed past trades before the as-of date, pooled over its setups."""

    template: Template
    params: Params
    n: int
    win_rate: float
    mean: float
    std: float
    avg_win: float
    avg_loss: float
    """Mean loss as a positive fraction (0 when there was no loss)."""
    calibrator: Calibrator
    holdout: CalibrationReport | None
    meta: MetaLabel | None = None
    """The meta-label model and its out-of-sample skill (None: meta-labelling is off)."""

    @property
    def kelly(self) -> float:
        """Full-Kelly share of equity for a bet returning +avg_win or -avg_loss: p/L - (1-p)/W."""
        if self.n == 0 or self.avg_loss <= 0 or self.avg_win <= 0:
            return 0.0
        return self.win_rate / self.avg_loss - (1.0 - self.win_rate) / self.avg_win


@dataclass(frozen=True, slots=True)
class Candidate:
    """A setup whose entry rule holds at the last bar, with what its history says about it."""

    record: TrackRecord
    setup: Setup
    score: float
    confidence: float
    expected: float
    spread: float
    own_n: int
    own_win_rate: float
    vol_annual: float
    recent_returns: Array
    """The basket's last ``BOOK_DAYS`` daily returns at today's weights (for book correlation)."""
    signals: Mapping[str, float]
    reason: str
    edge: bool | None = None
    """A live intraday set's card (``runtime/set_cards.py``): its research verdict's edge (True:
    measured, ranks with the daily cards whose edge is measured; False/None: below them)."""
    verdict: str = ""
    """That verdict in words, carried onto the card's notes (empty: a daily candidate)."""

    @property
    def t(self) -> int:
        return len(self.setup) - 1

    @property
    def template(self) -> Template:
        return self.record.template


@dataclass(frozen=True, slots=True)
class Scan:
    """One session's candidates and every template's track record."""

    candidates: tuple[Candidate, ...]
    records: Mapping[str, TrackRecord]
    outcomes: Mapping[str, Mapping[str, Outcomes]] = field(default_factory=dict)
    """template -> setup key -> completed past trades (only with ``scan(..., keep=True)``)."""
    setups: Mapping[str, Sequence[Setup]] = field(default_factory=dict)
    """template -> every setup (only with ``scan(..., keep=True)``: the cards need none of it)."""
    held_back: Mapping[str, str] = field(default_factory=dict)
    """template -> why it produced nothing this session (``TemplateUnavailable``: a missing model)."""


def _record(
    template: Template, params: Params, outcomes: Sequence[tuple[Setup, Outcomes]], method: Method
) -> TrackRecord:
    if outcomes:
        dates = np.concatenate([s.dates[o.entries] for s, o in outcomes])
        returns = np.concatenate([o.returns for _s, o in outcomes])
        scores = np.concatenate([o.scores for _s, o in outcomes])
    else:
        dates, returns, scores = np.array([], "datetime64[D]"), np.array([]), np.array([])
    return _record_of(template, params, dates, returns, scores, method)


def _record_of(
    template: Template,
    params: Params,
    dates: NDArray[np.datetime64],
    returns: Array,
    scores: Array,
    method: Method,
) -> TrackRecord:
    """The track record of the past trades given in setup order (entry dates, returns, scores)."""
    order = day_order(dates)
    returns, scores = returns[order], scores[order]
    wins = (returns > 0).astype(np.float64)
    n = len(returns)
    recent_scores, recent_wins = scores[-MAX_FIT:], wins[-MAX_FIT:]
    calibrator = fit_calibrator(recent_scores, recent_wins, method=method, min_samples=MIN_FIT)
    holdout = (
        holdout_report(recent_scores, recent_wins, method=method, min_samples=MIN_FIT) if n >= 8 else None
    )
    gains, losses = returns[returns > 0], returns[returns <= 0]
    return TrackRecord(
        template=template,
        params=params,
        n=n,
        win_rate=float(wins.mean()) if n else 0.0,
        mean=float(returns.mean()) if n else 0.0,
        std=float(returns.std(ddof=1)) if n > 1 else 0.0,
        avg_win=float(gains.mean()) if len(gains) else 0.0,
        avg_loss=float(-losses.mean()) if len(losses) else 0.0,
        calibrator=calibrator,
        holdout=holdout,
    )


def _vol_annual(setup: Setup, periods_per_year: float | None = None, rets: Array | None = None) -> float:
    """Volatility of the last 60 returns, annualised by ``periods_per_year`` (by default the
    setup's own last 400 sessions, over a year: 252 on an exchange, 365 when weekends trade, 260
    for weekday FX; ``bar_size``). ``rets``: the setup's ``basket_returns()``, when at hand."""
    rets = (setup.basket_returns() if rets is None else rets)[-60:]
    rets = rets[np.isfinite(rets)]
    ann = periods_per_year if periods_per_year is not None else _periods_of(setup.dates[-400:])
    return float(np.std(rets, ddof=1) * math.sqrt(ann)) if len(rets) > 2 else math.nan


def _periods_of(days: NDArray[np.datetime64]) -> int:
    """``daily_periods_of(days)``, remembered for the dates last asked about: a scan's candidates
    mostly share one calendar, and each asking afresh (a sort of its dates) cost a 5,000-symbol
    scan a second."""
    key = (days.dtype.str, days.tobytes())
    known = _PERIODS[0]  # one read: another thread may replace the pair, never half of it
    if known[0] == key:
        return int(known[1])
    periods = daily_periods_of(days)
    _PERIODS[0] = (key, periods)
    return periods


_PERIODS: list[tuple[Any, int]] = [(None, 0)]
"""``_periods_of``'s one remembered answer: ((dtype, bytes) of the dates, their periods)."""


def _candidate(
    record: TrackRecord, setup: Setup, own: Outcomes, confidence: float | None = None
) -> Candidate:
    t = len(setup) - 1
    score = float(setup.score[t])
    pooled_mean = record.mean
    expected = (float(np.sum(own.returns)) + SHRINK * pooled_mean) / (own.n + SHRINK)
    basket = setup.basket_returns()
    recent = basket[-BOOK_DAYS:]
    signals = {name: float(series[t]) for name, series in setup.components.items()}
    meta = record.meta
    if confidence is None:  # given: the panel scan's meta-label, from the signal's feature row
        if meta is not None:
            confidence = meta.confidence(setup, t, record.template.exit_policy)
        else:
            confidence = float(record.calibrator.predict(score))
    return Candidate(
        record=record,
        setup=setup,
        score=score,
        confidence=confidence,
        expected=expected,
        spread=record.std,
        own_n=own.n,
        own_win_rate=own.wins / own.n if own.n else math.nan,
        vol_annual=_vol_annual(setup, rets=basket),
        recent_returns=np.nan_to_num(recent),
        signals=signals,
        reason=setup.reason(t),
    )


def scan_template(
    template: Template,
    panel: Panel,
    params: Params,
    method: Method = "logistic",
    market: MarketState | None = None,
) -> tuple[TrackRecord, list[Candidate], dict[str, Outcomes], list[Setup]]:
    """Build the template's setups on ``panel``, measure their past trades, pick today's entries.

    ``market``: the universe's breadth and the benchmark's state (``meta_label.market_state``)
    turns meta-labelled confidence on; None leaves the score calibrator's."""
    eligible = {sym: bars for sym, bars in panel.items() if len(bars) >= template.min_history}
    setups = template.build(eligible, params) if eligible else []
    policy = template.exit_policy
    measured = [(s, setup_outcomes(s, template.horizon_days, template.outcome, policy)) for s in setups]
    record = _record(template, params, measured, method)
    if market is not None:
        meta = meta_label(measured, policy, market, horizon_days=template.horizon_days, calibration=method)
        record = replace(record, meta=meta)
    candidates = [_candidate(record, s, o) for s, o in measured if len(s) and s.entry[-1]]
    return record, candidates, {s.key: o for s, o in measured}, setups


SCAN_THREADS = 2
"""Templates scanned at once on a universe of one slice (``scan_pool``): their kernels release the
GIL, so two overlap on two cores; results and ``progress`` are in the templates' order either way."""

SLICE_THREADS = 2
"""Slices of a universe of several scanned at once by a one-stock template (``scan_panel``; the
templates then run one at a time, so two slices' series are in memory, as two templates' are on a
universe of one slice). Each slice's features skip the trades the slices already done rule out
(``RecentFloor``): with two at once a slice may know of fewer and compute a few rows no fit reads,
never fewer than it needs, so the result is the same whatever the timing."""

_Scanned = tuple[TrackRecord, list[Candidate], dict[str, Outcomes] | None, list[Setup] | None]
"""A template's record and candidates, with every setup and its trades (``keep=True`` only)."""

ScanProgress = Callable[[int, int, str], None]
"""Told ``(done, total, template)`` before each template: how far a scan is (the console shows it,
the first scan of a day taking many seconds). It may raise to abandon the scan (the engine stopping)."""


def scan_panel(
    template: Template,
    slices: Sequence[FlatBars],
    params: Params,
    method: Method = "logistic",
    market: MarketState | None = None,
) -> tuple[TrackRecord, list[Candidate]]:
    """``scan_template`` for a one-stock template over the universe at once (``Template.panel``,
    ``engine.strategies.panel_scan``): the same record and candidates, without a setup per symbol.

    ``market`` turns meta-labelling on as in ``scan_template``: each past trade's features come
    from the flat arrays (``meta_label.own_features``, the same numbers its setup gives), so the
    meta-label and the candidates' confidence are the per-setup path's."""
    policy = template.exit_policy
    floor = RecentFloor(MetaNeeds(policy, meta_cutoff(market), MAX_TRADES)) if market is not None else None
    lock = threading.Lock()

    def one(flat: FlatBars) -> Found:
        with lock:
            needs = floor.needs() if floor is not None else None
        got = scan_slice(template, params, flat, CANDIDATE_BARS, needs)
        if floor is not None:
            with lock:
                floor.add(got.trades)
        if len(slices) > 1:  # one slice's shared series at a time; the window rows are small
            flat.release(keep=(WINDOW_ROWS,))
        return got

    if len(slices) > 1 and SLICE_THREADS > 1:
        with ThreadPoolExecutor(max_workers=SLICE_THREADS, thread_name_prefix="slice") as pool:
            found = list(pool.map(one, slices))  # in the slices' order, whichever ends first
    else:
        found = [one(flat) for flat in slices]
    trades = [f.trades for f in found]
    if trades:
        dates = np.concatenate([t.dates for t in trades])
        returns = np.concatenate([t.returns for t in trades])
        scores = np.concatenate([t.scores for t in trades])
    else:
        dates, returns, scores = np.array([], "datetime64[D]"), np.array([]), np.array([])
    record = _record_of(template, params, dates, returns, scores, method)
    if market is None:
        return record, [_candidate(record, s, o) for f in found for s, o in f.candidates]
    if trades:
        own = np.concatenate([t.own for t in trades])
        exits = np.concatenate([t.exit_dates for t in trades])
    else:
        own, exits = np.empty((0, len(FEATURES))), np.array([], "datetime64[D]")
    meta = meta_label_rows(
        own, dates, exits, returns, scores, market, horizon_days=template.horizon_days, calibration=method
    )
    record = replace(record, meta=meta)
    picked = [c for f in found for c in f.candidates]
    rows = np.concatenate([f.candidate_own for f in found]) if found else np.empty((0, len(FEATURES)))
    days = np.array([s.dates[-1] for s, _o in picked], "datetime64[D]")
    confidence = meta.confidences_of(rows, days).tolist()
    return record, [_candidate(record, s, o, c) for (s, o), c in zip(picked, confidence, strict=True)]


def trim(setup: Setup, bars: int) -> Setup:
    """The setup over its last ``bars`` bars (copies), what a candidate's card reads: its values at
    the last bar and the returns behind its correlation with the book. Its callables see the bar
    indices of the whole setup, so a reason or a stop price reads exactly what it did."""
    n = len(setup)
    if n <= bars:
        return setup
    off = n - bars

    def cut(a: Array) -> Array:
        out: Array = a[off:].copy()
        return out

    reason, stop_price, target_price, option = (
        setup.reason,
        setup.stop_price,
        setup.target_price,
        setup.option,
    )
    return replace(
        setup,
        dates=setup.dates[off:].copy(),
        open=cut(setup.open),
        close=cut(setup.close),
        entry=setup.entry[off:].copy(),
        exit=setup.exit[off:].copy(),
        score=cut(setup.score),
        weights=cut(setup.weights),
        stop=cut(setup.stop),
        target=cut(setup.target),
        components={k: cut(v) for k, v in setup.components.items()},
        high=None if setup.high is None else cut(setup.high),
        low=None if setup.low is None else cut(setup.low),
        atr=None if setup.atr is None else cut(setup.atr),
        reason=lambda t: reason(t + off),
        stop_price=lambda t: stop_price(t + off),
        target_price=lambda t: target_price(t + off),
        option=lambda t: option(t + off),
    )


def scan(
    panel: Panel,
    templates: Sequence[Template],
    params: Mapping[str, Params] | None = None,
    method: Method = "logistic",
    progress: ScanProgress | None = None,
    *,
    keep: bool = False,
    meta: bool = False,
    benchmark: Bars | None = None,
) -> Scan:
    """Every template over the panel (bars strictly before the session the cards are for).

    One-stock templates run over the whole universe at once (``scan_panel``); the result keeps what
    the cards need: the track records and today's candidates, each over its last
    ``CANDIDATE_BARS`` bars. ``keep=True`` builds every setup and keeps it with its past trades in
    ``Scan.setups`` and ``Scan.outcomes`` (research, tests; the per-setup path, far slower and
    about 2.7 MB a symbol).

    ``meta``: confidence by meta-labelling (``engine.strategies.meta_label``), with ``benchmark``
    (bars strictly before the session too) for the benchmark-state features; without one the
    universe's equal-weighted index stands in. The panel path reads each past trade's features
    from the flat arrays (``meta_label.own_features``), the same numbers its setup would give."""
    params = params or {}
    market = market_state(panel, benchmark) if meta else None
    candidates: list[Candidate] = []
    records: dict[str, TrackRecord] = {}
    outcomes: dict[str, dict[str, Outcomes]] = {}
    setups: dict[str, list[Setup]] = {}
    held_back: dict[str, str] = {}
    slices: list[FlatBars] | None = None
    if not keep and any(t.panel is not None for t in templates):
        # one copy of the universe, end to end, shared by the one-stock templates (and the
        # series several of them read: ``FlatBars.shared``)
        slices = chunks([b for b in panel.values() if len(b)])

    def run(template: Template) -> _Scanned | str:
        nonlocal slices
        p = params.get(template.name) or template.params()
        try:
            if template.panel is not None and not keep:
                if slices is None:
                    slices = chunks([b for b in panel.values() if len(b)])
                return (*scan_panel(template, slices, p, method, market), None, None)
            # the flat copy of a universe of several slices is let go (rebuilt if a later template
            # needs it) rather than held beside a basket template's [T, k] matrices: 5,000
            # symbols' peak. One slice (500 symbols) is kept, its shared series with it.
            if slices is not None and len(slices) > 1:
                slices = None
            record, found, measured, built = scan_template(template, panel, p, method, market)
            if not keep:
                return record, [replace(c, setup=trim(c.setup, CANDIDATE_BARS)) for c in found], None, None
            return record, found, measured, built
        except TemplateUnavailable as exc:  # this template sits the session out; the others run
            return str(exc)

    # templates at once on a universe of one slice; one at a time over several (memory: see above)
    workers = SCAN_THREADS if slices is not None and len(slices) == 1 else 1
    done = run_in_order([(t.name, partial(run, t)) for t in templates], progress, workers)
    for template, result in zip(templates, done, strict=True):
        if isinstance(result, str):
            held_back[template.name] = result
            continue
        record, found, measured, built = result
        records[template.name] = record
        candidates.extend(found)
        if measured is not None and built is not None:
            outcomes[template.name] = measured
            setups[template.name] = built
    return Scan(tuple(candidates), records, outcomes, setups, held_back)
