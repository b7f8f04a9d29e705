"""The research verdict: one function, plain words, the numbers it went by."""

from __future__ import annotations

import math

from engine.research.verdict import verdict


def test_a_large_p_is_no_evidence_even_beside_a_high_deflated_sharpe() -> None:
    v = verdict(0.157, 0.997)
    assert v.edge is False
    assert v.text.startswith("no evidence of an edge: p = 0.157 ≥ 0.05")
    assert "deflated Sharpe of 99.7% does not show one" in v.text


def test_a_small_p_is_evidence() -> None:
    v = verdict(0.012)
    assert v.edge is True and v.text == "evidence of an edge: p = 0.012 ≤ 0.05"


def test_the_deflated_sharpe_decides_without_a_permutation_test() -> None:
    assert verdict(None, 0.97).text.startswith("an edge is likely: deflated Sharpe 97.0% ≥ 95%")
    assert verdict(None, 0.60).text == "no evidence of an edge: deflated Sharpe 60.0% < 95%"
    assert verdict(math.nan, math.nan).edge is None
