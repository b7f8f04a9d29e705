"""The scan over the whole universe at once gives the same cards as the per-setup scan (issue 18).

``scan(panel)`` runs the one-stock templates over every symbol's bars end to end
(``engine.strategies.panel_scan``); ``scan(panel, keep=True)`` builds and keeps every setup, the
way the scan always worked. Both must give the same track records, the same candidates and the
same cards, number for number, on the shipped data and on a ragged synthetic universe (histories
of different lengths, one too short for any template, a gap of missing bars).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime

import numpy as np
import pytest

from engine.signals import indicators, segmented
from engine.strategies.book import Book, Limits
from engine.strategies.generator import Context, GeneratorPolicy, propose
from engine.strategies.scan import CANDIDATE_BARS, Scan, scan
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Array, Bars, Panel
from tests.bench.generation import synthetic_panel

ASOF = date(2012, 6, 1)


@pytest.fixture(scope="module")
def shipped() -> Panel:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT", "GOOG", "IBM", "AMZN"]).bars
    return {s: Bars.from_frame(s, f.loc[f.index < np.datetime64(ASOF)]) for s, f in bars.items()}


@pytest.fixture(scope="module")
def ragged() -> Panel:
    """Twelve synthetic symbols ending on the same day, histories of different lengths (one
    shorter than every template's ``min_history``) and one with a run of missing bars."""
    full = synthetic_panel(12, 900, seed=11)
    out: dict[str, Bars] = {}
    for k, (sym, b) in enumerate(full.items()):
        cut = [0, 0, 150, 300, 420, 0, 10, 0, 600, 0, 200, 0][k]
        fields = [getattr(b, f)[cut:].copy() for f in ("open", "high", "low", "close", "volume")]
        if k == 7:  # a few missing bars mid-history: every indicator restarts after them
            for a in fields:
                a[400:403] = np.nan
        out[sym] = Bars(sym, b.dates[cut:], *fields)
    return out


def _book(panel: Panel) -> Book:
    prices = {s: float(b.close[-1]) for s, b in panel.items()}
    return Book(
        equity=1_000_000.0,
        cash=1_000_000.0,
        positions={},
        prices=prices,
        sectors={},
        limits=Limits(0.2, 0.5, 250_000.0, 1.0, 0.01),
        adv_shares={s: float(np.nanmean(b.volume[-20:])) for s, b in panel.items()},
        returns={s: b.close[-90:] / b.close[-91:-1] - 1.0 for s, b in panel.items()},
    )


def _same_scan(lean: Scan, full: Scan) -> None:
    assert set(lean.records) == set(full.records) == set(TEMPLATES)
    for name, a in lean.records.items():
        b = full.records[name]
        assert (a.n, a.win_rate, a.mean, a.std, a.avg_win, a.avg_loss) == (
            b.n,
            b.win_rate,
            b.mean,
            b.std,
            b.avg_win,
            b.avg_loss,
        ), name
        assert a.calibrator == b.calibrator, name
        assert a.holdout == b.holdout, name
    assert [(c.template.name, c.setup.key) for c in lean.candidates] == [
        (c.template.name, c.setup.key) for c in full.candidates
    ]
    for x, y in zip(lean.candidates, full.candidates, strict=True):
        key = f"{x.template.name}:{x.setup.key}"
        assert (x.score, x.confidence, x.expected, x.spread, x.own_n, x.reason) == (
            y.score,
            y.confidence,
            y.expected,
            y.spread,
            y.own_n,
            y.reason,
        ), key
        assert x.vol_annual == y.vol_annual or (math.isnan(x.vol_annual) and math.isnan(y.vol_annual)), key
        assert dict(x.signals) == pytest.approx(dict(y.signals), nan_ok=True, rel=0, abs=0), key
        np.testing.assert_array_equal(x.recent_returns, y.recent_returns, err_msg=key)
        # every bar the candidate keeps (the panel prices a put's stop only where it may enter)
        kept = len(x.setup)
        np.testing.assert_array_equal(x.setup.stop, y.setup.stop[len(y.setup) - kept :], err_msg=key)
        t, u = x.t, y.t
        assert x.setup.stop_price(t) == y.setup.stop_price(u), key
        assert x.setup.target_price(t) == y.setup.target_price(u), key
        assert x.setup.option(t) == y.setup.option(u), key


@pytest.mark.parametrize("which", ["shipped", "ragged"])
def test_the_panel_scan_gives_the_per_setup_scan_s_records_candidates_and_cards(
    which: str, request: pytest.FixtureRequest
) -> None:
    panel: Panel = request.getfixturevalue(which)
    templates = list(TEMPLATES.values())
    lean, full = scan(panel, templates), scan(panel, templates, keep=True)
    assert lean.candidates, "nothing to compare: no template has an entry at the last bar"
    assert any(r.n for r in lean.records.values())
    _same_scan(lean, full)
    ctx = Context(datetime(2012, 6, 1, 14, 30, tzinfo=UTC), ASOF, _book(panel), GeneratorPolicy(max_cards=40))
    a, b = propose(lean, ctx, lambda c: c), propose(full, ctx, lambda c: c)
    assert a.cards, "no card to compare"
    assert a == b  # same cards, same order, every number and word


def test_the_scan_keeps_only_what_the_cards_need(shipped: Panel) -> None:
    found = scan(shipped, list(TEMPLATES.values()))
    assert found.candidates
    assert not found.setups and not found.outcomes  # no setup of every symbol kept
    for c in found.candidates:
        assert len(c.setup) <= CANDIDATE_BARS, c.setup.key
        close = c.setup.close if c.setup.close.base is None else c.setup.close.base
        assert close.size <= CANDIDATE_BARS * len(c.setup.symbols)  # no panel-wide array kept alive
    kept = scan(shipped, list(TEMPLATES.values()), keep=True)
    assert sum(len(s) for s in kept.setups.values()) > len(found.candidates)


def test_segmented_indicators_are_the_per_symbol_ones_on_ragged_segments() -> None:
    rng = np.random.default_rng(3)
    parts = [50.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n))) for n in (0, 5, 300, 61, 1)]
    parts[2][100:102] = np.nan
    x = np.concatenate(parts)
    starts = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    cases: list[tuple[Array, Callable[[Array], Array]]] = [
        (segmented.sma(x, starts, 20), lambda p: indicators.sma(p, 20)),
        (segmented.ema(x, starts, 12), lambda p: indicators.ema(p, 12)),
        (segmented.roc(x, starts, 20), lambda p: indicators.roc(p, 20)),
        (segmented.rsi(x, starts, 14), lambda p: indicators.rsi(p, 14)),
        (segmented.zscore(x, starts, 30), lambda p: indicators.zscore(p, 30)),
        (segmented.rolling_min(x, starts, 5), lambda p: indicators.rolling_min(p, 5)),
        (segmented.rolling_volatility(x, starts, 20), lambda p: indicators.rolling_volatility(p, 20)),
        (
            segmented.atr(x * 1.01, x * 0.99, x, starts, 14),
            lambda p: indicators.atr(p * 1.01, p * 0.99, p, 14),
        ),
        (
            segmented.zscore_blend([x, np.log(x)], [0.7, -0.3], starts, 30, 2.0),
            lambda p: indicators.zscore_blend([p, np.log(p)], [0.7, -0.3], 30, 2.0),
        ),
    ]
    checked = 0
    for got, want in cases:
        for i, part in enumerate(parts):
            np.testing.assert_array_equal(got[starts[i] : starts[i + 1]], want(part))
            checked += len(part)
    assert checked == len(cases) * len(x)
    with pytest.raises(ValueError, match="segment starts"):
        segmented.sma(x, np.array([0, 3], dtype=np.int64), 5)
