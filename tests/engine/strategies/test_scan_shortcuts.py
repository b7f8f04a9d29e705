"""The card scan's shortcuts give the numbers of the code they stand in for (issue 18).

Each shortcut of the scan's hot path must leave the cards as they were, bit for bit:
- ``panel_scan.cents``: a vectorised ``round(v, 2)`` (a card's stop price), Python's ``round``
  left to decide near a half cent;
- ``rotation._too_correlated``: the rotation's correlation screen by a compiled correlation,
  ``np.corrcoef`` left to decide near the threshold;
- ``scan.SLICE_THREADS``: a universe of several slices scanned two slices at once gives the scan
  of one slice at a time (and of one slice for the whole universe), meta-labels included.
The fused z-score blend and the one-leg exit walk are checked where their originals are: the
segmented indicators against the per-symbol ones (``test_panel_scan``), the panel scan's trades
against the per-setup scan's (``test_panel_scan``, ``test_panel_meta``).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from engine.strategies import meta_label as ml
from engine.strategies import scan as scan_module
from engine.strategies.panel_scan import cents, chunks
from engine.strategies.scan import Scan, scan
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars, Panel
from engine.strategies.templates.rotation import CORR_GUARD, _too_correlated
from tests.engine.strategies.test_panel_scan import ASOF


def _bits(x: np.ndarray) -> np.ndarray:
    """Each value's bits, every NaN as one pattern (``round`` and numpy may differ in a NaN's sign)."""
    out: np.ndarray = np.where(np.isnan(x), np.nan, x).view(np.int64)
    return out


def test_cents_is_python_round_to_two_places_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    half_cents = (np.arange(-20_000, 20_000) + 0.5) / 100.0  # every tie (as near as a double gets)
    prices = rng.uniform(0.01, 2_000.0, 200_000)
    values = np.concatenate(
        [
            prices,
            -prices[:1000],
            np.round(prices, 3),  # a third decimal: many values within an ulp of a half cent
            half_cents,
            np.nextafter(half_cents, np.inf),
            np.nextafter(half_cents, -np.inf),
            [0.0, -0.0, -0.004, 0.005, 0.015, 2.675, 1.005, 1e17, -1e300, np.nan, np.inf, -np.inf],
        ]
    )
    want = np.array([round(v, 2) for v in values.tolist()])
    np.testing.assert_array_equal(_bits(cents(values)), _bits(want))


def test_the_rotation_s_correlation_screen_gives_np_corrcoef_s_verdict() -> None:
    rng = np.random.default_rng(11)
    checked, near = 0, 0
    for _ in range(300):
        a = rng.normal(0, 0.01, 90)
        b = rng.uniform(0, 1) * a + rng.normal(0, 0.01, 90)
        exact = float(np.corrcoef(a, b)[0, 1])
        # thresholds far from the pair's correlation, and at it and an ulp either side (where the
        # compiled correlation may differ by rounding and np.corrcoef must decide)
        for max_corr in (0.7, exact, np.nextafter(exact, 1.0), np.nextafter(exact, -1.0), exact - 1e-3):
            got = _too_correlated(a, b, max_corr, a.copy(), b.copy())
            assert got == bool(np.corrcoef(a, b)[0, 1] > max_corr), (exact, max_corr)
            checked += 1
            near += abs(exact - max_corr) <= CORR_GUARD
    assert near >= 600 and checked == 1500
    nan = np.full(90, np.nan)
    assert _too_correlated(nan, nan, 0.7, nan, nan) is False  # as np.corrcoef: NaN > 0.7 is False


@pytest.fixture(scope="module")
def shipped() -> Panel:
    from tests.shipped import shipped_subset

    bars = shipped_subset(["AAPL", "MSFT", "GOOG", "IBM", "AMZN"]).bars
    return {s: Bars.from_frame(s, f.loc[f.index < np.datetime64(ASOF)]) for s, f in bars.items()}


def _summary(found: Scan) -> tuple[object, ...]:
    records = sorted(
        (k, r.n, r.win_rate, r.mean, r.std, r.calibrator, r.holdout, repr(r.meta))
        for k, r in found.records.items()
    )
    cands = [
        (c.template.name, c.setup.key, c.score, c.confidence, c.expected, c.vol_annual, c.reason)
        for c in found.candidates
    ]
    return tuple(records), tuple(cands)


def test_slices_scanned_two_at_once_give_the_scan_of_one_slice(
    shipped: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = [t for t in TEMPLATES.values() if t.panel is not None]
    ml._CACHE.clear()
    whole = _summary(scan(shipped, templates, meta=True))  # five symbols: one slice
    assert whole[1], "no candidate to compare"
    runs = {}
    monkeypatch.setattr(scan_module, "chunks", partial(chunks, budget=2_000))  # a slice a symbol or so
    for threads in (1, 2):
        monkeypatch.setattr(scan_module, "SLICE_THREADS", threads)
        ml._CACHE.clear()
        runs[threads] = _summary(scan(shipped, templates, meta=True))
    ml._CACHE.clear()
    assert runs[2] == runs[1] == whole
