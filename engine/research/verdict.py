"""The research verdict in one sentence: is there evidence of an edge?

A permutation p-value and a deflated Sharpe ratio side by side ("p = 0.157", "Deflated Sharpe
99.7%") leave the trader to reconcile two statistics that answer different questions. This is
the one place that turns them into words, used by ``onetap permute``/``walkforward`` and by the
console's research screen, so both say the same thing:

- the permutation test decides when it ran: the strategy's Sharpe on the real order of days
  against joint shuffles of the days (which keep every day's cross-section and destroy timing);
  ``p <= alpha`` is evidence of an edge, anything larger is not;
- without it, the deflated Sharpe decides: the probability that the true Sharpe is above zero
  after accounting for the trials tried, against ``1 - alpha``;
- when both ran and disagree (a high deflated Sharpe, a large p), the sentence says so: a Sharpe
  that the shuffled days reach as often is not evidence of timing skill, however sure its
  deflated value looks (the market's drift alone can make it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHA = 0.05
"""The significance level of the verdict."""


@dataclass(frozen=True, slots=True)
class Verdict:
    edge: bool | None
    """True: evidence of an edge; False: none; None: nothing to judge by."""
    text: str


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def verdict(p_value: float | None = None, dsr: float | None = None, *, alpha: float = ALPHA) -> Verdict:
    """The verdict from a permutation ``p_value`` and/or a deflated Sharpe ``dsr`` (a probability)."""
    p, d = _finite(p_value), _finite(dsr)
    if p is not None:
        if p <= alpha:
            text = f"evidence of an edge: p = {p:.3f} ≤ {alpha:g}"
            if d is not None and d < 1 - alpha:
                text += f" (the deflated Sharpe, {d:.1%}, is less sure: more data would settle it)"
            return Verdict(True, text)
        text = f"no evidence of an edge: p = {p:.3f} ≥ {alpha:g}"
        if d is not None and d >= 1 - alpha:
            text += (
                f" (the deflated Sharpe of {d:.1%} does not show one: shuffled days do as well, "
                "so the return is the market's, not the timing's)"
            )
        return Verdict(False, text)
    if d is not None:
        if d >= 1 - alpha:
            return Verdict(
                True, f"an edge is likely: deflated Sharpe {d:.1%} ≥ {1 - alpha:.0%} (no permutation test)"
            )
        return Verdict(False, f"no evidence of an edge: deflated Sharpe {d:.1%} < {1 - alpha:.0%}")
    return Verdict(None, "no verdict: neither a permutation test nor a deflated Sharpe is available")
