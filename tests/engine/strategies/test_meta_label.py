"""Meta-labelled confidence: purged CV leaves no overlap, a known edge is recovered out of sample,
no edge is reported as none, features never read past the signal, and ranking uses the verdict."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from numpy.typing import NDArray

from engine.model import Leg, Side, StrategyCard
from engine.strategies.generator import rank_key
from engine.strategies.meta_label import (
    FEATURES,
    MIN_TRADES,
    MetaLabel,
    TradeSet,
    card_details,
    fit_day,
    fit_meta,
    hit_history,
    holdout,
    market_state,
    meta_label,
    purged_kfold,
    score_forecasts,
    signal_features,
    skill_interval,
    split_known,
    template_trades,
)
from engine.strategies.outcomes import setup_outcomes
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars, Panel
from tests.bench.generation import synthetic_panel

DAY = np.timedelta64(1, "D")


def random_intervals(n: int, seed: int) -> tuple[NDArray[np.datetime64], NDArray[np.datetime64]]:
    """Overlapping trades: random entry days, 1 to 40 days held (unsorted on purpose)."""
    rng = np.random.default_rng(seed)
    entry = np.datetime64("2010-01-01") + rng.integers(0, 2000, n) * DAY
    return entry, entry + rng.integers(1, 41, n) * DAY


# --------------------------------------------------------------------------------------------
# Purged, embargoed K-fold


@pytest.mark.parametrize(("n_splits", "embargo"), [(2, 0), (4, 30), (5, 10)])
def test_purged_kfold_leaves_no_overlap_and_respects_the_embargo(n_splits: int, embargo: int) -> None:
    entry, exit_ = random_intervals(600, seed=n_splits)
    folds = purged_kfold(entry, exit_, n_splits, embargo)
    assert len(folds) == n_splits
    tested = np.concatenate([te for _tr, te in folds])
    assert sorted(tested.tolist()) == list(range(600))  # every trade tested exactly once
    purged_any = False
    for train, test in folds:
        assert len(train) > 0
        assert not set(train.tolist()) & set(test.tolist())
        start, end = entry[test].min(), exit_[test].max()
        # no training trade's [entry, exit] meets the test span ...
        assert np.all((exit_[train] < start) | (entry[train] > end))
        # ... nor enters within the embargo after it
        assert not np.any((entry[train] > end) & (entry[train] <= end + embargo * DAY))
        others = np.setdiff1d(np.arange(600), test)
        purged_any |= len(train) < len(others)
    assert purged_any  # overlapping trades existed and were purged (the check above is not vacuous)


def test_purged_kfold_refuses_bad_input() -> None:
    entry, exit_ = random_intervals(10, seed=1)
    with pytest.raises(ValueError, match="n_splits"):
        purged_kfold(entry, exit_, 1)
    with pytest.raises(ValueError, match="embargo"):
        purged_kfold(entry, exit_, 2, -1)
    with pytest.raises(ValueError, match="exits before it enters"):
        purged_kfold(exit_, entry, 2)
    with pytest.raises(ValueError, match="equal length"):
        purged_kfold(entry, exit_[:5], 2)


# --------------------------------------------------------------------------------------------
# Known edge, no edge


def synthetic_trades(n: int, effect: float, seed: int) -> TradeSet:
    """One trade a day for ``n`` days, held 5 days; the win probability is
    ``sigmoid(effect * vol_regime)``: the score knows nothing, a regime feature does
    (``effect`` 0: no feature knows anything)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    x[rng.random(x.shape) < 0.02] = np.nan  # missing values, as real features have
    p = 1.0 / (1.0 + np.exp(-effect * np.nan_to_num(x[:, FEATURES.index("vol_regime")])))
    y = (rng.random(n) < p).astype(np.float64)
    entry = np.datetime64("2005-01-03") + np.arange(n) * DAY
    return TradeSet(x, y, entry, entry + 5 * DAY, x[:, 0].copy())


def test_a_known_edge_is_recovered_out_of_sample() -> None:
    trades = synthetic_trades(1600, effect=1.0, seed=1)
    train, test = split_known(trades, trades.entry[1200])
    assert np.all(train.exit < test.entry.min())  # trained only on trades ended before the split
    model = fit_meta(train, embargo_days=30)
    assert model.kind in ("logistic", "gbm")
    cv = dict(model.cv_skill)
    assert cv[model.kind] > 0.02
    assert cv["score"] < cv[model.kind]  # the score alone knows nothing here
    report = score_forecasts(model.kind, model.predict(test.x), test, train.y, block_days=30)
    assert report.skill > 0.05
    assert report.lo > 0.0 and report.edge
    assert report.lo <= report.skill <= report.hi
    assert report.reliability and sum(b.n for b in report.reliability) == len(test)


def test_no_edge_is_reported_as_none() -> None:
    trades = synthetic_trades(1600, effect=0.0, seed=2)
    report = holdout(trades, horizon_days=5)
    assert report is not None
    assert report.n_test > 300
    assert not report.edge
    assert report.lo <= 0.0
    model = fit_meta(trades, embargo_days=30)
    if model.kind == "base_rate":  # nothing beat the base rate in purged CV: the forecast is flat
        assert np.all(model.predict(trades.x[:5]) == model.base_rate)


def test_too_few_trades_fit_no_model() -> None:
    trades = synthetic_trades(MIN_TRADES - 1, effect=3.0, seed=3)
    model = fit_meta(trades, embargo_days=30)
    assert model.kind == "base_rate"
    assert model.base_rate == pytest.approx((trades.y.sum() + 1) / (len(trades) + 2))
    assert holdout(trades, horizon_days=5) is None


def test_skill_interval_is_deterministic_and_wider_when_skill_comes_in_spells() -> None:
    """Skill that comes and goes in 100-day spells (informative, then misleading): resampling single
    days would understate the uncertainty; 100-day blocks keep the spells whole and widen it."""
    rng = np.random.default_rng(4)
    n = 800
    y = (rng.random(n) < 0.5).astype(np.float64)
    sign = np.where((np.arange(n) // 100) % 2 == 0, 1.0, -0.6)
    p = np.clip(0.5 + sign * 0.3 * (y - 0.5) + rng.normal(0, 0.05, n), 0.01, 0.99)
    base = np.full(n, 0.5)
    days = np.datetime64("2010-01-01") + np.arange(n) * DAY
    single = skill_interval(p, y, base, days, block_days=1)
    assert single == skill_interval(p, y, base, days, block_days=1)
    spells = skill_interval(p, y, base, days, block_days=100)
    assert spells[1] - spells[0] > 2 * (single[1] - single[0])
    with pytest.raises(ValueError, match="block_days"):
        skill_interval(p, y, base, days, block_days=0)


# --------------------------------------------------------------------------------------------
# No look-ahead


def perturbed_after(panel: Panel, cut: np.datetime64, seed: int) -> Panel:
    """Every bar after ``cut`` scaled by random factors (volume too); bars up to it untouched."""
    rng = np.random.default_rng(seed)
    out = {}
    for sym, b in panel.items():
        later = b.dates > cut
        f = np.where(later, rng.uniform(0.7, 1.3, len(b)), 1.0)
        g = np.where(later, rng.uniform(0.2, 5.0, len(b)), 1.0)
        hi, lo = np.where(later, f * 1.05, 1.0), np.where(later, f * 0.95, 1.0)
        out[sym] = Bars(sym, b.dates, b.open * f, b.high * hi, b.low * lo, b.close * f, b.volume * g)
    return out


@pytest.mark.parametrize("name", ["momentum", "mean_reversion"])
def test_features_never_use_data_after_the_signal(name: str) -> None:
    panel = synthetic_panel(6, 900, seed=11)
    bench = synthetic_panel(1, 900, seed=12)["S000"]
    cut = panel["S000"].dates[700]
    template = TEMPLATES[name]

    def features(p: Panel, b: Bars) -> dict[str, NDArray[np.float64]]:
        setups = template.build(p, template.params())
        measured = [
            (s, setup_outcomes(s, template.horizon_days, template.outcome, template.exit_policy))
            for s in setups
        ]
        market, hits = market_state(p, b), hit_history(measured)
        out = {}
        for s in setups:
            bars = np.flatnonzero(s.entry & (s.dates <= cut)).astype(np.int64)
            out[s.key] = signal_features(s, bars, template.exit_policy, market, hits)
        return out

    before = features(panel, bench)
    after = features(perturbed_after(panel, cut, 1), perturbed_after({"B": bench}, cut, 2)["B"])
    assert sum(len(v) for v in before.values()) > 20  # signals were there to compare
    assert before.keys() == after.keys()
    for key, x in before.items():
        np.testing.assert_array_equal(x, after[key], err_msg=key)
    assert np.isfinite(np.concatenate(list(before.values()))[:, FEATURES.index("hit_rate")]).all()


# --------------------------------------------------------------------------------------------
# The scan's meta-label and ranking


def test_meta_label_fits_only_trades_ended_before_the_month_and_falls_back_without_edge() -> None:
    panel = synthetic_panel(6, 900, seed=13)
    template = TEMPLATES["momentum"]
    setups = template.build(panel, template.params())
    measured = [
        (s, setup_outcomes(s, template.horizon_days, template.outcome, template.exit_policy)) for s in setups
    ]
    market = market_state(panel)
    meta = meta_label(measured, template.exit_policy, market, horizon_days=template.horizon_days)
    cutoff = fit_day(market.dates[-1])
    assert cutoff <= market.dates[-1] + DAY
    trades = template_trades(measured, template.exit_policy, market, hit_history(measured))
    known = int(np.sum(trades.exit < cutoff))
    assert known < len(trades)  # some trades ended in the month: they were left out
    assert meta.model.n == known
    # a random walk has no edge to find: the confidence is the base rate, whatever the signal
    assert not meta.edge
    s = setups[0]
    assert meta.confidence(s, len(s) - 1, template.exit_policy) == meta.model.base_rate
    details = card_details(meta)
    assert details["meta:edge"] == 0.0
    assert all(math.isfinite(v) for v in details.values())


def card(score: float, edge: float | None) -> StrategyCard:
    details = {} if edge is None else {"meta:edge": edge}
    return StrategyCard(
        card_id=f"c{score}-{edge}",
        template="momentum",
        name="x",
        legs=(Leg(symbol="AAPL", side=Side.BUY, quantity=1),),
        confidence=0.5,
        expected_return=0.01,
        max_risk=1.0,
        reason="r",
        asof=datetime(2012, 6, 1, tzinfo=UTC),
        score=score,
        details=details,
    )


def test_cards_with_a_measured_edge_rank_above_those_without() -> None:
    cards = [card(2.0, 0.0), card(0.5, 1.0), card(1.0, 0.0), card(0.1, 1.0)]
    ranked = sorted(cards, key=rank_key, reverse=True)
    assert [(c.details["meta:edge"], c.score) for c in ranked] == [
        (1.0, 0.5),
        (1.0, 0.1),
        (0.0, 2.0),
        (0.0, 1.0),
    ]
    # without meta-labelling every card is one tier: the score alone orders them
    plain = sorted([card(1.0, None), card(2.0, None)], key=rank_key, reverse=True)
    assert [c.score for c in plain] == [2.0, 1.0]


def test_meta_label_with_an_edge_gives_the_models_confidence() -> None:
    trades = synthetic_trades(1600, effect=1.0, seed=5)
    model = fit_meta(trades, embargo_days=30)
    report = holdout(trades, horizon_days=5)
    assert report is not None and report.edge
    panel = synthetic_panel(3, 400, seed=6)
    template = TEMPLATES["momentum"]
    setups = template.build(panel, template.params())
    measured = [
        (s, setup_outcomes(s, template.horizon_days, template.outcome, template.exit_policy)) for s in setups
    ]
    meta = MetaLabel(model, report, market_state(panel), hit_history(measured))
    assert meta.edge
    s = setups[0]
    x = signal_features(s, np.array([len(s) - 1]), template.exit_policy, meta.market, meta.hits)
    assert meta.confidence(s, len(s) - 1, template.exit_policy) == pytest.approx(float(model.predict(x)[0]))
    assert card_details(meta)["meta:edge"] == 1.0
    assert card_details(replace(meta, report=None))["meta:edge"] == 0.0
