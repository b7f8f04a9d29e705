"""The float32 block screen of a large universe's pairs picks and ranks what the full float64
correlation matrix does."""

from __future__ import annotations

import numpy as np
import pytest

from engine.strategies.templates import pairs


def _returns(k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    factors = rng.normal(0.0, 0.01, (252, 12))
    load = rng.normal(0.0, 1.0, (12, k)) * (rng.random((12, k)) < 0.2)
    out: np.ndarray = factors @ load + rng.normal(0.0, 0.01, (252, k))
    return out


@pytest.mark.parametrize("want", [1, 20, 300])
def test_the_screen_gives_the_full_matrix_s_pairs_in_its_order(
    want: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pairs, "SCREEN_BLOCK", 64)  # several blocks, and a floor carried between them
    rets = _returns(400, 1)
    rets[:, 7] = np.nan  # a symbol with a missing close
    rets[:, 9] = 0.0  # a flat one
    full = pairs._all_pairs(rets, want)
    screened = pairs._screened_pairs(rets, want)
    assert len(full) == want and full[0][2] > 0.5  # there are correlated pairs to find
    assert [(i, j) for i, j, _ in screened] == [(i, j) for i, j, _ in full]
    np.testing.assert_allclose([r for *_, r in screened], [r for *_, r in full], rtol=0, atol=1e-12)


def test_a_hand_checked_screen() -> None:
    a = np.array([0.01, -0.02, 0.03, 0.0, 0.01])
    rets = np.column_stack([a, 2 * a, -a])  # 0 and 1 move as one; 2 against both
    got = pairs._screened_pairs(rets, 3)
    assert [(i, j) for i, j, _ in got] == [(0, 1), (0, 2), (1, 2)]  # ties (-1, -1) by symbol
    assert [r for *_, r in got] == pytest.approx([1.0, -1.0, -1.0])
