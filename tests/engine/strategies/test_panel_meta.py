"""A meta-labelled scan takes the panel path and gives the per-setup path's meta-labels.

``scan(panel, meta=True)`` runs the one-stock templates over the universe at once and reads each
past trade's meta-label features from the flat arrays (``meta_label.own_features``), where
``scan(panel, meta=True, keep=True)`` reads them from each trade's setup. Both must give the same
feature rows (bit for bit), the same model choice and skill, and the same confidence.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from engine.strategies import meta_label as ml
from engine.strategies import scan as scan_module
from engine.strategies.panel_scan import MetaNeeds, chunks, scan_slice
from engine.strategies.scan import CANDIDATE_BARS, Scan, scan
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars, Panel, Template
from tests.engine.strategies.test_panel_scan import ASOF

TOL = 1e-9


@pytest.fixture(scope="module")
def shipped() -> Panel:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT", "GOOG", "IBM", "AMZN"]).bars
    return {s: Bars.from_frame(s, f.loc[f.index < np.datetime64(ASOF)]) for s, f in bars.items()}


@pytest.fixture(scope="module")
def both(shipped: Panel) -> Iterator[tuple[Scan, Scan]]:
    """The panel path's meta-labelled scan and the per-setup path's, each fitting afresh."""
    templates = list(TEMPLATES.values())
    per_setup: list[str] = []
    real = scan_module.scan_template

    def spied(template: Template, *args: Any, **kwargs: Any) -> Any:
        per_setup.append(template.name)
        return real(template, *args, **kwargs)

    ml._CACHE.clear()  # no fit reused across the two paths: each must reach its numbers itself
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scan_module, "scan_template", spied)
        lean = scan(shipped, templates, meta=True)
    # the meta-labelled scan ran the one-stock templates on the panel path, the others per setup
    assert per_setup == [t.name for t in templates if t.panel is None]
    assert len(per_setup) < len(templates)
    ml._CACHE.clear()
    full = scan(shipped, templates, meta=True, keep=True)
    yield lean, full
    ml._CACHE.clear()


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOL


def test_the_panel_path_s_meta_labels_are_the_per_setup_path_s(both: tuple[Scan, Scan]) -> None:
    lean, full = both
    fitted = 0
    for name, a in lean.records.items():
        ma, mb = a.meta, full.records[name].meta
        assert ma is not None and mb is not None, name
        assert (ma.model.kind, ma.model.n, ma.model.wins) == (mb.model.kind, mb.model.n, mb.model.wins), name
        assert [k for k, _ in ma.model.cv_skill] == [k for k, _ in mb.model.cv_skill], name
        assert all(_close(x, y) for (_, x), (_, y) in zip(ma.model.cv_skill, mb.model.cv_skill, strict=True))
        assert (ma.report is None) == (mb.report is None), name
        if ma.report is not None and mb.report is not None:
            fitted += 1
            ra, rb = ma.report, mb.report
            assert (ra.model, ra.n_train, ra.n_test, ra.edge) == (rb.model, rb.n_train, rb.n_test, rb.edge), (
                name
            )
            for f in ("skill", "lo", "hi", "brier", "brier_base", "mean_forecast"):
                assert _close(getattr(ra, f), getattr(rb, f)), (name, f)
        assert ma.edge == mb.edge, name
        np.testing.assert_array_equal(ma.hits.cum_wins, mb.hits.cum_wins, err_msg=name)
        np.testing.assert_array_equal(ma.hits.exit_days, mb.hits.exit_days, err_msg=name)
    assert fitted >= 4, "too few templates had a holdout to compare"
    keys = [(c.template.name, c.setup.key) for c in lean.candidates]
    assert keys and keys == [(c.template.name, c.setup.key) for c in full.candidates]
    for x, y in zip(lean.candidates, full.candidates, strict=True):
        assert abs(x.confidence - y.confidence) <= TOL, (x.template.name, x.setup.key)


def test_the_flat_feature_rows_are_the_setups_rows(shipped: Panel, both: tuple[Scan, Scan]) -> None:
    """Row for row, bit for bit: so any model (one with an edge too) gives the same confidence."""
    _lean, full = both
    market = ml.market_state(shipped)
    cutoff = ml.meta_cutoff(market)
    assert cutoff is not None
    slices = chunks([b for b in shipped.values() if len(b)])
    compared = candidates = 0
    for name, template in TEMPLATES.items():
        if template.panel is None:
            continue
        policy = template.exit_policy
        found = [
            scan_slice(
                template, template.params(), flat, CANDIDATE_BARS, MetaNeeds(policy, cutoff, ml.MAX_TRADES)
            )
            for flat in slices
        ]
        setups = full.setups[name]
        measured = [(s, full.outcomes[name][s.key]) for s in setups]
        hits = ml.hit_history(measured)
        want = np.concatenate([ml.signal_features(s, o.entries, policy, market, hits) for s, o in measured])
        own = np.concatenate([f.trades.own for f in found])
        days = np.concatenate([f.trades.dates for f in found])
        exits = np.concatenate([f.trades.exit_dates for f in found])
        assert own.shape == want.shape, name
        read = exits < cutoff  # the trades a fit may read got their rows
        got = ml.context(own[read], days[read], market, hits)
        np.testing.assert_array_equal(got, want[read], err_msg=name)
        assert np.isfinite(got[:, 1]).any(), name  # the windowed features were computed
        compared += int(read.sum())
        # today's candidates: the row at each one's last bar, as its full setup gives it
        by_key = {s.key: s for s in setups}
        for f in found:
            for (setup, _o), row in zip(f.candidates, f.candidate_own, strict=True):
                whole = by_key[setup.key]
                t = len(whole) - 1
                want_row = ml.signal_features(whole, np.array([t]), policy, market, hits)
                got_row = ml.context(row[None, :], whole.dates[[t]], market, hits)
                np.testing.assert_array_equal(got_row, want_row, err_msg=f"{name}:{setup.key}")
                candidates += 1
    assert compared > 1000 and candidates > 0


def test_meta_label_rows_refuses_rows_of_the_wrong_shape(shipped: Panel) -> None:
    market = ml.market_state(shipped)
    day = np.array(["2010-01-04"], "datetime64[D]")
    with pytest.raises(ValueError, match="meta_label_rows needs 1 trades' rows"):
        ml.meta_label_rows(np.zeros((1, 3)), day, day, np.zeros(1), np.zeros(1), market, horizon_days=10)


def test_slices_after_the_first_skip_features_no_fit_reads(
    shipped: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the universe cut in several slices, a slice computes features only for trades entered
    on or after the most recent ``MAX_TRADES`` seen so far, and the meta-labels are unchanged."""
    from engine.strategies import panel_scan

    monkeypatch.setattr(scan_module, "MAX_TRADES", 400)
    monkeypatch.setattr(scan_module, "SLICE_THREADS", 1)  # the floor's saving, slice after slice
    monkeypatch.setattr(ml, "MAX_TRADES", 400)
    rows: list[int] = []
    real = panel_scan._own_rows

    def counted(flat: Any, rets: Any, family: Any, bars: Any, policy: Any) -> Any:
        rows.append(len(bars))
        return real(flat, rets, family, bars, policy)

    monkeypatch.setattr(panel_scan, "_own_rows", counted)
    template = TEMPLATES["trend"]
    market = ml.market_state(shipped)
    bars = [b for b in shipped.values() if len(b)]
    results = {}
    for budget in (10**9, 1):  # one slice; one slice per symbol
        rows.clear()
        ml._CACHE.clear()
        results[budget] = (
            scan_module.scan_panel(template, chunks(bars, budget), template.params(), market=market),
            sum(rows),
        )
    (one, one_rows), (many, many_rows) = results[10**9], results[1]
    rows.clear()  # each slice on its own, with no floor: what the slices computed before
    needs = MetaNeeds(template.exit_policy, ml.meta_cutoff(market), 400)
    for flat in chunks(bars, 1):
        scan_slice(template, template.params(), flat, CANDIDATE_BARS, needs)
    unfloored = sum(rows)
    assert one_rows < many_rows < unfloored - 400  # later slices skipped at least a slice's worth
    ma, mb = one[0].meta, many[0].meta
    assert ma is not None and mb is not None and ma.report is not None and mb.report is not None
    assert (ma.model.kind, ma.model.n) == (mb.model.kind, mb.model.n)
    assert _close(ma.report.skill, mb.report.skill)
    assert [c.confidence for c in one[1]] == [c.confidence for c in many[1]]
    ml._CACHE.clear()
