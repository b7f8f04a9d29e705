"""The out-of-sample study fits only on what was known at ``fit_end``."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from engine.strategies.study import Study, calibration_study
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars, Panel

FIT_END = date(2010, 1, 1)


def _panel(end: str) -> Panel:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT", "GOOG", "IBM", "AMZN"]).bars
    return {s: Bars.from_frame(s, f.loc[f.index <= np.datetime64(end)]) for s, f in bars.items()}


@pytest.fixture(scope="module")
def full() -> Study:
    return calibration_study(_panel("2013-03-01"), list(TEMPLATES.values()), fit_end=FIT_END)


def test_the_fit_never_sees_the_test_period(full: Study) -> None:
    """Cutting the test period shorter changes the test counts, never what was fitted."""
    short = calibration_study(_panel("2011-06-30"), list(TEMPLATES.values()), fit_end=FIT_END)
    before = {c.template: c for c in full.calibration}
    for c in short.calibration:
        if c.template in ("pairs", "rotation"):
            continue  # their candidate sets are chosen on the panel's last year
        assert c.n_train == before[c.template].n_train, c.template
        assert c.brier_base <= 1.0
        assert c.n_test < before[c.template].n_test, c.template


def test_scores_are_probabilities_and_the_table_adds_up(full: Study) -> None:
    assert {c.template for c in full.calibration} == set(TEMPLATES)
    for c in full.calibration:
        assert 0.0 <= c.brier <= 1.0 and 0.0 <= c.brier_base <= 1.0
        assert 0.0 < c.mean_confidence < 1.0
        assert sum(b.n for b in c.reliability) == c.n_test
        assert math.isfinite(c.skill)


def test_diversity_is_measured_on_ten_setups(full: Study) -> None:
    assert len(full.top) == 10 and len(set(full.top)) == 10
    assert -1.0 <= full.mean_pairwise_correlation <= 1.0
