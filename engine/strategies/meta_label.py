"""Meta-labelling: a second model that says which of a template's signals tend to win.

The template decides *what* to trade (its entry rule and score); the meta-label model estimates
the probability that *this* signal's trade wins (the template's own outcome rule: the exits of
``engine.strategies.exits``, a positive return), from what is known at the signal's close:

==================  ===========================================================================
``score``           the template's composite score (signal strength)
``vol_regime``      log of the basket's 20-day over its 250-day daily volatility
``trend_regime``    the basket's 60-day return in units of its 60-day volatility
``stop_atr``        distance to the exit policy's stop, in ATRs (baskets: in daily volatilities)
``hit_rate``        the template's hit rate over its last 100 trades that *ended before* the day
``breadth``         share of the universe's symbols above their 50-day mean
``bench_trend``     the benchmark's close over its 200-day mean, minus 1
``bench_momentum``  the benchmark's 60-day return
``cost``            the round trip's commission and slippage, in daily volatilities
==================  ===========================================================================

Honesty rules, and where each is kept:

* the model is chosen by measured out-of-sample skill, not by fashion: scikit-learn's logistic
  regression and histogram gradient boosting are scored by *purged, embargoed* K-fold
  cross-validation (``purged_kfold``: no training trade's [entry, exit] overlaps the test fold,
  and trades entered within the embargo after it are dropped too), and a model that does not beat
  the base rate there is not used: the forecast is the base rate;
* the chosen model's out-of-fold outputs are calibrated (Platt or isotonic, ``calibration.py``);
* the skill that is *reported* is measured on trades entered after a split date by a model fitted
  only on trades that had ended before it (``holdout``), with a block-bootstrap interval
  (``skill_interval``); a template whose interval's lower end is not above zero has **no measured
  edge**: its confidence is its base rate and its cards rank below those of templates with one.

scikit-learn is imported inside the fit (not at module import) so the console starts as fast as
before; the features, the trade sets and the purged K-fold are in ``meta_features`` (numpy only).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from engine.model.exits import ExitPolicy
from engine.strategies.calibration import (
    Calibrator,
    Method,
    ReliabilityBin,
    brier_score,
    fit_calibrator,
    reliability_table,
)
from engine.strategies.meta_features import (
    FEATURES as FEATURES,
)
from engine.strategies.meta_features import (
    FOLDS as FOLDS,
)
from engine.strategies.meta_features import (
    HIT_WINDOW as HIT_WINDOW,
)
from engine.strategies.meta_features import (
    MAX_TRADES as MAX_TRADES,
)
from engine.strategies.meta_features import (
    DayArray as DayArray,
)
from engine.strategies.meta_features import (
    HitHistory as HitHistory,
)
from engine.strategies.meta_features import (
    MarketState as MarketState,
)
from engine.strategies.meta_features import (
    TradeSet as TradeSet,
)
from engine.strategies.meta_features import (
    _sma as _sma,
)
from engine.strategies.meta_features import (
    _stop_atr as _stop_atr,
)
from engine.strategies.meta_features import (
    choose_trades as choose_trades,
)
from engine.strategies.meta_features import (
    context as context,
)
from engine.strategies.meta_features import (
    daily_returns as daily_returns,
)
from engine.strategies.meta_features import (
    hit_history as hit_history,
)
from engine.strategies.meta_features import (
    market_state as market_state,
)
from engine.strategies.meta_features import (
    own_features as own_features,
)
from engine.strategies.meta_features import (
    purged_kfold as purged_kfold,
)
from engine.strategies.meta_features import (
    signal_features as signal_features,
)
from engine.strategies.meta_features import (
    template_trades as template_trades,
)
from engine.strategies.outcomes import Outcomes
from engine.strategies.templates.base import Array, Setup

ModelKind = Literal["score", "logistic", "gbm", "base_rate"]
CANDIDATES: tuple[ModelKind, ...] = ("score", "logistic", "gbm")
"""``score``: logistic on the template's score alone (the score calibrator cards used before, so
meta-labelling never throws away what the score knew); ``logistic``: on every feature; ``gbm``:
histogram gradient boosting on every feature."""

MIN_TRADES = 200
"""Fewer completed trades than this and no model is fitted (the base rate is the forecast):
nine features fitted on fewer would be read as skill from noise."""
MIN_GBM = 1000
"""Gradient boosting is tried from this many trades on: on fewer, trees of overlapping trades fit
noise (on the shipped templates below it, its purged CV skill was negative every time we looked,
e.g. breakout's 234 trades: -0.05), and its fits are the scan's main cost."""
LEVEL = 0.90
"""Two-sided level of the skill interval: its lower end is a one-sided 95% bound."""
BOOT = 1000
TRAIN_SHARE = 0.75
MODEL_CODES: Mapping[ModelKind, int] = {"base_rate": 0, "logistic": 1, "gbm": 2, "score": 3}
"""``meta:model`` on a card (details hold numbers only)."""


# --------------------------------------------------------------------------------------------
# The model


def _score_column(x: Array) -> Array:
    out: Array = x[:, :1]
    return out


def _estimator(kind: ModelKind, n: int, seed: int) -> Any:
    """A fresh scikit-learn estimator (imported here: the console never pays for it at start)."""
    if kind == "score":
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        return make_pipeline(
            FunctionTransformer(_score_column),
            SimpleImputer(strategy="median"),
            StandardScaler(),
            LogisticRegression(),
        )
    if kind == "logistic":
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        # strong L2 (C = 0.05 on standardized features): nine weak features, overlapping labels
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(C=0.05))
    from sklearn.ensemble import HistGradientBoostingClassifier

    # shallow, slow and leafy: a few hundred overlapping trades carry little independent information
    return HistGradientBoostingClassifier(
        max_iter=50,
        learning_rate=0.05,
        max_depth=3,
        min_samples_leaf=max(40, n // 40),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )


def _proba(est: Any, x: Array) -> Array:
    out: Array = np.asarray(est.predict_proba(x)[:, 1], dtype=np.float64)
    return out


def _logit(p: Array) -> Array:
    q = np.clip(p, 1e-9, 1.0 - 1e-9)
    out: Array = np.log(q / (1.0 - q))
    return out


def _skill(p: Array, y: Array, base: Array) -> float:
    ref = float(np.sum((base - y) ** 2))
    return 1.0 - float(np.sum((p - y) ** 2)) / ref if ref > 0 else math.nan


@dataclass(frozen=True, slots=True)
class MetaModel:
    """The chosen secondary model with its calibration; ``predict`` is what callers need.

    ``kind`` is ``base_rate`` when no candidate beat the base rate in purged cross-validation
    (or there were too few trades): then every forecast is the Laplace-smoothed hit rate.
    ``cv_skill`` is each candidate's purged CV Brier skill, the evidence the choice rests on.
    """

    kind: ModelKind
    n: int
    wins: int
    cv_skill: tuple[tuple[ModelKind, float], ...] = ()
    estimator: Any = None
    calibrator: Calibrator | None = None

    @property
    def base_rate(self) -> float:
        return (self.wins + 1) / (self.n + 2)

    def predict(self, x: Array) -> Array:
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if self.kind == "base_rate" or self.estimator is None or self.calibrator is None:
            return np.full(len(x), self.base_rate)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            raw = _proba(self.estimator, x)
        out: Array = self.calibrator.predict(_logit(raw))
        return out


def fit_meta(
    trades: TradeSet,
    *,
    embargo_days: int,
    calibration: Method = "logistic",
    candidates: Sequence[ModelKind] = CANDIDATES,
    seed: int = 0,
) -> MetaModel:
    """Choose among ``candidates`` by purged CV Brier skill, calibrate its out-of-fold outputs,
    refit it on every trade. Falls back to the base rate when none beats it.

    The fits run on one thread: the scan runs beside the engine's event loop, and OpenMP's
    threads spinning against a busy machine made one small gradient-boosting fit 30x slower
    (measured: 11.3 s against 0.36 s on 2 shared cores)."""
    import sklearn.ensemble  # noqa: F401  (loads its OpenMP runtime, so the limit below reaches it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _fit_meta(trades, embargo_days, calibration, candidates, seed)


def _fit_meta(
    trades: TradeSet, embargo_days: int, calibration: Method, candidates: Sequence[ModelKind], seed: int
) -> MetaModel:
    trades = trades.take(np.arange(max(0, len(trades) - MAX_TRADES), len(trades)))
    n, k = len(trades), int(trades.y.sum())
    if n < MIN_TRADES or k in (0, n):
        return MetaModel("base_rate", n, k)
    folds = purged_kfold(trades.entry, trades.exit, FOLDS, embargo_days)
    folds = [(tr, te) for tr, te in folds if len(tr) >= MIN_TRADES // 2 and 0 < trades.y[tr].sum() < len(tr)]
    if len(folds) < 2:
        return MetaModel("base_rate", n, k)
    tested = np.concatenate([te for _tr, te in folds])
    base = np.concatenate([np.full(len(te), trades.y[tr].mean()) for tr, te in folds])
    scores: list[tuple[ModelKind, float]] = []
    oof: dict[ModelKind, Array] = {}
    for kind in candidates:
        if kind == "gbm" and n < MIN_GBM:
            continue
        pred = np.concatenate(
            [
                _proba(_estimator(kind, len(tr), seed).fit(trades.x[tr], trades.y[tr]), trades.x[te])
                for tr, te in folds
            ]
        )
        oof[kind] = pred
        scores.append((kind, _skill(pred, trades.y[tested], base)))
    best, best_skill = max(scores, key=lambda s: s[1])  # ties: the first, simplest candidate
    if not best_skill > 0.0:
        return MetaModel("base_rate", n, k, tuple(scores))
    calibrator = fit_calibrator(
        _logit(oof[best]), trades.y[tested], method=calibration, min_samples=MIN_TRADES // 2
    )
    estimator = _estimator(best, n, seed).fit(trades.x, trades.y)
    return MetaModel(best, n, k, tuple(scores), estimator, calibrator)


# --------------------------------------------------------------------------------------------
# Out-of-sample skill


def skill_interval(
    p: Array,
    y: Array,
    base: Array,
    days: DayArray,
    *,
    block_days: int,
    level: float = LEVEL,
    n_boot: int = BOOT,
    seed: int = 0,
) -> tuple[float, float]:
    """Block-bootstrap interval of the Brier skill ``1 - sum((p-y)^2) / sum((base-y)^2)``.

    Trades overlap and neighbours share the market's moves, so resampling single trades would
    understate the uncertainty. The test trades are cut into consecutive calendar blocks of
    ``block_days`` (at least the holding horizon) and whole blocks are resampled with replacement.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if block_days < 1:
        raise ValueError(f"block_days must be >= 1, got {block_days}")
    days = np.asarray(days, dtype="datetime64[D]")
    block = ((days - days.min()) // np.timedelta64(block_days, "D")).astype(np.int64)
    _, ids = np.unique(block, return_inverse=True)
    n_blocks = int(ids.max()) + 1
    err = np.bincount(ids, weights=(p - y) ** 2, minlength=n_blocks)
    ref = np.bincount(ids, weights=(base - y) ** 2, minlength=n_blocks)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_blocks, size=(n_boot, n_blocks))
    num, den = err[draws].sum(axis=1), ref[draws].sum(axis=1)
    ok = den > 0
    skills = 1.0 - num[ok] / den[ok]
    if len(skills) == 0:
        return math.nan, math.nan
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(skills, [tail, 1.0 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True, slots=True)
class SkillReport:
    """Out-of-sample Brier skill of a forecaster on later trades, with its interval."""

    model: str
    n_train: int
    n_test: int
    brier: float
    brier_base: float
    skill: float
    lo: float
    hi: float
    hit_rate: float
    mean_forecast: float
    reliability: tuple[ReliabilityBin, ...]
    level: float = LEVEL

    @property
    def edge(self) -> bool:
        """A measured edge: a model (not the base rate itself, which can differ from the training
        mean by its smoothing alone) whose interval's lower end is above zero."""
        return self.model != "base_rate" and math.isfinite(self.lo) and self.lo > 0.0


def score_forecasts(
    model: str, p: Array, test: TradeSet, train_y: Array, *, block_days: int, seed: int = 0
) -> SkillReport:
    """Brier, base-rate Brier (the training hit rate), skill with its interval, reliability."""
    base = np.full(len(test), float(np.mean(train_y)))
    lo, hi = skill_interval(p, test.y, base, test.entry, block_days=block_days, seed=seed)
    brier, brier_base = brier_score(p, test.y), brier_score(base, test.y)
    return SkillReport(
        model=model,
        n_train=len(train_y),
        n_test=len(test),
        brier=brier,
        brier_base=brier_base,
        skill=1.0 - brier / brier_base if brier_base > 0 else math.nan,
        lo=lo,
        hi=hi,
        hit_rate=float(test.y.mean()),
        mean_forecast=float(np.mean(p)),
        reliability=reliability_table(p, test.y),
    )


def split_known(trades: TradeSet, split: np.datetime64) -> tuple[TradeSet, TradeSet]:
    """Trades that had ended before ``split`` (trainable on that day) and those entered from it."""
    return trades.take(trades.exit < split), trades.take(trades.entry >= split)


def embargo_for(horizon_days: int) -> int:
    """Calendar days of embargo and of a bootstrap block: the holding horizon in sessions, as
    calendar days, and never under a month (a month of trades shares its market regime)."""
    return max(30, math.ceil(horizon_days * 7 / 5))


# --------------------------------------------------------------------------------------------
# What the scan carries per template


@dataclass(frozen=True, slots=True)
class MetaLabel:
    """A template's confidence model at the scan's as-of, and the evidence for it.

    ``model`` is fitted on every completed trade (all ended before the as-of); ``report`` is the
    skill a model fitted on the first ``TRAIN_SHARE`` of them (those ended before the split day)
    showed on the trades entered after it. Only with ``edge`` does the model give the confidence.
    """

    model: MetaModel
    report: SkillReport | None
    market: MarketState
    hits: HitHistory

    @property
    def edge(self) -> bool:
        return self.report is not None and self.report.edge and self.model.kind != "base_rate"

    def confidence(self, setup: Setup, t: int, policy: ExitPolicy) -> float:
        """Probability that the signal at ``t`` wins: the model with an edge, else the base rate."""
        if not self.edge:
            return self.model.base_rate
        x = signal_features(setup, np.array([t], dtype=np.int64), policy, self.market, self.hits)
        return float(self.model.predict(x)[0])

    def confidence_of(self, own: Array, day: np.datetime64) -> float:
        """``confidence`` from the signal's ``own_features`` row and its day (the panel scan's way)."""
        return float(self.confidences_of(np.asarray(own).reshape(1, -1), np.array([day], "datetime64[D]"))[0])

    def confidences_of(self, own: Array, days: NDArray[np.datetime64]) -> Array:
        """``confidence_of`` for many signals at once (``[c, len(FEATURES)]`` rows, ``[c]`` days):
        one model call for all of today's candidates instead of one each."""
        if not self.edge or len(own) == 0:
            return np.full(len(own), self.model.base_rate)
        x = context(
            np.asarray(own, dtype=np.float64), np.asarray(days, "datetime64[D]"), self.market, self.hits
        )
        return self.model.predict(x)


def holdout(
    trades: TradeSet, *, horizon_days: int, calibration: Method = "logistic", seed: int = 0
) -> SkillReport | None:
    """The walk-forward check: fit on trades ended before the split day, score those entered after."""
    if len(trades) < MIN_TRADES:
        return None
    split = trades.entry[int(len(trades) * TRAIN_SHARE)]
    train, test = split_known(trades, split)
    if len(train) < MIN_TRADES // 2 or len(test) < 20:
        return None
    embargo = embargo_for(horizon_days)
    model = fit_meta(train, embargo_days=embargo, calibration=calibration, seed=seed)
    return score_forecasts(model.kind, model.predict(test.x), test, train.y, block_days=embargo, seed=seed)


_CACHE: dict[str, MetaLabel] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 64


def _fingerprint(trades: TradeSet, *parts: object) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in (trades.x, trades.y, trades.entry.astype(np.int64), trades.exit.astype(np.int64)):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(parts).encode())
    return h.hexdigest()


def fit_day(last_bar: np.datetime64) -> np.datetime64:
    """The day the model is fitted as of: the first day of the month of the session after
    ``last_bar``. Refitting monthly (on the trades that had ended by then) keeps a replay or a
    live desk from refitting every session, and every session of a month gets the same model
    whoever asks first (the fit depends only on trades ended before this day)."""
    session = np.asarray(last_bar, dtype="datetime64[D]") + np.timedelta64(1, "D")
    month = np.asarray(session.astype("datetime64[M]"), dtype="datetime64[D]")
    return np.datetime64(month.item(), "D")


def meta_label(
    measured: Sequence[tuple[Setup, Outcomes]],
    policy: ExitPolicy,
    market: MarketState,
    *,
    horizon_days: int,
    calibration: Method = "logistic",
    seed: int = 0,
) -> MetaLabel:
    """The template's meta-label for the session after the market's last bar.

    Fitted on the trades that had ended before ``fit_day`` (the month's first day). The final
    model is fitted only when the holdout shows an edge: without one the confidence is the base
    rate and a model would be dead weight. A fit is deterministic in its trades, so it is reused
    when the same trades come again (the month's later sessions, the same cards asked twice).
    """
    hits = hit_history(measured)
    trades = template_trades(
        measured, policy, market, hits, ended_before=meta_cutoff(market), most_recent=MAX_TRADES
    )
    return _meta_label_of(trades, market, hits, horizon_days, calibration, seed)


def meta_cutoff(market: MarketState) -> np.datetime64 | None:
    """The day a meta-label is fitted as of (``fit_day`` of the market's last bar; None: no bars)."""
    return fit_day(market.dates[-1]) if len(market.dates) else None


def meta_label_rows(
    own: Array,
    entry: DayArray,
    exit_: DayArray,
    returns: Array,
    scores: Array,
    market: MarketState,
    *,
    horizon_days: int,
    calibration: Method = "logistic",
    seed: int = 0,
) -> MetaLabel:
    """``meta_label`` from the template's completed trades as rows, without their setups (the
    panel scan's way): each trade's ``own_features`` row (NaN rows allowed for trades a fit will
    not read: ``choose_trades`` with ``meta_cutoff`` and ``MAX_TRADES``), entry and exit day, return
    and score, in the order ``meta_label`` would see them (setup by setup, each in entry order).
    The same trades give the same model, the same skill and the same confidence."""
    entry = np.asarray(entry, dtype="datetime64[D]")
    exit_ = np.asarray(exit_, dtype="datetime64[D]")
    n = len(entry)
    if own.shape != (n, len(FEATURES)) or not len(exit_) == len(returns) == len(scores) == n:
        raise ValueError(
            f"meta_label_rows needs {n} trades' rows [n, {len(FEATURES)}], exits, returns and scores; "
            f"got {own.shape}, {len(exit_)}, {len(returns)} and {len(scores)}"
        )
    wins = (returns > 0).astype(float)
    hits = HitHistory.of(exit_, wins)
    chosen = choose_trades(entry, exit_, meta_cutoff(market), MAX_TRADES)
    x = context(own[chosen], entry[chosen], market, hits)
    trades = TradeSet(x, wins[chosen], entry[chosen], exit_[chosen], np.asarray(scores, float)[chosen])
    return _meta_label_of(trades, market, hits, horizon_days, calibration, seed)


def _meta_label_of(
    trades: TradeSet, market: MarketState, hits: HitHistory, horizon_days: int, calibration: Method, seed: int
) -> MetaLabel:
    key = _fingerprint(trades, horizon_days, calibration, seed)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return MetaLabel(cached.model, cached.report, market, hits)
    report = holdout(trades, horizon_days=horizon_days, calibration=calibration, seed=seed)
    n, k = len(trades), int(trades.y.sum())
    if report is not None and report.edge:
        model = fit_meta(trades, embargo_days=embargo_for(horizon_days), calibration=calibration, seed=seed)
    else:
        model = MetaModel("base_rate", n, k)
    made = MetaLabel(model, report, market, hits)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = made
    return made


def card_details(meta: MetaLabel) -> Mapping[str, float]:
    """The ``meta:*`` numbers a card carries (numbers only: the store and JSON hold those).

    ``meta:edge`` 1/0; ``meta:model`` 0 base rate, 1 logistic, 2 gradient boosting; the holdout's
    ``skill``, ``skill_lo``, ``skill_hi``, ``level``, ``n_test``; ``meta:rel{i}:{lo,pred,obs,n}``
    the reliability bands of the holdout.
    """
    out: dict[str, float] = {
        "meta:edge": 1.0 if meta.edge else 0.0,
        "meta:model": float(MODEL_CODES[meta.model.kind]),
        "meta:base_rate": meta.model.base_rate,
    }
    r = meta.report
    if r is not None:
        out.update(
            {
                "meta:skill": r.skill,
                "meta:skill_lo": r.lo,
                "meta:skill_hi": r.hi,
                "meta:level": r.level,
                "meta:n_test": float(r.n_test),
                "meta:tested": float(next((v for k, v in MODEL_CODES.items() if k == r.model), 0)),
            }
        )
        for i, b in enumerate(r.reliability):
            out.update(
                {
                    f"meta:rel{i}:lo": b.lo,
                    f"meta:rel{i}:pred": b.mean_predicted,
                    f"meta:rel{i}:obs": b.observed_rate,
                    f"meta:rel{i}:n": float(b.n),
                }
            )
    return {k: v for k, v in out.items() if math.isfinite(v)}
