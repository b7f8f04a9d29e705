"""Turning a template's composite score into a calibrated probability that the trade wins.

A card's confidence is read as "the chance that this idea's horizon return is positive". A
raw score is not that: it is only ordered. So the score is mapped to a probability by a
calibrator fitted on the template's *past* outcomes (score at each past entry, 1 if the
horizon return was positive), and the mapping is checked out of sample with ``holdout_report``
before anyone is asked to trust it.

Three calibrators, and why each exists:

* ``logistic`` (Platt scaling): two parameters, so it needs little data and extrapolates
  smoothly; it assumes the log-odds are linear in the score.
* ``isotonic`` (pool-adjacent-violators): assumes only that a higher score never means a
  lower chance; it needs more data but no functional form.
* ``base_rate``: the Laplace-smoothed hit rate ``(wins + 1) / (n + 2)``, used whenever there
  is too little to fit (fewer than ``min_samples`` outcomes, or only one class). With no
  evidence that the score separates winners from losers, the honest answer ignores it.

Honesty rules: probabilities are never clipped to look good. Every prediction lies in the
open interval (0, 1) by construction: a logistic curve evaluated on a bounded score range,
isotonic block means of smoothed targets, or a Laplace rate. None of them can claim
certainty from a finite sample.

Arrays in, arrays or frozen dataclasses out; numpy only, so importing this module is cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]
Method = Literal["logistic", "isotonic"]
UsedMethod = Literal["logistic", "isotonic", "base_rate"]

DEFAULT_L2 = 1.0
"""Penalty on the standardized slope: a N(0, 1) prior on the change in log-odds per standard
deviation of score. Real trading scores rarely move the odds by more than that, and the penalty
keeps the fit finite when a small sample happens to be perfectly separated; against 30 or more
outcomes it is small."""

_MAX_NEWTON_STEPS = 50
"""Newton converges quadratically on this strictly convex objective: a handful of steps from the
base-rate start; 50 is a bound that is never reached by a fit that is going to converge."""

_MAX_HALVINGS = 30
"""Step halvings per line search (a step shrunk below 1e-9 of Newton's makes no measurable
progress). Bounding them is what stops a fit from spending thousands of evaluations on round-off."""

_DECREMENT_TOL = 1e-12
"""Converged when half the Newton decrement ``grad @ H^-1 @ grad`` (the decrease a full step
predicts) is below this share of the objective: further steps only move round-off. The
objective sums n terms, so the test is relative; an absolute one (like the old "step below
1e-10") can never be met on a large sample, whose objective's rounding error exceeds it."""


@dataclass(frozen=True, slots=True)
class Calibrator:
    """A fitted score-to-probability map; ``predict`` is the only thing callers need.

    ``method`` is what was actually fitted, which differs from ``requested`` when the data
    forced a fallback (see ``fit_calibrator``); ``n`` and ``wins`` are the outcomes it saw.

    Logistic parameters: ``P = 1 / (1 + exp(-(intercept + slope * z)))`` with
    ``z = (score - center) / scale``. A negative ``slope`` means that, in this history, higher
    scores were followed by *fewer* wins: the score is anti-informative for this template, and
    the calibrator reports that faithfully instead of forcing it to look useful.

    Scores outside the fitted range ``[lo, hi]`` are treated as the nearest end of the range
    (flat extrapolation) by every method: there is no evidence about how the odds behave beyond
    the scores that were seen, and a curve extended past its data can only look more certain.
    """

    method: UsedMethod
    requested: Method
    n: int
    wins: int
    lo: float = 0.0
    hi: float = 0.0
    center: float = 0.0
    scale: float = 1.0
    intercept: float = 0.0
    slope: float = 0.0
    knots_x: tuple[float, ...] = ()
    knots_p: tuple[float, ...] = ()
    fallback: str = ""
    """Why ``method`` is not ``requested`` (too few outcomes, one class, a logistic fit that did
    not converge or claims certainty); empty when the requested fit was used."""
    newton_steps: int = 0
    """Newton iterations the logistic fit took (0: none was run)."""

    @property
    def base_rate(self) -> float:
        """Laplace-smoothed hit rate of the fitted outcomes: ``(wins + 1) / (n + 2)``."""
        return (self.wins + 1) / (self.n + 2)

    @overload
    def predict(self, score: float) -> float: ...

    @overload
    def predict(self, score: ArrayLike) -> Array: ...

    def predict(self, score: float | ArrayLike) -> float | Array:
        """Probability that the horizon return is positive, for one score or an array of them.

        A NaN score raises: a card without a score has no calibrated confidence, and a NaN
        probability would travel silently into ranking.
        """
        scalar = np.ndim(score) == 0
        s = np.asarray(score, dtype=np.float64)
        if np.isnan(s).any():
            raise ValueError("cannot calibrate a NaN score")
        if self.method == "base_rate":
            out = np.full(s.shape, self.base_rate, dtype=np.float64)
        else:
            clamped = np.clip(s, self.lo, self.hi)
            if self.method == "logistic":
                out = self._logistic(clamped)
            else:
                out = _monotone_interp(
                    clamped, np.asarray(self.knots_x, np.float64), np.asarray(self.knots_p, np.float64)
                )
        return float(out) if scalar else out

    def _logistic(self, s: Array) -> Array:
        z = (s - self.center) / self.scale
        return _sigmoid(self.intercept + self.slope * z)


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """One equal-width band of predicted probability and what actually happened in it."""

    lo: float
    hi: float
    n: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    """Out-of-sample check of a calibrator: fitted on the earlier outcomes, scored on the later.

    ``brier_base`` is the Brier score of always forecasting the training hit rate; a calibrator
    whose ``brier`` does not beat it adds nothing over "this template wins X% of the time".
    ``method`` is the calibrator actually fitted on the training part.
    """

    method: UsedMethod
    n_train: int
    n_test: int
    brier: float
    brier_base: float
    hit_rate: float
    reliability: tuple[ReliabilityBin, ...]
    fallback: str = ""
    """The calibrator's fallback reason (``Calibrator.fallback``); empty when none."""

    @property
    def skill(self) -> float | None:
        """Brier skill score ``1 - brier / brier_base`` (> 0: better than the base rate); None
        when the base-rate forecast was perfect and the ratio means nothing."""
        return None if self.brier_base == 0.0 else 1.0 - self.brier / self.brier_base


# --------------------------------------------------------------------------------------------
# Fitting


def fit_calibrator(
    scores: ArrayLike,
    wins: ArrayLike,
    *,
    method: Method = "logistic",
    min_samples: int = 30,
    l2: float = DEFAULT_L2,
) -> Calibrator:
    """Fit a score-to-probability map on past outcomes (``wins``: 1 if the horizon return was > 0).

    Falls back to the Laplace-smoothed base rate when there are fewer than ``min_samples``
    outcomes or only one class: a curve fitted to a handful of trades, or to trades that all
    went the same way, would read noise as skill.

    ``logistic`` is fitted by penalized maximum likelihood (penalty ``l2 / 2 * slope**2``, the
    intercept is free) with Newton steps. If the sample is so close to perfectly separated that
    the fitted curve reaches 0 or 1 in floating point inside the observed score range, the
    logistic form is claiming certainty it cannot have, and the isotonic fit is used instead
    (``method`` on the result says so).
    """
    if method not in ("logistic", "isotonic"):
        raise ValueError(f"unknown calibration method {method!r} (expected 'logistic' or 'isotonic')")
    if l2 < 0 or not math.isfinite(l2):
        raise ValueError(f"l2 penalty must be a finite number >= 0, got {l2}")
    s, y = _check_outcomes(scores, wins)
    n, k = len(y), int(y.sum())
    if n < min_samples:
        why = f"{n} outcomes, fewer than the {min_samples} a fit needs: base rate used"
        return Calibrator(method="base_rate", requested=method, n=n, wins=k, fallback=why)
    if k in (0, n):
        why = f"all {n} outcomes are {'wins' if k else 'losses'}: base rate used"
        return Calibrator(method="base_rate", requested=method, n=n, wins=k, fallback=why)
    if method == "logistic":
        fitted, why, steps = _fit_logistic(s, y, l2, k)
        if fitted is not None:
            return fitted
        return replace(_fit_isotonic(s, y, method, k), fallback=f"{why}: isotonic used", newton_steps=steps)
    return _fit_isotonic(s, y, method, k)


def _check_outcomes(scores: ArrayLike, wins: ArrayLike) -> tuple[Array, Array]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(wins, dtype=np.float64)
    if s.ndim != 1 or y.ndim != 1:
        raise ValueError(f"scores and wins must be 1-D arrays, got shapes {s.shape} and {y.shape}")
    if len(s) != len(y):
        raise ValueError(f"scores and wins differ in length: {len(s)} scores, {len(y)} outcomes")
    if not np.isfinite(s).all():
        raise ValueError(f"scores must be finite; first bad one at index {int(np.argmin(np.isfinite(s)))}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("wins must be 0/1 outcomes (1 = positive horizon return)")
    return s, y


def _standardizer(s: Array) -> tuple[float, float]:
    """Center and scale of the scores, computed without overflow for huge magnitudes.

    Standardizing makes the L2 penalty mean the same thing for every template whatever the
    units of its score, and keeps Newton's Hessian well conditioned.
    """
    big = float(np.max(np.abs(s)))
    if big == 0.0:
        return 0.0, 1.0
    center = big * float(np.mean(s / big))
    dev = s - center
    span = float(np.max(np.abs(dev)))
    if span == 0.0:  # one distinct score: the slope multiplies zeros and stays 0
        return center, 1.0
    scale = span * float(np.std(dev / span))
    return center, scale if scale > 0.0 else 1.0


def _sigmoid(eta: Array) -> Array:
    """``1 / (1 + exp(-eta))`` in this single form on purpose: each operation is monotone
    under IEEE rounding, so the result is non-decreasing in ``eta`` bit for bit (the usual
    two-branch "stable" form is not). Overflow for very negative ``eta`` gives exactly 0,
    which ``_fit_logistic`` rules out for the fitted range."""
    with np.errstate(over="ignore"):
        out: Array = 1.0 / (1.0 + np.exp(-eta))
    return out


def _penalized_nll(beta: Array, x: Array, y: Array, l2: float) -> float:
    eta = x @ beta
    return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * l2 * beta[1] ** 2)


@dataclass(frozen=True, slots=True)
class NewtonResult:
    """Where damped Newton ended: ``beta`` (None when it failed), the iterations, the objective
    evaluations of the line searches, and why it failed (empty when it converged)."""

    beta: Array | None
    steps: int
    evaluations: int
    failure: str = ""


def _newton(z: Array, y: Array, l2: float, k: int) -> NewtonResult:
    """Minimize the penalized negative log-likelihood by damped Newton (Armijo backtracking).

    The objective is strictly convex when both classes are present, so from the base-rate start
    it converges quadratically in a handful of steps. It stops when the Newton decrement is below
    round-off of the objective (``_DECREMENT_TOL``, relative), taking that last full step; a line
    search is bounded (``_MAX_HALVINGS``). A failure is reported, with its reason, not hidden.
    """
    n = len(y)
    x = np.column_stack([np.ones(n), z])
    beta = np.array([math.log(k / (n - k)), 0.0])
    f = _penalized_nll(beta, x, y, l2)
    evaluations = 1
    penalty = np.diag([0.0, l2])
    for step_no in range(1, _MAX_NEWTON_STEPS + 1):
        p = _sigmoid(x @ beta)
        grad = x.T @ (p - y) + np.array([0.0, l2 * beta[1]])
        hess = (x * (p * (1.0 - p))[:, None]).T @ x + penalty
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return NewtonResult(None, step_no, evaluations, "singular Hessian")
        decrement = float(grad @ step)
        if not math.isfinite(decrement):
            return NewtonResult(None, step_no, evaluations, "non-finite Newton step")
        if 0.5 * decrement <= _DECREMENT_TOL * max(1.0, abs(f)):
            # The full step is below round-off of the objective; taking it costs nothing and
            # (quadratic convergence) lands on the optimum to machine precision.
            out: Array = beta - step
            return NewtonResult(out, step_no, evaluations)
        t = 1.0
        for _ in range(_MAX_HALVINGS):
            trial = beta - t * step
            f_trial = _penalized_nll(trial, x, y, l2)
            evaluations += 1
            if f_trial <= f - 1e-4 * t * decrement:
                break
            t *= 0.5
        else:
            why = f"no descent after {_MAX_HALVINGS} step halvings (Newton decrement {decrement:.3g})"
            return NewtonResult(None, step_no, evaluations, why)
        beta, f = trial, f_trial
    return NewtonResult(
        None, _MAX_NEWTON_STEPS, evaluations, f"not converged in {_MAX_NEWTON_STEPS} Newton steps"
    )


def _fit_logistic(s: Array, y: Array, l2: float, k: int) -> tuple[Calibrator | None, str, int]:
    """The Platt fit, or None with the reason it cannot be used and the Newton steps it took."""
    center, scale = _standardizer(s)
    result = _newton((s - center) / scale, y, l2, k)
    beta = result.beta
    if beta is None:
        return None, f"logistic fit failed ({result.failure})", result.steps
    cal = Calibrator(
        method="logistic",
        requested="logistic",
        n=len(y),
        wins=k,
        lo=float(s.min()),
        hi=float(s.max()),
        center=center,
        scale=scale,
        intercept=float(beta[0]),
        slope=float(beta[1]),
        newton_steps=result.steps,
    )
    # The sigmoid is monotone, so the ends of the score range bound every prediction.
    ends = cal._logistic(np.array([cal.lo, cal.hi]))
    if not (np.all(ends > 0.0) and np.all(ends < 1.0)):
        return (
            None,
            "logistic curve reaches 0 or 1 inside the score range (near-perfect separation)",
            result.steps,
        )
    return cal, "", result.steps


# --------------------------------------------------------------------------------------------
# Isotonic


def pav(values: Array, weights: Array) -> Array:
    """Pool adjacent violators: the non-decreasing sequence closest to ``values`` in weighted
    least squares (``values`` already ordered by score). Returns one fitted value per input.

    Each merge replaces two adjacent blocks by their weighted mean, which is exactly the
    least-squares answer for a block that must be flat; a stack keeps it O(n).
    """
    means: list[float] = []
    wts: list[float] = []
    sizes: list[int] = []
    for v, w in zip(values.tolist(), weights.tolist(), strict=True):
        means.append(v)
        wts.append(w)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            w2, w1 = wts.pop(), wts[-1]
            m2, m1 = means.pop(), means[-1]
            wts[-1] = w1 + w2
            means[-1] = (w1 * m1 + w2 * m2) / (w1 + w2)
            size = sizes.pop()
            sizes[-1] += size
    return np.repeat(np.asarray(means, dtype=np.float64), sizes)


def _fit_isotonic(s: Array, y: Array, requested: Method, k: int) -> Calibrator:
    """Isotonic fit on Platt's smoothed targets.

    Targets ``(wins + 1) / (wins + 2)`` for a win and ``1 / (losses + 2)`` for a loss (Platt,
    1999) instead of 1 and 0: a block of nothing but losses would otherwise be forecast to
    lose with certainty. Every block mean is an average of the two targets, so every prediction
    is strictly inside (0, 1), and PAV stays exact because the targets are only relabelled.
    Equal scores are pooled first so they always share one probability.
    """
    n = len(y)
    target = np.where(y == 1.0, (k + 1) / (k + 2), 1.0 / (n - k + 2))
    order = np.argsort(s, kind="stable")
    xs, ts = s[order], target[order]
    ux, start, counts = np.unique(xs, return_index=True, return_counts=True)
    sums = np.add.reduceat(ts, start)
    fitted = pav(sums / counts, counts.astype(np.float64))
    # Knots: the first and last distinct score of each flat block, so predictions at observed
    # scores are exactly the PAV values and vary linearly only in the gaps between blocks.
    edge = np.ones(len(ux), dtype=bool)
    edge[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return Calibrator(
        method="isotonic",
        requested=requested,
        n=n,
        wins=k,
        lo=float(ux[0]),
        hi=float(ux[-1]),
        knots_x=tuple(ux[edge].tolist()),
        knots_p=tuple(fitted[edge].tolist()),
    )


def _monotone_interp(x: Array, xp: Array, fp: Array) -> Array:
    """Linear interpolation between knots that is non-decreasing bit for bit.

    ``np.interp`` can overshoot a knot value by one ulp at a segment end, which would make the
    prediction dip at the next knot; bounding each result by its own segment's end values
    (a no-op in exact arithmetic) removes that.
    """
    if len(xp) == 1:
        return np.full(x.shape, fp[0], dtype=np.float64)
    j = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    x0, x1, p0, p1 = xp[j], xp[j + 1], fp[j], fp[j + 1]
    w = np.clip((x - x0) / (x1 - x0), 0.0, 1.0)
    out: Array = np.minimum(np.maximum(p0 + (p1 - p0) * w, p0), p1)
    return out


# --------------------------------------------------------------------------------------------
# Scoring


def _check_forecasts(p: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
    pa = np.asarray(p, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if pa.ndim != 1 or ya.ndim != 1 or len(pa) != len(ya):
        raise ValueError(f"forecasts and outcomes must be 1-D of equal length, got {pa.shape} and {ya.shape}")
    if len(pa) == 0:
        raise ValueError("no outcomes to score")
    if not ((pa >= 0.0) & (pa <= 1.0)).all():
        raise ValueError("forecasts must be probabilities in [0, 1]")
    if not np.isin(ya, (0.0, 1.0)).all():
        raise ValueError("outcomes must be 0/1")
    return pa, ya


def brier_score(p: ArrayLike, y: ArrayLike) -> float:
    """Mean squared error of probability forecasts against 0/1 outcomes (lower is better)."""
    pa, ya = _check_forecasts(p, y)
    return float(np.mean((pa - ya) ** 2))


def base_rate_brier(train_y: ArrayLike, test_y: ArrayLike) -> float:
    """Brier score of forecasting the training hit rate for every test outcome.

    The plain training mean, the usual "climatology" reference: the yardstick is what someone
    who ignored the score entirely would have forecast from the same past.
    """
    tr = np.asarray(train_y, dtype=np.float64)
    if tr.ndim != 1 or len(tr) == 0:
        raise ValueError("need at least one training outcome for a base rate")
    te = np.asarray(test_y, dtype=np.float64)
    return brier_score(np.full(te.shape, float(np.mean(tr))), te)


def reliability_table(p: ArrayLike, y: ArrayLike, bins: int = 10) -> tuple[ReliabilityBin, ...]:
    """Forecasts grouped into ``bins`` equal-width bands of [0, 1] (the last band includes 1).

    For a calibrated forecaster each band's ``observed_rate`` is close to its
    ``mean_predicted``, within sampling error ``sqrt(p (1 - p) / n)``. Empty bands are left out.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    pa, ya = _check_forecasts(p, y)
    idx = np.minimum((pa * bins).astype(np.int64), bins - 1)
    out = []
    for b in np.unique(idx).tolist():
        sel = idx == b
        out.append(
            ReliabilityBin(
                lo=b / bins,
                hi=(b + 1) / bins,
                n=int(sel.sum()),
                mean_predicted=float(pa[sel].mean()),
                observed_rate=float(ya[sel].mean()),
            )
        )
    return tuple(out)


def holdout_report(
    scores: ArrayLike,
    wins: ArrayLike,
    *,
    train_share: float = 0.75,
    method: Method = "logistic",
    min_samples: int = 30,
    bins: int = 10,
) -> CalibrationReport:
    """Fit on the first ``train_share`` of the outcomes and score the forecasts on the rest.

    Outcomes must be in chronological order (entry time): the split is a walk-forward one,
    because a calibrator judged on trades it was fitted on, or on trades that happened before
    the ones it learnt from, looks better than it will live.
    """
    if not 0.0 < train_share < 1.0:
        raise ValueError(f"train_share must be strictly between 0 and 1, got {train_share}")
    s, y = _check_outcomes(scores, wins)
    n_train = int(len(y) * train_share)
    if n_train < 1 or n_train >= len(y):
        raise ValueError(f"{len(y)} outcomes cannot be split {train_share:.0%}/{1 - train_share:.0%}")
    cal = fit_calibrator(s[:n_train], y[:n_train], method=method, min_samples=min_samples)
    p = cal.predict(s[n_train:])
    y_test = y[n_train:]
    return CalibrationReport(
        method=cal.method,
        n_train=n_train,
        n_test=len(y_test),
        brier=brier_score(p, y_test),
        brier_base=base_rate_brier(y[:n_train], y_test),
        hit_rate=float(y_test.mean()),
        reliability=reliability_table(p, y_test, bins),
        fallback=cal.fallback,
    )
