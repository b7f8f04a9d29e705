"""Out-of-sample checks of the generator: is confidence calibrated, and are the top cards diverse?

Calibration: each template's calibrator is fitted only on trades that had ended before
``fit_end`` (exactly what the generator would have known on that day), then judged on the
trades entered from ``fit_end`` on: Brier score against the base-rate forecast (the training
win rate), hit rate and a reliability table. Nothing in the test period is used to fit
anything, and the template parameters are their shipped defaults, not tuned on it.

Diversity: the ten setups the generator would rank highest at ``fit_end`` (expected return
over its spread, both from the training trades, the ranking formula without cost or book),
each run as a strategy through the test period (in its basket after each entry signal until
the trade's exit, flat otherwise); the mean pairwise correlation of their daily returns.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from engine.strategies.calibration import (
    Method,
    ReliabilityBin,
    base_rate_brier,
    brier_score,
    fit_calibrator,
    reliability_table,
)
from engine.strategies.outcomes import Outcomes, setup_outcomes, strategy_daily_returns
from engine.strategies.scan import MAX_FIT, MIN_FIT, SHRINK
from engine.strategies.templates.base import Panel, Params, Setup, Template

TOP = 10


@dataclass(frozen=True, slots=True)
class TemplateCalibration:
    template: str
    method: str
    n_train: int
    n_test: int
    brier: float
    brier_base: float
    hit_rate: float
    mean_confidence: float
    reliability: tuple[ReliabilityBin, ...]

    @property
    def skill(self) -> float:
        """1 - Brier / base-rate Brier: above 0, the confidence knows more than the win rate."""
        return 1.0 - self.brier / self.brier_base if self.brier_base > 0 else math.nan


@dataclass(frozen=True, slots=True)
class Study:
    fit_end: date
    test_end: date
    calibration: tuple[TemplateCalibration, ...]
    top: tuple[str, ...]
    """The top setups at ``fit_end``, as ``template:key``."""
    mean_pairwise_correlation: float


def _day(d: date) -> np.datetime64:
    return np.datetime64(d, "D")


def _split(setup: Setup, o: Outcomes, fit_end: date) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the trades known by ``fit_end`` (exited before it) and those entered from it on."""
    entry_days = setup.dates[o.entries]
    exit_days = setup.dates[o.exits]
    return exit_days < _day(fit_end), entry_days >= _day(fit_end)


def calibration_study(
    panel: Panel,
    templates: Sequence[Template],
    params: Mapping[str, Params] | None = None,
    *,
    fit_end: date,
    method: Method = "logistic",
) -> Study:
    """Fit on trades ended before ``fit_end``, judge on trades entered from it (to the panel's end)."""
    params = params or {}
    results: list[TemplateCalibration] = []
    ranked: list[tuple[float, str, Setup, Outcomes]] = []
    test_end = max(pd_last(b.dates) for b in panel.values())
    for template in templates:
        p = params.get(template.name) or template.params()
        eligible = {s: b for s, b in panel.items() if len(b) >= template.min_history}
        setups = template.build(eligible, p) if eligible else []
        train_s: list[np.ndarray] = []
        train_y: list[np.ndarray] = []
        train_d: list[np.ndarray] = []
        test_s: list[np.ndarray] = []
        test_y: list[np.ndarray] = []
        train_r: list[np.ndarray] = []
        per_setup: list[tuple[Setup, Outcomes, np.ndarray]] = []
        for setup in setups:
            o = setup_outcomes(setup, template.horizon_days, template.outcome, template.exit_policy)
            known, later = _split(setup, o, fit_end)
            train_s.append(o.scores[known])
            train_y.append((o.returns[known] > 0).astype(float))
            train_d.append(setup.dates[o.entries[known]])
            train_r.append(o.returns[known])
            test_s.append(o.scores[later])
            test_y.append((o.returns[later] > 0).astype(float))
            per_setup.append((setup, o, known))
        s_tr, y_tr = np.concatenate(train_s or [np.empty(0)]), np.concatenate(train_y or [np.empty(0)])
        order = np.argsort(np.concatenate(train_d or [np.empty(0, "datetime64[D]")]), kind="stable")
        s_tr, y_tr = s_tr[order][-MAX_FIT:], y_tr[order][-MAX_FIT:]
        s_te, y_te = np.concatenate(test_s or [np.empty(0)]), np.concatenate(test_y or [np.empty(0)])
        if len(y_tr) == 0 or len(y_te) == 0:
            continue
        cal = fit_calibrator(s_tr, y_tr, method=method, min_samples=MIN_FIT)
        prob = cal.predict(s_te)
        results.append(
            TemplateCalibration(
                template=template.name,
                method=cal.method,
                n_train=len(y_tr),
                n_test=len(y_te),
                brier=brier_score(prob, y_te),
                brier_base=base_rate_brier(y_tr, y_te),
                hit_rate=float(y_te.mean()),
                mean_confidence=float(prob.mean()),
                reliability=reliability_table(prob, y_te),
            )
        )
        pooled = np.concatenate(train_r or [np.empty(0)])
        if len(pooled) < 2:
            continue
        pooled_mean, spread = float(pooled.mean()), float(pooled.std(ddof=1))
        for setup, o, known in per_setup:
            own = o.returns[known]
            expected = (float(own.sum()) + SHRINK * pooled_mean) / (len(own) + SHRINK)
            if spread > 0:
                ranked.append((expected / spread, f"{template.name}:{setup.key}", setup, o))
    ranked.sort(key=lambda r: r[0], reverse=True)
    top = ranked[:TOP]
    series: list[tuple[np.ndarray, np.ndarray]] = []
    for _score, _name, setup, o in top:
        daily = strategy_daily_returns(setup, o)
        later = setup.dates >= _day(fit_end)
        series.append((setup.dates[later], daily[later]))
    corrs = []
    for (da, a), (db, b) in itertools.combinations(series, 2):
        _common, ia, ib = np.intersect1d(da, db, assume_unique=True, return_indices=True)
        x, y = a[ia], b[ib]
        if len(x) > 20 and np.std(x) > 0 and np.std(y) > 0:
            corrs.append(float(np.corrcoef(x, y)[0, 1]))
    return Study(
        fit_end=fit_end,
        test_end=test_end,
        calibration=tuple(results),
        top=tuple(name for _s, name, _st, _o in top),
        mean_pairwise_correlation=float(np.mean(corrs)) if corrs else math.nan,
    )


def pd_last(dates: np.ndarray) -> date:
    return date.fromisoformat(str(dates[-1].astype("datetime64[D]")))
