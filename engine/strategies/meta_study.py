"""Before and after meta-labelling, out of sample: does the confidence carry information?

For each template, on the same trades: the score calibrator the cards used before
(``calibration.fit_calibrator`` on the score, fitted on trades ended before ``fit_end``) and the
meta-label model (``meta_label.fit_meta``, chosen and calibrated by purged cross-validation on
those same trades only), both judged on the trades entered from ``fit_end`` on: Brier skill
against the base rate (the training hit rate) with a block-bootstrap interval, and reliability.
Nothing after ``fit_end`` is used to fit, choose or tune anything, and the template parameters
are their defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from engine.strategies.calibration import Method, fit_calibrator
from engine.strategies.meta_label import (
    MAX_TRADES,
    ModelKind,
    SkillReport,
    embargo_for,
    fit_meta,
    hit_history,
    market_state,
    score_forecasts,
    split_known,
    template_trades,
)
from engine.strategies.outcomes import setup_outcomes
from engine.strategies.scan import MIN_FIT
from engine.strategies.templates.base import Bars, Panel, Params, Template


@dataclass(frozen=True, slots=True)
class TemplateMeta:
    template: str
    before: SkillReport
    """The score calibrator (what cards used before meta-labelling)."""
    after: SkillReport
    """The meta-label model (the base rate where no model beat it in purged CV)."""
    cv_skill: tuple[tuple[ModelKind, float], ...]
    """Each candidate model's purged CV skill on the training trades (what chose ``after``)."""


def meta_study(
    panel: Panel,
    templates: Sequence[Template],
    params: Mapping[str, Params] | None = None,
    *,
    fit_end: date,
    benchmark: Bars | None = None,
    method: Method = "logistic",
    seed: int = 0,
) -> tuple[TemplateMeta, ...]:
    """Fit on trades ended before ``fit_end``, judge on trades entered from it (to the panel's end)."""
    params = params or {}
    market = market_state(panel, benchmark)
    split = np.datetime64(fit_end, "D")
    out: list[TemplateMeta] = []
    for template in templates:
        p = params.get(template.name) or template.params()
        eligible = {s: b for s, b in panel.items() if len(b) >= template.min_history}
        setups = template.build(eligible, p) if eligible else []
        policy = template.exit_policy
        measured = [(s, setup_outcomes(s, template.horizon_days, template.outcome, policy)) for s in setups]
        trades = template_trades(measured, policy, market, hit_history(measured))
        train, test = split_known(trades, split)
        if len(train) == 0 or len(test) == 0:
            continue
        block = embargo_for(template.horizon_days)
        recent = train.take(np.arange(max(0, len(train) - MAX_TRADES), len(train)))
        cal = fit_calibrator(recent.score, recent.y, method=method, min_samples=MIN_FIT)
        before = score_forecasts(
            f"score {cal.method}", cal.predict(test.score), test, recent.y, block_days=block, seed=seed
        )
        model = fit_meta(train, embargo_days=block, calibration=method, seed=seed)
        after = score_forecasts(
            model.kind, model.predict(test.x), test, recent.y, block_days=block, seed=seed
        )
        out.append(TemplateMeta(template.name, before, after, model.cv_skill))
    return tuple(out)
